"""The training loop: gradients, the alternating thresholding, logs, resume after a kill, errors."""

import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest

from lowrank_jax import augment, checkpoint, config as config_lib, data, methods, metrics, runfiles, training

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shared import LOWRANK_FLAGS, RUNS, copy_run, shared_run, tiny_config  # pylint: disable=g-import-not-at-top

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FMNIST_OK = os.path.isdir(data.FASHION_MNIST_DIR)


def _setup(config):
  info = data.DATASETS["fashion_mnist"]
  return training.create_train_state(config, info, (0.3,), (0.35,), num_train=512)


def _batch(n=32, seed=0):
  rng = np.random.default_rng(seed)
  return rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int32)


class StepTest(absltest.TestCase):

  def test_all_three_terms_reach_the_backbone(self):
    setup, state = _setup(tiny_config())
    x, y = _batch()
    xs = data.to_unit(jnp.asarray(x))

    def term(name):
      def f(params):
        _, (m, _) = training.loss_fn(setup, params, state["batch_stats"], xs, y, 100, train=True)
        return m[name]
      return jax.grad(f)(state["params"])

    for name in ("cross_entropy", "penultimate/projection_loss", "penultimate/norm_loss"):
      g = term(name)
      self.assertGreater(float(jnp.abs(g["model"]["fc1"]["kernel"]).max()), 0.0, name)
      self.assertGreater(float(jnp.abs(g["model"]["conv1"]["kernel"]).max()), 0.0, name)
    g = term("penultimate/projection_loss")["lowrank"]["penultimate"]
    self.assertGreater(float(jnp.abs(g["W"]).max()), 0.0)
    self.assertGreater(float(jnp.abs(g["b"]).max()), 0.0)

  def test_loss_is_ce_plus_ramped_penalty_computed_in_numpy(self):
    """loss = CE + min(1, step / warm-up) * (0.3 L_c + 2 L_n), every term recomputed in float64 numpy from
    the logits and the penultimate activations (the warm-up ramp included)."""
    setup, state = _setup(tiny_config(**{"lowrank.projection_weight": 0.3, "lowrank.norm_weight": 2.0,
                                         "lowrank.warmup_steps": 16}))
    x, y = _batch()
    xs = data.to_unit(jnp.asarray(x))
    logits, feats, _ = setup.network.apply(state["params"]["model"], state["batch_stats"], xs, train=True)
    z = np.asarray(logits, np.float64)
    ce = np.mean(np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1) - z[np.arange(len(y)), y])
    A = np.asarray(feats["penultimate"], np.float64)
    lr = jax.device_get(state["params"]["lowrank"]["penultimate"])
    W, b = np.asarray(lr["W"], np.float64), np.asarray(lr["b"], np.float64)
    l_c = np.mean(np.sum(((A + b) @ W - (A + b)) ** 2, axis=1))
    l_n = np.mean(np.abs(1 - np.linalg.norm(A, axis=1)))
    for step, scale in ((0, 0.0), (4, 0.25), (8, 0.5), (16, 1.0), (40, 1.0)):
      loss, _ = training.loss_fn(setup, state["params"], state["batch_stats"], xs, y, step, train=True)
      np.testing.assert_allclose(float(loss), ce + scale * (0.3 * l_c + 2.0 * l_n), rtol=2e-5, err_msg=str(step))

  def test_the_step_trains_on_each_example_augmented_by_its_index(self):
    """With crop_flip, the step's loss is the loss on the batch augmented by augment.augment with the keys of
    (seed + 2, epoch, each example's index), computed here; without it, the loss on the batch itself."""
    config = tiny_config(**{"dataset.augment": "crop_flip", "method": "vanilla"})
    setup, state = _setup(config)
    self.assertEqual(setup.augment, "crop_flip")
    x, y = _batch()
    idx = np.arange(1000, 1032, dtype=np.int32)
    keys = augment.example_keys(config.seed + 2, 0, jnp.asarray(idx))
    shifted = augment.augment("crop_flip", jnp.asarray(x), keys)
    loss_on = lambda images: float(training.loss_fn(setup, state["params"], state["batch_stats"],
                                                    data.to_unit(images), y, 0, train=True)[0])
    steps = training.Steps(setup, state)
    _, m = steps.train(jax.tree.map(jnp.copy, state), *steps.shard(x, y, idx))
    self.assertAlmostEqual(float(m["loss"]), loss_on(shifted), places=5)
    self.assertNotAlmostEqual(float(m["loss"]), loss_on(jnp.asarray(x)), places=3)
    plain_setup, _ = _setup(tiny_config(**{"method": "vanilla"}))
    self.assertEqual(plain_setup.augment, "none")  # Fashion-MNIST's default (auto)

  def test_w_is_thresholded_every_k_steps(self):
    setup, state = _setup(tiny_config(**{"lowrank.rank": 6, "lowrank.threshold_every": 3}))
    steps = training.Steps(setup, state)
    ranks = []
    for i in range(7):
      state, _ = steps.train(state, *steps.shard(*_batch(seed=i)))
      W = np.asarray(state["params"]["lowrank"]["penultimate"]["W"], np.float64)
      s = np.linalg.svd(W, compute_uv=False)
      ranks.append(int(np.sum(s > 1e-5 * s[0])))
    self.assertEqual([ranks[2], ranks[5]], [6, 6])  # after steps 3 and 6
    self.assertGreater(ranks[3], 6)  # a gradient step leaves the rank-6 set

  def test_default_w_stays_near_rank_r_and_its_drift_is_logged(self):
    """With the default W handling, W's distance to its best rank-r approximation (numpy SVD) stays below 10%
    at every step (Adam's first, sign-like steps move W most: in real training the epoch means were 5%, 0.8%,
    0.2%), and the logged off-rank metric equals that distance for the pre-threshold W, which the same step
    computes when thresholding is switched off."""
    cfg = dict(**{"lowrank.threshold_every": 5, "lowrank.warmup_steps": 0})
    setup, state = _setup(tiny_config(**cfg))
    no_threshold, _ = _setup(tiny_config(**{**cfg, "lowrank.threshold_every": 10**6}))
    steps, plain = training.Steps(setup, state), training.Steps(no_threshold, state)
    r = setup.ranks["penultimate"]
    distance = lambda W: (lambda s: np.sqrt(np.sum(s[r:] ** 2) / np.sum(s ** 2)))(
        np.linalg.svd(np.asarray(W, np.float64), compute_uv=False))
    for i in range(15):
      batch = steps.shard(*_batch(seed=i))
      copy = jax.tree.map(jnp.copy, state)
      state, m = steps.train(state, *batch)
      offrank = m["penultimate/W_offrank"]  # a Sparse metric: present at the thresholding steps only
      self.assertEqual(bool(offrank.present), (i + 1) % 5 == 0)
      if (i + 1) % 5 == 0:
        pre, _ = plain.train(copy, *batch)
        self.assertAlmostEqual(float(offrank.value), distance(pre["params"]["lowrank"]["penultimate"]["W"]), places=4)
      self.assertLess(distance(state["params"]["lowrank"]["penultimate"]["W"]), 0.10, i)

  def test_reset_moments_on_threshold(self):
    setup, state = _setup(tiny_config(**{"lowrank.threshold_every": 3, "lowrank.reset_moments_on_threshold": True}))
    steps = training.Steps(setup, state)
    for i in range(3):
      state, _ = steps.train(state, *steps.shard(*_batch(seed=i)))
    fresh = setup.optimizers.lowrank_direction.init(state["params"]["lowrank"])
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(state["opt_state"]["lowrank"]), jax.device_get(fresh))
    self.assertGreater(float(jnp.abs(state["opt_state"]["model"][0].mu["fc1"]["kernel"]).max()), 0.0)  # kept

  def test_factored_w_has_rank_at_most_r_at_every_step(self):
    setup, state = _setup(tiny_config(**{"lowrank.parametrization": "factored", "lowrank.rank": 4}))
    steps = training.Steps(setup, state)
    for i in range(6):
      state, m = steps.train(state, *steps.shard(*_batch(seed=i)))
      p = jax.device_get(state["params"]["lowrank"]["penultimate"])
      self.assertEqual(p["U"].shape, (128, 4))
      self.assertLessEqual(np.linalg.matrix_rank(np.asarray(p["U"] @ p["V"].T, np.float64), tol=1e-6), 4)
      self.assertNotIn("penultimate/W_offrank", m)

  def test_vanilla_has_no_lowrank_params_and_plain_ce(self):
    setup, state = _setup(tiny_config(**{"method": "vanilla"}))
    self.assertEqual(state["params"]["lowrank"], {})
    self.assertEqual(setup.monitored, ("penultimate",))
    x, y = _batch()
    loss, (m, _) = training.loss_fn(setup, state["params"], state["batch_stats"], data.to_unit(jnp.asarray(x)), y, 100,
                                    train=True)
    self.assertEqual(float(loss), float(m["cross_entropy"]))


