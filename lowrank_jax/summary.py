"""Prints runs side by side: clean accuracy, representation ranks and, once evaluated, robustness.

  python -m lowrank_jax.summary runs/vanilla runs/lowrank
"""

from __future__ import annotations

import json
import os
import sys


def _read_last(path: str, what: str) -> dict:
  try:
    with open(path) as f:
      lines = [l for l in f if l.strip()]
  except FileNotFoundError:
    raise SystemExit(f"error: {path} not found: {what}") from None
  if not lines:
    raise SystemExit(f"error: {path} is empty")
  return json.loads(lines[-1])


def summarize(workdirs: list[str]) -> str:
  rows = []
  for d in workdirs:
    r = _read_last(os.path.join(d, "metrics.jsonl"), f"train into {d} first")
    with open(os.path.join(d, "config.json")) as f:
      cfg = json.load(f)
    lr = cfg["lowrank"]
    ranks = ", ".join(f"{k.split('/')[0]} {v}" for k, v in r.items() if k.endswith("/effective_rank"))
    desc = f"LR rank {lr['rank']} on {lr['layers']}" if lr["enabled"] else "vanilla"
    rows.append(f"{d}: {desc}; epoch {r.get('epoch', '?')}; test accuracy {r['test_accuracy']:.4f}; "
                f"effective rank ({cfg['rank_energy']:.0%} energy) {ranks}")
    ev_path = os.path.join(d, "eval", "eval.json")
    if os.path.exists(ev_path):
      ev = json.load(open(ev_path))
      steps = str(max(int(s) for s in next(iter(ev["pgd"].values()))))
      pgd = ", ".join(f"{e}: {v[steps]:.3f}" for e, v in ev["pgd"].items())
      worst = ", ".join(f"{e}: {v['accuracy']:.3f}" for e, v in ev["robust_accuracy"].items())
      flags = [a["check"] for a in ev.get("audit", []) if not a["passed"]]
      rows.append(f"  on {ev['num_examples']} test examples: clean {ev['clean_accuracy']:.3f}; "
                  f"PGD-{steps} {ev['config']['norm']} accuracy by eps {pgd}")
      rows.append(f"  worst case over all attacks by eps {worst}")
      rows.append(f"  DeepFool rho_adv {ev['deepfool']['rho_adv']:.4f} (median {ev['deepfool']['rho_adv_median']:.4f}); "
                  f"gradient-masking audit flags: {', '.join(flags) if flags else 'none'}; report {d}/eval/report.md")
  return "\n".join(rows)


if __name__ == "__main__":
  if len(sys.argv) < 2:
    raise SystemExit("usage: python -m lowrank_jax.summary WORKDIR [WORKDIR ...]")
  print(summarize(sys.argv[1:]))
