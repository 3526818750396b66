"""Training variants as hooks into the one train step (`training.train_step`); `base.py` says what a method is.

    vanilla   cross-entropy only
    lowrank   the LR regularizer: penalty + rank thresholding (methods/lowrank.py)
    snip      a fixed pruning mask by connection sensitivity (methods/snip.py)
    srn       stable rank normalisation after every update (methods/srn.py)
    pgd_at    PGD adversarial training (methods/pgd_at.py)

`config.method` names one variant or several joined by "+" (e.g. "lowrank+pgd_at"); `compose`
chains their hooks. Adding one: a module with `make(setup) -> Method` and its line in METHODS.

    make_method(config, ranks, dims, total_steps, optimizers) -> Method
"""

from __future__ import annotations

from typing import Callable

from lowrank_jax.methods import lowrank, pgd_at, snip, srn
from lowrank_jax.methods.base import Method, Setup, Sparse, compose, method_names  # noqa: F401

METHODS: dict[str, Callable[[Setup], Method]] = {
    "vanilla": lambda setup: Method("vanilla"),
    "lowrank": lowrank.make,
    "snip": snip.make,
    "srn": srn.make,
    "pgd_at": pgd_at.make,
}


def make_method(config, ranks: dict[str, int], dims: dict[str, int], total_steps: int, optimizers) -> Method:
  """The composed method of config.method (validated by config.validate_config)."""
  setup = Setup(config, ranks, dims, total_steps, optimizers)
  built = [METHODS[name](setup) for name in method_names(config.method)]
  return compose(built) if built else Method("vanilla")
