"""What every part of docs/RESULTS.md shares: the results read (rows grouped by label, in table order), the
paper's own numbers, and the formatting of means over seeds."""

from __future__ import annotations

import glob
import os

import numpy as np

from experiments import claims
from lowrank_jax import markdown, runfiles
from lowrank_jax.eval_results import EvalResults
from lowrank_jax.markdown import e255

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LABELS = ("vanilla", "SNIP", "SRN", "LR", "LR (paper's loss)", "LR (most favourable)", "2-LR", "LR (layer3 + penultimate)",
          "PGD-AT", "PGD-AT (3 steps)", "ResNet-18/4 vanilla", "ResNet-18/4 LR")
OLD_LABELS = {"ResNet-18/4 LR (layer3 + penultimate)": "ResNet-18/4 LR"}
PAPER_PGD = {  # the paper's Table (ResNet-50 / CIFAR-10), Linf eps (/255) -> (PGD-7, PGD-20) accuracy %
    "vanilla": {8: (43.1, 31.0), 10: (38.5, 21.8), 16: (31.2, 7.8), 20: (28.9, 4.5)},
    "SNIP": {8: (29.4, 14.5), 10: (25.0, 8.0), 16: (18.5, 1.3), 20: (16.2, 0.4)},
    "SRN": {8: (47.8, 37.6), 10: (44.4, 31.4), 16: (39.8, 21.3), 20: (37.5, 18.4)},
    "LR": {8: (79.1, 78.5), 10: (78.6, 78.1), 16: (77.9, 77.0), 20: (77.1, 76.6)},
}
PAPER_PIXELS = {"vanilla": (69.7, 26.1, 12.6, 11.3), "LR": (75.1, 34.2, 15.8, 13.0)}


def ev(result: dict) -> EvalResults:
  """A result row's evaluation (its eval.json), typed."""
  return EvalResults(result["eval"])


def load_dir(d: str) -> dict[str, dict]:
  return {os.path.basename(p)[:-5]: runfiles.read_json(p) for p in sorted(glob.glob(os.path.join(d, "*.json")))}


def groups_of(results: dict[str, dict]) -> dict[str, list[dict]]:
  """label -> its results (one per seed), in table order."""
  out: dict[str, list[dict]] = {}
  for r in results.values():
    lab = r["run"].get("label") or r["run"]["name"]
    out.setdefault(OLD_LABELS.get(lab, lab), []).append(r)
  rank = lambda lab: LABELS.index(lab) if lab in LABELS else len(LABELS)
  return dict(sorted(out.items(), key=lambda kv: rank(kv[0])))


def rows_of(groups: dict[str, list[dict]]) -> dict[str, list[claims.Row]]:
  return {lab: [claims.row_of(r) for r in rs] for lab, rs in groups.items() if "eval" in rs[0]}


def finite(values) -> list[float]:
  return [float(x) for x in values if x is not None and np.isfinite(x)]


def ms(values, scale: float = 100.0, digits: int = 1) -> str:
  """mean ± std over seeds (one value: itself; none: -)."""
  v = [x * scale for x in finite(values)]
  if not v:
    return "-"
  return f"{np.mean(v):.{digits}f}" + (f" ± {np.std(v, ddof=1):.{digits}f}" if len(v) > 1 else "")


def msg(values) -> str:
  """mean ± std with 3 significant digits."""
  v = finite(values)
  if not v:
    return "-"
  return f"{np.mean(v):.3g}" + (f" ± {np.std(v, ddof=1):.2g}" if len(v) > 1 else "")


def mean_or_nan(values) -> float:
  v = finite(values)
  return float(np.mean(v)) if v else float("nan")


def verdict_lines(v: claims.Verdict) -> list[str]:
  return [f"Verdict: **{v.verdict}**. {v.reason}.", "", f"Rule (`experiments/claims.py`, `{claims.CLAIMS[v.claim - 1].__name__}`): "
          f"{v.rule}", ""]


def setting(r: dict) -> str:
  c, e = r["config"], ev(r)
  width = "" if c.get("model_width", 1) == 1 else f" width {c['model_width']}"
  return (f"{c['model']}{width}, {c['num_epochs']} epochs, the first {e.config.num_examples} {e.split} examples"
          + (f", AutoAttack ({e.autoattack_version}) on the first {e.autoattack_examples} at "
             + ", ".join(e255(x) for x in e.autoattack_by_eps()) if e.has("autoattack") else ""))


def settings(groups: dict[str, list[dict]], labs: list[str]) -> str:
  """Each distinct setting once, with the rows (and their seed counts) it covers."""
  out: dict[str, list[str]] = {}
  for lab in labs:
    out.setdefault(setting(groups[lab][0]), []).append(f"{lab} x{len(groups[lab])}")
  return "; ".join(f"{s} ({', '.join(labs_)})" for s, labs_ in out.items())


VERDICT_WORDS = (
    "What the words require (`claims._decide`; each claim's rule below names its two tests): **reproduced**, the "
    "claim's full test holds on every architecture measured; **partly reproduced**, its weaker test holds for at "
    "least one LR variant on one architecture; **not reproduced**, neither holds; **undecided**, a gain on the means "
    "that no paired test or seed spread can yet tell from chance; **not measured**, rows missing. " + claims.TESTS)


def section_summary(new: list[claims.Verdict], old: list[claims.Verdict] | None) -> list[str]:
  L = ["## Verdicts", "", VERDICT_WORDS, ""]
  if old is None:
    return L + markdown.table(["claim", "verdict"], [[f"{v.claim}. {v.title}", f"**{v.verdict}**"] for v in new]) + [""]
  unknown = (claims.MISSING, claims.UNDECIDED)
  changed = lambda v, o: "not yet known" if v.verdict in unknown else "**yes**: decided" if (
      o.verdict == claims.UNDECIDED) else "no" if v.verdict == o.verdict else "**yes**"
  rows = [[f"{v.claim}. {v.title}", f"**{v.verdict}**", o.verdict, changed(v, o)] for v, o in zip(new, old)]
  return L + markdown.table(["claim", "converged models", "2 epochs (first pass)", "changed"], rows) + [""]


def underfitted(groups: dict[str, list[dict]], points: float = 5.0) -> list[str]:
  """A sentence for each model whose mean clean accuracy is more than `points` below vanilla's of the same
  architecture: its robust accuracy then measures an under-fitted model, not the method. PGD-AT is left out: a
  lower clean accuracy is the known price of adversarial training."""
  out = []
  for lab, rs in groups.items():
    ref = claims.RESNET_VANILLA if lab.startswith("ResNet") else claims.CNN_VANILLA
    if lab in (ref, "PGD-AT") or ref not in groups:
      continue
    clean = lambda g: 100 * float(np.mean([ev(r).clean for r in g]))
    gap = clean(groups[ref]) - clean(rs)
    if gap > points:
      train = [r["train"]["train_accuracy"] for r in rs if "train_accuracy" in r.get("train", {})]
      out.append(f"{lab}'s clean accuracy, {clean(rs):.1f}%, is {gap:.1f} points below {ref}'s"
                 + (f" (train accuracy {ms(train)}%)" if train else "")
                 + ": under-fitted, so its robust accuracy says little about the method.")
  return out
