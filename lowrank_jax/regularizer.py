"""The low-rank (LR) regularizer of Sanyal et al. (arXiv 1804.07090), as arrays.

The paper's augmented problem (Sec. 3) adds, for every regularized layer l with
activations A (n x m), a virtual layer (W in R^{m x m} of rank r, b in R^m):

    min_{theta, phi, W, b}  L(X, Y) + L_c(A; W, b) + L_n(A)   s.t. rank(W) = r

This module holds the two penalty terms and their sum over layers. It knows
nothing about models: it takes activation arrays and (W, b) parameters.

    projection_loss(acts, W, b)       # L_c, one layer
    norm_loss(acts)                   # L_n, one layer
    lowrank_penalty(features, lr, …)  # sum over layers, weighted, with metrics
    init_lowrank_params(key, dims)    # W: random rank-r projection, b: zeros

References:
  Sanyal, Kanade, Dokania, Torr. Robustness via Deep Low-Rank Representations.
  arXiv:1804.07090.
"""

from __future__ import annotations

from typing import Mapping

import chex
import jax
import jax.numpy as jnp

LowRankParams = dict[str, dict[str, jax.Array]]  # layer name -> {"W", "b"}


def flatten_activations(acts: jax.Array) -> jax.Array:
  """Reshapes activations (n, ...) to the matrix A of shape (n, m)."""
  return acts.reshape(acts.shape[0], -1)


def projection_loss(acts: jax.Array, W: jax.Array, b: jax.Array) -> jax.Array:
  """Projection loss L_c(A; W, b) = 1/n sum_i ||W^T (a_i + b) - (a_i + b)||_2^2.

  Args:
    acts: activations of shape (n, ...); flattened to (n, m).
    W: the virtual layer's matrix, shape (m, m).
    b: the virtual layer's bias, shape (m,).

  Returns:
    A scalar. With rows v_i = a_i + b, W^T v_i is row i of V W.
  """
  A = flatten_activations(acts)
  chex.assert_shape(W, (A.shape[1], A.shape[1]))
  chex.assert_shape(b, (A.shape[1],))
  V = A + b
  residual = V @ W - V
  return jnp.mean(jnp.sum(residual**2, axis=-1))


def norm_loss(acts: jax.Array) -> jax.Array:
  """Norm loss L_n(A) = 1/n sum_i |1 - ||a_i||_2|, keeping activations away from 0."""
  A = flatten_activations(acts)
  return jnp.mean(jnp.abs(1.0 - jnp.linalg.norm(A, axis=-1)))


def lowrank_penalty(
    features: Mapping[str, jax.Array],
    params: LowRankParams,
    *,
    projection_weight: float,
    norm_weight: float,
) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Sum over LR layers of projection_weight * L_c + norm_weight * L_n.

  Args:
    features: layer name -> activations (n, ...). Must hold every key of params.
    params: layer name -> {"W": (m, m), "b": (m,)}.
    projection_weight: weight of L_c (>= 0).
    norm_weight: weight of L_n (>= 0).

  Returns:
    (penalty, metrics) where metrics holds "<layer>/projection_loss" and
    "<layer>/norm_loss" for every layer.
  """
  total = jnp.zeros((), jnp.float32)
  metrics = {}
  for name, p in params.items():
    lc = projection_loss(features[name], p["W"], p["b"])
    ln = norm_loss(features[name])
    total = total + projection_weight * lc + norm_weight * ln
    metrics[f"{name}/projection_loss"] = lc
    metrics[f"{name}/norm_loss"] = ln
  return total, metrics


def init_lowrank_params(
    key: jax.Array, dims: Mapping[str, int], ranks: Mapping[str, int]
) -> LowRankParams:
  """W_l = Q Q^T for a random m x r orthonormal Q (rank r, a feasible point); b_l = 0."""
  params = {}
  for i, name in enumerate(sorted(dims)):
    m, r = dims[name], ranks[name]
    g = jax.random.normal(jax.random.fold_in(key, i), (m, r), jnp.float32)
    q, _ = jnp.linalg.qr(g)
    params[name] = {"W": q @ q.T, "b": jnp.zeros((m,), jnp.float32)}
  return params
