"""Targeted attacks over every target class at once: rows of (example, target rank), first success per example.

    target_rows(n, num_targets)              # (example of each row, its target rank 2..num_targets+1)
    first_success(success, x_rows, x)        # per example the first row, in rank order, that succeeded
    all_targets(rows_fn, logits_fn, x, y, key, eps, indices, norm=, num_targets=, **kw)

AutoAttack's targeted attacks (APGD-T, FAB-T) try the classes ranked 2..num_targets+1 one after another,
each on the examples the earlier targets left robust, and keep the first success. Here every (example,
target) pair is one row of one batch: one program of num_targets times the rows instead of num_targets
small ones, which on a CPU (and more so on an accelerator) is where the time went. Row (i, t) draws from
fold_in(fold_in(key, t - 2), index_i), the key of target t's run alone, so per example the result equals
the sequential loop's and does not depend on the batch.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from lowrank_jax.attacks.losses import LogitsFn
from lowrank_jax.attacks.norms import NORMS, Norm, expand

RowsFn = Callable[..., jax.Array]  # (logits_fn, x, y, key, eps, indices, ranks, *, norm, **kw) -> x_adv rows


def target_rows(n: int, num_targets: int) -> tuple[np.ndarray, np.ndarray]:
  """For n examples: each example's row number repeated num_targets times, and the target ranks 2, 3, ..."""
  return np.repeat(np.arange(n), num_targets), np.tile(np.arange(2, num_targets + 2), n)


def first_success(success: jax.Array, x_rows: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """success (n, T) and x_rows (n, T, ...) -> (per example the first successful row, else x; any success)."""
  first = jnp.argmax(success, axis=1)
  picked = jnp.take_along_axis(x_rows, expand(first, x_rows[:, 0])[:, None], axis=1)[:, 0]
  found = jnp.any(success, axis=1)
  return jnp.where(expand(found, x), picked, x), found


def all_targets(rows_fn: RowsFn, logits_fn: LogitsFn, x: jax.Array, y: jax.Array, key: jax.Array, eps,
                indices: jax.Array | None, *, norm: Norm, num_targets: int, **kwargs) -> jax.Array:
  """rows_fn on every (example, target) pair in one batch; per example the first target, in rank order, whose
  point is misclassified within eps (x where none). Jittable; AutoAttack builds the rows on the host instead,
  so that they are batched across examples too."""
  n = x.shape[0]
  ex, ranks = target_rows(n, num_targets)
  idx = jnp.arange(n) if indices is None else jnp.asarray(indices)
  adv = rows_fn(logits_fn, x[ex], y[ex], key, eps, idx[ex], jnp.asarray(ranks), norm=norm, **kwargs)
  size = NORMS[norm].size(adv - x[ex])
  success = (jnp.argmax(logits_fn(adv), -1) != y[ex]) & (size <= eps * (1 + 1e-5))
  return first_success(success.reshape(n, num_targets), adv.reshape((n, num_targets) + x.shape[1:]), x)[0]
