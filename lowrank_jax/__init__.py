"""lowrank_jax: the low-rank representation regularizer of Sanyal et al. (arXiv 1804.07090) in JAX/Flax NNX.

    import lowrank_jax as lr
    config = lr.get_config()                                  # the default config (ml_collections)
    lr.train_and_evaluate(config, "runs/lr" [, model=my_nnx_module])
    m = lr.load_model("runs/lr")                              # m.logits(x), m.features(x)
    lr.projection_loss(A, W, b), lr.norm_loss(A), lr.rank_threshold(W, r, key)   # the paper's pieces
    lr.attacks.pgd / apgd / deepfool / square / fab, lr.attacks.autoattack.autoattack   # attacks on a logits_fn
    lr.conv.Conv, lr.conv.jit                                 # fast convolution gradients on XLA:CPU
"""

import importlib
from typing import TYPE_CHECKING

# Imported on first use (PEP 562): `import lowrank_jax` stays light, and a script that uses one part does not
# wait for the others (orbax, the models, the attacks); `import lowrank_jax as lr; lr.load_model(...)` works as usual.
_MODULES = {"attacks": "attacks", "autoattack": "attacks.autoattack", "batching": "batching",
            "compression": "compression", "conv": "conv", "robustness": "robustness"}
_NAMES = {
    "InputError": "attacks", "CheckpointError": "checkpoint", "ConfigError": "config", "validate_config": "config",
    "DataError": "data", "load_dataset": "data", "get_config": "default_config", "LoadedModel": "loading",
    "load_model": "loading", "FunctionalModel": "models", "create_model": "models", "WorkdirError": "runfiles",
    "factored_projection_loss": "regularizer", "init_lowrank_params": "regularizer",
    "lowrank_penalty": "regularizer", "norm_loss": "regularizer", "projection_loss": "regularizer",
    "effective_rank": "spectra", "numerical_rank": "spectra", "exact_svd": "svd", "nystrom_svd": "svd",
    "randomized_svd": "svd", "rank_threshold": "svd", "TrainingDivergedError": "training",
    "train_and_evaluate": "training",
}


def __getattr__(name: str):
  """A public name, imported on its first use (then kept in the module, like an eager import)."""
  if name in _MODULES:
    value = importlib.import_module(f"lowrank_jax.{_MODULES[name]}")
  elif name in _NAMES:
    value = getattr(importlib.import_module(f"lowrank_jax.{_NAMES[name]}"), name)
  else:
    raise AttributeError(f"module 'lowrank_jax' has no attribute {name!r}")
  globals()[name] = value
  return value


def __dir__() -> list[str]:
  return sorted(__all__)


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
  from lowrank_jax import attacks, batching, compression, conv, robustness  # noqa: F401
  from lowrank_jax.attacks import autoattack  # noqa: F401
  from lowrank_jax.attacks import InputError  # noqa: F401
  from lowrank_jax.checkpoint import CheckpointError  # noqa: F401
  from lowrank_jax.config import ConfigError, validate_config  # noqa: F401
  from lowrank_jax.data import DataError, load_dataset  # noqa: F401
  from lowrank_jax.default_config import get_config  # noqa: F401
  from lowrank_jax.loading import LoadedModel, load_model  # noqa: F401
  from lowrank_jax.models import FunctionalModel, create_model  # noqa: F401
  from lowrank_jax.regularizer import (factored_projection_loss, init_lowrank_params, lowrank_penalty,  # noqa: F401
                                       norm_loss, projection_loss)
  from lowrank_jax.runfiles import WorkdirError  # noqa: F401
  from lowrank_jax.spectra import effective_rank, numerical_rank  # noqa: F401
  from lowrank_jax.svd import exact_svd, nystrom_svd, randomized_svd, rank_threshold  # noqa: F401
  from lowrank_jax.training import TrainingDivergedError, train_and_evaluate  # noqa: F401

__all__ = [
    "CheckpointError", "ConfigError", "DataError", "FunctionalModel", "InputError", "LoadedModel",
    "TrainingDivergedError", "WorkdirError",
    "attacks", "autoattack", "batching", "compression", "conv", "create_model", "effective_rank", "exact_svd",
    "factored_projection_loss", "get_config", "init_lowrank_params", "load_dataset", "load_model",
    "lowrank_penalty", "norm_loss", "numerical_rank", "nystrom_svd", "projection_loss", "randomized_svd",
    "rank_threshold", "robustness", "train_and_evaluate", "validate_config",
]
