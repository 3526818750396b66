"""lowrank_jax: the low-rank representation regularizer of Sanyal et al. (arXiv 1804.07090) in JAX/Flax NNX."""

from lowrank_jax.config import ConfigError, validate_config
from lowrank_jax.data import DataError, load_dataset
from lowrank_jax.spectra import effective_rank, numerical_rank
from lowrank_jax.models import FunctionalModel, create_model
from lowrank_jax.regularizer import init_lowrank_params, lowrank_penalty, norm_loss, projection_loss
from lowrank_jax.svd import exact_svd, nystrom_svd, randomized_svd, rank_threshold
from lowrank_jax.training import TrainingDivergedError, train_and_evaluate
from lowrank_jax.checkpoint import CheckpointError
from lowrank_jax.loading import LoadedModel, load_model

__all__ = [
    "CheckpointError", "ConfigError", "LoadedModel", "load_model", "DataError", "FunctionalModel", "TrainingDivergedError",
    "create_model", "effective_rank", "exact_svd", "init_lowrank_params", "load_dataset",
    "lowrank_penalty", "norm_loss", "numerical_rank", "nystrom_svd", "projection_loss",
    "randomized_svd", "rank_threshold", "train_and_evaluate", "validate_config",
]
