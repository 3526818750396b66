"""PGD adversarial training (Madry et al., ICLR 2018): train on PGD examples of the current model.

Each step replaces the batch by PGD-<steps> (Linf eps, step 2.5 eps / steps,
random start, CE) against the model with its current parameters (BatchNorm in
eval mode while attacking).
"""

from __future__ import annotations

from lowrank_jax import attacks
from lowrank_jax.methods.base import Method, Setup


def make(setup: Setup) -> Method:
  """PGD adversarial training (config.pgd_at): each batch replaced by its PGD examples."""
  config = setup.config
  c = config.pgd_at

  def transform_batch(logits_fn, x, y, key):
    return attacks.pgd(logits_fn, x, y, key, eps=c.eps, steps=c.steps, norm="linf")

  return Method("pgd_at", transform_batch=transform_batch)
