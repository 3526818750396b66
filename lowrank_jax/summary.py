"""Prints the last epoch of each run side by side: clean accuracy and representation ranks.

  python -m lowrank_jax.summary runs/vanilla runs/lowrank
"""

from __future__ import annotations

import json
import os
import sys


def last_record(workdir: str) -> dict:
  path = os.path.join(workdir, "metrics.jsonl")
  try:
    with open(path) as f:
      lines = [l for l in f if l.strip()]
  except FileNotFoundError:
    raise SystemExit(f"error: {path} not found: train into {workdir} first") from None
  if not lines:
    raise SystemExit(f"error: {path} is empty: the run logged no epoch")
  return json.loads(lines[-1])


def summarize(workdirs: list[str]) -> str:
  rows = []
  for d in workdirs:
    r = last_record(d)
    with open(os.path.join(d, "config.json")) as f:
      cfg = json.load(f)
    lr = cfg["lowrank"]
    ranks = {k.split("/")[0]: v for k, v in r.items() if k.endswith("/effective_rank")}
    desc = f"rank {lr['rank']} on {lr['layers']}" if lr["enabled"] else "vanilla"
    rank_txt = ", ".join(f"{k} {v}" for k, v in ranks.items())
    rows.append(f"{d:<24} {desc:<26} epoch {r.get('epoch', '?'):>3}  test accuracy {r['test_accuracy']:.4f}  "
                f"effective rank ({cfg['rank_energy']:.0%} energy): {rank_txt}")
  return "\n".join(rows)


if __name__ == "__main__":
  if len(sys.argv) < 2:
    raise SystemExit("usage: python -m lowrank_jax.summary WORKDIR [WORKDIR ...]")
  print(summarize(sys.argv[1:]))
