"""`load_model(workdir)`: a trained run as `logits(x)` and `features(x)` functions (no optimizer, no method)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import ml_collections
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from lowrank_jax import checkpoint as ckpt_lib
from lowrank_jax import data as data_lib
from lowrank_jax import default_config, models, network as network_lib, runfiles
from lowrank_jax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class LoadedModel:
  """logits(x) -> (n, K) and features(x) -> {layer: activations} on pixels in [0, 1].

  Both are `jax.tree_util.Partial`s: pytrees holding the parameters, so they can
  be passed into jitted attacks as arguments rather than baked-in constants.
  """

  logits: jax.tree_util.Partial
  features: jax.tree_util.Partial
  config: ml_collections.ConfigDict
  workdir: str
  step: int
  network: models.FunctionalModel
  params: Any
  batch_stats: Any
  mean: tuple[float, ...]  # per-channel input statistics the model normalises with
  std: tuple[float, ...]
  mesh: jax.sharding.Mesh  # evaluated examples are sharded over its "data" axis

  @property
  def num_classes(self) -> int:
    return data_lib.DATASETS[self.config.dataset.name].num_classes

  @property
  def name(self) -> str:
    return runfiles.run_name(self.workdir)

  @property
  def head_kernel(self) -> np.ndarray:
    """(in, out) kernel of the Dense layer that reads the penultimate representation."""
    return np.asarray(self.params[self.network.head]["kernel"])


@dataclasses.dataclass(frozen=True)
class _Logits:
  """(params, batch_stats, x) -> logits. Compared by value: runs of one architecture share compiled attacks."""

  network: models.FunctionalModel

  def __call__(self, params, stats, x):
    return self.network.apply(params, stats, x, train=False)[0]


@dataclasses.dataclass(frozen=True)
class _Features:
  """(params, batch_stats, x) -> {layer: activations} of the monitored layers."""

  network: models.FunctionalModel
  layers: tuple[str, ...]

  def __call__(self, params, stats, x):
    feats = self.network.apply(params, stats, x, train=False)[1]
    return {k: feats[k] for k in self.layers}


def _restore_newest(directory: str, keep: int, target, workdir: str, attempts: int = 3):
  """(step, restored) of the newest checkpoint; one that a run in training rotated away between listing and
  reading is not corrupt: the newest that exists then is read instead."""
  for attempt in range(attempts):
    ckpt = ckpt_lib.Checkpointer(directory, keep, read_only=True)
    try:
      step = ckpt.latest_step()
      if step is None:
        raise FileNotFoundError(f"{ckpt.directory} holds no checkpoint: train into {workdir} first")
      return step, ckpt.restore(step, target, partial=True)
    except ckpt_lib.CheckpointError:
      if os.path.isdir(ckpt.path(step)) or attempt == attempts - 1:
        raise
    finally:
      ckpt.close()
  raise AssertionError("unreachable")


def load_model(workdir: str, model=None) -> LoadedModel:
  """Loads the model parameters of the newest checkpoint that train.py (or train_and_evaluate) wrote to
  `workdir` (the optimizer state and the LR layers' W, b are not read).

  `model`: for a run of a user's NNX module, a fresh instance of the same module.

  Raises:
    FileNotFoundError: one line naming the missing file when there is no usable run.
    CheckpointError: the checkpoint is corrupt or does not match the saved config.
  """
  config, meta = runfiles.load_run(workdir)
  config = default_config.with_defaults(config)
  if meta.get("user_model") and model is None:
    raise ConfigError(f"{workdir} trained a user-defined model ({meta['user_model']}): pass a fresh instance, "
                      f"load_model({workdir!r}, model=...), or to eval.py --model MODULE:FACTORY (a function "
                      f"returning one)")
  built = network_lib.build_model(config, data_lib.DATASETS[config.dataset.name], meta["mean"], meta["std"],
                                  model=model)
  mesh = network_lib.make_mesh(config)
  target = jax.device_put({"params": {"model": built.params}, "batch_stats": built.batch_stats},
                          NamedSharding(mesh, PartitionSpec()))
  directory = runfiles.path(workdir, runfiles.CHECKPOINTS)
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"{directory} holds no checkpoint: train into {workdir} first")
  step, restored = _restore_newest(directory, config.keep_checkpoints, target, workdir)
  params, stats = restored["params"]["model"], restored["batch_stats"]
  partial = jax.tree_util.Partial  # the function is static (by value); params and stats are leaves
  return LoadedModel(partial(_Logits(built.network), params, stats),
                     partial(_Features(built.network, tuple(built.lowrank_layers)), params, stats), config, workdir,
                     step, built.network, params, stats, tuple(meta["mean"]), tuple(meta["std"]), mesh)
