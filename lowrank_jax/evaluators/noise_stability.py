"""Noise stability of the representations: ||f(x+d)-f(x)||^2/||f(x)||^2 against ||d||^2/||x||^2.

Perturbations d, each reported with the fitted gain (least-squares slope through
the origin) over the correctly classified examples:
  deepfool   the model's own minimal (DeepFool) perturbation: white box (needs the deepfool evaluator)
  gaussian   Gaussian directions with input ratios on a log grid 1e-3..1e-1, the same
             for every model (same key): a common perturbation
  transfer   PGD at config.eval.pgd_grid.audit_eps on the transfer source (--transfer_from): the
             paper's black box (needs the pgd_grid evaluator)
  reference  DeepFool perturbations of a third model (--reference), and Gaussians with
             the same per-example norms: common to every model evaluated against it
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lowrank_jax import attacks, batching, conv, markdown, robustness
from lowrank_jax.evaluators.deepfool import run as run_deepfool
from lowrank_jax.evaluators.base import Inputs, Report, Result, section

NEEDS = ("deepfool", "pgd_grid")
SOURCES = ("deepfool", "gaussian", "transfer", "reference")  # plotted, in this order

_gaussian_at_ratio = conv.jit(lambda key, x, q: jnp.clip(robustness.gaussian_perturbation(key, x, q), 0.0, 1.0))


def config():
  """config.eval.noise_stability (its perturbations come from the deepfool and pgd_grid evaluators)."""
  return section()


def _measure(inputs: Inputs, x: np.ndarray, x_adv: np.ndarray, correct: np.ndarray) -> dict:
  features = lambda z: batching.outputs(inputs.model.features, z, inputs.batch_size, inputs.mesh)
  out = {}
  for layer, d in robustness.noise_stability(features, x, x_adv).items():
    u, v = d["input_ratio"], d["feature_ratio"]
    gain = v / np.maximum(u, 1e-12)
    out[layer] = {"slope": robustness.stability_slope(u[correct], v[correct]),
                  "median_gain": float(np.median(gain[correct])) if correct.any() else float("nan"),
                  "input_ratio": u.tolist(), "feature_ratio": v.tolist(), "correct": correct.tolist()}
  return out


def _gaussians(inputs: Inputs, x: np.ndarray, ratios: np.ndarray, name: str) -> np.ndarray:
  key = inputs.subkey(name)
  fn = lambda z, q, i: jax.vmap(lambda k, zi, qi: _gaussian_at_ratio(k, zi[None], qi[None])[0])(
      attacks.example_keys(key, len(i), i), z, q)
  return inputs.batched(fn, x, ratios.astype(np.float32), np.arange(len(x)))


def evaluate(inputs: Inputs, needed: dict) -> Result:
  """Runs the noise-stability measures on inputs (see the module docstring); its eval.json entry, attacks and checks."""
  correct, x = inputs.clean, inputs.x
  x_adv = needed["deepfool"].outputs["x_adv"]
  n = len(x_adv)
  out = {"deepfool": _measure(inputs, x[:n], x_adv, correct[:n])}
  grid = np.geomspace(1e-3, 1e-1, 5)
  ratios = grid[np.arange(len(x)) % len(grid)]
  out["gaussian"] = _measure(inputs, x, _gaussians(inputs, x, ratios, "stability-gaussian"), correct)
  if "transfer_adv" in needed["pgd_grid"].outputs:
    out["transfer"] = {"from": inputs.source.name,
                       **_measure(inputs, x, needed["pgd_grid"].outputs["transfer_adv"], correct)}
  if inputs.reference is not None:
    res = run_deepfool(inputs, inputs.reference.logits)
    n = len(res.x_adv)
    out["reference"] = {"from": inputs.reference.name, **_measure(inputs, x[:n], res.x_adv, correct[:n])}
    flat = lambda a: a.reshape(len(a), -1).astype(np.float64)
    q = np.sum((flat(res.x_adv) - flat(x[:n])) ** 2, 1) / np.maximum(np.sum(flat(x[:n]) ** 2, 1), 1e-12)
    out["reference_gaussian"] = {"from": inputs.reference.name,
                                 **_measure(inputs, x[:n], _gaussians(inputs, x[:n], q, "stability-ref"),
                                            correct[:n])}
  for src, layers in out.items():
    summary = ", ".join(f"{k} {v['slope']:.3g}" for k, v in layers.items() if isinstance(v, dict))
    inputs.log(f"noise stability ({src}): slope {summary}")
  return Result(out)


def _plot(rep: Report, path: str, layer: str = "penultimate") -> bool:
  runs = rep.having("noise_stability")
  sources = [s for s in SOURCES if any(layer in r["noise_stability"].get(s, {}) for _, r, _ in runs)]
  if not sources:
    return False
  fig, axes = markdown.subplots(1, len(sources), figsize=(4.5 * len(sources), 4), squeeze=False)
  for ax, src in zip(axes[0], sources):
    for name, r, _ in runs:
      d = r["noise_stability"].get(src, {}).get(layer)
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
    if ax.get_legend_handles_labels()[0]:
      ax.legend(fontsize=7)
    else:  # no run has an example it gets right under a nonzero perturbation here
      ax.text(0.5, 0.5, "no correctly classified example\nwith a nonzero perturbation", ha="center", va="center",
              transform=ax.transAxes)
  markdown.save(fig, path)
  return True


def report(rep: Report) -> list[str]:
  """## Noise stability: slope and median gain per perturbation and layer, noise_stability.png."""
  rows = [[src, layer, f"{v['slope']:.4g}", f"{v['median_gain']:.4g}"]
          for src, layers in rep.results["noise_stability"].items() for layer, v in layers.items() if isinstance(v, dict)]
  has_plot = _plot(rep, rep.path("noise_stability.png"))
  return (["## Noise stability of the representations", "",
           "Least-squares slope of feature ratio on input ratio (through 0) over correctly classified examples:", ""]
          + markdown.table(["perturbation", "layer", "slope", "median gain"], rows)
          + (["", "![noise stability](noise_stability.png)"] if has_plot else []) + [""])
