"""docs/RESULTS.md and docs/figures/*.png from the raw JSON under docs/results/ (nothing else is read).

  python experiments/page.py                       # rewrite the page from the committed JSON
  python experiments/page.py --results DIR --page FILE --figures DIR   # another tree (the quick runs')

Sections: the verdicts (experiments/claims.py applied to the claims grid, beside the
2-epoch first pass), the learning curves, the validation sweep, one section per claim, the ablations.
Hand-written notes (NOTES.md beside a results folder's JSON) are included verbatim.
This module reads the claims; nothing imports it.
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments import claims, length  # pylint: disable=g-import-not-at-top
from lowrank_jax import experiment, per_example, runfiles  # pylint: disable=g-import-not-at-top
from lowrank_jax.runfiles import eps_key  # pylint: disable=g-import-not-at-top

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# table order; labels of older results mapped to today's
LABELS = ("vanilla", "SNIP", "SRN", "LR", "LR (paper's loss)", "LR (most favourable)", "2-LR", "PGD-AT",
          "ResNet-18/4 vanilla", "ResNet-18/4 LR")
OLD_LABELS = {"ResNet-18/4 LR (layer3 + penultimate)": "ResNet-18/4 LR"}
PAPER_PGD = {  # the paper's Table (ResNet-50 / CIFAR-10), Linf eps (/255) -> (PGD-7, PGD-20) accuracy %
    "vanilla": {8: (43.1, 31.0), 10: (38.5, 21.8), 16: (31.2, 7.8), 20: (28.9, 4.5)},
    "SNIP": {8: (29.4, 14.5), 10: (25.0, 8.0), 16: (18.5, 1.3), 20: (16.2, 0.4)},
    "SRN": {8: (47.8, 37.6), 10: (44.4, 31.4), 16: (39.8, 21.3), 20: (37.5, 18.4)},
    "LR": {8: (79.1, 78.5), 10: (78.6, 78.1), 16: (77.9, 77.0), 20: (77.1, 76.6)},
}
PAPER_PIXELS = {"vanilla": (69.7, 26.1, 12.6, 11.3), "LR": (75.1, 34.2, 15.8, 13.0)}


# ----------------------------------------------------------------------------- reading


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


def _finite(values) -> list[float]:
  return [float(x) for x in values if x is not None and np.isfinite(x)]


def ms(values, scale: float = 100.0, digits: int = 1) -> str:
  """mean ± std over seeds (one value: itself; none: -)."""
  v = [x * scale for x in _finite(values)]
  if not v:
    return "-"
  return f"{np.mean(v):.{digits}f}" + (f" ± {np.std(v, ddof=1):.{digits}f}" if len(v) > 1 else "")


def msg(values) -> str:
  """mean ± std with 3 significant digits."""
  v = _finite(values)
  if not v:
    return "-"
  return f"{np.mean(v):.3g}" + (f" ± {np.std(v, ddof=1):.2g}" if len(v) > 1 else "")


def _mean(values) -> float:
  v = _finite(values)
  return float(np.mean(v)) if v else float("nan")


def _save(fig, path: str) -> None:
  if fig.get_layout_engine() is None:
    fig.tight_layout()
  with runfiles.atomic_file(path) as tmp:
    fig.savefig(tmp, dpi=110, format="png")
  plt.close(fig)


def _e255(e: float) -> str:
  return f"{round(float(e) * 255)}/255"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
  esc = lambda s: str(s).replace("|", "\\|")
  return (["| " + " | ".join(map(esc, header)) + " |", "|" + "---|" * len(header)]
          + ["| " + " | ".join(map(esc, r)) + " |" for r in rows])


def _verdict(v: claims.Verdict) -> list[str]:
  return [f"Verdict: **{v.verdict}**. {v.reason}.", "", f"Rule (`experiments/claims.py`, `{claims.CLAIMS[v.claim - 1].__name__}`): "
          f"{v.rule}", ""]


def _setting(r: dict) -> str:
  c, ec = r["config"], r["eval"]["config"]
  aa = r["eval"].get("autoattack", {})
  width = "" if c.get("model_width", 1) == 1 else f" width {c['model_width']}"
  return (f"{c['model']}{width}, {c['num_epochs']} epochs, the first {ec['num_examples']} "
          f"{r['eval'].get('split', 'test')} examples"
          + (f", AutoAttack ({aa['version']}) on the first {aa['examples']} at "
             + ", ".join(_e255(float(e)) for e in aa["by_eps"]) if aa else ""))


def _settings(groups: dict[str, list[dict]], labs: list[str]) -> str:
  """Each distinct setting once, with the rows (and their seed counts) it covers."""
  out: dict[str, list[str]] = {}
  for lab in labs:
    out.setdefault(_setting(groups[lab][0]), []).append(f"{lab} x{len(groups[lab])}")
  return "; ".join(f"{s} ({', '.join(labs_)})" for s, labs_ in out.items())


# ----------------------------------------------------------------------------- sections


def section_summary(new: list[claims.Verdict], old: list[claims.Verdict] | None) -> list[str]:
  L = ["## Verdicts", ""]
  if old is None:
    return L + _table(["claim", "verdict"], [[f"{v.claim}. {v.title}", f"**{v.verdict}**"] for v in new]) + [""]
  unknown = (claims.MISSING, claims.UNDECIDED)
  changed = lambda v, o: "not yet known" if v.verdict in unknown else "**yes**: decided" if (
      o.verdict == claims.UNDECIDED) else "no" if v.verdict == o.verdict else "**yes**"
  rows = [[f"{v.claim}. {v.title}", f"**{v.verdict}**", o.verdict, changed(v, o)] for v, o in zip(new, old)]
  return L + _table(["claim", "converged models", "2 epochs (first pass)", "changed"], rows) + [""]


def _curves(results: dict[str, dict]) -> dict[str, list[dict]]:
  curves: dict[str, list[dict]] = {}
  for r in results.values():
    curves.setdefault(r["run"]["label"], []).append(r)
  for rs in curves.values():
    rs.sort(key=lambda r: r["run"]["until_epoch"])
  return curves


def curves_summary(results: dict[str, dict], grid: dict[str, dict] | None = None) -> list[str]:
  """What the learning curves decide (the page's and the README's words): each curve's worst-case robust accuracy
  at its first and last checkpoint, and the claims grid's training length per model (with what the grid's rows,
  if given, were trained for where that differs)."""
  curves = _curves(results)
  e = float(next(iter(results.values()))["eval"]["config"]["eps"][0])
  parts = []
  for lab, rs in curves.items():
    w = [r["eval"]["robust_accuracy"][eps_key(e)]["accuracy"] for r in rs]
    first, last, n = rs[0]["run"]["until_epoch"], rs[-1]["run"]["until_epoch"], rs[-1]["config"]["num_epochs"]
    notes = [] if first == last else [f"largest {max(w):.3f}"]
    notes += [] if last == n else [f"unfinished: {last} of {n} epochs"]
    text = f"{lab} {w[0]:.3f} at epoch {first}" + ("" if first == last else f", {w[-1]:.3f} at epoch {last}")
    parts.append(text + (f" ({'; '.join(notes)})" if notes else ""))
  L = [f"Learning curves (seed 0, first {next(iter(results.values()))['eval']['num_examples']} test examples): "
       f"worst-case robust accuracy at {_e255(e)}: " + "; ".join(parts) + "."]
  rates = {lab: statistics.median(r["seconds"]["train"] / (r["run"]["until_epoch"] - p["run"]["until_epoch"])
                                  for p, r in zip([{"run": {"until_epoch": 0}}] + rs, rs)) for lab, rs in curves.items()}
  L += ["", "Training seconds per epoch on 2 CPU cores (the median over the curve's checkpoints, each timed from its "
        "resume, on the machine it ran on: machines of this kind differ by up to 3x): " + ", ".join(f"{lab} {v:.0f}" for lab, v in rates.items()) + "."]
  lengths = length.grid_length(list(results.values()))
  trained: dict[str, set[int]] = {}
  for r in (grid or {}).values():
    trained.setdefault(r["config"]["model"], set()).add(int(r["config"]["num_epochs"]))
  schedule = {r["config"]["model"]: int(r["config"]["num_epochs"]) for r in results.values()}
  def grid_note(model: str, n: int) -> str:
    other = sorted(trained.get(model, set()) - {n})
    full = ", the curves' full schedule" if other == [schedule.get(model)] else ""
    return f" (its grid rows train {', '.join(map(str, other))}{full})" if other else ""
  if lengths:
    L += ["", "Training length of the claims grid (`length.grid_length`, the longest converged curve of each model): "
          + ", ".join(f"{m}: {n} epochs{grid_note(m, n)}" for m, n in lengths.items()) + "."]
  return L


def curves_paired(results: dict[str, dict]) -> list[str]:
  """Each LR curve against its architecture's vanilla curve, checkpoint by checkpoint at the epochs both have: the
  worst-case gap at the curves' eps on the same examples and McNemar's p (the claims' statistics)."""
  curves = _curves(results)
  e = float(next(iter(results.values()))["eval"]["config"]["eps"][0])
  L = []
  for van, lrs in claims.LR_VARIANTS.items():
    if van not in curves:
      continue
    base = {r["run"]["until_epoch"]: claims.row_of(r) for r in curves[van]}
    for lab in (l for l in lrs if l in curves):
      parts = []
      for r in curves[lab]:
        ep = r["run"]["until_epoch"]
        if ep in base:
          a, b = [claims.row_of(r)], [base[ep]]
          gap, test = claims.worst_gap(a, b, e), claims.paired(a, b, e)
          parts.append(f"{ep}: {100 * gap['gap']:+.1f}" + (f" (p {test['mcnemar']['p']:.2g})" if test else ""))
      if parts:
        L += ["", f"{lab} - {van}, worst case at {_e255(e)} on the same examples, by epoch (points; McNemar p): "
              + ", ".join(parts) + "."]
  return L


def section_curves(results: dict[str, dict], rel, figures_dir: str, grid: dict[str, dict] | None = None) -> list[str]:
  """Learning curves: clean and robust accuracy, and the training loss, against epochs."""
  curves = _curves(results)
  any_r = next(iter(results.values()))
  e = float(any_r["eval"]["config"]["eps"][0])
  models = list(dict.fromkeys(rs[0]["config"]["model"] for rs in curves.values()))  # one row per architecture
  fig, axes = plt.subplots(len(models), 3, figsize=(14, 3.6 * len(models)), squeeze=False)
  for i, lab in enumerate(curves):
    rs, c = curves[lab], f"C{i}"
    row = axes[models.index(rs[0]["config"]["model"])]
    ep = [r["run"]["until_epoch"] for r in rs]
    row[0].plot(ep, [r["eval"]["clean_accuracy"] for r in rs], marker="o", color=c, label=lab)
    row[0].plot(ep, [r["eval"]["pgd_grid"]["pgd"][eps_key(e)]["20"] for r in rs], ls="--", marker="x", color=c)
    row[0].plot(ep, [r["eval"]["robust_accuracy"][eps_key(e)]["accuracy"] for r in rs], ls=":", marker="s", color=c)
    hist = rs[-1]["history"]
    row[1].plot([h["epoch"] for h in hist], [h["train_loss"] for h in hist], color=c, label=lab)
    row[1].plot([h["epoch"] for h in hist], [1 - h["test_accuracy"] for h in hist], color=c, ls="--")
    row[2].plot(ep, [r["eval"]["deepfool"]["rho_adv"] for r in rs], marker="o", color=c, label=lab)
  for model, row in zip(models, axes):
    row[0].set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1), title=f"{model}: accuracy at {_e255(e)}, first {any_r['eval']['num_examples']} "
               "test examples\nclean (solid), PGD-20 (dashed), worst case incl. AutoAttack (dotted)")
    row[1].set(xlabel="epoch", yscale="log", title=f"{model}: every epoch\ntraining loss (solid), test error (dashed)")
    row[2].set(xlabel="epoch", title=f"{model}: DeepFool rho_adv")
    for ax in row:
      ax.title.set_fontsize(9)
      ax.legend(fontsize=7)
  path = os.path.join(figures_dir, "learning_curves.png")
  _save(fig, path)
  L = ["## Learning curves", "",
       "Setting: Adam 1e-3 with the cosine schedule of the run's epochs ("
       + ", ".join(f"{lab}: {rs[0]['config']['model']}, {rs[0]['config']['num_epochs']} epochs" for lab, rs in curves.items())
       + "), batch 128, seed 0; each checkpoint evaluated on the first "
       f"{any_r['eval']['num_examples']} test examples: PGD-20 (random start) and the worst case over PGD-20, FGSM, "
       f"PGD-40, PGD-20 x2, Gaussian noise and AutoAttack (standard) at {_e255(e)}; DeepFool rho_adv. Raw JSON: "
       "`docs/results/curves/` (one file per checkpoint, with the per-epoch training records).", "",
       f"![learning curves]({rel(path)})", ""]
  rows = []
  for lab, rs in curves.items():
    for r in rs:
      t, ev = r["train"], r["eval"]
      lc = sum(v for k, v in t.items() if k.startswith("train_") and k.endswith("/projection_loss")) or None
      ln = sum(v for k, v in t.items() if k.startswith("train_") and k.endswith("/norm_loss")) or None
      rep = ev["representation"]["layers"]["penultimate"]
      rows.append([lab, str(r["run"]["until_epoch"]), f"{t['train_accuracy']:.3f}", f"{t['train_loss']:.4f}",
                   f"{t['test_accuracy']:.4f}", f"{ev['clean_accuracy']:.3f}",
                   f"{ev['pgd_grid']['pgd'][eps_key(e)]['20']:.3f}",
                   f"{ev['autoattack']['by_eps'][eps_key(e)]['robust_accuracy']:.3f}",
                   f"{ev['robust_accuracy'][eps_key(e)]['accuracy']:.3f}", f"{ev['deepfool']['rho_adv']:.4f}",
                   "-" if lc is None else f"{lc:.3g}", "-" if ln is None else f"{ln:.3g}", f"{rep['mean_norm']:.3g}",
                   str(rep["effective_rank"])])
  L += _table(["model", "epoch", "train acc.", "train loss", "test acc. (10,000)", "clean", "PGD-20", "AutoAttack",
               "worst case", "rho_adv", "L_c", "L_n", "mean ‖a‖", "eff. rank"], rows)
  L += curves_paired(results)
  L += ["", f"Converged (`experiments/length.py`): the first epoch after which the test accuracy stays within "
        f"{100 * length.ACC_TOL:g} points of its final value and the training loss is within {length.LOSS_TOL:g} of "
        "its final value.", ""]
  chosen = {}
  for lab, rs in curves.items():
    last = rs[-1]
    if last["run"]["until_epoch"] == last["config"]["num_epochs"]:
      chosen[lab] = length.converged_epoch(last["history"])
      L.append(f"- {lab}: epoch {chosen[lab]} of {last['config']['num_epochs']}.")
    else:
      L.append(f"- {lab}: measured to epoch {last['run']['until_epoch']} of {last['config']['num_epochs']} so far.")
  L += [""] + curves_summary(results, grid)
  for lab, rs in curves.items():
    hist = rs[-1]["history"]
    keys = sorted({k for h in hist for k in h if k.endswith("/W_offrank")})
    for k in keys:
      L += ["", f"{lab}: W's relative distance to rank r just before each thresholding (`{k}`, the epoch's mean), "
            "per epoch: " + ", ".join(f"{h['epoch']}: {100 * h[k]:.2g}%" for h in hist if k in h) + "."]
  return L + [""]


