"""What a training method is: `Method` (hooks into the one train step, each doing nothing by default), `Sparse`
metrics, `compose` (several methods as one) and `Setup` (what a method is built from). The methods themselves
live beside this file, one module each, with a `make(setup) -> Method`; `lowrank_jax.methods.METHODS` lists them.

    init_params(key) -> extra trainable params   (params["lowrank"]: the LR layers' W, b)
    init_state(loss_of_params, params) -> (method state, params)   its own non-trained state, made once
                                     (SNIP's mask; loss_of_params is None when a checkpoint will be restored)
    penalty(extra_params, features, step) -> (loss term, metrics)   added to cross-entropy
    transform_grads(grads, state) -> grads       before the optimizer (SNIP: pruned weights get none)
    post_update(params, opt_state, step, key, state) -> (params, opt_state, metrics)
                                     a projection after the optimizer step (LR thresholding, SRN, SNIP)
    transform_batch(logits_fn, x, y, key) -> x    the inputs the step trains on (PGD-AT)
    epoch_metrics(extra_params, energy) -> {name: float}   host-side numbers for the epoch's record

Metrics measured only at some steps (LR: W's off-rank distance, at thresholding steps) are
`Sparse(value, present)`: the training loop averages them over the steps where they are present
and records their largest value as "<name>_max".
"""


from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections

Params = Any


class Sparse(NamedTuple):
  """A metric measured only at some steps: averaged over the steps where `present`, its maximum kept too."""

  value: jax.Array
  present: jax.Array  # bool or 0/1


def _no_params(key):
  del key
  return {}


def _no_state(loss_of_params, params):
  del loss_of_params
  return {}, params


def _no_penalty(extra, features, step):
  del extra, features, step
  return jnp.zeros((), jnp.float32), {}


def _same_grads(grads, state):
  del state
  return grads


def _no_update(params, opt_state, step, key, state):
  del step, key, state
  return params, opt_state, {}


def _same_batch(logits_fn, x, y, key):
  del logits_fn, y, key
  return x


def _no_metrics(extra, energy):
  del extra, energy
  return {}


@dataclasses.dataclass(frozen=True)
class Method:
  """One training variant's hooks (see the module docstring)."""

  name: str
  init_params: Callable[[jax.Array], Params] = _no_params
  init_state: Callable[[Callable | None, Params], tuple[dict, Params]] = _no_state
  penalty: Callable[[Params, dict, jax.Array], tuple[jax.Array, dict]] = _no_penalty
  transform_grads: Callable[[Params, dict], Params] = _same_grads
  post_update: Callable[[Params, Any, jax.Array, jax.Array, dict], tuple[Params, Any, dict]] = _no_update
  transform_batch: Callable[[Callable, jax.Array, jax.Array, jax.Array], jax.Array] = _same_batch
  epoch_metrics: Callable[[Params, float], dict[str, float]] = _no_metrics


def compose(methods: list[Method]) -> Method:
  """Chains hooks: params and states merged, penalties summed, the others applied in order."""
  if len(methods) == 1:
    return methods[0]

  def init_params(key):
    out = {}
    for i, m in enumerate(methods):
      out.update(m.init_params(jax.random.fold_in(key, i)))
    return out

  def init_state(loss_of_params, params):
    state = {}
    for m in methods:
      s, params = m.init_state(loss_of_params, params)
      if clash := set(s) & set(state):
        raise ValueError(f"methods {', '.join(x.name for x in methods)} both keep state {sorted(clash)}")
      state.update(s)
    return state, params

  def penalty(extra, features, step):
    total, metrics = jnp.zeros((), jnp.float32), {}
    for m in methods:
      p, mm = m.penalty(extra, features, step)
      total, metrics = total + p, {**metrics, **mm}
    return total, metrics

  def transform_grads(grads, state):
    for m in methods:
      grads = m.transform_grads(grads, state)
    return grads

  def post_update(params, opt_state, step, key, state):
    metrics = {}
    for i, m in enumerate(methods):
      params, opt_state, mm = m.post_update(params, opt_state, step, jax.random.fold_in(key, i), state)
      metrics.update(mm)
    return params, opt_state, metrics

  def transform_batch(logits_fn, x, y, key):
    for i, m in enumerate(methods):
      x = m.transform_batch(logits_fn, x, y, jax.random.fold_in(key, i))
    return x

  def epoch_metrics(extra, energy):
    return {k: v for m in methods for k, v in m.epoch_metrics(extra, energy).items()}

  return Method("+".join(m.name for m in methods), init_params, init_state, penalty, transform_grads, post_update,
                transform_batch, epoch_metrics)


@dataclasses.dataclass(frozen=True)
class Setup:
  """What a method is built from: the run's config, its LR layers' ranks and sizes, its length in steps, and the
  optimizers (`optim.Optimizers`: the backbone's and the LR parameters')."""

  config: ml_collections.ConfigDict
  ranks: dict[str, int] = dataclasses.field(default_factory=dict)
  dims: dict[str, int] = dataclasses.field(default_factory=dict)
  total_steps: int = 0
  optimizers: Any = None


def method_names(spec: str) -> list[str]:
  """'lowrank+pgd_at' -> ['lowrank', 'pgd_at']; 'vanilla' -> []."""
  return [s.strip() for s in spec.split("+") if s.strip() and s.strip() != "vanilla"]
