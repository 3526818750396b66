"""Scale-out, for real: 2 processes on localhost against 1 process; a (data, model) mesh of 8 forced devices."""

import os
import socket
import subprocess
import sys
import tempfile

import numpy as np
from absl.testing import absltest

from lowrank_jax import data

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import TEST_XLA_FLAGS  # pylint: disable=g-import-not-at-top
from training_test import ROOT, _params  # pylint: disable=g-import-not-at-top

FLAGS = ["--config.dataset.train_size=512", "--config.dataset.test_size=200", "--config.batch_size=32",
         "--config.test_batch_size=100", "--config.rank_batch_size=100", "--config.checkpoint_every_steps=3",
         "--config.lowrank.warmup_steps=4", "--config.lowrank.threshold_every=3", "--config.num_train_steps=9"]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _train(workdir, devices, process=None):
  """train.py (9 steps) with `devices` forced CPU devices; process = (id, count, port) for a multi-process run."""
  env = dict(os.environ, XLA_FLAGS=f"{TEST_XLA_FLAGS} --xla_force_host_platform_device_count={devices}")
  cmd = [sys.executable, os.path.join(ROOT, "train.py"), f"--workdir={workdir}", *FLAGS]
  if process:
    pid, count, port = process
    cmd += [f"--coordinator_address=127.0.0.1:{port}", f"--num_processes={count}", f"--process_id={pid}"]
  return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait(*procs):
  outs = [p.communicate(timeout=300) for p in procs]
  for p, (out, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  return outs


@absltest.skipUnless(os.path.isdir(data.FASHION_MNIST_DIR), "Fashion-MNIST missing (make test installs it)")
class MultiProcessTest(absltest.TestCase):

  def test_two_processes_match_one(self):
    """2 processes x 2 devices = 1 process x 4 devices (each process loads its own rows of every batch); both
    processes take part in every Orbax checkpoint. Resuming from a checkpoint is the single-process code path,
    checked bit for bit in training_test; relaunching both processes to resume here took 19 of this test's 70 s."""
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
      _wait(_train(one, 4))
      outs = _wait(*[_train(two, 2, (i, 2, port)) for port in [_free_port()] for i in range(2)])
      self.assertIn("over 2 process(es)", outs[0][0])
      self.assertNotIn("process(es)", outs[1][0])  # only process 0 logs
      self.assertEqual(sorted(os.listdir(os.path.join(two, "checkpoints")), key=int)[-2:], ["6", "9"])
      (s1, p1), (s2, p2) = _params(one), _params(two)
      self.assertEqual((s1, s2), (9, 9))
      flat1 = {k: v for k, v in _flat(p1)}
      for k, v in _flat(p2):
        np.testing.assert_allclose(v, flat1[k], atol=2e-5, rtol=1e-4, err_msg=k)
      self.assertTrue(os.listdir(os.path.join(two, "tensorboard")))


def _flat(tree, prefix=""):
  if isinstance(tree, dict):
    for k, v in tree.items():
      yield from _flat(v, f"{prefix}/{k}")
  else:
    yield prefix, np.asarray(tree)


SHARDED = r'''
import os, sys
os.environ["XLA_FLAGS"] = sys.argv[5] + " --xla_force_host_platform_device_count=" + sys.argv[1]
sys.path.insert(0, sys.argv[3]); sys.path.insert(0, os.path.join(sys.argv[3], "tests"))
import jax, numpy as np
from training_test import tiny_config, _batch
from lowrank_jax import attacks, data, distributed, training
cfg = tiny_config(**{"lowrank.threshold_every": 2, "lowrank.warmup_steps": 0, "mesh.model": int(sys.argv[2]),
                     "lowrank.layers": "pool2,penultimate", "lowrank.rank": 8})
setup, state = training.create_train_state(cfg, data.DATASETS["fashion_mnist"], (0.3,), (0.35,), num_train=512)
steps = training.Steps(setup, state)
metrics = []
for i in range(4):  # thresholds after steps 2 and 4 (Nystrom on the sharded W)
  state, m = steps.train(state, *steps.shard(*_batch(seed=i)))
  metrics.append([float(v) for v in jax.tree.leaves([m[k] for k in sorted(m)])])  # Sparse: value, present
logits = jax.tree_util.Partial(lambda p, s, z: setup.network.apply(p, s, z, train=False)[0],
                               state["params"]["model"], state["batch_stats"])
x, y = _batch(64, seed=7)
x = data.to_unit(x)
adv = distributed.gather(jax.jit(attacks.pgd, static_argnames=attacks.PGD_STATIC)(
    logits, *distributed.shard_rows(setup.mesh, x, y), jax.random.PRNGKey(0), eps=0.05, steps=5))
specs = sorted({str(a.sharding.spec) for a in jax.tree.leaves(state["opt_state"]["lowrank"]) if a.ndim == 2})
np.savez(sys.argv[4], adv=adv, metrics=np.asarray(metrics),
         **{"/".join(str(getattr(k, "key", k)) for k in p): np.asarray(v)
            for p, v in jax.tree_util.tree_leaves_with_path(jax.device_get(state["params"]))})
print(dict(setup.mesh.shape), specs)
'''


class ShardedTest(absltest.TestCase):

  def test_eight_devices_with_w_sharded_match_one_device(self):
    """(data 2, model 4) mesh: W and its Adam moments are row-sharded; training (Nystrom thresholding
    included), the LR statistics and a PGD attack sharded over the data axis equal 1 device."""
    with tempfile.TemporaryDirectory() as d:
      script = os.path.join(d, "run.py")
      open(script, "w").write(SHARDED)
      runs = {}
      for devices, model in ((1, 1), (8, 4)):
        out = os.path.join(d, f"{devices}.npz")
        r = subprocess.run([sys.executable, script, str(devices), str(model), ROOT, out, TEST_XLA_FLAGS],
                           capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        runs[devices] = (np.load(out), r.stdout)
      self.assertIn("{'data': 2, 'model': 4} [\"P('model', None)\"]", runs[8][1])
      one, eight = runs[1][0], runs[8][0]
      for k in one.files:
        np.testing.assert_allclose(eight[k], one[k], atol=1e-5, rtol=1e-4, err_msg=k)


if __name__ == "__main__":
  absltest.main()