def section_sweep(results: dict[str, dict], rel, figures_dir: str, anchor: dict[str, dict] | None = None,
                  check: dict[str, dict] | None = None) -> list[str]:
  """The validation sweep that chooses "LR (most favourable)": one row per configuration, the chosen one (largest
  PGD-20 robust accuracy, the rule of `experiment.best_config`) in bold, and robust accuracy against W's rank;
  anchor: vanilla trained and attacked at the same setting (its own folder), read beside them; check: both
  retrained and attacked with AutoAttack too (`section_sweep_check`)."""
  rs = sorted(results.values(), key=lambda r: (r["run"]["overrides"]["lowrank.norm_target"],
                                              r["run"]["overrides"]["lowrank.rank"]))
  any_r = rs[0]
  e = float(any_r["eval"]["config"]["eps"][0])
  pgd = lambda r: r["eval"]["pgd_grid"]["pgd"][eps_key(e)]["20"]
  best = max(rs, key=pgd)
  rows = []
  for r in rs:
    o, t, ev = r["run"]["overrides"], r["train"], r["eval"]
    cells = [str(o["lowrank.rank"]), f"{o['lowrank.norm_target']:g}", f"{ev['clean_accuracy']:.3f}", f"{pgd(r):.3f}",
             f"{ev['robust_accuracy'][eps_key(e)]['accuracy']:.3f}", f"{t['penultimate/effective_rank']}",
             f"{t['train_penultimate/mean_norm']:.3g}", f"{r['seconds']['train'] + r['seconds']['eval']:.0f}"]
    rows.append([f"**{c}**" for c in cells] if r is best else cells)
  van = next(iter((anchor or {}).values()), None)
  if van is not None:
    ev = van["eval"]
    rows.insert(0, ["vanilla", "-", f"{ev['clean_accuracy']:.3f}", f"{pgd(van):.3f}",
                    f"{ev['robust_accuracy'][eps_key(e)]['accuracy']:.3f}", f"{van['train']['penultimate/effective_rank']}",
                    "-", f"{van['seconds']['train'] + van['seconds']['eval']:.0f}"])
  fig, ax = plt.subplots(figsize=(6, 3.6))
  for target in sorted({r["run"]["overrides"]["lowrank.norm_target"] for r in rs}):
    sub = [r for r in rs if r["run"]["overrides"]["lowrank.norm_target"] == target]
    ax.plot([r["run"]["overrides"]["lowrank.rank"] for r in sub], [pgd(r) for r in sub], marker="o",
            label=f"norm target {target:g}")
  ranks = sorted({r["run"]["overrides"]["lowrank.rank"] for r in rs})
  ax.set_xscale("log")
  ax.set_xticks(ranks, [str(k) for k in ranks])
  ax.minorticks_off()
  if van is not None:
    ax.axhline(pgd(van), color="k", ls="--", lw=0.8, label="vanilla")
  ax.set(xlabel="rank of W", ylabel=f"PGD-20 robust accuracy, {_e255(e)}", ylim=(0, 1),
         title="validation sweep (seed 0)")
  ax.legend()
  fig_path = os.path.join(figures_dir, "sweep.png")
  _save(fig, fig_path)
  c = any_r["config"]
  names = any_r["eval"]["robust_accuracy"][eps_key(e)]["attacks"]
  attacks = ", ".join(f"{n} (x{names.count(n)})" if names.count(n) > 1 else n for n in dict.fromkeys(names))
  by = {}
  for r in rs:
    by.setdefault(r["run"]["overrides"]["lowrank.norm_target"], {})[r["run"]["overrides"]["lowrank.rank"]] = pgd(r)
  said = []
  for target, acc in sorted(by.items()):
    vals = [acc[k] for k in sorted(acc)]
    if len(vals) > 1:
      trend = ("rises with every step up in W's rank" if all(b > a for a, b in zip(vals, vals[1:])) else
               "does not rise steadily with W's rank")
      said.append(f"at norm target {target:g}, PGD-20 robust accuracy {trend} ({' → '.join(f'{v:.3f}' for v in vals)})")
  if len(by) == 2:
    (t1, a1), (t2, a2) = sorted(by.items())
    common = sorted(set(a1) & set(a2))
    if common and all(a2[k] > a1[k] for k in common):
      said.append(f"target {t2:g} beats target {t1:g} at every rank")
  if van is not None:
    above = [r for r in rs if pgd(r) > pgd(van)]
    said.append(f"vanilla at the same setting: {pgd(van):.3f}; {len(above)} of {len(rs)} configurations above it"
                + (f" (by at most {100 * (pgd(best) - pgd(van)):.1f} points, one seed, no AutoAttack)" if above else ""))
    gap = _paired_worst(best, van, e)
    if gap:
      said.append(f"the chosen configuration against vanilla on the same {gap}")
  finding = ["Read: " + "; ".join(said) + ".", ""] if said else []
  return ["## The configuration most favourable to LR (validation sweep)", "",
          "Regenerate: `python experiments/run.py sweep sweep_anchor` (raw JSON: `docs/results/sweep/`, vanilla's "
          "in `docs/results/sweep_anchor/`).", "",
          f"Setting: {c['model']}, {c['num_epochs']} epochs, LR on the penultimate layer, seed 0, "
          f"{c['dataset']['validation_size']:,} training images held out as a validation split; the first "
          f"{any_r['eval']['num_examples']:,} validation examples (never the test set), PGD-20 (random start, CE) at "
          f"{_e255(e)}; worst case = per example over {attacks}. "
          "Effective rank and mean ‖a‖: the penultimate layer at the end of training. The configuration with the "
          "largest PGD-20 robust accuracy (bold) is the one the claims grid trains as \"LR (most favourable)\", "
          "with 3 seeds and on the test set.", ""] + _table(
              ["rank of W", "norm target", "clean acc.", f"PGD-20 @{_e255(e)}", f"worst @{_e255(e)}",
               "eff. rank", "mean ‖a‖", "seconds"], rows) + [""] + finding + [f"![sweep]({rel(fig_path)})", ""] + (
                   section_sweep_check(check, best, van, e) if check else [])


