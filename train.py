"""Trains a model with (or without) the LR regularizer: `lowrank-train` from a source checkout.

  python train.py --workdir runs/lr [--config configs/default.py] [--config.method=vanilla]

Rerunning the same command resumes from the newest checkpoint in --workdir.
"""

from lowrank_jax import cli

if __name__ == "__main__":
  cli.train_main()
