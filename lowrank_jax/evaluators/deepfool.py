"""DeepFool (L2): minimal perturbations and rho_adv (both averages), run until >= 99% are fooled or max_iter."""

from __future__ import annotations

import numpy as np

from lowrank_jax import attacks, robustness
from lowrank_jax.evaluators import Context


def evaluate(ctx: Context) -> dict:
  ec = ctx.ec
  n = min(int(ec.deepfool_examples), len(ctx.x))
  res = attacks.deepfool(ctx.model.logits, ctx.x[:n], num_candidates=int(ec.deepfool_candidates),
                         overshoot=float(ec.deepfool_overshoot), max_iter=int(ec.deepfool_max_iter), mesh=ctx.mesh)
  ctx.artifacts["deepfool"] = (res.x_adv, n)
  rho = res.norms / np.maximum(np.linalg.norm(ctx.x[:n].reshape(n, -1), axis=1), 1e-12)
  summary = robustness.deepfool_summary(res.norms, ctx.x[:n], res.success)
  ctx.log(f"deepfool: rho_adv {summary['rho_adv']:.4f} (fooled only {summary['rho_adv_fooled']:.4f}), "
          f"success {summary['success_rate']:.3f}")
  return {**summary, "examples": n, "max_iter": int(ec.deepfool_max_iter),
          "mean_iterations": float(res.iterations.mean()), "norms": res.norms.tolist(), "rho": rho.tolist(),
          "success": res.success.tolist()}
