"""PGD adversarial training (Madry et al., ICLR 2018): train on PGD examples of the current model.

Each step replaces the batch by PGD-<steps> (Linf eps, step 2.5 eps / steps,
random start, CE) against the model with its current parameters (BatchNorm in
eval mode while attacking).
"""

from __future__ import annotations

import ml_collections

from lowrank_jax import attacks
from lowrank_jax.methods import Method


def make(config: ml_collections.ConfigDict) -> Method:
  c = config.pgd_at

  def transform_batch(logits_fn, x, y, key):
    return attacks.pgd(logits_fn, x, y, key, eps=c.eps, steps=c.steps, norm="linf")

  return Method("pgd_at", transform_batch=transform_batch)
