"""docs/RESULTS.md's opening: CIFAR-10, the paper's setting. The paper's PGD table beside ours cell for cell (PGD-7/20
as the paper ran it, our standard PGD and the AutoAttack worst case), and the claims' verdicts computed on the
CIFAR-10 rows (the same functions as for Fashion-MNIST)."""

from __future__ import annotations

import os

import numpy as np

from experiments import claims, length
from experiments.page_common import PAPER_PGD, ev, groups_of, ms, rows_of, settings, verdict_lines
from experiments.page_curves import section_curves
from lowrank_jax import markdown

PAPER_EPS = (8, 10, 16, 20)  # the paper's columns, /255
PAPER_LABEL = {"vanilla": "vanilla", "SNIP": "SNIP", "SRN": "SRN", "LR": "LR"}  # ours -> the paper's row


PAPER_LIKE = ("The paper-like PGD is PGD as the paper most likely ran it (`evaluators.base.paper_like`): no random "
              "start, a fixed step of eps/4, and eps in the model's normalised input space, so that its pixel budget "
              "is eps times each channel's standard deviation (about a quarter of eps on CIFAR-10). Our PGD and the "
              "worst case use eps in pixels, as AutoAttack and RobustBench do.")


def _near(d: dict[float, dict], e: float) -> dict:
  return claims.at(d, e) or {}


def paper_table(groups: dict[str, list[dict]]) -> list[str]:
  """One row per (model, eps): the paper's PGD-7 and PGD-20, ours under the paper-like PGD-7/20 (no random start,
  fixed step, eps in the normalised input space), our standard PGD-7/20 and the worst case over every attack
  (AutoAttack included); mean ± std over seeds in %."""
  table = []
  for lab, rs in groups.items():
    paper = PAPER_PGD.get(PAPER_LABEL.get(lab, ""), {})
    for k in PAPER_EPS:
      e = k / 255
      p7, p20 = paper.get(k, ("-", "-"))
      like = [_near(ev(r).paper_like_by_eps(), e) for r in rs]
      table.append([lab, f"{k}/255", str(p7), str(p20), ms(x.get(7) for x in like), ms(x.get(20) for x in like),
                    ms(ev(r).pgd(e, 7) for r in rs), ms(ev(r).pgd(e, 20) for r in rs),
                    ms(ev(r).worst(e) for r in rs)])
  return markdown.table(["model (ours)", "eps", "paper PGD-7", "paper PGD-20", "ours, paper-like PGD-7",
                         "ours, paper-like PGD-20", "ours, PGD-7", "ours, PGD-20", "ours, worst case"], table)


def paper_figure(groups: dict[str, list[dict]], path: str) -> None:
  """The paper's table as a figure, one panel per model: accuracy (%) against eps (/255), the paper's PGD-7 and
  PGD-20 (where the paper has the model) beside ours under the paper-like PGD-7/20, our PGD-20 and the worst case
  over every attack; a band is the range over seeds, a line their mean."""
  fig, axes = markdown.subplots(1, len(groups), figsize=(3.6 * len(groups), 3.4), sharey=True, squeeze=False)
  x = list(PAPER_EPS)
  for ax, (lab, rs) in zip(axes[0], groups.items()):
    paper = PAPER_PGD.get(PAPER_LABEL.get(lab, ""), {})
    for i, (name, style) in enumerate((("paper PGD-7", ":"), ("paper PGD-20", "--"))):
      if paper:
        ax.plot(x, [paper[k][i] for k in x], ls=style, marker="s", ms=4, color="0.3", label=name)
    like = [{k: _near(ev(r).paper_like_by_eps(), k / 255) for k in x} for r in rs]
    ours = {"ours, paper-like PGD-7": ([[lk[k].get(7, np.nan) for k in x] for lk in like], "C0", ":"),
            "ours, paper-like PGD-20": ([[lk[k].get(20, np.nan) for k in x] for lk in like], "C0", "-"),
            "ours, PGD-20": ([[ev(r).pgd(k / 255, 20) for k in x] for r in rs], "C1", "-"),
            "ours, worst case": ([[ev(r).worst(k / 255) for k in x] for r in rs], "C3", "-")}
    for name, (vals, c, style) in ours.items():
      v = 100 * np.asarray([[np.nan if a is None else a for a in row] for row in vals], float)  # seeds x eps
      ax.plot(x, v.mean(0), ls=style, marker="o", ms=3, color=c, label=name)
      if len(v) > 1:
        ax.fill_between(x, v.min(0), v.max(0), color=c, alpha=0.2, lw=0)
    ax.set(title=f"{lab} ({len(rs)} seed{'s' if len(rs) > 1 else ''})", xlabel="eps (/255)", xticks=x, ylim=(-2, 100))
    ax.title.set_fontsize(9)
  axes[0][0].set_ylabel("accuracy (%)")
  handles = {h.get_label(): h for ax in axes[0] for h in ax.get_lines()}
  fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=6, fontsize=7, frameon=False)
  fig.tight_layout(rect=(0, 0.1, 1, 1))
  markdown.save(fig, path)


