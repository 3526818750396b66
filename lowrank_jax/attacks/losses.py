"""Pluggable attack losses (logits, labels[, targets]) -> (n,), to maximise, and class gradients.

    ce_loss, margin_loss, dlr_loss (Croce & Hein, Eq. 6), dlr_targeted_loss (Eq. 7)
    loss_fn("ce" | "margin" | "dlr" | callable)
    top_k_targets(logits, rank)              # the class with the rank-th highest logit
    class_gradients(logits_fn, x, classes)   # logits and d logit_c / dx for C classes per example
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

LogitsFn = Callable[[jax.Array], jax.Array]
LossFn = Callable[..., jax.Array]  # (logits (n,K), labels (n,)[, targets (n,)]) -> (n,), to maximise


def ce_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Per-example softmax cross-entropy."""
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def true_and_other(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(z_y, max_{j != y} z_j) per example."""
  true = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
  other = jnp.where(jax.nn.one_hot(labels, logits.shape[-1], dtype=bool), -jnp.inf, logits).max(-1)
  return true, other


def margin_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Carlini-Wagner margin max_{j != y} z_j - z_y (> 0 iff misclassified)."""
  true, other = true_and_other(logits, labels)
  return other - true


def dlr_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Difference of logits ratio, -(z_y - max_{j != y} z_j) / (z_pi1 - z_pi3) (Croce & Hein, Eq. 6).

  Invariant to shifting and to positive scaling of the logits. Needs >= 3 classes.
  """
  true, other = true_and_other(logits, labels)
  top = jnp.sort(logits, axis=-1)[:, ::-1]
  return -(true - other) / (top[:, 0] - top[:, 2] + 1e-12)


def dlr_targeted_loss(logits: jax.Array, labels: jax.Array, targets: jax.Array) -> jax.Array:
  """Targeted DLR, -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2) (Croce & Hein, Eq. 7). Needs >= 4 classes."""
  true = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
  tgt = jnp.take_along_axis(logits, targets[:, None], axis=1)[:, 0]
  top = jnp.sort(logits, axis=-1)[:, ::-1]
  return -(true - tgt) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


LOSSES: dict[str, LossFn] = {"ce": ce_loss, "margin": margin_loss, "dlr": dlr_loss}


def loss_fn(loss: str | LossFn) -> LossFn:
  """A loss by name (LOSSES), or the callable itself."""
  return LOSSES[loss] if isinstance(loss, str) else loss


def top_k_targets(logits: jax.Array, rank) -> jax.Array:
  """The class with the `rank`-th highest logit (rank 2: the runner-up), per example; rank a scalar or one per
  example (n,), and may be traced."""
  order = jnp.argsort(-logits, axis=-1)
  return jnp.take_along_axis(order, jnp.broadcast_to(jnp.asarray(rank) - 1, (logits.shape[0],))[:, None], 1)[:, 0]


def class_gradients(logits_fn: LogitsFn, x: jax.Array, classes: jax.Array | None = None
                    ) -> tuple[jax.Array, jax.Array]:
  """(logits (n, K), grads (n, C, d)): the input gradient of logit classes[i, c] of example i (every class
  when `classes` is None), from one forward pass and one VJP vmapped over stacked one-hot cotangents."""
  logits, vjp = jax.vjp(logits_fn, x)
  n, num = logits.shape
  if classes is None:
    cot = jnp.eye(num, dtype=logits.dtype)[:, None, :].repeat(n, 1)  # (K, n, K)
  else:
    cot = jax.nn.one_hot(classes.T, num, dtype=logits.dtype)  # (C, n, K)
  grads = jax.vmap(lambda c: vjp(c)[0])(cot)  # (C, n, ...)
  return logits, jnp.moveaxis(grads, 0, 1).reshape(n, cot.shape[0], -1)
