"""Random pixel perturbation (Sec. 5.2): accuracy when each pixel is perturbed with probability p, and which
examples stay correct (packed per p: paired tests between models on the same examples)."""

from __future__ import annotations

import jax

from lowrank_jax import attacks, conv, per_example, robustness
from lowrank_jax.evaluators.base import Inputs, Result


@conv.jit
def _perturb(keys, x, p, sigma):
  """Each example with its own key (results independent of batching)."""
  return jax.vmap(lambda k, xi: robustness.perturb_random_pixels(k, xi[None], p, sigma)[0])(keys, x)


def evaluate(inputs: Inputs, needed: dict) -> Result:
  del needed
  sigma, key = float(inputs.ec.pixel_sigma), inputs.subkey("pixels")
  acc, kept = {}, {}
  for j, p in enumerate(inputs.ec.pixel_probs):
    k = jax.random.fold_in(key, j)
    noisy = inputs.batched(lambda z, i: _perturb(attacks.example_keys(k, len(i), i), z, p, sigma), inputs.x,
                           inputs.indices)
    correct = inputs.correct(noisy)
    acc[f"{p:g}"], kept[f"{p:g}"] = float(correct.mean()), per_example.pack(correct)
  return Result({"sigma": sigma, "accuracy": acc, "correct": kept})