COMES_BACK = 10  # points: the paper's number "comes back" when ours is within this of it


def comes_back(ours: float | None, paper: float) -> str:
  """Whether the paper's number (%) comes back in ours (%): within COMES_BACK points, or how far below/above."""
  if ours is None:
    return "is not measured"
  if abs(ours - paper) <= COMES_BACK:
    return f"comes back (ours {ours:.1f}%, within {COMES_BACK} points)"
  return f"does not (ours {abs(ours - paper):.1f} points {'lower' if ours < paper else 'higher'})"


def _listed(items: list[str]) -> str:
  """'a', 'a and b', 'a, b and c'."""
  return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


CONTROL_MARGIN = 10  # points: the control shows the attacks find robustness when it keeps this much more than vanilla


def _control(groups: dict[str, list[dict]], e: float) -> str:
  """What every attack leaves of the adversarially trained control at eps e, against vanilla: a control that keeps
  clearly more shows that the attacks leave robustness where training put some (so the others' low numbers are
  the models', not an attack that breaks every model). The control is the row trained with config.method pgd_at."""
  labs = [lab for lab, rs in groups.items() if rs and rs[0].get("config", {}).get("method") == "pgd_at"]
  if not labs or "vanilla" not in groups:
    return ""
  lab, rs = labs[0], groups[labs[0]]
  worst, van = (claims.mean_or_none(ev(r).worst(e) for r in g) for g in (rs, groups["vanilla"]))
  if worst is None or van is None:
    return ""
  shows = (f"{CONTROL_MARGIN} points or more above vanilla: the same attacks leave robustness where training put "
           "some, so the low numbers above are the models', not an attack that breaks every model"
           if 100 * (worst - van) >= CONTROL_MARGIN else
           f"less than {CONTROL_MARGIN} points above vanilla: the control does not show that the attacks leave "
           "robustness where training put some, so the low numbers above could be the attacks'")
  return (f"The adversarially trained control, {lab}, keeps {ms(ev(r).worst(e) for r in rs)}% after every attack at "
          f"{round(e * 255)}/255 (clean {ms(ev(r).clean for r in rs)}%), {shows}.")


