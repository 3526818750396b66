"""`load_model(workdir)`: a trained run as `logits(x)` and `features(x)` functions."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any

import jax
import ml_collections

from lowrank_jax import checkpoint as ckpt_lib
from lowrank_jax import data as data_lib
from lowrank_jax import training


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
  setup: training.TrainSetup
  state: Any

  @property
  def num_classes(self) -> int:
    return data_lib.DATASETS[self.config.dataset.name].num_classes


def _logits(setup, params, stats, x):
  return setup.model.apply(params, stats, x, train=False)[0]


def _features(setup, params, stats, x):
  feats = setup.model.apply(params, stats, x, train=False)[1]
  return {k: feats[k] for k in setup.monitored}


def load_model(workdir: str) -> LoadedModel:
  """Loads the newest checkpoint that train.py wrote to `workdir`.

  Raises:
    FileNotFoundError: one line naming the missing file when there is no usable run.
    CheckpointError: the checkpoint is corrupt or does not match the saved config.
  """
  cfg_path, meta_path = os.path.join(workdir, "config.json"), os.path.join(workdir, "model.json")
  for path in (cfg_path, meta_path):
    if not os.path.exists(path):
      raise FileNotFoundError(f"{path} not found: {workdir} holds no run of train.py")
  with open(cfg_path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  with open(meta_path) as f:
    meta = json.load(f)
  info = data_lib.DATASETS[config.dataset.name]
  setup, state = training.create_train_state(config, info, meta["mean"], meta["std"], meta["num_train"])
  ckpt = ckpt_lib.Checkpointer(os.path.join(workdir, "checkpoints"), config.keep_checkpoints)
  try:
    step = ckpt.latest_step()
    if step is None:
      raise FileNotFoundError(f"{ckpt.directory} holds no checkpoint: train into {workdir} first")
    state = ckpt.restore(step, state)
  finally:
    ckpt.close()
  params, stats = state["params"]["model"], state["batch_stats"]
  P = jax.tree_util.Partial  # the function (with setup) is static; params and stats are leaves
  return LoadedModel(P(functools.partial(_logits, setup), params, stats),
                     P(functools.partial(_features, setup), params, stats), config, workdir, step, setup, state)
