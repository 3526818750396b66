"""Evaluates a trained run (attacks, AutoAttack, the paper's measures, an audit, a report): `lowrank-eval`.

  python eval.py --workdir runs/lowrank [--transfer_from runs/vanilla] [--reference runs/third] [--data_dir DIR]
      [--config.eval.num_examples=1000] [--config.eval.autoattack.enabled=False] [--config.eval.masking.enabled=True]

Writes WORKDIR/eval/eval.json, report.md and PNG plots. Only the `eval` part of
--config is used; the model's config is the one train.py saved in --workdir.
"""

from lowrank_jax import cli

if __name__ == "__main__":
  cli.eval_main()
