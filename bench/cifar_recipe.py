"""Seconds per training step on CIFAR-10's shape (batch 128, 32x32x3, SGD with momentum, BatchNorm in train mode,
crop+flip augmentation) for the candidate models of the CIFAR-10 grid, vanilla and with LR on the penultimate layer.

  python bench/cifar_recipe.py [--models resnet18:0.25,resnet18:0.5,resnet18:1,resnet50:0.25] [--steps 5]

Each model's steps run in blocks of --steps, vanilla and LR interleaved (shared-CPU noise hits both alike), the
median block kept; writes docs/results/cifar10_recipe.json (seconds per step, epoch and grid estimates).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import common  # pylint: disable=g-import-not-at-top
from configs import cifar10_resnet18  # pylint: disable=g-import-not-at-top
from lowrank_jax import data, training  # pylint: disable=g-import-not-at-top
from lowrank_jax.spec_runner import apply_overrides  # pylint: disable=g-import-not-at-top

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS_PER_EPOCH = 50000 // 128


def stepper(model: str, width: float, method: str, steps: int, overrides: dict | None = None):
  """A function running `steps` training steps of the model on one fixed random batch (overrides: more config
  fields, dotted names)."""
  config = cifar10_resnet18.get_config()
  config.model, config.model_width, config.method = model, width, method
  config = apply_overrides(config, overrides or {})
  info = data.DATASETS["cifar10"]
  setup, state = training.create_train_state(config, info, (0.49, 0.48, 0.45), (0.25, 0.24, 0.26), num_train=50000)
  s = training.Steps(setup, state)
  rng = np.random.default_rng(0)
  batch = s.shard(rng.integers(0, 256, (128, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 128).astype(np.int32),
                  np.arange(128, dtype=np.int32))
  return common.train_steps(s, state, batch, steps)


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--models", default="resnet18:0.25,resnet18:0.5,resnet18:1,resnet50:0.25")
  ap.add_argument("--steps", type=int, default=5)
  ap.add_argument("--rounds", type=int, default=3)
  ap.add_argument("--epochs", type=int, default=30, help="the grid's training length, for the estimates")
  ap.add_argument("--out", default=os.path.join(ROOT, "docs", "results", "cifar10_recipe.json"))
  a = ap.parse_args()
  rows = []
  for spec in a.models.split(","):
    model, width = spec.split(":")
    fns = {m: stepper(model, float(width), m, a.steps) for m in ("vanilla", "lowrank")}
    times = common.interleaved(fns, rounds=a.rounds)
    row = {"model": model, "width": float(width), **{f"{m}_s_per_step": t / a.steps for m, t in times.items()}}
    row["epoch_minutes"] = {m: row[f"{m}_s_per_step"] * STEPS_PER_EPOCH / 60 for m in ("vanilla", "lowrank")}
    # the grid: vanilla and LR x 3 seeds, evaluation aside
    row["grid_hours_6_rows"] = 3 * sum(row["epoch_minutes"].values()) * a.epochs / 60
    rows.append(row)
    print(f"{model} x{width}: vanilla {row['vanilla_s_per_step']:.3f} s/step, LR {row['lowrank_s_per_step']:.3f} "
          f"s/step; an epoch {row['epoch_minutes']['vanilla']:.1f} / {row['epoch_minutes']['lowrank']:.1f} min; "
          f"6 rows x {a.epochs} epochs {row['grid_hours_6_rows']:.1f} h", flush=True)
  out = {"machine": common.machine(), "batch": 128, "steps_per_epoch": STEPS_PER_EPOCH, "epochs": a.epochs,
         "rows": rows}
  with open(a.out, "w") as f:
    json.dump(out, f, indent=1)
  print(f"wrote {a.out}")


if __name__ == "__main__":
  main()
