"""Random pixel perturbation (Sec. 5.2): accuracy when each pixel is perturbed with probability p."""

from __future__ import annotations

import jax

from lowrank_jax import attacks, conv, robustness
from lowrank_jax.evaluators import Context


@conv.jit
def _perturb(keys, x, p, sigma):
  """Each example with its own key (results independent of batching)."""
  return jax.vmap(lambda k, xi: robustness.perturb_random_pixels(k, xi[None], p, sigma)[0])(keys, x)


def evaluate(ctx: Context) -> dict:
  sigma, key = float(ctx.ec.pixel_sigma), ctx.subkey("pixels")
  acc = {}
  for j, p in enumerate(ctx.ec.pixel_probs):
    k = jax.random.fold_in(key, j)
    noisy = ctx.batched(lambda z, i: _perturb(attacks.example_keys(k, len(i), i), z, p, sigma), ctx.x, ctx.indices)
    acc[f"{p:g}"] = float(ctx.correct(noisy).mean())
  return {"sigma": sigma, "accuracy": acc}
