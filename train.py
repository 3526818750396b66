"""Trains a model with (or without) the LR regularizer.

  python train.py --config configs/default.py --workdir runs/lr [--config.method=vanilla]

Rerunning the same command resumes from the newest checkpoint in --workdir.
"""

import sys

from absl import app, flags, logging
from ml_collections import config_flags

import lowrank_jax
from lowrank_jax import checkpoint, config, data, training

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Where checkpoints, config.json and metrics.jsonl go.", required=True)
config_flags.DEFINE_config_file("config", "configs/default.py", "Training config file.", lock_config=True)

_USER_ERRORS = (config.ConfigError, data.DataError, checkpoint.CheckpointError, training.TrainingDivergedError)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  try:
    lowrank_jax.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  except _USER_ERRORS as e:
    sys.exit(f"error: {e}")
  except KeyboardInterrupt:
    sys.exit(130)


if __name__ == "__main__":
  app.run(main)
