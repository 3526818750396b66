"""lowrank_jax: the low-rank representation regularizer of Sanyal et al. (arXiv 1804.07090) in JAX/Flax NNX.

    import lowrank_jax as lr
    config = lr.get_config()                                  # the default config (ml_collections)
    lr.train_and_evaluate(config, "runs/lr" [, model=my_nnx_module])
    m = lr.load_model("runs/lr")                              # m.logits(x), m.features(x)
    lr.projection_loss(A, W, b), lr.norm_loss(A), lr.rank_threshold(W, r, key)   # the paper's pieces
    lr.attacks.pgd / apgd / deepfool, lr.autoattack.autoattack / square / fab     # attacks on a logits_fn
    lr.conv.Conv, lr.conv.jit                                 # fast convolution gradients on XLA:CPU
"""

from lowrank_jax import attacks, autoattack, compression, conv, robustness  # noqa: F401  (public modules)
from lowrank_jax.checkpoint import CheckpointError
from lowrank_jax.config import ConfigError, validate_config
from lowrank_jax.data import DataError, load_dataset
from lowrank_jax.default_config import get_config
from lowrank_jax.loading import LoadedModel, load_model
from lowrank_jax.models import FunctionalModel, create_model
from lowrank_jax.regularizer import (factored_projection_loss, init_lowrank_params, lowrank_penalty, norm_loss,
                                     projection_loss)
from lowrank_jax.spectra import effective_rank, numerical_rank
from lowrank_jax.svd import exact_svd, nystrom_svd, randomized_svd, rank_threshold
from lowrank_jax.training import TrainingDivergedError, train_and_evaluate

__all__ = [
    "CheckpointError", "ConfigError", "DataError", "FunctionalModel", "LoadedModel", "TrainingDivergedError",
    "attacks", "autoattack", "compression", "conv", "create_model", "effective_rank", "exact_svd",
    "factored_projection_loss", "get_config", "init_lowrank_params", "load_dataset", "load_model",
    "lowrank_penalty", "norm_loss", "numerical_rank", "nystrom_svd", "projection_loss", "randomized_svd",
    "rank_threshold", "robustness", "train_and_evaluate", "validate_config",
]