def _paired_worst(a: dict, b: dict, e: float) -> str:
  """"N examples, worst case: gap (bootstrap, McNemar)" of result a against b at eps e, "" without per-example
  results."""
  if "per_example" not in a["eval"] or "per_example" not in b["eval"]:
    return ""
  x, y = (per_example.from_json(r["eval"]["per_example"]).worst(e) for r in (a, b))
  mc, bs = per_example.mcnemar(x, y), per_example.paired_bootstrap(x, y)
  return (f"{mc['n']:,} {a['eval'].get('split', 'test')} examples, worst case: {100 * bs['gap']:+.1f} points "
          f"(bootstrap 95% [{100 * bs['low']:+.1f}, {100 * bs['high']:+.1f}]; {mc['a_only']} vs {mc['b_only']} "
          f"examples only one gets right, McNemar p {mc['p']:.2g})")


def section_sweep_check(check: dict[str, dict], best: dict, van: dict | None, e: float) -> list[str]:
  """The sweep's chosen configuration and vanilla retrained at the sweep's setting and attacked with AutoAttack
  too (results/sweep_check): one row per model, the sweep's own numbers beside them, and the paired gap."""
  by = {r["run"]["name"].rsplit("_s", 1)[0]: r for r in check.values()}
  first = {"vanilla": van, "lr_favourable": best}
  rows = []
  for name in ("vanilla", "lr_favourable"):
    r = by.get(name)
    if r is None:
      continue
    ev, ra = r["eval"], r["eval"]["robust_accuracy"][eps_key(e)]
    aa = ev.get("autoattack", {}).get("by_eps", {}).get(eps_key(e), {}).get("robust_accuracy")
    f = first.get(name)
    rows.append([r["run"]["label"], f"{ev['clean_accuracy']:.3f}", f"{ev['pgd_grid']['pgd'][eps_key(e)]['20']:.3f}",
                 "-" if aa is None else f"{aa:.3f}", f"{ra['accuracy']:.3f}",
                 "-" if f is None else f"{f['eval']['pgd_grid']['pgd'][eps_key(e)]['20']:.3f}",
                 "-" if f is None else f"{f['eval']['robust_accuracy'][eps_key(e)]['accuracy']:.3f}"])
  any_r = next(iter(check.values()))
  c = any_r["config"]
  L = ["### The sweep's gain, checked with AutoAttack", "",
       "Regenerate: `python experiments/run.py sweep_check` (raw JSON: `docs/results/sweep_check/`). Vanilla and the "
       f"chosen configuration trained again at the sweep's setting ({c['num_epochs']} epoch"
       f"{'' if c['num_epochs'] == 1 else 's'}, seed 0, the same "
       "validation split; the sweep's checkpoints were not kept, and training on another machine does not give "
       f"bit-identical models) and attacked on the same first {any_r['eval']['num_examples']:,} validation examples: "
       f"PGD-20 and AutoAttack (standard) at {_e255(e)}; worst case per example over every attack run. The sweep's own "
       "numbers (its first training) beside them.", ""]
  L += _table(["model", "clean", f"PGD-20 @{_e255(e)}", f"AutoAttack @{_e255(e)}", f"worst @{_e255(e)}",
               "sweep: PGD-20", "sweep: worst"], rows) + [""]
  if "vanilla" in by and "lr_favourable" in by:
    gap = _paired_worst(by["lr_favourable"], by["vanilla"], e)
    if gap:
      L += [f"Read: the chosen configuration against vanilla on the same {gap}.", ""]
  return L


