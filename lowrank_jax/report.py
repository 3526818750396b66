"""eval.json -> report.md with PNG plots (matplotlib, Agg backend)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np


def _name(r: dict) -> str:
  return os.path.basename(os.path.normpath(r.get("workdir", "run")))


def _runs(results: dict, compare: dict | None) -> list[tuple[str, dict, str]]:
  runs = [(_name(results), results, "-")]
  if compare:
    runs.append((_name(compare), compare, "--"))
  return runs


def _finish(fig, ax, path, fontsize=8):
  ax.legend(fontsize=fontsize)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def _plot_robust(runs, path):
  fig, ax = plt.subplots(figsize=(5.5, 4))
  for name, r, ls in runs:
    eps = sorted(float(e) for e in r["pgd"])
    for steps in sorted({int(s) for d in r["pgd"].values() for s in d}):
      ax.plot([0] + eps, [r["clean_accuracy"]] + [r["pgd"][f"{e:g}"][str(steps)] for e in eps], ls, marker="o",
              label=f"{name} PGD-{steps}")
    if r.get("transfer"):
      te = sorted(float(e) for e in r["transfer"])
      ax.plot([0] + te, [r["clean_accuracy"]] + [r["transfer"][f"{e:g}"] for e in te], ls, marker="x",
              label=f"{name} transfer")
  ax.set(xlabel=f"eps ({runs[0][1]['config']['norm']})", ylabel="accuracy", ylim=(0, 1), title="Robust accuracy")
  _finish(fig, ax, path, 7)


def _plot_deepfool(runs, path):
  fig, ax = plt.subplots(figsize=(5.5, 4))
  rhos = [np.asarray(r["deepfool"]["rho"]) for _, r, _ in runs]
  top = max(float(np.percentile(v, 99)) for v in rhos) if rhos else 1.0
  bins = np.linspace(0, top, 40)
  for (name, r, _), v in zip(runs, rhos):
    ax.hist(v, bins=bins, alpha=0.55, label=f"{name} (rho_adv {r['deepfool']['rho_adv']:.3f})")
  ax.set(xlabel="DeepFool ||r||_2 / ||x||_2", ylabel="examples", title="DeepFool perturbation size")
  _finish(fig, ax, path)


def _plot_pixels(runs, path):
  fig, ax = plt.subplots(figsize=(5.5, 4))
  for name, r, ls in runs:
    ps = sorted(float(p) for p in r["random_pixels"]["accuracy"])
    ax.plot(ps, [r["random_pixels"]["accuracy"][f"{p:g}"] for p in ps], ls, marker="o", label=name)
  ax.set(xlabel="probability p a pixel is perturbed", ylabel="accuracy", ylim=(0, 1),
         title=f"Random pixel perturbation (sigma {runs[0][1]['random_pixels']['sigma']:g})")
  _finish(fig, ax, path)


def _plot_stability(runs, path, layer="penultimate"):
  boxes = sorted({b for _, r, _ in runs for b in r.get("noise_stability", {})})
  if not boxes:
    return False
  fig, axes = plt.subplots(1, len(boxes), figsize=(5 * len(boxes), 4), squeeze=False)
  for ax, box in zip(axes[0], boxes):
    for name, r, _ in runs:
      d = r.get("noise_stability", {}).get(box, {}).get(layer)
      if d:
        ax.scatter(d["input_ratio"], d["feature_ratio"], s=6, alpha=0.5, label=name)
    ax.set(xscale="log", yscale="log", xlabel="||d||^2 / ||x||^2", ylabel=f"||f(x+d)-f(x)||^2 / ||f(x)||^2",
           title=f"{layer}: {box.replace('_', ' ')}")
    ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return True


def _plot_spectrum(runs, path):
  fig, ax = plt.subplots(figsize=(5.5, 4))
  for name, r, ls in runs:
    for layer, s in r["spectra"].items():
      ax.semilogy(np.arange(1, len(s) + 1), np.maximum(s, 1e-8), ls,
                  label=f"{name} {layer} (eff. rank {r['effective_rank'][layer]})")
  ax.set(xlabel="index", ylabel="singular value / largest", title="Spectrum of the representations", ylim=(1e-6, 1.5))
  _finish(fig, ax, path, 7)


def write_report(results: dict, out_dir: str, compare: dict | None = None) -> str:
  """Writes report.md and its PNGs into out_dir; returns the report's path."""
  runs = _runs(results, compare)
  _plot_robust(runs, os.path.join(out_dir, "robust_accuracy.png"))
  _plot_deepfool(runs, os.path.join(out_dir, "deepfool.png"))
  _plot_pixels(runs, os.path.join(out_dir, "random_pixels.png"))
  has_stab = _plot_stability(runs, os.path.join(out_dir, "noise_stability.png"))
  _plot_spectrum(runs, os.path.join(out_dir, "spectrum.png"))
  r, c = results, results["config"]
  eps = sorted(float(e) for e in r["pgd"])
  steps = sorted({int(s) for d in r["pgd"].values() for s in d})
  L = [f"# Robustness report: {_name(r)} (step {r['step']})", "",
       f"{r['num_examples']} test examples; {c['norm']} attacks in pixel space [0, 1]; loss {c['loss']}; "
       f"PGD step size 2.5 eps/steps, random start." + (f" Dashed lines in plots: {_name(compare)}." if compare else ""),
       "", f"Clean accuracy: **{r['clean_accuracy']:.4f}**", "",
       "## Accuracy under attack", "", "| attack | " + " | ".join(f"eps {e:g}" for e in eps) + " |",
       "|---|" + "---|" * len(eps)]
  for s in steps:
    L.append(f"| PGD-{s} | " + " | ".join(f"{r['pgd'][f'{e:g}'][str(s)]:.4f}" for e in eps) + " |")
  L.append("| FGSM | " + " | ".join(f"{r['fgsm'][f'{e:g}']:.4f}" for e in eps) + " |")
  if r.get("transfer"):
    L.append(f"| transfer PGD-{max(steps)} from {os.path.basename(os.path.normpath(r['transfer_from'] or ''))} | "
             + " | ".join(f"{r['transfer'].get(f'{e:g}', float('nan')):.4f}" for e in eps) + " |")
  L.append("| **worst case over all attacks** | "
           + " | ".join(f"**{r['robust_accuracy'][f'{e:g}']['accuracy']:.4f}**" for e in eps) + " |")
  L += ["", f"Audit attacks: PGD-{r['pgd_2x']['steps']} at eps {r['pgd_2x']['eps']:g}: {r['pgd_2x']['accuracy']:.4f}; "
        f"PGD-{r['pgd_restarts']['steps']} x{r['pgd_restarts']['restarts']} restarts: {r['pgd_restarts']['accuracy']:.4f}; "
        f"PGD at eps {r['pgd_chance']['eps']:g}: {r['pgd_chance']['accuracy']:.4f}; "
        f"Gaussian noise (sigma = eps {r['gaussian']['eps']:g}): {r['gaussian']['accuracy']:.4f}.", "",
        "![robust accuracy](robust_accuracy.png)", "", "## Gradient-masking audit", "", "| check | result | detail |",
        "|---|---|---|"]
  for a in r.get("audit", []):
    L.append(f"| {a['check']} | {'pass' if a['passed'] else '**FLAG**'} | {a['detail']} |")
  d = r["deepfool"]
  L += ["", "## DeepFool (L2)", "",
        f"rho_adv = mean ||r||/||x|| = **{d['rho_adv']:.4f}** (median {d['rho_adv_median']:.4f}); success rate "
        f"{d['success_rate']:.3f} on {d['examples']} examples; mean iterations {d['mean_iterations']:.2f}.", "",
        "![deepfool](deepfool.png)", "", "## Random pixel perturbation", "",
        "| p | " + " | ".join(r["random_pixels"]["accuracy"]) + " |", "|---|" + "---|" * len(r["random_pixels"]["accuracy"]),
        "| accuracy | " + " | ".join(f"{v:.4f}" for v in r["random_pixels"]["accuracy"].values()) + " |", "",
        "![random pixels](random_pixels.png)", "", "## Noise stability of the representations", ""]
  for box, layers in r.get("noise_stability", {}).items():
    for layer, v in layers.items():
      ratio = np.asarray(v["feature_ratio"]) / np.maximum(np.asarray(v["input_ratio"]), 1e-12)
      L.append(f"- {box.replace('_', ' ')}, {layer}: median (feature ratio / input ratio) = {np.median(ratio):.3f}")
  if has_stab:
    L += ["", "![noise stability](noise_stability.png)"]
  L += ["", "## Representations", ""]
  for layer, er in r["effective_rank"].items():
    L.append(f"- {layer}: effective rank (99% energy) {er}")
  if "layer_cushion" in r:
    lc = r["layer_cushion"]
    L.append(f"- layer cushion of `{lc['layer']}` (Arora et al. 2018): min {lc['cushion']:.4f}, "
             f"median {lc['median']:.4f}, mean {lc['mean']:.4f}")
  L += ["", "![spectrum](spectrum.png)", ""]
  path = os.path.join(out_dir, "report.md")
  with open(path, "w") as f:
    f.write("\n".join(L))
  return path
