"""eval.json -> report.md with PNG plots: the header, the worst case over all attacks, the audit, then each
evaluator's own section (`report` of its module, in `lowrank_jax.evaluators.EVALUATORS`' order)."""

from __future__ import annotations

import os

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
  L += ["Seconds per evaluator: " + ", ".join(f"{k} {v:.0f}" for k, v in r.get("seconds", {}).items()), ""]
  path = os.path.join(out_dir, "report.md")
  runfiles.write_text_atomic(path, "\n".join(L))
  return path