def seed_by_seed(rows: dict[str, list[claims.Row]], eps: float = claims.EPS) -> list[str]:
  """One sentence per LR variant: its clean and worst-case accuracy at eps seed by seed beside its vanilla's (on
  the examples both cover), each seed's gap, their mean with the seed-level standard error, and McNemar's p pooled
  over the seed pairs: the numbers claim 1's rule reads, seed by seed."""
  def common(r: claims.Row, o: claims.Row) -> tuple[float, float, float, float, int | None]:
    """(clean and worst case of r, the same of o, n): on the first n examples both cover where both keep them."""
    ca, cb = (None, None) if r.worst_correct is None or o.worst_correct is None else (
        claims.at(r.worst_correct, eps), claims.at(o.worst_correct, eps))
    if ca is None or cb is None or r.clean_correct is None or o.clean_correct is None:
      return r.clean, claims.at(r.worst, eps), o.clean, claims.at(o.worst, eps), None
    n = min(len(ca), len(cb))
    return (float(r.clean_correct[:n].mean()), float(ca[:n].mean()), float(o.clean_correct[:n].mean()),
            float(cb[:n].mean()), n)
  fmt = lambda xs: ", ".join(f"{x:.3f}" for x in xs)
  out = []
  for van, lrs in claims.LR_VARIANTS.items():
    for lab in (l for l in lrs if rows.get(l) and rows.get(van)):
      by = {r.seed: r for r in rows[van]}
      pairs = [(r, by[r.seed]) for r in sorted(rows[lab], key=lambda r: r.seed) if r.seed in by]
      if not pairs:
        continue
      c = [common(r, o) for r, o in pairs]
      gap, test = claims.worst_gap(rows[lab], rows[van], eps), claims.paired(rows[lab], rows[van], eps)
      ns = sorted({x[4] for x in c if x[4]})
      on = f" on the first {', '.join(f'{n:,}' for n in ns)} test examples" if ns else ""
      se = "" if gap["se"] is None else f" ± seed SE {100 * gap['se']:.1f}"
      p = "" if test is None else f"; McNemar p {test['mcnemar']['p']:.2g}"
      seeds = ", ".join(str(r.seed) for r, _ in pairs)
      out.append(f"{lab} against {van}, seed{'s' if len(pairs) > 1 else ''} {seeds}{on}: clean "
                 f"{fmt(x[0] for x in c)} against {fmt(x[2] for x in c)}; worst case at {_e255(eps)} "
                 f"{fmt(x[1] for x in c)} against {fmt(x[3] for x in c)} (gap "
                 + ", ".join(f"{100 * (x[1] - x[3]):+.1f}" for x in c) + f" points; mean {100 * gap['gap']:+.1f}{se}{p}).")
  return out


def underfitted(groups: dict[str, list[dict]], points: float = 5.0) -> list[str]:
  """A sentence for each model whose mean clean accuracy is more than `points` below vanilla's of the same
  architecture: its robust accuracy then measures an under-fitted model, not the method. PGD-AT is left out: a
  lower clean accuracy is the known price of adversarial training."""
  out = []
  for lab, rs in groups.items():
    ref = claims.RESNET_VANILLA if lab.startswith("ResNet") else claims.CNN_VANILLA
    if lab in (ref, "PGD-AT") or ref not in groups:
      continue
    clean = lambda g: 100 * float(np.mean([r["eval"]["clean_accuracy"] for r in g]))
    gap = clean(groups[ref]) - clean(rs)
    if gap > points:
      train = [r["train"]["train_accuracy"] for r in rs if "train_accuracy" in r.get("train", {})]
      out.append(f"{lab}'s clean accuracy, {clean(rs):.1f}%, is {gap:.1f} points below {ref}'s"
                 + (f" (train accuracy {ms(train)}%)" if train else "")
                 + ": under-fitted, so its robust accuracy says little about the method.")
  return out


