"""Random pixel perturbation (Sec. 5.2): accuracy when each pixel is perturbed with probability p."""

from __future__ import annotations

import jax

from lowrank_jax import attacks, conv, robustness
from lowrank_jax.evaluators.base import Inputs, Result


@conv.jit
def _perturb(keys, x, p, sigma):
  """Each example with its own key (results independent of batching)."""
  return jax.vmap(lambda k, xi: robustness.perturb_random_pixels(k, xi[None], p, sigma)[0])(keys, x)


def evaluate(inputs: Inputs, needed: dict) -> Result:
  del needed
  sigma, key = float(inputs.ec.pixel_sigma), inputs.subkey("pixels")
  acc = {}
  for j, p in enumerate(inputs.ec.pixel_probs):
    k = jax.random.fold_in(key, j)
    noisy = inputs.batched(lambda z, i: _perturb(attacks.example_keys(k, len(i), i), z, p, sigma), inputs.x,
                           inputs.indices)
    acc[f"{p:g}"] = float(inputs.correct(noisy).mean())
  return Result({"sigma": sigma, "accuracy": acc})