def _finding(groups: dict[str, list[dict]]) -> str:
  """Whether the paper's numbers come back under the paper-like attack, and what AutoAttack leaves, at 8/255, for
  each model of the paper's table we measured; then what the adversarially trained control keeps."""
  e = 8 / 255
  out, plain, left = [], [], []
  for lab in PAPER_PGD:
    if lab not in groups:
      continue
    rs = groups[lab]
    like_values = [_near(ev(r).paper_like_by_eps(), e).get(20) for r in rs]
    like, worst = claims.mean_or_none(like_values), ms(ev(r).worst(e) for r in rs)
    out.append(f"{lab}: the paper's PGD-20 {PAPER_PGD[lab][8][1]}%, ours under the paper-like PGD-20 "
               f"{ms(like_values)}%, under standard PGD-20 {ms(ev(r).pgd(e, 20) for r in rs)}%, and {worst}% after "
               "every attack (AutoAttack included)")
    plain.append(f"the paper's {lab} number {comes_back(None if like is None else 100 * like, PAPER_PGD[lab][8][1])}")
    left.append(f"{worst}% of {lab}")
  if not out:
    return ""
  control = _control(groups, e)
  return ("At 8/255, " + "; ".join(out) + ". Plainly: under PGD-20 as the paper ran it, " + "; ".join(plain)
          + "; every attack together, AutoAttack included, leaves " + _listed(left) + "." + (f" {control}" if control
                                                                                            else ""))


