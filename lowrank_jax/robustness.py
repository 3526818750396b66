"""The paper's robustness measures, as functions of `logits_fn` / `features_fn` and arrays.

    perturb_random_pixels(key, x, p, sigma)      # Sec. 5.2 random pixel perturbation
    deepfool_summary(norms, x, success)          # rho_adv = mean ||r||_2 / ||x||_2 (all, and fooled only)
    gaussian_perturbation(key, x, input_ratios)  # a model-independent perturbation of chosen sizes
    noise_stability(features_fn, x, x_adv)       # ||f(x+d)-f(x)||^2/||f(x)||^2 vs ||d||^2/||x||^2
    stability_slope(input_ratio, feature_ratio)  # least-squares gain through the origin
    layer_cushion(A, inputs)                     # Arora et al. (2018), Def. 4
    gradient_masking_audit(...)                  # Carlini et al. (2019) / Athalye et al. (2018) checks

References:
  Sanyal et al. arXiv:1804.07090, Sec. 5.
  Arora, Ge, Neyshabur, Zhang. Stronger generalization bounds for deep nets via a compression approach. ICML 2018.
  Athalye, Carlini, Wagner. Obfuscated gradients give a false sense of security. ICML 2018.
  Carlini et al. On evaluating adversarial robustness. arXiv:1902.06705, 2019.
"""

from __future__ import annotations

from typing import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

FeaturesFn = Callable[[jax.Array], Mapping[str, jax.Array]]


def perturb_random_pixels(key: jax.Array, x: jax.Array, p: float, sigma: float) -> jax.Array:
  """Each pixel (all channels of a location together) is perturbed with probability p.

  x' = clip(x + m * e, 0, 1), m ~ Bernoulli(p) per pixel location, e ~ N(0, sigma^2 I) per value.
  """
  k1, k2 = jax.random.split(key)
  mask = jax.random.bernoulli(k1, p, x.shape[:-1] + (1,))
  noise = sigma * jax.random.normal(k2, x.shape)
  return jnp.clip(x + mask * noise, 0.0, 1.0)


def deepfool_summary(norms: np.ndarray, x: np.ndarray, success: np.ndarray) -> dict[str, float]:
  """rho_adv of DeepFool (Moosavi-Dezfooli et al. Eq. 15) and its variant over fooled examples.

  rho_adv = 1/|D| sum_{x in D} ||r(x)||_2 / ||x||_2 over every example of D, as
  Eq. 15 defines it; an example DeepFool did not fool within its iterations
  counts with the perturbation it reached (a lower bound on its minimal one), so
  report it with `success_rate`. `rho_adv_fooled` averages over the fooled
  examples only.
  """
  xn = np.linalg.norm(np.asarray(x, np.float64).reshape(len(x), -1), axis=1)
  rho = np.asarray(norms, np.float64) / np.maximum(xn, 1e-12)
  ok = np.asarray(success, bool)
  nan = float("nan")
  return {
      "rho_adv": float(rho.mean()) if len(rho) else nan,
      "rho_adv_median": float(np.median(rho)) if len(rho) else nan,
      "rho_adv_fooled": float(rho[ok].mean()) if ok.any() else nan,
      "rho_adv_fooled_median": float(np.median(rho[ok])) if ok.any() else nan,
      "perturbation_norm_mean": float(np.mean(np.asarray(norms)[ok])) if ok.any() else nan,
      "success_rate": float(ok.mean()) if len(ok) else nan,
  }


def gaussian_perturbation(key: jax.Array, x: jax.Array, input_ratios: jax.Array) -> jax.Array:
  """x + d with d Gaussian in direction and ||d||^2 / ||x||^2 = input_ratios[i] per example (unclipped).

  With the same key, every model receives the same perturbations: the common
  (model-independent) input perturbation of the noise-stability measure.
  """
  g = jax.random.normal(key, x.shape)
  flat = lambda a: a.reshape(a.shape[0], -1)
  scale = jnp.sqrt(input_ratios) * jnp.linalg.norm(flat(x), axis=1) / jnp.maximum(jnp.linalg.norm(flat(g), axis=1),
                                                                                  1e-12)
  return x + g * scale.reshape((-1,) + (1,) * (x.ndim - 1))


def noise_stability(features_fn: FeaturesFn, x: jax.Array, x_adv: jax.Array) -> dict[str, dict[str, np.ndarray]]:
  """Per example and layer: input ratio ||d||^2/||x||^2 and feature ratio ||f(x+d)-f(x)||^2/||f(x)||^2."""
  flat = lambda a: np.asarray(a, np.float64).reshape(len(a), -1)
  d_in = np.sum((flat(x_adv) - flat(x)) ** 2, 1) / np.maximum(np.sum(flat(x) ** 2, 1), 1e-12)
  clean, adv = features_fn(x), features_fn(x_adv)
  out = {}
  for name in clean:
    fc, fa = flat(clean[name]), flat(adv[name])
    out[name] = {"input_ratio": d_in,
                 "feature_ratio": np.sum((fa - fc) ** 2, 1) / np.maximum(np.sum(fc**2, 1), 1e-12)}
  return out


