"""Optimizers: the backbone's (optax, by config) and the LR layers' own.

    make_schedule(opt_cfg, total_steps)            # constant | cosine | piecewise, with warm-up
    make_optimizers(config, total_steps) -> Optimizers
    Optimizers.init(params) / .update(grads, opt_state, params, step) / .reset_lowrank(...)

The state is {"model": backbone optimizer state, "lowrank": LR optimizer state}.
The virtual layers (W, b) get a *direction* transform without a learning rate
(Adam's moments, SGD momentum, or plain SGD) scaled by a schedule of the global
step. So `reset_lowrank` (re-initialising the moments right after W is
rank-thresholded, config.lowrank.reset_moments_on_threshold) restarts Adam's bias
correction without restarting the learning-rate schedule. Weight decay never
applies to W, b.

config.lowrank.optimizer:
  "same": W, b use the backbone's kind (adam/adamw -> Adam moments, sgd -> its
          momentum) and schedule: one Adam over everything, as before.
  "adam" / "sgd": that kind, at config.lowrank.learning_rate (0: the backbone's),
          with the backbone's schedule shape.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import ml_collections
import optax

OPTIMIZERS = ("adam", "adamw", "sgd")
LOWRANK_OPTIMIZERS = ("same", "adam", "sgd")
SCHEDULES = ("constant", "cosine", "piecewise")


def make_schedule(opt: ml_collections.ConfigDict, total_steps: int, learning_rate: float | None = None
                  ) -> optax.Schedule:
  """Linear warm-up over opt.warmup_steps, then constant, cosine to 0, or x0.1 at 50% and 75%."""
  rate = opt.learning_rate if learning_rate is None else learning_rate
  warm = min(opt.warmup_steps, max(total_steps - 1, 0))
  if opt.schedule == "constant":
    main = optax.constant_schedule(rate)
  elif opt.schedule == "cosine":
    main = optax.cosine_decay_schedule(rate, max(total_steps - warm, 1))
  else:
    main = optax.piecewise_constant_schedule(
        rate, {int((total_steps - warm) * 0.5): 0.1, int((total_steps - warm) * 0.75): 0.1})
  if warm:
    return optax.join_schedules([optax.linear_schedule(0.0, rate, warm), main], [warm])
  return main


def make_model_optimizer(opt: ml_collections.ConfigDict, total_steps: int) -> optax.GradientTransformation:
  """The backbone's optax optimizer (weight decay on the model's parameters)."""
  schedule = make_schedule(opt, total_steps)
  if opt.name == "adam":
    return optax.adam(schedule)
  if opt.name == "adamw":
    return optax.adamw(schedule, weight_decay=opt.weight_decay)
  return optax.chain(optax.add_decayed_weights(opt.weight_decay),
                     optax.sgd(schedule, momentum=opt.momentum or None, nesterov=opt.nesterov))


def _direction(kind: str, momentum: float, nesterov: bool) -> optax.GradientTransformation:
  if kind == "adam":
    return optax.scale_by_adam()
  return optax.trace(decay=momentum, nesterov=nesterov) if momentum else optax.identity()


@dataclasses.dataclass(frozen=True)
class Optimizers:
  """The backbone's optimizer and the LR layers' (direction x schedule of the global step)."""

  model: optax.GradientTransformation
  lowrank_direction: optax.GradientTransformation
  lowrank_schedule: optax.Schedule

  def init(self, params: dict) -> dict:
    """The optimizer state of params (the backbone's and the LR parameters')."""
    return {"model": self.model.init(params["model"]), "lowrank": self.lowrank_direction.init(params["lowrank"])}

  def update(self, grads: dict, opt_state: dict, params: dict, step: jax.Array) -> tuple[dict, dict]:
    """Returns (updates, new opt_state); `step` is the global step before this update."""
    um, sm = self.model.update(grads["model"], opt_state["model"], params["model"])
    ul, sl = self.lowrank_direction.update(grads["lowrank"], opt_state["lowrank"], params["lowrank"])
    rate = self.lowrank_schedule(step)
    ul = jax.tree.map(lambda u: -rate * u, ul)
    return {"model": um, "lowrank": ul}, {"model": sm, "lowrank": sl}

  def reset_lowrank(self, opt_state: dict, lowrank_params: Any) -> dict:
    """Fresh LR moments (and bias correction); the backbone's state is untouched."""
    return {"model": opt_state["model"], "lowrank": self.lowrank_direction.init(lowrank_params)}


def make_optimizers(config: ml_collections.ConfigDict, total_steps: int) -> Optimizers:
  """The backbone's optimizer and the LR parameters' (config.lowrank.optimizer), with their schedules over
  total_steps."""
  opt, lowrank_cfg = config.optimizer, config.lowrank
  kind = lowrank_cfg.optimizer
  if kind == "same":
    kind = "sgd" if opt.name == "sgd" else "adam"
    direction = _direction(kind, opt.momentum, opt.nesterov)
    schedule = make_schedule(opt, total_steps)
  else:
    direction = _direction(kind, lowrank_cfg.momentum, False)
    schedule = make_schedule(opt, total_steps, lowrank_cfg.learning_rate or opt.learning_rate)
  return Optimizers(make_model_optimizer(opt, total_steps), direction, schedule)