def _params(workdir):
  """Restores the newest checkpoint's parameters of the run in workdir."""
  with open(os.path.join(workdir, "config.json")) as f:
    saved = json.load(f)
  cfg = tiny_config()
  cfg.update(saved)
  setup, state = _setup(cfg)
  ck = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"), 2, read_only=True)
  try:
    return ck.latest_step(), ck.restore(ck.latest_step(), state)["params"]
  finally:
    ck.close()


KILL_AFTER_SAVE = """
import os, sys
from lowrank_jax import cli, training
save, at = training.Trainer.save, int(os.environ["KILL_AFTER_SAVE"])
def save_then_die(self):
  save(self)
  if self.step == at:
    os._exit(9)
training.Trainer.save = save_then_die
cli.train_main()
"""

SIGINT_DURING_SAVE = """
import os, signal
import orbax.checkpoint as ocp
from lowrank_jax import cli
save, at = ocp.CheckpointManager.save, int(os.environ["SIGINT_DURING_SAVE"])
def save_with_ctrl_c(self, step, *args, **kwargs):
  if step == at:
    os.kill(os.getpid(), signal.SIGINT)  # delivered here, inside orbax's save of `at`
  return save(self, step, *args, **kwargs)
ocp.CheckpointManager.save = save_with_ctrl_c
cli.train_main()
"""