def stability_slope(input_ratio: np.ndarray, feature_ratio: np.ndarray) -> float:
  """Least-squares slope k of feature_ratio = k * input_ratio (through the origin): the representation's gain."""
  u, v = np.asarray(input_ratio, np.float64), np.asarray(feature_ratio, np.float64)
  keep = np.isfinite(u) & np.isfinite(v)
  den = float(np.sum(u[keep] ** 2))
  return float(np.sum(u[keep] * v[keep]) / den) if den > 0 else float("nan")


def layer_cushion(A: np.ndarray, inputs: np.ndarray) -> dict[str, float]:
  """Layer cushion of a linear layer z = A phi (Arora et al. 2018, Def. 4).

  mu = min_x ||A phi(x)||_2 / (||A||_F ||phi(x)||_2) over the data: the largest mu with
  mu ||A||_F ||phi(x)|| <= ||A phi(x)|| for every x. A random phi gives about
  1/sqrt(h); a larger cushion means the layer is less sensitive to noise on
  its input than to its input. Also returns the mean and median ratio.

  Args:
    A: (out, in) weight matrix (a Flax Dense kernel is its transpose).
    inputs: (n, in) the layer's inputs phi(x) (e.g. the LR representation).
  """
  A = np.asarray(A, np.float64)
  phi = np.asarray(inputs, np.float64).reshape(len(inputs), -1)
  ratio = np.linalg.norm(phi @ A.T, axis=1) / (np.linalg.norm(A) * np.maximum(np.linalg.norm(phi, axis=1), 1e-12))
  return {"cushion": float(ratio.min()), "mean": float(ratio.mean()), "median": float(np.median(ratio))}


def gradient_masking_audit(
    grid: Mapping[float, Mapping[int, float]],
    *,
    more_steps: tuple[float, int, float],
    restarts: tuple[float, int, float],
    chance: tuple[float, float, float],
    weaker: Mapping[str, tuple[float, float]],
    tolerance: float,
) -> list[dict]:
  """Flags the symptoms of gradient masking; each check is {check, passed, detail}.

  Args:
    grid: eps -> steps -> PGD accuracy.
    more_steps: (eps, steps, accuracy) of PGD with twice the grid's largest steps.
    restarts: (eps, restarts, accuracy) of PGD with random restarts.
    chance: (eps, accuracy, chance level) of PGD at a large eps (0.5 in Linf).
    weaker: name -> (accuracy under that attack, white-box PGD accuracy at the same eps):
      transfer and Gaussian-noise attacks must not beat white-box PGD.
    tolerance: absolute slack on accuracies (sampling noise).
  """
  checks = []
  eps_sorted = sorted(grid)
  for steps in sorted({s for e in grid for s in grid[e]}):
    accs = [grid[e][steps] for e in eps_sorted if steps in grid[e]]
    ok = all(b <= a + tolerance for a, b in zip(accs, accs[1:]))
    checks.append({"check": f"accuracy non-increasing in eps (PGD-{steps})", "passed": ok,
                   "detail": ", ".join(f"{e:g}: {a:.3f}" for e, a in zip(eps_sorted, accs))})
  base = grid[more_steps[0]][max(grid[more_steps[0]])]
  checks.append({"check": f"PGD-{more_steps[1]} not weaker than PGD-{max(grid[more_steps[0]])}",
                 "passed": more_steps[2] <= base + tolerance,
                 "detail": f"eps {more_steps[0]:g}: {more_steps[2]:.3f} vs {base:.3f}"})
  base = grid[restarts[0]][max(grid[restarts[0]])]
  checks.append({"check": f"PGD with {restarts[1]} restarts not weaker than 1",
                 "passed": restarts[2] <= base + tolerance,
                 "detail": f"eps {restarts[0]:g}: {restarts[2]:.3f} vs {base:.3f}"})
  checks.append({"check": f"accuracy at most chance at eps {chance[0]:g}",
                 "passed": chance[1] <= chance[2] + tolerance,
                 "detail": f"{chance[1]:.3f} vs chance {chance[2]:.3f}"})
  for name, (acc, white) in weaker.items():
    checks.append({"check": f"{name} not stronger than white-box PGD", "passed": acc >= white - tolerance,
                   "detail": f"{acc:.3f} vs white-box {white:.3f}"})
  return checks
