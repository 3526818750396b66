"""docs/RESULTS.md's ablations: why LR is less robust here, one row per ablation (spec_runner.table_row's numbers)."""

from __future__ import annotations

import os

import numpy as np

from experiments.page_common import ev, finite, mean_or_nan, ms, msg
from lowrank_jax import markdown, spec_runner


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
      groups.setdefault(r["run"]["label"], []).append(spec_runner.table_row(r))
  any_r = next(r for r in results.values() if "eval" in r)
  ec = ev(any_r).config
  L = ["## Why LR is less robust here (ablations)", "",
       "Regenerate: `python experiments/run.py ablations` (raw JSON: `docs/results/ablations/`).", "",
       f"Setting: Fashion-MNIST, small CNN, Adam 1e-3 cosine, batch 128, {any_r['config']['num_epochs']} epochs; LR rank "
       "10 on the penultimate layer, dense W thresholded by Nyström every 10 steps, weights 1 / 0.1, warm-up 500 steps, "
       f"unless the row says otherwise; one seed unless the row says otherwise. The first {ec.num_examples} test "
       "examples, Linf in pixel space: PGD-20 (random start, step 2.5 eps/20, CE); worst case = per example over "
       f"PGD-20, FGSM, PGD-40, PGD-20 x{ec.pgd_grid.audit_restarts} restarts, Gaussian noise, transfer from the reference "
       "model, AutoAttack (standard: APGD-CE, APGD-T, FAB-T, Square-5000) and the masking probes (PGD-20 with CE, "
       f"margin, CE/T for T in {tuple(ec.masking.temperatures)}, PGD-{ec.masking.strong_steps}x"
       f"{ec.masking.strong_restarts} margin and Square-{ec.masking.square_queries} on the first "
       f"{ec.masking.examples}). rho_adv: DeepFool (L2, {ec.deepfool.max_iter} iterations max) over all examples "
       "(Eq. 15) / over the fooled ones. Noise-stability slope: least squares of feature ratio on input ratio through "
       "0, over correctly classified examples, for the model's own DeepFool perturbation, a common Gaussian, and the "
       "DeepFool perturbations of the reference model (a vanilla CNN trained with seed 100). Paper-like PGD: fixed "
       "step eps/4, no random start, eps in the normalised input space. Accuracies in %; ± is the std over seeds.", ""]
  L += markdown.table(["run (seeds)"] + [h for h, _ in ABLATION_COLUMNS],
              [[f"{lab} ({len(rs)})"] + [_ablation_cell(h, k, rs) for h, k in ABLATION_COLUMNS]
               for lab, rs in groups.items()])
  fig = os.path.join(figures_dir, "ablations.png")
  plot_ablations(groups, fig)
  L += ["", f"![ablations]({rel(fig)})", ""]
  return L + ([notes.strip(), ""] if notes else [])


def plot_ablations(groups: dict[str, list[dict]], path: str) -> None:
  labs = list(groups)
  fig, axes = markdown.subplots(1, 2, figsize=(13, 0.38 * len(labs) + 1.6), sharey=True)
  y = np.arange(len(labs))[::-1]
  for ax, key, title in ((axes[0], "worst@0.05", "worst-case robust accuracy, eps 0.05"),
                         (axes[1], "paper pgd-20@0.05", "paper-like PGD-20, eps 0.05 (normalised space)")):
    vals = [mean_or_nan(r.get(key) for r in groups[lab]) for lab in labs]
    err = [np.std(finite(r.get(key) for r in groups[lab]), ddof=1) if len(finite(r.get(key) for r in groups[lab])) > 1
           else 0 for lab in labs]
    colors = ["tab:gray" if lab.startswith("vanilla") else "tab:blue" for lab in labs]
    ax.barh(y, vals, xerr=err, color=colors)
    ax.set(title=title, xlim=(0, 1))
    if "vanilla" in groups:
      ax.axvline(vals[labs.index("vanilla")], color="k", ls="--", lw=0.8)
  axes[0].set_yticks(y, [f"{lab} ({len(groups[lab])})" for lab in labs], fontsize=7)
  markdown.save(fig, path)
