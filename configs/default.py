"""The default config (Fashion-MNIST CNN, LR on the penultimate layer); defined in lowrank_jax.default_config."""

from lowrank_jax.default_config import get_config  # pylint: disable=unused-import