def _run(workdir, *flags, wait=True, env=None, kill_after_save=None, sigint_during_save=None):
  """train.py on a tiny config (2 epochs of 16 steps); kill_after_save=N: dies right after saving step N;
  sigint_during_save=N: Ctrl-C arrives inside orbax's save of step N."""
  script = ["-c", KILL_AFTER_SAVE] if kill_after_save else [os.path.join(ROOT, "train.py")]
  if kill_after_save:
    env = dict(env or os.environ, KILL_AFTER_SAVE=str(kill_after_save), PYTHONPATH=ROOT)
  if sigint_during_save:
    script = ["-c", SIGINT_DURING_SAVE]
    env = dict(env or os.environ, SIGINT_DURING_SAVE=str(sigint_during_save), PYTHONPATH=ROOT)
  cmd = [sys.executable, *script, f"--workdir={workdir}",
         f"--config={os.path.join(ROOT, 'configs/default.py')}",
         "--config.dataset.train_size=512", "--config.dataset.test_size=200", "--config.batch_size=32",
         "--config.test_batch_size=100", "--config.rank_batch_size=100", "--config.num_epochs=2",
         "--config.lowrank.warmup_steps=10", "--config.checkpoint_every_steps=8", *flags]
  if wait:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
  return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@absltest.skipUnless(FMNIST_OK, "Fashion-MNIST files missing (make test installs them)")
