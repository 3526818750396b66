"""Prints runs side by side: clean accuracy, representation ranks and, once evaluated, robustness.

  python -m lowrank_jax.summary runs/vanilla runs/lowrank
"""

from __future__ import annotations

import os
import sys

from lowrank_jax import runfiles
from lowrank_jax.eval_results import EvalResults


def describe(cfg: dict) -> str:
  """One phrase for a run's method: 'vanilla' or 'lowrank: rank 10 on penultimate (dense)'."""
  method = cfg.get("method", "lowrank")
  if "lowrank" not in method:
    return method
  lr = cfg["lowrank"]
  return f"{method}: rank {lr['rank']} on {lr['layers']} ({lr.get('parametrization', 'dense')})"


def eval_line(ev: dict) -> str:
  """eval.json in one line: clean, worst case per eps, rho_adv, audit flags."""
  r = EvalResults(ev)
  flags = r.audit_flags
  worst = ", ".join(f"{e:g}: {v:.3f}" for e, v in r.worst_by_eps().items())
  df = r.deepfool
  deepfool = (f"; DeepFool rho_adv {df['rho_adv']:.4f} (fooled only {df['rho_adv_fooled']:.4f}, "
              f"success {df['success_rate']:.3f})" if df else "")
  return (f"{r.model}: clean {r.clean:.3f} on {r.num_examples} test examples; worst-case robust "
          f"accuracy by eps {worst}{deepfool}; audit flags: {', '.join(flags) if flags else 'none'}")


def summarize(workdirs: list[str]) -> str:
  """Each run's last epoch (accuracy, effective ranks) and, once evaluated, its robustness, as text."""
  rows = []
  for d in workdirs:
    records = runfiles.read_jsonl(runfiles.path(d, runfiles.METRICS))
    if not records:
      raise SystemExit(f"error: {runfiles.path(d, runfiles.METRICS)} is missing or empty: train into {d} first")
    r, (cfg, _) = records[-1], runfiles.load_run(d)
    ranks = ", ".join(f"{k.split('/')[0]} {v}" for k, v in r.items() if k.endswith("/effective_rank"))
    rows.append(f"{d}: {describe(cfg)}; epoch {r.get('epoch', '?')}; test accuracy {r['test_accuracy']:.4f}; "
                f"effective rank ({cfg['rank_energy']:.0%} energy) {ranks}")
    ev_path = runfiles.path(d, runfiles.EVAL_DIR, runfiles.EVAL)
    if os.path.exists(ev_path):
      ev = runfiles.read_json(ev_path)
      r = EvalResults(ev)
      if r.has("pgd_grid"):
        rows.append(f"  PGD-{max(r.pgd_steps)} {r.config.norm} accuracy by eps "
                    + ", ".join(f"{e:g}: {v:.3f}" for e, v in r.pgd_by_eps().items()))
      if r.has("autoattack"):
        rows.append(f"  AutoAttack ({r.config.autoattack.version}, first {r.autoattack_examples} examples) robust "
                    "accuracy by eps " + ", ".join(f"{e:g}: {v:.3f}" for e, v in r.autoattack_by_eps().items()))
      rows.append("  " + eval_line(ev) + f"; report {d}/eval/report.md")
  return "\n".join(rows)


if __name__ == "__main__":
  if len(sys.argv) < 2:
    raise SystemExit("usage: python -m lowrank_jax.summary WORKDIR [WORKDIR ...]")
  print(summarize(sys.argv[1:]))
