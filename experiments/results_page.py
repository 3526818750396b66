"""docs/RESULTS.md and docs/figures/*.png from the raw JSON under docs/results/ (nothing else is read).

  python experiments/results_page.py      # rewrite the page from the committed JSON

Sections: "Why LR is less robust here" (docs/results/ablations/*.json) and,
when present, the paper's claims (docs/results/paper/*.json, written by
experiments/paper.py). Hand-written conclusions live in NOTES.md beside the
JSON and are included verbatim.
"""

from __future__ import annotations

import glob
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lowrank_jax import experiment, runfiles  # pylint: disable=g-import-not-at-top

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_dir(d: str) -> dict[str, dict]:
  return {os.path.basename(p)[:-5]: runfiles.read_json(p) for p in sorted(glob.glob(os.path.join(d, "*.json")))}


def _fmt(values: list[float], digits: int = 3) -> str:
  v = [x for x in values if x is not None and np.isfinite(x)]
  if not v:
    return "-"
  if len(v) == 1:
    return f"{v[0]:.{digits}f}"
  return f"{np.mean(v):.{digits}f} ± {np.std(v, ddof=1):.{digits}f}"


def _fmt_g(values: list[float]) -> str:
  v = [x for x in values if x is not None and np.isfinite(x)]
  if not v:
    return "-"
  return f"{np.mean(v):.3g}" + (f" ± {np.std(v, ddof=1):.2g}" if len(v) > 1 else "")


def group_rows(results: dict[str, dict]) -> list[tuple[str, list[dict]]]:
  """(label, [summaries of its seeds]) in the order vanilla, baseline, factors, favourable."""
  groups: dict[str, list[dict]] = {}
  for name, r in results.items():
    label = r["run"].get("label") or name
    groups.setdefault(label, []).append(experiment.table_row(r))
  order = lambda lab: (0 if lab == "vanilla" else 1 if lab == "baseline" else 3 if lab.startswith("most fav") else
                       2.5 if lab.startswith("vanilla,") else 2)
  return sorted(groups.items(), key=lambda kv: order(kv[0]))


COLUMNS = [  # (header, summary key, formatter)
    ("clean acc.", "clean", _fmt), ("eff. rank (centred)", None, None), ("L_c", "L_c", _fmt_g),
    ("mean ‖a‖", "mean_norm", _fmt_g), ("PGD-20 @0.05", "pgd20@0.05", _fmt), ("PGD-20 @0.1", "pgd20@0.1", _fmt),
    ("worst @0.05", "worst@0.05", _fmt), ("worst @0.1", "worst@0.1", _fmt),
    ("AutoAttack @0.05", "aa@0.05", _fmt), ("rho_adv (all / fooled)", None, None),
    ("slope: own DeepFool / Gaussian / reference", None, None), ("zero grads", "zero_grad", _fmt),
    ("strong PGD / Square @0.05", None, None), ("paper-like PGD-20 @0.05", "paper pgd-20@0.05", _fmt),
]


def _cell(header: str, key, fmt, rows: list[dict]) -> str:
  get = lambda k: [r.get(k) for r in rows]
  if key is not None:
    return fmt(get(key))
  if header.startswith("eff. rank"):
    return f"{_fmt_g(get('eff_rank'))} ({_fmt_g(get('eff_rank_centred'))})"
  if header.startswith("rho_adv"):
    return f"{_fmt(get('rho_adv'), 4)} / {_fmt(get('rho_adv_fooled'), 4)}"
  if header.startswith("slope"):
    return " / ".join(_fmt_g(get(f"slope_{s}")) for s in ("deepfool", "gaussian", "reference"))
  if header.startswith("strong PGD"):
    strong = next((k for k in rows[0] if k.startswith("probe pgd-") and "x" in k.split()[1] and k.endswith("@0.05")),
                  None)
    square = next((k for k in rows[0] if k.startswith("probe square") and k.endswith("@0.05")), None)
    return f"{_fmt(get(strong)) if strong else '-'} / {_fmt(get(square)) if square else '-'}"
  return "-"