class MetricAccumulatorTest(absltest.TestCase):

  def test_sparse_metrics_average_over_their_own_steps(self):
    """Dense metrics average over every step; a Sparse one over the steps where it is present (hand-computed),
    with its maximum; a flush where it is absent leaves it out; the epoch survives a save and load."""
    acc = metrics.MetricAccumulator()
    steps = [(1.0, 0.0, False), (2.0, 0.3, True), (3.0, 0.0, False), (4.0, 0.1, True)]
    for loss, off, present in steps[:1]:
      acc.add({"loss": np.float32(loss), "W_offrank": methods.Sparse(np.float32(off), np.bool_(present))})
    self.assertEqual(acc.flush(), {"loss": 1.0})  # no thresholding step in this flush
    saved = json.loads(json.dumps(acc.to_json()))
    acc = metrics.MetricAccumulator()
    acc.load(saved)
    for loss, off, present in steps[1:]:
      acc.add({"loss": np.float32(loss), "W_offrank": methods.Sparse(np.float32(off), np.bool_(present))})
    acc.flush()
    means = acc.epoch_means()
    self.assertAlmostEqual(means["loss"], 2.5)
    self.assertAlmostEqual(means["W_offrank"], 0.2, places=6)
    self.assertAlmostEqual(means["W_offrank_max"], 0.3, places=6)
    self.assertEqual(acc.epoch_means(), {})  # reset


