"""The low-rank (LR) regularizer of Sanyal et al. (arXiv 1804.07090), as arrays.

The paper's augmented problem (Sec. 3) adds, for every regularized layer l with
activations A (n x m), a virtual layer (W in R^{m x m} of rank r, b in R^m):

    min_{theta, phi, W, b}  L(X, Y) + L_c(A; W, b) + L_n(A)   s.t. rank(W) = r

This module holds the two penalty terms and their sum over layers. It knows
nothing about models: it takes activation arrays and the virtual layers'
parameters, in one of two parametrizations:

    "dense":    {"W": (m, m), "b": (m,)}            the paper's; W is rank-thresholded
                                                    every k steps (svd.rank_threshold)
    "factored": {"U": (m, r), "V": (m, r), "b": (m,)}  W = U V^T, rank <= r by
                                                    construction, O(m r) memory, no thresholding

    projection_loss(acts, W, b)            # L_c, dense W
    factored_projection_loss(acts, U, V, b)  # L_c with W = U V^T
    norm_loss(acts, target)                # L_n
    lowrank_penalty(features, params, ...) # weighted sum over layers, with metrics
    init_lowrank_params(key, dims, ranks, parametrization)
    offrank_distance(W, W_r)               # ||W - W_r||_F / ||W||_F

References:
  Sanyal, Kanade, Dokania, Torr. Robustness via Deep Low-Rank Representations.
  arXiv:1804.07090.
"""

from __future__ import annotations

from typing import Literal, Mapping

import chex
import jax
import jax.numpy as jnp

LowRankParams = dict[str, dict[str, jax.Array]]  # layer name -> {"W", "b"} or {"U", "V", "b"}
Parametrization = Literal["dense", "factored"]
PARAMETRIZATIONS = ("dense", "factored")


def flatten_activations(acts: jax.Array) -> jax.Array:
  """Reshapes activations (n, ...) to the matrix A of shape (n, m)."""
  return acts.reshape(acts.shape[0], -1)


def projection_loss(acts: jax.Array, W: jax.Array, b: jax.Array) -> jax.Array:
  """Projection loss L_c(A; W, b) = 1/n sum_i ||W^T (a_i + b) - (a_i + b)||_2^2 (Sec. 3).

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


def factored_projection_loss(acts: jax.Array, U: jax.Array, V: jax.Array, b: jax.Array) -> jax.Array:
  """L_c with W = U V^T: 1/n sum_i ||V U^T (a_i + b) - (a_i + b)||_2^2, in O(n m r).

  Args:
    acts: activations (n, ...), flattened to (n, m).
    U, V: factors of shape (m, r); W = U V^T has rank <= r.
    b: bias (m,).
  """
  A = flatten_activations(acts)
  chex.assert_equal_shape((U, V))
  chex.assert_shape(b, (A.shape[1],))
  Z = A + b
  residual = (Z @ U) @ V.T - Z  # rows: (W^T z_i)^T = z_i^T U V^T
  return jnp.mean(jnp.sum(residual**2, axis=-1))


def norm_loss(acts: jax.Array, target: float = 1.0) -> jax.Array:
  """Norm loss L_n(A) = 1/n sum_i |target - ||a_i||_2| (Sec. 3; the paper's target is 1)."""
  A = flatten_activations(acts)
  return jnp.mean(jnp.abs(target - jnp.linalg.norm(A, axis=-1)))


def unit_rows(acts: jax.Array, eps: float = 1e-6) -> jax.Array:
  """a_i / ||a_i|| (flattened): the scale-free input of the projection loss."""
  A = flatten_activations(acts)
  return A / jnp.maximum(jnp.linalg.norm(A, axis=-1, keepdims=True), eps)


def layer_projection_loss(acts: jax.Array, p: Mapping[str, jax.Array]) -> jax.Array:
  """L_c of one layer in either parametrization ({"W", "b"} or {"U", "V", "b"})."""
  if "W" in p:
    return projection_loss(acts, p["W"], p["b"])
  return factored_projection_loss(acts, p["U"], p["V"], p["b"])


def lowrank_penalty(
    features: Mapping[str, jax.Array],
    params: LowRankParams,
    *,
    projection_weight: float,
    norm_weight: float,
    norm_target: float = 1.0,
    scale_free: bool = False,
) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Sum over LR layers of projection_weight * L_c + norm_weight * L_n.

  Args:
    features: layer name -> activations (n, ...). Must hold every key of params.
    params: layer name -> virtual-layer parameters (either parametrization).
    projection_weight: weight of L_c (>= 0).
    norm_weight: weight of L_n (>= 0).
    norm_target: the norm L_n pulls every ||a_i|| towards (the paper: 1).
    scale_free: compute L_c on a_i / ||a_i|| (a control that removes the
      incentive to shrink activations; not the paper's loss).

  Returns:
    (penalty, metrics) where metrics holds "<layer>/projection_loss",
    "<layer>/norm_loss" and "<layer>/mean_norm" for every layer.
  """
  total = jnp.zeros((), jnp.float32)
  metrics = {}
  for name, p in params.items():
    acts = features[name]
    lc = layer_projection_loss(unit_rows(acts) if scale_free else acts, p)
    ln = norm_loss(acts, norm_target)
    total = total + projection_weight * lc + norm_weight * ln
    metrics[f"{name}/projection_loss"] = lc
    metrics[f"{name}/norm_loss"] = ln
    metrics[f"{name}/mean_norm"] = jnp.mean(jnp.linalg.norm(flatten_activations(acts), axis=-1))
  return total, metrics


def init_lowrank_params(
    key: jax.Array, dims: Mapping[str, int], ranks: Mapping[str, int],
    parametrization: Parametrization = "dense",
) -> LowRankParams:
  """W_l = Q Q^T for a random m x r orthonormal Q (rank r, a feasible point); b_l = 0.

  "factored" stores U = V = Q (so W = Q Q^T as well) instead of the m x m matrix.
  """
  if parametrization not in PARAMETRIZATIONS:
    raise ValueError(f"parametrization={parametrization!r} is not one of {PARAMETRIZATIONS}")
  params = {}
  for i, name in enumerate(sorted(dims)):
    m, r = dims[name], ranks[name]
    g = jax.random.normal(jax.random.fold_in(key, i), (m, r), jnp.float32)
    q, _ = jnp.linalg.qr(g)
    b = jnp.zeros((m,), jnp.float32)
    params[name] = {"W": q @ q.T, "b": b} if parametrization == "dense" else {"U": q, "V": jnp.array(q, copy=True), "b": b}
  return params


def offrank_distance(W: jax.Array, W_r: jax.Array) -> jax.Array:
  """||W - W_r||_F / ||W||_F: how far W has left the rank-r set (W_r its thresholded copy)."""
  return jnp.linalg.norm(W - W_r) / jnp.maximum(jnp.linalg.norm(W), 1e-12)
