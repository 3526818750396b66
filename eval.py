"""Evaluates a trained run: attacks, robustness measures, gradient-masking audit, report.

  python eval.py --workdir runs/lowrank [--transfer_from runs/vanilla] [--config.eval.num_examples=1000]

Writes WORKDIR/eval/eval.json, report.md and PNG plots. Only the `eval` part of
--config is used; the model's config is the one train.py saved in --workdir.
"""

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from lowrank_jax import checkpoint, config, data, evaluation

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A train.py workdir.", required=True)
flags.DEFINE_string("transfer_from", None, "Another workdir: source of transfer (black-box) attacks.")
config_flags.DEFINE_config_file("config", "configs/default.py", "Config file (its `eval` field).", lock_config=True)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  try:
    results = evaluation.evaluate_workdir(FLAGS.workdir, FLAGS.config.eval, FLAGS.transfer_from)
  except (FileNotFoundError, config.ConfigError, data.DataError, checkpoint.CheckpointError) as e:
    sys.exit(f"error: {e}")
  flags_ = [a["check"] for a in results.get("audit", []) if not a["passed"]]
  print(f"{FLAGS.workdir}: clean {results['clean_accuracy']:.4f}; worst-case robust accuracy "
        + ", ".join(f"eps {e}: {v['accuracy']:.4f}" for e, v in results["robust_accuracy"].items())
        + f"; rho_adv {results['deepfool']['rho_adv']:.4f}; audit flags: {flags_ or 'none'}")
  print(f"report: {FLAGS.workdir}/eval/report.md")


if __name__ == "__main__":
  app.run(main)