def section_pgd(groups, rows, rel, figures_dir) -> list[str]:
  v = claims.claim1_pgd(rows)
  labs = [l for l in groups if l in rows]
  any_r = groups[labs[0]][0]
  grid = any_r["eval"]["pgd_grid"]
  eps = sorted((float(e) for e in grid["pgd"]), key=float)
  steps = sorted(next(iter(grid["pgd"].values())), key=int)
  L = [f"## Claim 1: {v.title}", "",
       "Paper (ResNet-50, CIFAR-10, Linf PGD, accuracy % at eps 8/10/16/20 /255, 7 | 20 steps): "
       + "; ".join(f"{k} " + " / ".join(f"{x[e][0]} | {x[e][1]}" for e in (8, 10, 16, 20)) for k, x in PAPER_PGD.items())
       + ".", "",
       f"Setting: {_settings(groups, labs)}. Linf in pixel space. PGD: random start, step 2.5 eps/steps, CE. Paper-like PGD: no random start, fixed "
       "step eps/4, eps applied in the normalised input space (pixel eps = eps x 0.353): our reading of what a table "
       "like the paper's measures. Mean ± std over seeds, in %.", "",
       "### PGD and paper-like PGD", ""]
  header = ["model (seeds)", "clean"] + [f"PGD-{s} @{_e255(e)}" for e in eps for s in steps]
  has_paper = all("paper_like" in r["eval"]["pgd_grid"] for lab in labs for r in groups[lab])
  if has_paper:
    header += [f"paper-like PGD-{s} @{_e255(e)}" for e in eps for s in steps]
  table = []
  for lab in labs:
    ev = [r["eval"] for r in groups[lab]]
    row = [f"{lab} ({len(ev)})", ms([x["clean_accuracy"] for x in ev])]
    row += [ms([x["pgd_grid"]["pgd"][eps_key(e)][s] for x in ev]) for e in eps for s in steps]
    if has_paper:
      row += [ms([x["pgd_grid"]["paper_like"][eps_key(e)][s] for x in ev]) for e in eps for s in steps]
    table.append(row)
  L += _table(header, table)
  fit = underfitted({lab: groups[lab] for lab in labs})
  L += ["", " ".join(fit)] if fit else []
  aa_eps = sorted({float(e) for lab in labs for r in groups[lab] for e in r["eval"].get("autoattack", {}).get("by_eps", {})})
  L += ["", "### AutoAttack and the worst case", "",
        "Worst case: per example, wrong under any attack run at that eps or a smaller one (PGD of every step count, "
        "FGSM, PGD with 2x steps and restarts, Gaussian noise, transfer from an independently trained vanilla CNN, "
        "AutoAttack), over the examples AutoAttack ran on."
        + (" Rows without per-example results (the 2-epoch first pass) show the worst case as stored then: over "
           "AutoAttack's examples where it ran, elsewhere over all examples without it, each eps with its own attacks "
           "only (not monotone), and no paired test."
           if any(r.worst_correct is None for lab in labs for r in rows[lab]) else ""), ""]
  header = ["model (seeds)"] + [f"AutoAttack @{_e255(e)}" for e in aa_eps] + [f"worst @{_e255(e)}" for e in eps]
  table = []
  for lab in labs:
    ev = [r["eval"] for r in groups[lab]]
    row = [f"{lab} ({len(ev)})"]
    row += [ms([x.get("autoattack", {}).get("by_eps", {}).get(eps_key(e), {}).get("robust_accuracy") for x in ev])
            for e in aa_eps]
    row += [ms([claims.at(r.worst, e) for r in rows[lab]]) for e in eps]
    table.append(row)
  L += _table(header, table)
  L += ["", "### LR against vanilla, paired", "",
        "Each LR variant against vanilla of the same architecture, seed s against seed s on the same examples "
        "(worst case): the mean gap over seeds ± its standard error; McNemar's exact test on the examples only one "
        "model gets right (pooled over seeds); a paired bootstrap 95% interval of the gap (10,000 resamples of "
        "examples).", ""]
  table = []
  for e in eps:
    for lab in labs:
      ref = "ResNet-18/4 vanilla" if lab.startswith("ResNet") else "vanilla"
      if lab == ref or ref not in rows or lab in ("SNIP", "SRN", "PGD-AT"):
        continue
      gap = claims.worst_gap(rows[lab], rows[ref], e)
      test = claims.paired(rows[lab], rows[ref], e)
      mc, bs = (test["mcnemar"], test["bootstrap"]) if test else (None, None)
      table.append([_e255(e), f"{lab} - {ref}", f"{100 * gap['gap']:+.1f}" + (f" ± {100 * gap['se']:.1f}" if gap["se"]
                                                                              is not None else ""), str(gap["seeds"]),
                    f"{mc['a_only']} / {mc['b_only']} of {mc['n']}" if mc else "-", f"{mc['p']:.2g}" if mc else "-",
                    f"[{100 * bs['low']:+.1f}, {100 * bs['high']:+.1f}]" if bs else "-"])
  L += _table(["eps", "comparison", "gap (points) ± SE", "seeds", "LR only / vanilla only right", "McNemar p",
               "bootstrap 95%"], table)
  L += ["", "Seed by seed (claim 1's numbers):", ""] + [f"- {x}" for x in seed_by_seed(rows)]
  L += ["", "The gradient-masking audit of every run (`lowrank_jax.robustness.gradient_masking_audit`):", ""]
  table = []
  for lab in labs:
    audits = [(r["run"]["name"], a) for r in groups[lab] for a in r["eval"]["audit"]]
    flags = [f"{name}: {a['check']} ({a['detail']})" for name, a in audits if not a["passed"]]
    table.append([lab, str(len(groups[lab])), f"{len(audits) - len(flags)} / {len(audits)}", "; ".join(flags) or "none"])
  L += _table(["model", "runs", "checks passed", "flags"], table)
  fig = os.path.join(figures_dir, "robust_accuracy_all.png")
  plot_robust(groups, rows, labs, eps, fig)
  return L + ["", f"![robust accuracy]({rel(fig)})", ""] + _verdict(v)


def section_deepfool(groups, rows, rel, figures_dir) -> list[str]:
  v = claims.claim2_deepfool(rows)
  labs = [l for l in groups if l in rows]
  L = [f"## Claim 2: {v.title}", "",
       "Paper: rho_adv (the perturbation that misclassifies the test set, relative to the input) an order of "
       "magnitude larger for LR than for vanilla.", "",
       "Setting: DeepFool (L2, overshoot 0.02, 10 candidate classes, up to 100 iterations) on the first "
       f"{groups[labs[0]][0]['eval']['deepfool']['examples']} test examples (ResNet rows: their own number); "
       "rho_adv averaged over all of them (Eq. 15) and over the fooled ones.", ""]
  table = []
  for lab in labs:
    d = [r["eval"]["deepfool"] for r in groups[lab]]
    table.append([f"{lab} ({len(d)})", ms([x["rho_adv"] for x in d], 1, 4), ms([x["rho_adv_fooled"] for x in d], 1, 4),
                  ms([x["success_rate"] for x in d]) + "%", str(d[0]["examples"])])
  L += _table(["model (seeds)", "rho_adv (all)", "rho_adv (fooled)", "fooled", "examples"], table)
  fig = os.path.join(figures_dir, "rho_adv_hist.png")
  plot_rho(groups, [l for l in ("vanilla", "LR", "2-LR") if l in groups], fig)
  return L + ["", f"![rho_adv]({rel(fig)})", ""] + _verdict(v)


def section_pixels(groups, rows, rel, figures_dir) -> list[str]:
  v = claims.claim3_pixels(rows)
  labs = [l for l in groups if l in rows and "random_pixels" in groups[l][0]["eval"]]
  if not labs:
    return [f"## Claim 3: {v.title}", ""] + _verdict(v)
  probs = list(groups[labs[0]][0]["eval"]["random_pixels"]["accuracy"])
  sigma = groups[labs[0]][0]["eval"]["random_pixels"]["sigma"]
  L = [f"## Claim 3: {v.title}", "",
       "Paper, p = 0.4 / 0.6 / 0.8 / 1.0: vanilla " + " / ".join(map(str, PAPER_PIXELS["vanilla"])) + ", LR "
       + " / ".join(map(str, PAPER_PIXELS["LR"])) + ".", "",
       f"Setting: each pixel perturbed with probability p by Gaussian noise of sigma {sigma} (pixels in [0, 1], then "
       "clipped); accuracy %, mean ± std over seeds.", ""]
  L += _table(["model (seeds)"] + [f"p = {p}" for p in probs],
              [[f"{lab} ({len(groups[lab])})"] + [ms([r["eval"]["random_pixels"]["accuracy"][p] for r in groups[lab]])
                                                  for p in probs] for lab in labs])
  fig = os.path.join(figures_dir, "random_pixels_all.png")
  plot_pixels(groups, labs, fig)
  return L + ["", f"![random pixels]({rel(fig)})", ""] + _verdict(v)


