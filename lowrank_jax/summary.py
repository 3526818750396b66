"""Prints runs side by side: clean accuracy, representation ranks and, once evaluated, robustness.

  python -m lowrank_jax.summary runs/vanilla runs/lowrank
"""

from __future__ import annotations

import os
import sys

from lowrank_jax import runfiles


def describe(cfg: dict) -> str:
  """One phrase for a run's method: 'vanilla' or 'lowrank: rank 10 on penultimate (dense)'."""
  method = cfg.get("method", "lowrank")
  if "lowrank" not in method:
    return method
  lr = cfg["lowrank"]
  return f"{method}: rank {lr['rank']} on {lr['layers']} ({lr.get('parametrization', 'dense')})"


def eval_line(ev: dict) -> str:
  """eval.json in one line: clean, worst case per eps, rho_adv, audit flags."""
  flags = [a["check"] for a in ev.get("audit", []) if not a["passed"]]
  worst = ", ".join(f"{e}: {v['accuracy']:.3f}" for e, v in ev["robust_accuracy"].items())
  df = ev["deepfool"]
  return (f"{ev['model']}: clean {ev['clean_accuracy']:.3f} on {ev['num_examples']} test examples; worst-case robust "
          f"accuracy by eps {worst}; DeepFool rho_adv {df['rho_adv']:.4f} (fooled only {df['rho_adv_fooled']:.4f}, "
          f"success {df['success_rate']:.3f}); audit flags: {', '.join(flags) if flags else 'none'}")


def summarize(workdirs: list[str]) -> str:
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
      g = ev["pgd_grid"]["pgd"]
      steps = str(max(int(s) for s in next(iter(g.values()))))
      rows.append(f"  PGD-{steps} {ev['config']['norm']} accuracy by eps " + ", ".join(f"{e}: {v[steps]:.3f}"
                                                                                       for e, v in g.items()))
      if "autoattack" in ev:
        aa = ev["autoattack"]
        rows.append(f"  AutoAttack ({aa['version']}, first {aa['examples']} examples) robust accuracy by eps "
                    + ", ".join(f"{e}: {v['robust_accuracy']:.3f}" for e, v in aa["by_eps"].items()))
      rows.append("  " + eval_line(ev) + f"; report {d}/eval/report.md")
  return "\n".join(rows)


if __name__ == "__main__":
  if len(sys.argv) < 2:
    raise SystemExit("usage: python -m lowrank_jax.summary WORKDIR [WORKDIR ...]")
  print(summarize(sys.argv[1:]))
