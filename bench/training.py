"""Training step time, side by side: the LR regularizer's overhead, and ResNet-18 against PyTorch.

  python bench/training.py [--steps 20] [--rounds 5] [--no-torch]

1. LR step / vanilla step on the default CNN (batch 128; dense W thresholded every
   k = 10 steps, so blocks of 20 steps amortise it), for one LR layer (m = 128),
   2-LR (pool2, m = 3,136, + penultimate) and the conv2 features (m = 12,544), each
   with a dense W (Nystrom) and a factored W = U V^T. Blocks of steps of every
   variant are interleaved, so load on the shared CPU hits all alike.
2. ResNet-18 (CIFAR-style, full width, 28x28x1, batch 128, Adam, BatchNorm in train
   mode) and the default CNN: our jitted step against the same architecture in
   PyTorch (CPU build).
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import common  # pylint: disable=g-import-not-at-top
from configs import default  # pylint: disable=g-import-not-at-top
from lowrank_jax import data, training  # pylint: disable=g-import-not-at-top
from lowrank_jax.spec_runner import apply_overrides  # pylint: disable=g-import-not-at-top

VARIANTS = {
    "vanilla": {"method": "vanilla"},
    "LR penultimate (m=128), dense": {},
    "LR penultimate (m=128), factored": {"lowrank.parametrization": "factored"},
    "2-LR pool2 (m=3136) + penultimate, dense": {"lowrank.layers": "pool2,penultimate"},
    "2-LR pool2 (m=3136) + penultimate, factored": {"lowrank.layers": "pool2,penultimate",
                                                   "lowrank.parametrization": "factored"},
    "2-LR conv2 (m=12544) + penultimate, dense": {"lowrank.layers": "conv2,penultimate"},
    "2-LR conv2 (m=12544) + penultimate, factored": {"lowrank.layers": "conv2,penultimate",
                                                    "lowrank.parametrization": "factored"},
}
TARGETS = {"LR penultimate (m=128), dense": 1.10, "2-LR conv2 (m=12544) + penultimate, factored": 1.2,
           "2-LR conv2 (m=12544) + penultimate, dense": 1.2}


def _batch(n=128, shape=(28, 28, 1), seed=0):
  rng = np.random.default_rng(seed)
  return rng.integers(0, 256, (n, *shape), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int32)


def _stepper(config, steps: int):
  info = data.DATASETS["fashion_mnist"]
  setup, state = training.create_train_state(config, info, (0.286,), (0.353,), num_train=60000)
  s = training.Steps(setup, state)
  return common.train_steps(s, state, s.shard(*_batch(int(config.batch_size))), steps)


def lr_overhead(steps: int = 20, rounds: int = 5) -> list[dict]:
  fns = {name: _stepper(apply_overrides(default.get_config(), ov), steps) for name, ov in VARIANTS.items()}
  times = common.interleaved(fns, rounds=rounds)
  rows = []
  for name, t in times.items():
    ratio = t / times["vanilla"]
    rows.append({"variant": name, "ms_per_step": 1000 * t / steps, "over_vanilla": ratio,
                 "target": TARGETS.get(name)})
    print(f"{name:<46} {1000 * t / steps:8.1f} ms/step  LR/vanilla {ratio:5.2f}x"
          + (f"  (target <= {TARGETS[name]})" if name in TARGETS else ""), flush=True)
  return rows


def step_vs_torch(model: str = "resnet18", rounds: int = 3, batch: int = 128) -> dict:
  """Our jitted vanilla training step (Adam) against the same architecture's step in PyTorch."""
  import torch  # pylint: disable=g-import-not-at-top
  from bench import torch_resnet  # pylint: disable=g-import-not-at-top

  cfg = apply_overrides(default.get_config(), {"model": model, "method": "vanilla", "batch_size": batch})
  ours = _stepper(cfg, 1)
  net = torch_resnet.ResNet18(1, 10) if model == "resnet18" else torch_resnet.CNN(1, 10)
  opt = torch.optim.Adam(net.parameters(), 1e-3)
  x, y = _batch(batch)
  tx = torch.tensor(data.to_unit(np.transpose(x, (0, 3, 1, 2))))
  ty = torch.tensor(y.astype(np.int64))
  net.train()

  def theirs():
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(net(tx), ty)
    loss.backward()
    opt.step()
    return 0

  times = common.interleaved({"jax": ours, "torch": theirs}, rounds=rounds)
  out = {"model": model, "ours_s": times["jax"], "torch_s": times["torch"],
         "torch_over_ours": times["torch"] / times["jax"], "batch": batch}
  print(f"{model} step, batch {batch}: ours {times['jax']:.4f} s, torch {times['torch']:.4f} s, "
        f"torch/ours {out['torch_over_ours']:.2f}x (target >= 1)", flush=True)
  return out


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--steps", type=int, default=20)
  ap.add_argument("--rounds", type=int, default=5)
  ap.add_argument("--no-torch", action="store_true")
  a = ap.parse_args()
  lr_overhead(a.steps, a.rounds)
  if not a.no_torch:
    step_vs_torch("resnet18")
    step_vs_torch("cnn", rounds=10)


if __name__ == "__main__":
  main()