def section_stability(groups, rows) -> list[str]:
  v = claims.claim4_stability(rows)
  labs = [l for l in groups if l in rows and "noise_stability" in groups[l][0]["eval"]]
  L = [f"## Claim 4: {v.title}", "",
       "Paper: the ratio ||f(x+d)-f(x)||^2/||f(x)||^2 over ||d||^2/||x||^2 is smaller for LR, for white-box (own) "
       "and black-box (from the vanilla model) adversarial perturbations; the layer cushion (Arora et al. 2018) is "
       "higher.", "",
       "Setting: penultimate layer; the least-squares slope of feature ratio on input ratio (lower = more stable) "
       "over correctly classified examples, for the model's own DeepFool perturbation (white box), PGD at 8/255 from "
       "an independently trained vanilla CNN (black box) and a Gaussian perturbation common to all models; the layer "
       "cushion of the head reading the penultimate layer (min / median over examples). Mean ± std over seeds.", ""]
  slope = lambda lab, src: [r.slopes.get(src) for r in rows[lab]]
  table = []
  for lab in labs:
    lc = [r["eval"]["representation"].get("layer_cushion", {}) for r in groups[lab]]
    table.append([f"{lab} ({len(lc)})", msg(slope(lab, "deepfool")), msg(slope(lab, "transfer")),
                  msg(slope(lab, "gaussian")), f"{msg([c.get('cushion') for c in lc])} / {msg([c.get('median') for c in lc])}"])
  L += _table(["model (seeds)", "slope: white box (DeepFool)", "black box (vanilla's PGD)", "common Gaussian",
               "layer cushion min / median"], table)
  return L + [""] + _verdict(v)


def section_compression(groups, rows, rel, figures_dir) -> list[str]:
  L = []
  v5, v6, v7 = claims.claim5_compression(rows), claims.claim6_linear_head(rows), claims.claim7_pca(rows)
  pairs = [(lr, van) for van, lrs in claims.COMPRESSED.items() for lr in lrs
           if lr in rows and van in rows and "compression" in groups[lr][0]["eval"]]
  L += [f"## Claim 5: {v5.title}", "",
        "Setting: the layer's activations replaced by their projection on the top-k principal directions of "
        "10,000 training examples' features (k = m / rate), fed to the unchanged rest of the network; test "
        "accuracy %. CNN: pool2 (3,136-d, regularised in 2-LR); ResNet-18/4: layer3 (3,136-d, regularised in its "
        "LR model).", ""]
  for lr, van in pairs:
    rates = [k for k in groups[lr][0]["eval"]["compression"]["representation"] if k.isdigit()]
    L += _table([f"{lr} vs {van}", "uncompressed"] + [f"{r}x" for r in rates],
                [[f"{lab} ({len(groups[lab])})", ms([r["eval"]["compression"]["representation"]["uncompressed"]
                                                    for r in groups[lab]])]
                 + [ms([r["eval"]["compression"]["representation"][k]["accuracy"] for r in groups[lab]]) for k in rates]
                 for lab in (van, lr)]) + [""]
  L += _verdict(v5)
  L += [f"## Claim 6: {v6.title}", "",
        "Setting: a softmax-regression head (Adam, 20 epochs on the features of 10,000 training examples) replacing "
        "everything after the layer; parameters of what it replaces counted as those receiving gradient once the "
        "layer is held fixed.", ""]
  table = []
  for lab in [l for p in pairs for l in (p[1], p[0])]:
    c = [r["eval"]["compression"] for r in groups[lab]]
    table.append([f"{lab} ({len(c)})", c[0]["layer"], ms([x["representation"]["uncompressed"] for x in c]),
                  ms([x["linear_head"]["accuracy"] for x in c]),
                  f"{c[0]['linear_head']['parameters_replaced']:,} -> {c[0]['linear_head']['parameters']:,}"])
  L += _table(["model (seeds)", "layer", "network accuracy", "linear-head accuracy", "parameters replaced -> head"],
              table) + [""] + _verdict(v6)
  fig = os.path.join(figures_dir, "pca_2d.png")
  if pairs:
    plot_pca(groups, [pairs[0][1], pairs[0][0]], fig)
  L += [f"## Claim 7: {v7.title}", "",
        "Setting: the test features projected on the top-2 principal directions (coloured by class), and the "
        "accuracy of a linear classifier on those 2 coordinates (a number for 'more discriminative').", ""]
  L += _table(["model (seeds)", "2-D linear accuracy"],
              [[f"{lab} ({len(groups[lab])})", ms([r["eval"]["compression"]["pca_2d"]["linear_accuracy"]
                                                   for r in groups[lab]])] for p in pairs for lab in (p[1], p[0])])
  return L + ([""] + [f"![pca]({rel(fig)})"] if pairs else []) + [""] + _verdict(v7)


# ----------------------------------------------------------------------------- ablations

ABLATION_COLUMNS = [  # (header, table_row key or a function of the rows)
    ("clean acc.", "clean"), ("eff. rank (centred)", None), ("L_c", "L_c"), ("mean ‖a‖", "mean_norm"),
    ("PGD-20 @0.05", "pgd20@0.05"), ("PGD-20 @0.1", "pgd20@0.1"), ("worst @0.05", "worst@0.05"),
    ("worst @0.1", "worst@0.1"), ("AutoAttack @0.05", "aa@0.05"), ("rho_adv (all / fooled)", None),
    ("slope: own DeepFool / Gaussian / reference", None), ("zero grads", "zero_grad"),
    ("strong PGD / Square @0.05", None), ("paper-like PGD-20 @0.05", "paper pgd-20@0.05"),
]


def _ablation_cell(header: str, key, rows: list[dict]) -> str:
  get = lambda k: [r.get(k) for r in rows]
  if key is not None:
    return msg(get(key)) if key in ("L_c", "mean_norm") else ms(get(key), 1, 3)
  if header.startswith("eff. rank"):
    return f"{msg(get('eff_rank'))} ({msg(get('eff_rank_centred'))})"
  if header.startswith("rho_adv"):
    return f"{ms(get('rho_adv'), 1, 4)} / {ms(get('rho_adv_fooled'), 1, 4)}"
  if header.startswith("slope"):
    return " / ".join(msg(get(f"slope_{s}")) for s in ("deepfool", "gaussian", "reference"))
  strong = next((k for k in rows[0] if k.startswith("probe pgd-") and "x" in k.split()[1] and k.endswith("@0.05")), None)
  square = next((k for k in rows[0] if k.startswith("probe square") and k.endswith("@0.05")), None)
  return f"{ms(get(strong), 1, 3) if strong else '-'} / {ms(get(square), 1, 3) if square else '-'}"


