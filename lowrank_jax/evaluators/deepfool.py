"""DeepFool (L2): minimal perturbations and rho_adv (both averages), run until the label flips or max_iter.

Outputs for other evaluators: "x_adv", the DeepFool inputs of the first config.eval.deepfool.examples examples.
"""

from __future__ import annotations

import numpy as np

from lowrank_jax import attacks, markdown, robustness
from lowrank_jax.evaluators.base import Inputs, Report, Result, check, check_positive, section


def config():
  """config.eval.deepfool."""
  return section(examples=500, max_iter=100, candidates=10, overshoot=0.02)


def validate(ec) -> None:
  """Checks config.eval.deepfool (one-line ConfigError naming the field)."""
  check_positive(ec.deepfool, "deepfool", "examples", "max_iter", "candidates")
  check(ec.deepfool.overshoot >= 0, f"config.eval.deepfool.overshoot={ec.deepfool.overshoot} must be >= 0")


def run(inputs: Inputs, logits_fn) -> attacks.DeepFoolResult:
  """DeepFool with config.eval.deepfool's settings on its first `examples` examples."""
  d = inputs.ec.deepfool
  n = min(int(d.examples), len(inputs.x))
  return attacks.deepfool(logits_fn, inputs.x[:n], num_candidates=int(d.candidates), overshoot=float(d.overshoot),
                          max_iter=int(d.max_iter), mesh=inputs.mesh)


def evaluate(inputs: Inputs, needed: dict) -> Result:
  """Runs DeepFool on inputs (see the module docstring); its eval.json entry, attacks and checks."""
  del needed
  res = run(inputs, inputs.model.logits)
  n = len(res.norms)
  x = inputs.x[:n]
  rho = res.norms / np.maximum(np.linalg.norm(x.reshape(n, -1), axis=1), 1e-12)
  summary = robustness.deepfool_summary(res.norms, x, res.success)
  inputs.log(f"deepfool: rho_adv {summary['rho_adv']:.4f} (fooled only {summary['rho_adv_fooled']:.4f}), "
             f"success {summary['success_rate']:.3f}")
  return Result({**summary, "examples": n, "max_iter": int(inputs.ec.deepfool.max_iter),
                 "mean_iterations": float(res.iterations.mean()), "norms": res.norms.tolist(), "rho": rho.tolist(),
                 "success": res.success.tolist()}, outputs={"x_adv": res.x_adv})


def report(rep: Report) -> list[str]:
  """## DeepFool (L2): rho_adv and its histogram (deepfool.png)."""
  runs = rep.having("deepfool")
  fig, ax = markdown.subplots(figsize=(5.5, 4))
  rhos = [np.asarray(r["deepfool"]["rho"]) for _, r, _ in runs]
  bins = np.linspace(0, max([float(np.percentile(v, 99)) for v in rhos] + [1e-6]), 40)
  for (name, r, _), v in zip(runs, rhos):
    ax.hist(v, bins=bins, alpha=0.55, label=f"{name} (rho_adv {r['deepfool']['rho_adv']:.3f})")
  ax.set(xlabel="DeepFool ||r||_2 / ||x||_2", ylabel="examples", title="DeepFool perturbation size")
  ax.legend(fontsize=8)
  markdown.save(fig, rep.path("deepfool.png"))
  d = rep.results["deepfool"]
  return ["## DeepFool (L2)", "",
          f"rho_adv = mean ||r||/||x|| over all {d['examples']} examples (Eq. 15) = **{d['rho_adv']:.4f}** "
          f"(median {d['rho_adv_median']:.4f}); over the fooled only {d['rho_adv_fooled']:.4f}; success rate "
          f"{d['success_rate']:.3f} within {d['max_iter']} iterations (mean {d['mean_iterations']:.2f}).", "",
          "![deepfool](deepfool.png)", ""]
