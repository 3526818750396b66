"""A run's network and device mesh, built from its config: shared by training and by loading a checkpoint.

    build_model(config, info, mean, std, model=None) -> Network(network, params, batch_stats, dims, lowrank_layers)
    make_mesh(config) -> the (data, model) device mesh of config.mesh

Building the network never builds an optimizer or a training method: evaluating a checkpoint
needs only this.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import ml_collections
from flax import nnx

from lowrank_jax import config as config_lib
from lowrank_jax import models


@dataclasses.dataclass(frozen=True)
class Network:
  """The functional network and its initial variables, the representation sizes, the configured LR layers."""

  network: models.FunctionalModel
  params: Any
  batch_stats: Any
  dims: dict[str, int]  # representation layer -> m
  lowrank_layers: dict[str, int]  # config.lowrank.layers -> rank (validated against dims; also monitored)


def build_model(config: ml_collections.ConfigDict, info, mean, std, model: nnx.Module | None = None) -> Network:
  """config.model (or a user's NNX `model`) initialised from config.seed; config.lowrank.layers checked against
  the layers it sows (one-line ConfigError)."""
  key = jax.random.PRNGKey(config.seed)
  module = model if model is not None else models.create_model(
      config.model, info.num_classes, info.input_shape, mean, std, rngs=nnx.Rngs(jax.random.fold_in(key, 0)),
      **models.model_kwargs(config))
  fm, params, batch_stats = models.FunctionalModel.from_module(module)
  try:
    dims = fm.feature_dims(params, batch_stats, info.input_shape)
  except ValueError as e:
    raise config_lib.ConfigError(f"{type(module).__name__}: {e}") from None
  layers = config_lib.validate_lowrank_layers(config, dims, type(module).__name__ if model is not None else None)
  return Network(fm, params, batch_stats, dims, layers)


def make_mesh(config: ml_collections.ConfigDict) -> jax.sharding.Mesh:
  """The (data, model) device mesh of config.mesh (data = 0: every device not on the model axis)."""
  n_dev, model = jax.device_count(), int(config.mesh.model)
  data = int(config.mesh.data) or n_dev // max(model, 1)
  if model < 1 or data * model != n_dev:
    raise config_lib.ConfigError(f"config.mesh.data={config.mesh.data} x config.mesh.model={config.mesh.model} must "
                                 f"multiply to the {n_dev} devices (data 0: {n_dev} // model)")
  auto = jax.sharding.AxisType.Auto
  return jax.make_mesh((data, model), ("data", "model"), axis_types=(auto, auto))