class LoopTest(absltest.TestCase):

  def test_learns_and_logs(self):
    d = shared_run("lowrank")  # tiny_config, LR warm-up 32: 2 epochs of 16 steps
    records = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl"))]
    self.assertEqual([r["epoch"] for r in records], [1, 2])
    last = records[-1]
    self.assertGreater(last["test_accuracy"], 0.5)  # chance is 0.1
    for key in ("train_cross_entropy", "train_penultimate/projection_loss", "train_penultimate/norm_loss",
                "train_accuracy", "penultimate/effective_rank", "penultimate/W_effective_rank"):
      self.assertIn(key, last)
    self.assertLessEqual(last["penultimate/W_effective_rank"], 10)  # thresholded at the last step
    self.assertEqual(sorted(os.listdir(os.path.join(d, "checkpoints")), key=int), ["24", "32"])  # keep 2

  def test_lowrank_lowers_the_effective_rank_against_vanilla(self):
    """The regularizer's one checkable claim: same data, steps and seed, lower rank of the representation."""
    ranks = {}
    for method in ("vanilla", "lowrank"):
      with tempfile.TemporaryDirectory() as d:
        cfg = tiny_config(**{"method": method, "num_epochs": 2, "dataset.train_size": 6400, "batch_size": 64,
                             "lowrank.warmup_steps": 100, "dataset.test_size": 1000, "rank_batch_size": 1000})
        last = training.train_and_evaluate(cfg, d, log=lambda s: None)
        # learned, not collapsed (chance 0.1; a collapse has rank ~1): 0.855 and 0.68 when written
        self.assertGreater(last["test_accuracy"], 0.6, method)
        ranks[method] = last["penultimate/effective_rank"]
    self.assertLessEqual(ranks["lowrank"], 10)
    self.assertLess(ranks["lowrank"], ranks["vanilla"])

  def test_lengthening_a_run_changes_its_schedule_only_when_asked(self):
    """A rerun with more epochs would recompute the cosine schedule (the rate jumps back up): refused in one line
    naming the change; with config.extend_schedule it trains on, and config.json records the change and its step."""
    with tempfile.TemporaryDirectory() as d:
      workdir = copy_run("lowrank", os.path.join(d, "run"))
      longer = tiny_config(**{**RUNS["lowrank"], "num_epochs": 3})
      with self.assertRaisesRegex(config_lib.ConfigError, r"run: config.num_epochs=2 -> config.num_epochs=3 would "
                                  r"change the run's cosine learning-rate schedule .* pass "
                                  r"--config.extend_schedule=True"):
        training.train_and_evaluate(longer, workdir, log=lambda s: None)
      self.assertEqual(len(runfiles.read_jsonl(os.path.join(workdir, "metrics.jsonl"))), 2)  # nothing trained
      logs = []
      record = training.train_and_evaluate(tiny_config(**{**RUNS["lowrank"], "num_epochs": 3, "extend_schedule": True}),
                                           workdir, log=logs.append)
      self.assertEqual(record["epoch"], 3)
      saved = json.load(open(os.path.join(workdir, "config.json")))
      self.assertEqual(saved["schedule_history"], ["config.num_epochs=2 -> config.num_epochs=3 at step 32"])
      self.assertTrue(any("the learning-rate schedule changes from step 32 on" in line for line in logs), logs)
      again = tiny_config(**{**RUNS["lowrank"], "num_epochs": 3})  # the same length again: nothing to refuse
      training.train_and_evaluate(again, workdir, log=lambda s: None)
      self.assertEqual(json.load(open(os.path.join(workdir, "config.json")))["schedule_history"],
                       saved["schedule_history"])  # the history stays

  def test_killed_mid_epoch_resumes_to_identical_parameters_and_metrics(self):
    """train.py with the shared LR run's config, killed (os._exit: no cleanup, like SIGKILL) right after its
    step-24 checkpoint, in the middle of epoch 2 of 2, resumes to the parameters and the metrics.jsonl of the
    uninterrupted shared run, bit for bit: the epoch's train_* means include the 8 steps before the kill."""
    straight = shared_run("lowrank")
    with tempfile.TemporaryDirectory() as killed:
      r = _run(killed, *LOWRANK_FLAGS, kill_after_save=24)
      self.assertEqual(r.returncode, 9, r.stderr[-2000:])
      self.assertEqual(_params(killed)[0], 24)
      self.assertEqual([json.loads(l)["epoch"] for l in open(os.path.join(killed, "metrics.jsonl"))], [1])
      events = b"".join(open(f, "rb").read() for f in glob.glob(os.path.join(killed, "tensorboard", "*")))
      self.assertIn(b"epoch/test_accuracy", events)  # flushed at the epoch's end, not lost with the process
      r = _run(killed, *LOWRANK_FLAGS)
      self.assertEqual(r.returncode, 0, r.stderr[-2000:])
      self.assertIn(f"resumed from {killed}/checkpoints/24", r.stdout)
      (s1, p1), (s2, p2) = _params(straight), _params(killed)
      self.assertEqual((s1, s2), (32, 32))
      jax.tree.map(np.testing.assert_array_equal, p1, p2)
      records = [[json.loads(l) for l in open(os.path.join(w, "metrics.jsonl"))] for w in (straight, killed)]
      self.assertEqual([r["epoch"] for r in records[1]], [1, 2])
      self.assertEqual(records[0], records[1])

  def test_ctrl_c_during_a_save_finishes_it_then_stops_cleanly(self):
    """Ctrl-C inside orbax's save of step 16 (the end of epoch 1; it once left orbax's "Attempted to create
    temporary directory" and "coroutine ... never awaited" lines, an asyncio traceback, and 3 checkpoints where 2
    are kept): the save finishes, the run stops before the next step with status 130 and one "interrupted" line
    (nothing left to save), keeps 2 intact checkpoints (each restores and matches its digests), no temporary
    folder, no traceback."""
    with tempfile.TemporaryDirectory() as d:
      r = _run(d, "--config.keep_checkpoints=2", sigint_during_save=16)
      self.assertEqual(r.returncode, 130, r.stderr[-2000:])
      self.assertIn(f"interrupted at step 16; saved {d}/checkpoints/16", r.stdout + r.stderr)
      for noise in ("Traceback", "never awaited", "Attempted to create", "Invalid file descriptor",
                    "Exception ignored"):
        self.assertNotIn(noise, r.stderr)
      folder = os.path.join(d, "checkpoints")
      self.assertEqual(sorted(os.listdir(folder), key=int), ["8", "16"])
      state = {"params": _params(d)[1]}
      for step in (8, 16):
        ck = checkpoint.Checkpointer(folder, 2, read_only=True)
        try:
          restored = ck.restore(step, state, partial=True)  # verifies the digests written with it
        finally:
          ck.close()
        self.assertTrue(all(np.all(np.isfinite(x)) for x in jax.tree.leaves(restored)))

  def test_sigterm_saves_and_exits(self):
    with tempfile.TemporaryDirectory() as d:
      proc = _run(d, "--config.checkpoint_every_steps=1000", "--config.num_epochs=50", wait=False)
      deadline = time.time() + 240
      while not os.path.exists(os.path.join(d, "config.json")) and time.time() < deadline:
        time.sleep(0.05)
      time.sleep(3)
      proc.send_signal(signal.SIGTERM)
      _, err = proc.communicate(timeout=120)
      self.assertEqual(proc.returncode, 130, err[-2000:])
      self.assertTrue(os.listdir(os.path.join(d, "checkpoints")), "nothing saved on SIGTERM")

  def test_ctrl_c_at_any_moment_stops_the_run(self):
    """SIGINT 0.5 s, 2 s and 4 s after start (during imports, flag parsing and set-up; it was swallowed there 4
    times in 40 tries: the run trained to the end) and during training: each run stops with status 130, no
    "Exception ignored" line, and the run trains no epoch it was asked not to."""
    for delay in (0.5, 2.0, 4.0, None):
      with tempfile.TemporaryDirectory() as d:
        proc = _run(d, "--config.checkpoint_every_steps=1000", "--config.num_epochs=50", wait=False)
        if delay is None:  # during training: after the first checkpoint
          deadline = time.time() + 240
          while not os.path.exists(os.path.join(d, "config.json")) and time.time() < deadline:
            time.sleep(0.05)
          time.sleep(3)
        else:
          time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=180)
        self.assertEqual(proc.returncode, 130, (delay, err[-2000:]))
        self.assertNotIn("Exception ignored", err, delay)
        epochs = runfiles.read_jsonl(os.path.join(d, "metrics.jsonl"))
        self.assertLess(len(epochs), 50, delay)
        if delay is None:
          self.assertTrue(os.listdir(os.path.join(d, "checkpoints")), "nothing saved on Ctrl-C")
          self.assertIn("SIGINT: stopping at the next safe point", err)  # said when it comes, not at the next step

  def test_nan_stops_with_last_good_checkpoint(self):
    with tempfile.TemporaryDirectory() as d:
      cfg = tiny_config(**{"optimizer.learning_rate": 1e9, "method": "vanilla", "log_every_steps": 1,
                           "checkpoint_every_steps": 1, "optimizer.schedule": "constant"})
      with self.assertRaisesRegex(training.TrainingDivergedError, r"non-finite .* last good checkpoint: "):
        training.train_and_evaluate(cfg, d, log=lambda s: None)
      ck = checkpoint.Checkpointer(os.path.join(d, "checkpoints"), 2)
      step = ck.latest_step()
      ck.close()
      if step is not None:  # whatever was saved is finite
        _, params = _params(d)
        self.assertTrue(all(np.all(np.isfinite(x)) for x in jax.tree.leaves(params)))

  def test_corrupt_checkpoint_is_reported_and_kept(self):
    with tempfile.TemporaryDirectory() as d:
      w = copy_run("lowrank", os.path.join(d, "run"))
      files = [f for f in glob.glob(os.path.join(w, "checkpoints", "32", "**"), recursive=True)
               if os.path.isfile(f) and os.path.getsize(f) > 1000]
      for f in files:
        with open(f, "r+b") as fh:
          fh.write(b"\0garbage" * 200)
      before = {f: open(f, "rb").read() for f in files}
      r = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), f"--workdir={w}", *LOWRANK_FLAGS,
                          "--config.num_epochs=3", "--config.extend_schedule=True"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
      self.assertNotEqual(r.returncode, 0)
      self.assertRegex(r.stderr, f"^error: checkpoint {w}/checkpoints/32 is corrupt or incompatible")
      self.assertEqual(before, {f: open(f, "rb").read() for f in files})
      self.assertEqual(json.load(open(os.path.join(w, "config.json")))["num_epochs"], 2)  # not rewritten

  def test_incompatible_checkpoint_names_path(self):
    """Without config.json to compare with, the restore itself refuses a checkpoint of another model."""
    with tempfile.TemporaryDirectory() as d:
      w = copy_run("lowrank", os.path.join(d, "run"))
      os.remove(os.path.join(w, "config.json"))
      with self.assertRaisesRegex(checkpoint.CheckpointError, os.path.join(w, "checkpoints", "32")):
        training.train_and_evaluate(tiny_config(**{"num_epochs": 3, "lowrank.rank": 5, "lowrank.layers": "conv2",
                                                   "lowrank.max_dim": 20000}), w, log=lambda s: None)
      self.assertFalse(os.path.exists(os.path.join(w, "config.json")))  # written only after a restore succeeds


if __name__ == "__main__":
  absltest.main()
