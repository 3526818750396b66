"""Evaluates a trained run: attacks, AutoAttack, the paper's measures, a gradient-masking audit, a report.

  python eval.py --workdir runs/lowrank [--transfer_from runs/vanilla] [--reference runs/third]
      [--config.eval.num_examples=1000] [--config.eval.autoattack=False] [--config.eval.masking_probes=True]

Writes WORKDIR/eval/eval.json, report.md and PNG plots. Only the `eval` part of
--config is used; the model's config is the one train.py saved in --workdir.
"""

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from lowrank_jax import checkpoint, config, data, evaluation, summary

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A train.py workdir.", required=True)
flags.DEFINE_string("transfer_from", None, "Another workdir: source of transfer (black-box) attacks.")
flags.DEFINE_string("reference", None, "A third workdir: source of perturbations common to every model evaluated.")
config_flags.DEFINE_config_file("config", "configs/default.py", "Config file (its `eval` field).", lock_config=True)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  try:
    results = evaluation.evaluate_workdir(FLAGS.workdir, FLAGS.config.eval, FLAGS.transfer_from, FLAGS.reference)
  except (FileNotFoundError, config.ConfigError, data.DataError, checkpoint.CheckpointError) as e:
    sys.exit(f"error: {e}")
  print(summary.eval_line(results))
  print(f"report: {FLAGS.workdir}/eval/report.md")


if __name__ == "__main__":
  app.run(main)
