"""eval.json -> report.md with PNG plots: the header, the worst case over all attacks, the audit, then each
evaluator's own section (`report` of its module, in `lowrank_jax.evaluators.EVALUATORS`' order)."""

from __future__ import annotations

import hashlib
import json
import os
import re

from lowrank_jax import markdown, runfiles
from lowrank_jax.evaluators import EVALUATORS, Report


def _runs(results: dict, compare: dict | None) -> tuple[tuple[str, dict, str], ...]:
  runs = [(results.get("model", "run"), results, "-")]
  if compare:
    runs.append((compare.get("model", "other"), compare, "--"))
  return tuple(runs)


def _worst_case(r: dict) -> list[str]:
  rows = []
  for e, d in r.get("robust_accuracy", {}).items():
    on_aa = d.get("accuracy_autoattack_examples")
    rows.append([e, f"**{d['accuracy']:.4f}**", "-" if on_aa is None else f"{on_aa:.4f}", len(d["attacks"])])
  if not rows:
    return []
  return (["## Worst case over all attacks", "",
           "Per example, correct under every attack at that eps or a smaller one (`lowrank_jax.evaluators.base."
           "WorstCase`); the attacks are listed in eval.json under robust_accuracy.", ""]
          + markdown.table(["eps", "robust accuracy", "on AutoAttack's examples", "attacks"], rows) + [""])


def _audit(r: dict) -> list[str]:
  return ["## Gradient-masking audit", ""] + markdown.table(
      ["check", "result", "detail"],
      [[a["check"], "pass" if a["passed"] else "**FLAG**", a["detail"]] for a in r.get("audit", [])]) + [""]


def results_digest(results: dict) -> str:
  """sha256 (16 hex digits) of the results as eval.json holds them: report.md names the eval.json it was drawn from."""
  return hashlib.sha256(json.dumps(results, sort_keys=True).encode()).hexdigest()[:16]


def is_current(out_dir: str) -> bool:
  """Whether out_dir's report.md was drawn from its eval.json as it is now (not when a killed eval.py wrote the
  one but not the other)."""
  report, ev = os.path.join(out_dir, "report.md"), os.path.join(out_dir, runfiles.EVAL)
  if not (os.path.exists(report) and os.path.exists(ev)):
    return not os.path.exists(ev)
  m = re.search(r"<!-- eval.json ([0-9a-f]{16}) -->", open(report).read())
  return bool(m) and m.group(1) == results_digest(runfiles.read_json(ev))


def write_report(results: dict, out_dir: str, compare: dict | None = None) -> str:
  """Writes report.md and its PNGs into out_dir (a section per evaluator that ran); returns the report's path.
  compare: another run's eval.json drawn beside this one (dashed) in the plots of the evaluators both ran."""
  r = results
  rep = Report(r, _runs(r, compare), out_dir)
  L = [f"# Robustness report: {r['model']} (step {r['step']})", "",
       f"{r['num_examples']} test examples. Clean accuracy: **{r['clean_accuracy']:.4f}**", ""]
  L += _worst_case(r)
  for name, evaluator in EVALUATORS.items():
    if name in r:
      L += evaluator.report(rep)
  L += _audit(r)
  L += ["Seconds per evaluator: " + ", ".join(f"{k} {v:.0f}" for k, v in r.get("seconds", {}).items()), "",
        f"<!-- eval.json {results_digest(json.loads(json.dumps(r)))} -->", ""]
  path = os.path.join(out_dir, "report.md")
  runfiles.write_text_atomic(path, "\n".join(L))
  return path
