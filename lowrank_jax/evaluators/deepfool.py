"""DeepFool (L2): minimal perturbations and rho_adv (both averages), run until the label flips or max_iter.

Outputs for other evaluators: "x_adv", the DeepFool inputs of the first config.eval.deepfool_examples examples.
"""

from __future__ import annotations

import numpy as np

from lowrank_jax import attacks, robustness
from lowrank_jax.evaluators.base import Inputs, Result


def run(inputs: Inputs, logits_fn) -> attacks.DeepFoolResult:
  """DeepFool with config.eval's settings on the first deepfool_examples examples."""
  ec = inputs.ec
  n = min(int(ec.deepfool_examples), len(inputs.x))
  return attacks.deepfool(logits_fn, inputs.x[:n], num_candidates=int(ec.deepfool_candidates),
                          overshoot=float(ec.deepfool_overshoot), max_iter=int(ec.deepfool_max_iter),
                          mesh=inputs.mesh)


def evaluate(inputs: Inputs, needed: dict) -> Result:
  del needed
  res = run(inputs, inputs.model.logits)
  n = len(res.norms)
  x = inputs.x[:n]
  rho = res.norms / np.maximum(np.linalg.norm(x.reshape(n, -1), axis=1), 1e-12)
  summary = robustness.deepfool_summary(res.norms, x, res.success)
  inputs.log(f"deepfool: rho_adv {summary['rho_adv']:.4f} (fooled only {summary['rho_adv_fooled']:.4f}), "
             f"success {summary['success_rate']:.3f}")
  return Result({**summary, "examples": n, "max_iter": int(inputs.ec.deepfool_max_iter),
                 "mean_iterations": float(res.iterations.mean()), "norms": res.norms.tolist(), "rho": rho.tolist(),
                 "success": res.success.tolist()}, outputs={"x_adv": res.x_adv})
