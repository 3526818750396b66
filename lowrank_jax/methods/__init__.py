"""Training variants as hooks into the one train step (`training.train_step`).

A `Method` is four small pure functions; each defaults to doing nothing:

    init_params(key) -> extra trainable params   (params["lowrank"]: the LR layers' W, b)
    penalty(extra_params, features, step) -> (loss term, metrics)   added to cross-entropy
    post_update(params, opt_state, step, key) -> (params, opt_state, metrics)
                                     a projection after the optimizer step (LR thresholding, SRN)
    transform_batch(logits_fn, x, y, key) -> x    the inputs the step trains on (PGD-AT)

plus an optional parameter mask (SNIP), computed once at initialisation from one
training batch and kept in the train state (weights and gradients are multiplied by it).

    vanilla   cross-entropy only
    lowrank   the LR regularizer: penalty + rank thresholding (methods/lowrank.py)
    snip      a fixed pruning mask by connection sensitivity (methods/snip.py)
    srn       stable rank normalisation after every update (methods/srn.py)
    pgd_at    PGD adversarial training (methods/pgd_at.py) `config.method` names one variant or several joined by "+"
(e.g. "lowrank+pgd_at"); `compose` chains their hooks.

    make_method(config, dims, total_steps, optimizers) -> Method
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

Params = Any


def _no_params(key):
  del key
  return {}


def _no_penalty(extra, features, step):
  del extra, features, step
  return jnp.zeros((), jnp.float32), {}


def _no_update(params, opt_state, step, key):
  del step, key
  return params, opt_state, {}


def _same_batch(logits_fn, x, y, key):
  del logits_fn, y, key
  return x


@dataclasses.dataclass(frozen=True)
class Method:
  """One training variant's hooks (see the module docstring)."""

  name: str
  init_params: Callable[[jax.Array], Params] = _no_params
  penalty: Callable[[Params, dict, jax.Array], tuple[jax.Array, dict]] = _no_penalty
  post_update: Callable[[Params, Any, jax.Array, jax.Array], tuple[Params, Any, dict]] = _no_update
  transform_batch: Callable[[Callable, jax.Array, jax.Array, jax.Array], jax.Array] = _same_batch
  make_mask: Callable[..., Params] | None = None  # (model params, loss of params on one batch) -> 0/1 tree


def compose(methods: list[Method]) -> Method:
  """Chains hooks: params merged, penalties summed, updates and batch transforms applied in order."""
  if len(methods) == 1:
    return methods[0]

  def init_params(key):
    out = {}
    for i, m in enumerate(methods):
      out.update(m.init_params(jax.random.fold_in(key, i)))
    return out

  def penalty(extra, features, step):
    total, metrics = jnp.zeros((), jnp.float32), {}
    for m in methods:
      p, mm = m.penalty(extra, features, step)
      total, metrics = total + p, {**metrics, **mm}
    return total, metrics

  def post_update(params, opt_state, step, key):
    metrics = {}
    for i, m in enumerate(methods):
      params, opt_state, mm = m.post_update(params, opt_state, step, jax.random.fold_in(key, i))
      metrics.update(mm)
    return params, opt_state, metrics

  def transform_batch(logits_fn, x, y, key):
    for i, m in enumerate(methods):
      x = m.transform_batch(logits_fn, x, y, jax.random.fold_in(key, i))
    return x

  masks = [m.make_mask for m in methods if m.make_mask is not None]
  if len(masks) > 1:
    raise ValueError("at most one method may mask parameters")
  return Method("+".join(m.name for m in methods), init_params, penalty, post_update, transform_batch,
                masks[0] if masks else None)


METHODS = ("vanilla", "lowrank", "snip", "srn", "pgd_at")


def method_names(spec: str) -> list[str]:
  """'lowrank+pgd_at' -> ['lowrank', 'pgd_at']; 'vanilla' -> []."""
  return [s.strip() for s in spec.split("+") if s.strip() and s.strip() != "vanilla"]


def make_method(config, ranks: dict[str, int], dims: dict[str, int], total_steps: int, optimizers) -> Method:
  """The composed method of config.method (validated by config.validate_config)."""
  from lowrank_jax.methods import lowrank, pgd_at, snip, srn  # pylint: disable=g-import-not-at-top

  makers = {"lowrank": lambda: lowrank.make(config, ranks, dims, total_steps, optimizers),
            "snip": lambda: snip.make(config), "srn": lambda: srn.make(config), "pgd_at": lambda: pgd_at.make(config)}
  built = [makers[name]() for name in method_names(config.method)]
  return compose(built) if built else Method("vanilla")
