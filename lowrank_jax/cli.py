"""Command lines: `lowrank-train` / `python train.py` and `lowrank-eval` / `python eval.py`.

  lowrank-train --workdir runs/lr [--config my_config.py] [--config.method=vanilla] [--config.num_epochs=10]
  lowrank-eval --workdir runs/lr [--transfer_from runs/vanilla] [--reference runs/third]

--config defaults to the package's default config (lowrank_jax/default_config.py).
Multi-process runs: --coordinator_address HOST:PORT --num_processes N --process_id I (or the
environment variables JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID; on TPU pods
and SLURM/Open MPI clusters jax.distributed finds them itself with --distributed).
"""

from __future__ import annotations

import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "default_config.py")
FLAGS = flags.FLAGS


def _define_common() -> None:
  flags.DEFINE_string("workdir", None, "Where checkpoints, config.json, metrics.jsonl and logs go.", required=True)
  config_flags.DEFINE_config_file("config", DEFAULT_CONFIG, "Config file with get_config().", lock_config=True)
  flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize() (auto-detects TPU pods, SLURM, MPI).")
  flags.DEFINE_string("coordinator_address", os.environ.get("JAX_COORDINATOR_ADDRESS"),
                      "host:port of process 0 for multi-process runs.")
  flags.DEFINE_integer("num_processes", int(os.environ.get("JAX_NUM_PROCESSES", "0")) or None,
                       "Number of processes of a multi-process run.")
  flags.DEFINE_integer("process_id", int(os.environ["JAX_PROCESS_ID"]) if "JAX_PROCESS_ID" in os.environ else None,
                       "This process's index in a multi-process run.")


def _user_errors():
  from lowrank_jax import checkpoint, config, data, training  # pylint: disable=g-import-not-at-top
  return (config.ConfigError, data.DataError, checkpoint.CheckpointError, training.TrainingDivergedError,
          FileNotFoundError)


def _train(argv) -> None:
  del argv
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  from lowrank_jax import distributed, training  # pylint: disable=g-import-not-at-top
  try:
    distributed.initialize(FLAGS.distributed, FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
    training.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  except _user_errors() as e:
    sys.exit(f"error: {e}")
  except KeyboardInterrupt:
    sys.exit(130)


def _eval(argv) -> None:
  del argv
  logging.set_verbosity(logging.WARNING)
  from lowrank_jax import distributed, evaluation, summary  # pylint: disable=g-import-not-at-top
  try:
    distributed.initialize(FLAGS.distributed, FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
    results = evaluation.evaluate_workdir(FLAGS.workdir, FLAGS.config.eval, FLAGS.transfer_from, FLAGS.reference)
  except _user_errors() as e:
    sys.exit(f"error: {e}")
  if distributed.is_main():
    print(summary.eval_line(results))
    print(f"report: {FLAGS.workdir}/eval/report.md")


def train_main() -> None:
  """Entry point of `lowrank-train`."""
  _define_common()
  app.run(_train)


def eval_main() -> None:
  """Entry point of `lowrank-eval`."""
  _define_common()
  flags.DEFINE_string("transfer_from", None, "Another workdir: source of transfer (black-box) attacks.")
  flags.DEFINE_string("reference", None, "A third workdir: source of perturbations common to every model evaluated.")
  app.run(_eval)