def section_ablations(results: dict[str, dict], notes: str, rel, figures_dir: str) -> list[str]:
  groups: dict[str, list[dict]] = {}
  for r in results.values():
    if "eval" in r:
      groups.setdefault(r["run"]["label"], []).append(experiment.table_row(r))
  any_r = next(r for r in results.values() if "eval" in r)
  ec = any_r["eval"]["config"]
  L = ["## Why LR is less robust here (ablations)", "",
       "Regenerate: `python experiments/run.py ablations` (raw JSON: `docs/results/ablations/`).", "",
       f"Setting: Fashion-MNIST, small CNN, Adam 1e-3 cosine, batch 128, {any_r['config']['num_epochs']} epochs; LR rank "
       "10 on the penultimate layer, dense W thresholded by Nyström every 10 steps, weights 1 / 0.1, warm-up 500 steps, "
       f"unless the row says otherwise; one seed unless the row says otherwise. The first {ec['num_examples']} test "
       "examples, Linf in pixel space: PGD-20 (random start, step 2.5 eps/20, CE); worst case = per example over "
       f"PGD-20, FGSM, PGD-40, PGD-20 x{ec['audit_restarts']} restarts, Gaussian noise, transfer from the reference "
       "model, AutoAttack (standard: APGD-CE, APGD-T, FAB-T, Square-5000) and the masking probes (PGD-20 with CE, "
       f"margin, CE/T for T in {tuple(ec['probe_temperatures'])}, PGD-{ec['probe_strong_steps']}x"
       f"{ec['probe_strong_restarts']} margin and Square-{ec['probe_square_queries']} on the first "
       f"{ec['probe_examples']}). rho_adv: DeepFool (L2, {ec['deepfool_max_iter']} iterations max) over all examples "
       "(Eq. 15) / over the fooled ones. Noise-stability slope: least squares of feature ratio on input ratio through "
       "0, over correctly classified examples, for the model's own DeepFool perturbation, a common Gaussian, and the "
       "DeepFool perturbations of the reference model (a vanilla CNN trained with seed 100). Paper-like PGD: fixed "
       "step eps/4, no random start, eps in the normalised input space. Accuracies in %; ± is the std over seeds.", ""]
  L += _table(["run (seeds)"] + [h for h, _ in ABLATION_COLUMNS],
              [[f"{lab} ({len(rs)})"] + [_ablation_cell(h, k, rs) for h, k in ABLATION_COLUMNS]
               for lab, rs in groups.items()])
  fig = os.path.join(figures_dir, "ablations.png")
  plot_ablations(groups, fig)
  L += ["", f"![ablations]({rel(fig)})", ""]
  return L + ([notes.strip(), ""] if notes else [])


# ----------------------------------------------------------------------------- figures


def plot_robust(groups, rows, labs, eps, path) -> None:
  fig, ax = plt.subplots(figsize=(9.5, 4.5))
  xs = [0] + [e * 255 for e in eps]
  for lab in labs:
    clean = _mean(r.clean for r in rows[lab])
    line, = ax.plot(xs, [clean] + [_mean(claims.at(r.worst, e) for r in rows[lab]) for e in eps],
                    marker="o", label=f"{lab}: worst case")
    if all(r.paper_like for r in rows[lab]):
      ax.plot(xs, [clean] + [_mean(claims.at(r.paper_like, e) for r in rows[lab]) for e in eps],
              ls="--", color=line.get_color(), label=f"{lab}: paper-like PGD")
  ax.set(xlabel="eps x 255 (Linf)", ylabel="accuracy", ylim=(0, 1), title="Robust accuracy, Fashion-MNIST")
  ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0))
  _save(fig, path)


def plot_rho(groups, labs, path) -> None:
  fig, ax = plt.subplots(figsize=(6, 4))
  vals = {lab: np.concatenate([np.asarray(r["eval"]["deepfool"]["rho"]) for r in groups[lab]]) for lab in labs}
  bins = np.linspace(0, max([np.percentile(v, 99) for v in vals.values()] + [1e-6]), 40)
  for lab, v in vals.items():
    ax.hist(v, bins=bins, alpha=0.5, label=f"{lab} (mean {v.mean():.3f})")
  ax.set(xlabel="DeepFool ||r||_2 / ||x||_2", ylabel="examples", title="DeepFool perturbation size")
  ax.legend(fontsize=8)
  _save(fig, path)


def plot_pixels(groups, labs, path) -> None:
  fig, ax = plt.subplots(figsize=(6, 4))
  for lab in labs:
    accs = [r["eval"]["random_pixels"]["accuracy"] for r in groups[lab]]
    ps = sorted(accs[0], key=float)
    ax.plot([float(p) for p in ps], [_mean([a[p] for a in accs]) for p in ps], marker="o", label=lab)
  ax.set(xlabel="probability p a pixel is perturbed", ylabel="accuracy", ylim=(0, 1), title="Random pixel perturbation")
  ax.legend(fontsize=8)
  _save(fig, path)


def plot_pca(groups, labs, path) -> None:
  fig, axes = plt.subplots(1, len(labs), figsize=(5 * len(labs), 4.5), squeeze=False, layout="constrained")
  for ax, lab in zip(axes[0], labs):
    c = groups[lab][0]["eval"]["compression"]
    p, y = np.asarray(c["pca_2d"]["points"]), np.asarray(c["pca_2d"]["labels"])
    sc = ax.scatter(p[:, 0], p[:, 1], c=y, cmap="tab10", s=5)
    ax.set(title=f"{lab}: {c['layer']} (2-D linear acc. {c['pca_2d']['linear_accuracy']:.3f})", xlabel="PC 1",
           ylabel="PC 2")
  fig.colorbar(sc, ax=axes[0].tolist(), label="class")
  _save(fig, path)


def plot_spectra(groups, path) -> None:
  fig, ax = plt.subplots(figsize=(6, 4))
  for lab, rs in groups.items():
    s = np.asarray(rs[0]["eval"]["representation"]["layers"]["penultimate"]["singular_values"])
    ax.semilogy(np.arange(1, len(s) + 1), np.maximum(s / s[0], 1e-8), label=lab)
  ax.set(xlabel="index", ylabel="singular value / largest", ylim=(1e-5, 1.5),
         title="Penultimate representation spectrum (test examples)")
  ax.legend(fontsize=6)
  _save(fig, path)


def plot_ablations(groups: dict[str, list[dict]], path: str) -> None:
  labs = list(groups)
  fig, axes = plt.subplots(1, 2, figsize=(13, 0.38 * len(labs) + 1.6), sharey=True)
  y = np.arange(len(labs))[::-1]
  for ax, key, title in ((axes[0], "worst@0.05", "worst-case robust accuracy, eps 0.05"),
                         (axes[1], "paper pgd-20@0.05", "paper-like PGD-20, eps 0.05 (normalised space)")):
    vals = [_mean(r.get(key) for r in groups[lab]) for lab in labs]
    err = [np.std(_finite(r.get(key) for r in groups[lab]), ddof=1) if len(_finite(r.get(key) for r in groups[lab])) > 1
           else 0 for lab in labs]
    colors = ["tab:gray" if lab.startswith("vanilla") else "tab:blue" for lab in labs]
    ax.barh(y, vals, xerr=err, color=colors)
    ax.set(title=title, xlim=(0, 1))
    if "vanilla" in groups:
      ax.axvline(vals[labs.index("vanilla")], color="k", ls="--", lw=0.8)
  axes[0].set_yticks(y, [f"{lab} ({len(groups[lab])})" for lab in labs], fontsize=7)
  _save(fig, path)


# ----------------------------------------------------------------------------- the page