def _where(source: str) -> str:
  """A dataset source ("folders:/abs/path") as a reader of the page can use it: relative to the repository."""
  kind, _, path = source.rpartition(":")
  if os.path.isabs(path):
    path = os.path.relpath(path, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  return f"`{path}` ({kind} format," if kind else f"`{path}` ("


def recipe_line(recipe: dict, budget_h: float = 10) -> str:
  """The model's choice in one sentence: seconds per training step of each candidate, measured side by side
  (bench/cifar_recipe.py's JSON), and the grid hours they imply."""
  name = lambda r: r["model"].replace("resnet", "ResNet-") + ("" if r["width"] >= 1 else f"/{round(1 / r['width'])}")
  rows = "; ".join(f"{name(r)} {r['vanilla_s_per_step']:.3f} s vanilla, {r['lowrank_s_per_step']:.3f} s LR "
                   f"({r['grid_hours_6_rows']:.0f} h for 6 rows)" for r in recipe["rows"])
  fits = [r for r in recipe["rows"] if r["grid_hours_6_rows"] <= budget_h]
  chosen = max(fits, key=lambda r: r["vanilla_s_per_step"]) if fits else None
  return (f"The model: seconds per training step (batch {recipe['batch']}, crop+flip, SGD), vanilla and LR measured "
          f"side by side on {recipe['machine'].get('cores', '?')} CPU cores by `bench/cifar_recipe.py` "
          f"(`docs/results/cifar10_recipe.json`; the hours: vanilla and LR x 3 seeds x {recipe['epochs']} epochs, "
          f"training only): {rows}. The grid uses the largest model whose 6 rows train in {budget_h:g} hours or less "
          "(the rest of the grid's 15 hours goes to its other rows and the evaluation): "
          + (f"{name(chosen)}." if chosen else "none does."))


def changed(cifar: list[claims.Verdict], fmnist: list[claims.Verdict]) -> str:
  """One sentence: which claims' CIFAR-10 verdicts differ from their Fashion-MNIST verdicts (those measured on both)."""
  both = [(c, f) for c, f in zip(cifar, fmnist) if "not measured" not in (c.verdict, f.verdict)]
  diff = [f"claim {c.claim} ({f.verdict} on Fashion-MNIST, {c.verdict} here)" for c, f in both if c.verdict != f.verdict]
  if not both:
    return ""
  measured = _listed([str(c.claim) for c, _ in both])
  if not diff:
    return f"Each claim measured on both datasets ({measured}) has the verdict it has on Fashion-MNIST."
  return f"Of the claims measured on both datasets ({measured}), changed from Fashion-MNIST: {_listed(diff)}."


def section_cifar(results: dict[str, dict], pending: str = "", curves: dict[str, dict] | None = None, rel=None,
                  figures_dir: str | None = None, recipe: dict | None = None,
                  verdicts: list[claims.Verdict] | None = None,
                  fmnist: list[claims.Verdict] | None = None) -> list[str]:
  """The CIFAR-10 sections: the table beside the paper's and the seven verdicts (results: the cifar10 grid's JSON,
  maybe partial; pending: the rows not yet run; verdicts: the claims' functions on its rows, computed here if not
  given), beside the Fashion-MNIST verdicts if given, then its learning curves (curves: their JSON, if any)."""
  L = ["## CIFAR-10, the paper's setting", ""]
  tail = (section_curves(curves, rel, figures_dir, results, title="CIFAR-10 learning curves", heading="###",
                         figure="cifar10_learning_curves.png", source="docs/results/cifar10_curves/",
                         grid_name="the CIFAR-10 grid")
          if curves else [])
  any_r = next(iter({**(curves or {}), **results}.values()), None)
  data = ev(any_r).raw.get("dataset", {}) if any_r else {}
  source = (f"Data: {_where(data.get('source', '?'))} digest {data.get('digest', '?')}): the official split re-encoded as "
            "JPEG (quality about 75), not the official pixels; every CIFAR-10 number here rests on that copy. The "
            "paper: ResNet-50, 200 epochs, the official CIFAR-10.")
  if recipe:
    tail = tail[:2] + [recipe_line(recipe), ""] + tail[2:] if tail else [recipe_line(recipe), ""]
  source += (" Regenerate: `python experiments/run.py cifar10_curves cifar10 --commit` (resumable: rerun it after an "
             "interruption; `--shard K/N` deals the rows to machines sharing the folder).")
  if not results:
    n = max((int(r["config"]["num_epochs"]) for r in (curves or {}).values()), default=0)
    converged = length.grid_length(list((curves or {}).values()))  # {} until every curve reaches its end
    length_text = (f"its rows train the curves' full {n}-epoch schedule (the curves below converge at epoch "
                   f"{max(converged.values())}, and a shorter cosine schedule would be another run, not their earlier "
                   "epoch)" if converged else "the learning curves below choose its length")
    return L + [source, "", f"The CIFAR-10 grid (`experiments/specs/cifar10.json`) has no row yet: {length_text}. "
                + pending, ""] + tail
  groups = groups_of(results)
  L += [f"Setting: {settings(groups, list(groups))}. {source} Raw JSON: `docs/results/cifar10/`; seed 0 of each "
        "row's model: `models/cifar10/`.", ""]
  reused = {n: r["trained_by"] for n, r in sorted(results.items()) if r.get("trained_by")}
  if reused:
    L += ["Trained once, evaluated here: " + "; ".join(f"{n} is `runs/experiments/{src}`" for n, src in reused.items())
          + " (a learning curve's last point: the same config, seed and schedule, checked by the spec's `reuse`), "
          "so its JSON's `seconds.train` covers only loading it, and its `history` is that run's.", ""]
  L += [pending, ""] if pending else []
  L += ["### The paper's table beside ours", "", PAPER_LIKE, "", _finding(groups), ""] + paper_table(groups) + [""]
  if figures_dir and rel:
    path = os.path.join(figures_dir, "cifar10_paper_table.png")
    paper_figure(groups, path)
    L += ["The same table as a figure (grey: the paper's numbers; a band: the range over seeds):", "",
          f"![the paper's table beside ours]({rel(path)})", ""]
  verdicts = verdicts if verdicts is not None else claims.verdicts(rows_of(groups))
  L += ["### Verdicts on CIFAR-10", ""]
  L += markdown.table(["claim", "verdict"] + (["on Fashion-MNIST (below)"] if fmnist else []),
                      [[f"{v.claim}. {v.title}", f"**{v.verdict}**"] + ([f.verdict] if fmnist else [])
                       for v, f in zip(verdicts, fmnist or verdicts)])
  what_changed = changed(verdicts, fmnist) if fmnist else ""
  L += [""] + ([what_changed, ""] if what_changed else [])
  for v in verdicts:
    L += [f"**Claim {v.claim}: {v.title}.**", ""] + verdict_lines(v)
  return L + tail
