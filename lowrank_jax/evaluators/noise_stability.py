"""Noise stability of the representations: ||f(x+d)-f(x)||^2/||f(x)||^2 against ||d||^2/||x||^2.

Perturbations d, each reported with the fitted gain (least-squares slope through
the origin) over the correctly classified examples:
  deepfool   the model's own minimal (DeepFool) perturbation: white box
  gaussian   Gaussian directions with input ratios on a log grid 1e-3..1e-1, the same
             for every model (same key): a common perturbation
  transfer   PGD at config.eval.audit_eps on the transfer source (--transfer_from): the
             paper's black box
  reference  DeepFool perturbations of a third model (--reference), and Gaussians with
             the same per-example norms: common to every model evaluated against it
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lowrank_jax import attacks, conv, robustness
from lowrank_jax.evaluators import Context

_call = conv.jit(lambda fn, x: fn(x))
_gaussian = conv.jit(lambda key, x, q: jnp.clip(robustness.gaussian_perturbation(key, x, q), 0.0, 1.0))


def _measure(ctx: Context, x: np.ndarray, x_adv: np.ndarray, correct: np.ndarray) -> dict:
  feats = lambda z: jax.device_get(_call(ctx.model.features, jnp.asarray(z)))
  st = robustness.noise_stability(lambda z: _batched_feats(ctx, feats, z), x, x_adv)
  out = {}
  for layer, d in st.items():
    u, v = d["input_ratio"], d["feature_ratio"]
    gain = v / np.maximum(u, 1e-12)
    out[layer] = {"slope": robustness.stability_slope(u[correct], v[correct]),
                  "median_gain": float(np.median(gain[correct])) if correct.any() else float("nan"),
                  "input_ratio": u.tolist(), "feature_ratio": v.tolist(), "correct": correct.tolist()}
  return out


def _batched_feats(ctx: Context, feats, z):
  parts = [feats(z[i:i + ctx.bs]) for i in range(0, len(z), ctx.bs)]
  return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _gaussians(ctx: Context, x: np.ndarray, ratios: np.ndarray, name: str) -> np.ndarray:
  key = ctx.subkey(name)
  fn = lambda z, q, i: jax.vmap(lambda k, zi, qi: _gaussian(k, zi[None], qi[None])[0])(
      attacks.example_keys(key, len(i), i), z, q)
  return ctx.batched(fn, x, ratios.astype(np.float32), np.arange(len(x)))


def evaluate(ctx: Context) -> dict:
  correct = ctx.worst.clean
  out = {}
  if "deepfool" in ctx.artifacts:
    x_adv, n = ctx.artifacts["deepfool"]
    out["deepfool"] = _measure(ctx, ctx.x[:n], x_adv, correct[:n])
  grid = np.geomspace(1e-3, 1e-1, 5)
  ratios = grid[np.arange(len(ctx.x)) % len(grid)]
  out["gaussian"] = _measure(ctx, ctx.x, _gaussians(ctx, ctx.x, ratios, "stability-gaussian"), correct)
  if "pgd_transfer" in ctx.artifacts:
    out["transfer"] = {"from": ctx.source.name, **_measure(ctx, ctx.x, ctx.artifacts["pgd_transfer"], correct)}
  if ctx.reference is not None:
    n = min(int(ctx.ec.deepfool_examples), len(ctx.x))
    res = attacks.deepfool(ctx.reference.logits, ctx.x[:n], num_candidates=int(ctx.ec.deepfool_candidates),
                           overshoot=float(ctx.ec.deepfool_overshoot), max_iter=int(ctx.ec.deepfool_max_iter), mesh=ctx.mesh)
    out["reference"] = {"from": ctx.reference.name, **_measure(ctx, ctx.x[:n], res.x_adv, correct[:n])}
    flat = lambda a: a.reshape(len(a), -1).astype(np.float64)
    q = np.sum((flat(res.x_adv) - flat(ctx.x[:n])) ** 2, 1) / np.maximum(np.sum(flat(ctx.x[:n]) ** 2, 1), 1e-12)
    out["reference_gaussian"] = {"from": ctx.reference.name,
                                 **_measure(ctx, ctx.x[:n], _gaussians(ctx, ctx.x[:n], q, "stability-ref"),
                                            correct[:n])}
  for src, layers in out.items():
    summary = ", ".join(f"{k} {v['slope']:.3g}" for k, v in layers.items() if isinstance(v, dict))
    ctx.log(f"noise stability ({src}): slope {summary}")
  return out
