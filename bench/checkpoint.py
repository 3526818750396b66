"""What checkpoint integrity costs: the digest of every saved array against a save, its check against a restore,
and both against a training step, side by side in one run.

  python bench/checkpoint.py [--rounds 5]

For the default CNN (Fashion-MNIST, Adam) and the CIFAR-10 recipe's ResNet-18/4 (SGD with momentum): one
checkpoint of the whole training state (parameters, batch statistics, optimizer and method state) saved with
`checkpoint.Checkpointer.save` (orbax, synchronous, then the digests) and restored with `restore` (orbax, then the
check), interleaved; the digests and the check are timed alone on the same state, and one jitted training step of
batch 128 beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import common  # pylint: disable=g-import-not-at-top
from configs import default  # pylint: disable=g-import-not-at-top
from lowrank_jax import checkpoint, data, spec_runner, training  # pylint: disable=g-import-not-at-top

MODELS = {  # label -> (config, dataset, input shape)
    "CNN (default, Adam)": (lambda: default.get_config(), "fashion_mnist", (28, 28, 1)),
    "ResNet-18/4 (CIFAR-10 recipe, SGD)": (lambda: spec_runner.config_file("configs/cifar10_resnet18.py"), "cifar10",
                                           (32, 32, 3)),
}


def _median(fn, rounds: int) -> float:
  ts = []
  for _ in range(rounds):
    t0 = time.perf_counter()
    fn()
    ts.append(time.perf_counter() - t0)
  return float(np.median(ts))


def measure(label: str, rounds: int) -> dict:
  make, name, shape = MODELS[label]
  config = make()
  setup, state = training.create_train_state(config, data.DATASETS[name], (0.3,) * shape[-1], (0.3,) * shape[-1],
                                             num_train=50000)
  steps = training.Steps(setup, state)
  rng = np.random.default_rng(0)
  batch = steps.shard(rng.integers(0, 256, (128, *shape), dtype=np.uint8), rng.integers(0, 10, 128).astype(np.int32),
                      np.arange(128, dtype=np.int32))
  step = common.train_steps(steps, jax.tree.map(jnp.copy, state), batch, 1)  # the step donates its state
  folder = tempfile.mkdtemp()
  ckpt = checkpoint.Checkpointer(folder, keep=2)
  counter = iter(range(1, 10 ** 6))
  saved = []

  def save():
    s = next(counter)
    ckpt.save(s, state)
    saved.append(s)

  def restore():
    ckpt.restore(saved[-1], state)

  save()
  times = common.interleaved({"save": save, "restore": restore, "step": step}, rounds=rounds)
  digests = _median(lambda: checkpoint.digests(state), rounds)
  verify = _median(lambda: ckpt.verify(saved[-1], state), rounds)
  ckpt.close()
  shutil.rmtree(folder, ignore_errors=True)
  mib = sum(x.nbytes for x in jax.tree.leaves(state)) / 2 ** 20
  out = {"model": label, "state_mib": round(mib, 2), "save_s": times["save"], "restore_s": times["restore"],
         "digests_s": digests, "verify_s": verify, "step_s": times["step"],
         "digests_over_save": digests / times["save"], "verify_over_restore": verify / times["restore"],
         "digests_over_step": digests / times["step"]}
  print(f"{label}: state {mib:.1f} MiB; save {1e3 * times['save']:.0f} ms (digests {1e3 * digests:.1f} ms, "
        f"{100 * out['digests_over_save']:.1f}%), restore {1e3 * times['restore']:.0f} ms (check {1e3 * verify:.1f} "
        f"ms, {100 * out['verify_over_restore']:.1f}%), training step {1e3 * times['step']:.0f} ms (digests "
        f"{100 * out['digests_over_step']:.1f}% of one step)", flush=True)
  return out


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--rounds", type=int, default=5)
  ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
                                                "results", "checkpoint_digests.json"))
  a = ap.parse_args()
  rows = [measure(label, a.rounds) for label in MODELS]
  with open(a.out, "w") as f:
    json.dump({"machine": common.machine(), "rows": rows}, f, indent=1)
  print(f"wrote {a.out}")


if __name__ == "__main__":
  main()
