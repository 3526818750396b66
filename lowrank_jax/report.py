"""eval.json -> report.md with PNG plots (matplotlib, Agg backend)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from lowrank_jax import runfiles
from lowrank_jax.runfiles import eps_key


def _runs(results: dict, compare: dict | None) -> list[tuple[str, dict, str]]:
  runs = [(results.get("model", "run"), results, "-")]
  if compare:
    runs.append((compare.get("model", "other"), compare, "--"))
  return runs


def _save(fig, path):
  fig.tight_layout()
  with runfiles.atomic_file(path) as tmp:
    fig.savefig(tmp, dpi=110, format="png")
  plt.close(fig)


def _eps_sorted(d: dict) -> list[float]:
  return sorted(float(e) for e in d if e != "from")


def plot_robust(runs, path):
  fig, ax = plt.subplots(figsize=(6, 4.2))
  for name, r, ls in runs:
    g = r["pgd_grid"]
    eps = _eps_sorted(g["pgd"])
    for steps in sorted({int(s) for d in g["pgd"].values() for s in d}):
      ax.plot([0] + eps, [r["clean_accuracy"]] + [g["pgd"][eps_key(e)][str(steps)] for e in eps], ls, marker="o",
              ms=3, label=f"{name} PGD-{steps}")
    if "autoattack" in r:
      ae = _eps_sorted(r["autoattack"]["by_eps"])
      ax.plot([0] + ae, [r["clean_accuracy"]] + [r["autoattack"]["by_eps"][eps_key(e)]["robust_accuracy"] for e in ae],
              ls, marker="s", ms=3, label=f"{name} AutoAttack")
    we = _eps_sorted(r["robust_accuracy"])
    ax.plot([0] + we, [r["clean_accuracy"]] + [r["robust_accuracy"][eps_key(e)]["accuracy"] for e in we], ls, lw=2.5,
            alpha=0.5, label=f"{name} worst case")
    if "transfer" in g:
      te = _eps_sorted(g["transfer"])
      ax.plot([0] + te, [r["clean_accuracy"]] + [g["transfer"][eps_key(e)] for e in te], ls, marker="x",
              label=f"{name} transfer from {g['transfer']['from']}")
  ax.set(xlabel=f"eps ({runs[0][1]['config']['norm']}, pixels in [0, 1])", ylabel="accuracy", ylim=(0, 1),
         title="Robust accuracy")
  ax.legend(fontsize=6)
  _save(fig, path)


def plot_deepfool(runs, path):
  fig, ax = plt.subplots(figsize=(5.5, 4))
  rhos = [np.asarray(r["deepfool"]["rho"]) for _, r, _ in runs]
  top = max([float(np.percentile(v, 99)) for v in rhos] + [1e-6])
  bins = np.linspace(0, top, 40)
  for (name, r, _), v in zip(runs, rhos):
    ax.hist(v, bins=bins, alpha=0.55, label=f"{name} (rho_adv {r['deepfool']['rho_adv']:.3f})")
  ax.set(xlabel="DeepFool ||r||_2 / ||x||_2", ylabel="examples", title="DeepFool perturbation size")
  ax.legend(fontsize=8)
  _save(fig, path)


def plot_pixels(runs, path):
  fig, ax = plt.subplots(figsize=(5.5, 4))
  for name, r, ls in runs:
    acc = r["random_pixels"]["accuracy"]
    ps = sorted(float(p) for p in acc)
    ax.plot(ps, [acc[f"{p:g}"] for p in ps], ls, marker="o", label=name)
  ax.set(xlabel="probability p a pixel is perturbed", ylabel="accuracy", ylim=(0, 1),
         title=f"Random pixel perturbation (sigma {runs[0][1]['random_pixels']['sigma']:g})")
  ax.legend(fontsize=8)
  _save(fig, path)


def plot_stability(runs, path, layer="penultimate") -> bool:
  sources = [s for s in ("deepfool", "gaussian", "transfer", "reference")
             if any(layer in r.get("noise_stability", {}).get(s, {}) for _, r, _ in runs)]
  if not sources:
    return False
  fig, axes = plt.subplots(1, len(sources), figsize=(4.5 * len(sources), 4), squeeze=False)
  for ax, src in zip(axes[0], sources):
    for name, r, _ in runs:
      d = r.get("noise_stability", {}).get(src, {}).get(layer)
      if not d:
        continue
      u, v, ok = (np.asarray(d[k]) for k in ("input_ratio", "feature_ratio", "correct"))
      ok = ok & (u > 0) & (v > 0)  # a log plot (a collapsed model has zero-size perturbations)
      if not ok.any():
        continue
      pts = ax.scatter(u[ok], v[ok], s=5, alpha=0.45, label=f"{name} (slope {d['slope']:.3g})")
      lo, hi = u[ok].min(), u[ok].max()
      if hi > lo and np.isfinite(d["slope"]) and d["slope"] > 0:
        grid = np.geomspace(lo, hi, 20)
        ax.plot(grid, d["slope"] * grid, color=pts.get_facecolor()[0], lw=1)
    ax.set(xscale="log", yscale="log", xlabel="||d||^2 / ||x||^2", ylabel="||f(x+d)-f(x)||^2 / ||f(x)||^2",
           title=f"{layer}: {src}")
    ax.legend(fontsize=7)
  _save(fig, path)
  return True


def plot_spectrum(runs, path):
  fig, ax = plt.subplots(figsize=(5.5, 4))
  for name, r, ls in runs:
    for layer, d in r["representation"]["layers"].items():
      s = np.asarray(d["singular_values"])
      ax.semilogy(np.arange(1, len(s) + 1), np.maximum(s / max(s[0], 1e-12), 1e-8), ls,
                  label=f"{name} {layer} (eff. rank {d['effective_rank']}, centred {d['effective_rank_centred']})")
  ax.set(xlabel="index", ylabel="singular value / largest", title="Spectrum of the representations", ylim=(1e-6, 1.5))
  ax.legend(fontsize=7)
  _save(fig, path)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
  return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def _attacks(r: dict, compare: dict | None) -> list[str]:
  g, c = r["pgd_grid"], r["config"]
  eps = _eps_sorted(g["pgd"])
  steps = sorted({int(s) for d in g["pgd"].values() for s in d})
  f = lambda v: f"{v:.4f}"
  L = ["## Accuracy under attack", "",
       f"{c['norm']} attacks in pixel space [0, 1]; PGD loss {c['loss']}, step 2.5 eps/steps, random start."
       + (f" Dashed lines in plots: {compare['model']}." if compare else ""), ""]
  rows = [[f"PGD-{s}"] + [f(g["pgd"][eps_key(e)][str(s)]) for e in eps] for s in steps]
  rows.append(["FGSM"] + [f(g["fgsm"][eps_key(e)]) for e in eps])
  if "transfer" in g:
    rows.append([f"transfer PGD-{max(steps)} from {g['transfer']['from']}"]
                + [f(g["transfer"].get(eps_key(e), float("nan"))) for e in eps])
  if "autoattack" in r:
    aa = r["autoattack"]["by_eps"]
    rows.append([f"AutoAttack ({r['autoattack']['version']}, {r['autoattack']['examples']} examples)"]
                + [f(aa[eps_key(e)]["robust_accuracy"]) if eps_key(e) in aa else "-" for e in eps])
  rows.append(["**worst case over all attacks (at that eps or below)**"]
              + [f"**{r['robust_accuracy'][eps_key(e)]['accuracy']:.4f}**" for e in eps])
  L += _table(["attack"] + [f"eps {e:g}" for e in eps], rows)
  L += ["", f"Audit attacks: PGD-{g['pgd_2x']['steps']} at eps {g['pgd_2x']['eps']:g}: {g['pgd_2x']['accuracy']:.4f}; "
        f"PGD-{g['pgd_restarts']['steps']} x{g['pgd_restarts']['restarts']} restarts: "
        f"{g['pgd_restarts']['accuracy']:.4f}; PGD at eps {g['pgd_chance']['eps']:g}: {g['pgd_chance']['accuracy']:.4f}; "
        f"Gaussian noise (sigma = eps {g['gaussian']['eps']:g}): {g['gaussian']['accuracy']:.4f}.", "",
        "![robust accuracy](robust_accuracy.png)", ""]
  return L


def _autoattack(r: dict) -> list[str]:
  aa = r["autoattack"]
  names = list(next(iter(aa["by_eps"].values()))["after"])
  L = ["## AutoAttack", "", "Robust accuracy after each attack (cumulative, each on the examples still robust; "
       "an example broken at a smaller eps is not attacked again):", ""]
  L += _table(["eps"] + names + ["seconds"],
              [[e] + [f"{d['after'][n]:.4f}" for n in names] + [f"{d['seconds']:.0f}"] for e, d in aa["by_eps"].items()])
  return L + [""]


def _masking(r: dict) -> list[str]:
  m = r["masking"]
  L = ["## Gradient-masking probes", "",
       f"Zero CE input gradients: {m['zero_gradient_fraction']:.4f} of all examples, "
       f"{m['zero_gradient_fraction_correct']:.4f} of the correctly classified.", ""]
  for e, d in m["by_eps"].items():
    L += [f"eps {e}: " + "; ".join(f"{k} {v:.3f}" for k, v in d["accuracy"].items())
          + "; paper-like (normalised eps, fixed step, no random start) "
          + ", ".join(f"{k} {v:.3f}" for k, v in d["paper_like"].items()), ""]
  return L


def _audit(r: dict) -> list[str]:
  return ["## Gradient-masking audit", ""] + _table(
      ["check", "result", "detail"],
      [[a["check"], "pass" if a["passed"] else "**FLAG**", a["detail"]] for a in r.get("audit", [])]) + [""]


def _deepfool(r: dict) -> list[str]:
  d = r["deepfool"]
  return ["## DeepFool (L2)", "",
          f"rho_adv = mean ||r||/||x|| over all {d['examples']} examples (Eq. 15) = **{d['rho_adv']:.4f}** "
          f"(median {d['rho_adv_median']:.4f}); over the fooled only {d['rho_adv_fooled']:.4f}; success rate "
          f"{d['success_rate']:.3f} within {d['max_iter']} iterations (mean {d['mean_iterations']:.2f}).", "",
          "![deepfool](deepfool.png)", ""]


def _pixels(r: dict) -> list[str]:
  acc = r["random_pixels"]["accuracy"]
  return (["## Random pixel perturbation", ""] + _table(["p"] + list(acc), [["accuracy"] + [f"{v:.4f}" for v in acc.values()]])
          + ["", "![random pixels](random_pixels.png)", ""])


def _stability(r: dict, has_plot: bool) -> list[str]:
  L = ["## Noise stability of the representations", "",
       "Least-squares slope of feature ratio on input ratio (through 0) over correctly classified examples:", ""]
  rows = [[src, layer, f"{v['slope']:.4g}", f"{v['median_gain']:.4g}"] for src, layers in r["noise_stability"].items()
          for layer, v in layers.items() if isinstance(v, dict)]
  L += _table(["perturbation", "layer", "slope", "median gain"], rows)
  return L + (["", "![noise stability](noise_stability.png)"] if has_plot else []) + [""]


def _representation(r: dict) -> list[str]:
  rep = r["representation"]
  L = ["## Representations", "",
       f"Mean max logit {rep['mean_max_logit']:.3f}; mean max softmax probability {rep['mean_max_softmax']:.4f}.", ""]
  L += _table(["layer", "m", f"effective rank ({rep['energy']:.0%} energy)", "centred", "mean ||a||"],
              [[k, str(v["dim"]), str(v["effective_rank"]), str(v["effective_rank_centred"]), f"{v['mean_norm']:.4g}"]
               for k, v in rep["layers"].items()])
  if "layer_cushion" in rep:
    lc = rep["layer_cushion"]
    L += ["", f"Layer cushion of `{lc['layer']}` (Arora et al. 2018): min {lc['cushion']:.4f}, "
          f"median {lc['median']:.4f}, mean {lc['mean']:.4f}"]
  return L + ["", "![spectrum](spectrum.png)", ""]


def write_report(results: dict, out_dir: str, compare: dict | None = None) -> str:
  """Writes report.md and its PNGs into out_dir (a section per evaluator that ran); returns the report's path."""
  r = results
  if compare is not None and any(k not in compare for k in ("pgd_grid", "deepfool", "random_pixels", "representation")
                                 if k in r):
    compare = None  # the other run lacks a measure this one has: no comparison
  runs = _runs(results, compare)
  L = [f"# Robustness report: {r['model']} (step {r['step']})", "",
       f"{r['num_examples']} test examples. Clean accuracy: **{r['clean_accuracy']:.4f}**", ""]
  if "pgd_grid" in r:
    plot_robust(runs, os.path.join(out_dir, "robust_accuracy.png"))
    L += _attacks(r, compare)
  if "autoattack" in r:
    L += _autoattack(r)
  if "masking" in r:
    L += _masking(r)
  L += _audit(r)
  if "deepfool" in r:
    plot_deepfool(runs, os.path.join(out_dir, "deepfool.png"))
    L += _deepfool(r)
  if "random_pixels" in r:
    plot_pixels(runs, os.path.join(out_dir, "random_pixels.png"))
    L += _pixels(r)
  if "noise_stability" in r:
    L += _stability(r, plot_stability(runs, os.path.join(out_dir, "noise_stability.png")))
  if "representation" in r:
    plot_spectrum(runs, os.path.join(out_dir, "spectrum.png"))
    L += _representation(r)
  L += ["Seconds per evaluator: " + ", ".join(f"{k} {v:.0f}" for k, v in r.get("seconds", {}).items()), ""]
  path = os.path.join(out_dir, "report.md")
  runfiles.write_text_atomic(path, "\n".join(L))
  return path