def not_yet_run(spec_path: str, grid: dict[str, dict]) -> str:
  """The evaluated rows of a spec without a result in grid, by label with their seeds ("" when none)."""
  runs = [r for r in experiment.load_spec(spec_path).runs if r.evaluate]
  missing: dict[str, list[str]] = {r.label: [] for r in runs}  # in the spec's order of entries
  for r in runs:
    if r.name not in grid:
      missing[r.label].append(r.name.rsplit("_s", 1)[-1])
  missing = {lab: sorted(s, key=int) for lab, s in missing.items() if s}
  if not missing:
    return ""
  n = sum(map(len, missing.values()))
  return (f"Not yet run: {n} of the {len(runs)} rows of `experiments/specs/{os.path.basename(spec_path)}`: "
          + "; ".join(f"{lab} (seed{'s' if len(s) > 1 else ''} {', '.join(s)})" for lab, s in missing.items()) + ".")


def _compute(results: dict[str, dict]) -> str:
  secs = [r["seconds"] for r in results.values() if "seconds" in r]
  train, ev = sum(s["train"] for s in secs), sum(s["eval"] for s in secs)
  resumed = sum(bool(s.get("resumed")) for s in secs)
  return (f"{(train + ev) / 3600:.2f} h on 2 CPU cores ({train / 3600:.2f} h training, {ev / 3600:.2f} h evaluation; "
          "the sum of the JSON's `seconds`" + (f"; {resumed} row(s) resumed from a checkpoint, whose training seconds "
                                               "count only the part after the resume)" if resumed else ")"))


README_START, README_END = "<!-- claims table: experiments/page.py writes it -->", "<!-- end of the claims table -->"


def readme_table(new: list[claims.Verdict], old: list[claims.Verdict] | None, source: str,
                 curves: list[str] | None = None, pending: str = "", seeds: list[str] | None = None) -> list[str]:
  """The README's claims table: each verdict with the numbers it read (and the first pass's, when the grid exists),
  pending (the grid's measured cost and its rows not yet run), claim 1's numbers seed by seed (`seed_by_seed`),
  then what the learning curves decide (`curves_summary`), if any."""
  header = ["claim", "verdict"] + (["2 epochs"] if old else []) + ["the numbers it read"]
  rows = [[f"{v.claim}. {v.title}", f"**{v.verdict}**"] + ([o.verdict] if old else []) + [v.reason]
          for v, o in zip(new, old or new)]
  return [README_START, f"Verdicts of `experiments/claims.py` on {source} ([docs/RESULTS.md](docs/RESULTS.md)):", ""] + \
      _table(header, rows) + (["", pending] if pending else []) + \
      (["", "Claim 1 seed by seed:", ""] + [f"- {x}" for x in seeds] if seeds else []) + \
      ([""] + curves if curves else []) + [README_END]


def update_readme(path: str, block: list[str]) -> None:
  """Replaces the README's claims table (between its markers) with block."""
  text = open(path).read()
  if README_START not in text or README_END not in text:
    raise ValueError(f"{path} lacks the markers of the claims table ({README_START!r} ... {README_END!r})")
  head, rest = text.split(README_START, 1)
  tail = rest.split(README_END, 1)[1]
  runfiles.write_text_atomic(path, head + "\n".join(block) + tail)


CLAIMS_SPEC = os.path.join(ROOT, "experiments", "specs", "claims.json")


def write(page: str, results_dir: str, figures_dir: str | None = None, first_dir: str | None = None,
          readme: str | None = None, spec: str | None = None) -> None:
  """Writes the page from results_dir/{claims, paper, curves, sweep, sweep_anchor, sweep_check, ablations}/*.json
  (those present); first_dir: the
  2-epoch first pass, if not results_dir/paper; spec: the claims spec whose rows without a result the page and the
  README's table list."""
  figures_dir = figures_dir or os.path.join(os.path.dirname(page), "figures")
  os.makedirs(figures_dir, exist_ok=True)
  rel = lambda p: os.path.relpath(p, os.path.dirname(page))
  grid, curves, sweep, anchor, check, ablations = (
      load_dir(os.path.join(results_dir, d))
      for d in ("claims", "curves", "sweep", "sweep_anchor", "sweep_check", "ablations"))
  first = load_dir(first_dir or os.path.join(results_dir, "paper"))
  L = ["# Results", "", "Every number on this page is read from the raw JSON under `docs/results/`; "
       "`python experiments/page.py` rewrites it, `make experiments` reruns everything (2 CPU cores; no GPU was used). "
       "Verdicts are computed by the functions of `experiments/claims.py` from the same JSON.", ""]
  main = grid or first
  if main:
    groups = groups_of(main)
    rows = rows_of(groups)
    new = claims.verdicts(rows)
    old = claims.verdicts(rows_of(groups_of(first))) if grid and first else None
    which = "the claims grid (`docs/results/claims/`)" if grid else "the 2-epoch first pass (`docs/results/paper/`)"
    L += [f"Claims read {which}: {len(main)} row{'' if len(main) == 1 else 's'}, {_compute(main)}.", ""]
    pending = not_yet_run(spec, grid) if spec and grid else ""
    L += [pending, ""] if pending else []
    L += section_summary(new, old)
    if readme:
      cost = (f"Measured cost of the {len(main)} row{'' if len(main) == 1 else 's'}{' so far' if pending else ''}: "
              f"{_compute(main)}.")
      update_readme(readme, readme_table(new, old, which, curves_summary(curves, grid) if curves else None,
                                         " ".join(x for x in (cost, pending) if x), seed_by_seed(rows)))
  if curves:
    L += section_curves(curves, rel, figures_dir, grid)
  if sweep:
    L += section_sweep(sweep, rel, figures_dir, anchor, check)
  if main:
    L += section_pgd(groups, rows, rel, figures_dir)
    L += section_deepfool(groups, rows, rel, figures_dir)
    L += section_pixels(groups, rows, rel, figures_dir)
    L += section_stability(groups, rows)
    L += section_compression(groups, rows, rel, figures_dir)
    fig = os.path.join(figures_dir, "spectra_all.png")
    plot_spectra({k: v for k, v in groups.items() if k in rows}, fig)
    L += ["## Spectra of the representations", "", f"![spectra]({rel(fig)})", ""]
  if ablations:
    notes_path = os.path.join(results_dir, "ablations", "NOTES.md")
    notes = open(notes_path).read() if os.path.exists(notes_path) else ""
    L += section_ablations(ablations, notes, rel, figures_dir)
  runfiles.write_text_atomic(page, "\n".join(L) + "\n")


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--results", default=os.path.join(ROOT, "docs", "results"))
  ap.add_argument("--page", default=os.path.join(ROOT, "docs", "RESULTS.md"))
  ap.add_argument("--figures", default=None)
  ap.add_argument("--first", default=None, help="the 2-epoch first pass's JSON (default RESULTS/paper)")
  ap.add_argument("--readme", default=None, help="a README whose claims table to rewrite (default: ours, when the "
                  "page is docs/RESULTS.md)")
  a = ap.parse_args()
  default_page = os.path.abspath(a.page) == os.path.join(ROOT, "docs", "RESULTS.md")
  write(a.page, a.results, a.figures, a.first, a.readme or (os.path.join(ROOT, "README.md") if default_page else None),
        spec=CLAIMS_SPEC if os.path.abspath(a.results) == os.path.join(ROOT, "docs", "results") else None)
  print(f"wrote {a.page}")


if __name__ == "__main__":
  main()