def ablation_table(results: dict[str, dict]) -> list[str]:
  rows = group_rows(results)
  L = ["| run (seeds) | " + " | ".join(h for h, _, _ in COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
  for label, rs in rows:
    name = label.replace("|", "\\|")  # "||a||" must not split the table's columns
    L.append(f"| {name} ({len(rs)}) | " + " | ".join(_cell(h, k, f, rs) for h, k, f in COLUMNS) + " |")
  return L


def plot_ablations(results: dict[str, dict], path: str) -> None:
  rows = group_rows(results)
  labels = [f"{lab} ({len(rs)})" for lab, rs in rows]
  fig, axes = plt.subplots(1, 2, figsize=(13, 0.38 * len(rows) + 1.6), sharey=True)
  y = np.arange(len(rows))[::-1]
  for ax, key, title in ((axes[0], "worst@0.05", "worst-case robust accuracy, eps 0.05"),
                         (axes[1], "paper pgd-20@0.05", "paper-like PGD-20, eps 0.05 (normalised space)")):
    vals = [np.mean([r[key] for r in rs if key in r]) if any(key in r for r in rs) else np.nan for _, rs in rows]
    err = [np.std([r[key] for r in rs if key in r], ddof=1) if sum(key in r for r in rs) > 1 else 0 for _, rs in rows]
    colors = ["tab:gray" if lab.startswith("vanilla") else "tab:green" if lab.startswith("most") else "tab:blue"
              for lab, _ in rows]
    ax.barh(y, vals, xerr=err, color=colors)
    ax.set(title=title, xlim=(0, 1))
    ax.axvline(vals[0] if rows and rows[0][0] == "vanilla" else np.nan, color="k", ls="--", lw=0.8)
  axes[0].set_yticks(y, labels, fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def ablation_section(results: dict[str, dict], notes: str, figure: str) -> list[str]:
  any_r = next(iter(results.values()))
  ec = any_r["eval"]["config"]
  L = ["## Why LR is less robust here (ablations)", "",
       "Regenerate: `make ablations` (raw JSON: `docs/results/ablations/`; this page: "
       "`python experiments/results_page.py`).", "",
       f"Setting: Fashion-MNIST, small CNN, Adam 1e-3 cosine, batch 128, {any_r['config']['num_epochs']} epochs unless "
       f"the row says otherwise; LR rank 10 on the penultimate layer, dense W thresholded by Nyström every 10 steps, "
       f"weights 1 / 0.1, warm-up 500 steps unless the row says otherwise. Evaluation on the first "
       f"{ec['num_examples']} test examples (not the 1,000 asked: the grid must fit in about 2 hours), Linf in pixel "
       f"space: PGD-20 (random start, step 2.5 eps/20, CE); worst case = per example over PGD-20, FGSM, PGD-40, "
       f"PGD-20 x{ec['audit_restarts']} restarts, Gaussian noise, transfer from the reference model, AutoAttack "
       f"(standard: APGD-CE, APGD-T, FAB-T, Square-5000) and the masking probes (PGD-20 with CE, margin, CE/T for T in "
       f"{tuple(ec['probe_temperatures'])}, PGD-{ec['probe_strong_steps']}x{ec['probe_strong_restarts']} margin and "
       f"Square-{ec['probe_square_queries']} on the first {ec['probe_examples']}). rho_adv: DeepFool (L2, "
       f"{ec['deepfool_max_iter']} iterations max) over all examples (Eq. 15) / over the fooled ones. Noise-stability "
       f"slope: least squares of feature ratio on input ratio through 0, over correctly classified examples, for the "
       "model's own DeepFool perturbation, a common Gaussian (input ratios 1e-3..1e-1), and the DeepFool "
       "perturbations of the reference model (a vanilla CNN trained with seed 100). Paper-like PGD: fixed step eps/4, "
       "no random start, eps applied in the normalised input space (pixel eps = eps x 0.353). Cells with ± are mean ± "
       "standard deviation over seeds.", ""]
  L += ablation_table(results)
  L += ["", f"![ablations]({figure})", ""]
  if notes:
    L += [notes.strip(), ""]
  return L


def write(path: str, ablations_dir: str | None = None, paper_dir: str | None = None,
          figures_dir: str | None = None) -> None:
  """Writes the page at `path` (figures in figures_dir, default docs/figures beside it)."""
  figures_dir = figures_dir or os.path.join(os.path.dirname(path), "figures")
  os.makedirs(figures_dir, exist_ok=True)
  rel = lambda p: os.path.relpath(p, os.path.dirname(path))
  L = ["# Results", "", "Every number on this page is read from the raw JSON beside it; rerun the make target named in "
       "each section to regenerate it (2 CPU cores; no GPU was used).", ""]
  if ablations_dir and load_dir(ablations_dir):
    results = load_dir(ablations_dir)
    fig = os.path.join(figures_dir, "ablations.png")
    plot_ablations(results, fig)
    notes_path = os.path.join(ablations_dir, "NOTES.md")
    notes = open(notes_path).read() if os.path.exists(notes_path) else ""
    L += ablation_section(results, notes, rel(fig))
  if paper_dir and load_dir(paper_dir):
    from experiments import paper  # pylint: disable=g-import-not-at-top
    L += paper.section(load_dir(paper_dir), figures_dir, rel, raw=os.path.relpath(paper_dir, ROOT) + "/")
  runfiles.write_text_atomic(path, "\n".join(L) + "\n")


if __name__ == "__main__":
  write(os.path.join(ROOT, "docs", "RESULTS.md"), os.path.join(ROOT, "docs", "results", "ablations"),
        os.path.join(ROOT, "docs", "results", "paper"))
  print("wrote docs/RESULTS.md")
