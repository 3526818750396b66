"""Approximate truncated SVDs and the rank-thresholding step of the LR layer.

The paper (Sec. 3, "Optimizing the loss") alternates gradient steps on
(theta, phi, W, b) with a projection of W onto the rank-r matrices every k
steps, computed with a column-sampled ensembled Nystrom SVD. This module holds:

    nystrom_svd(W, r, key, num_columns=l, num_experts=p)  # ensembled Nystrom
    randomized_svd(W, r, key)                             # Halko et al. (2011)
    exact_svd(W, r)                                       # jnp.linalg.svd
    rank_threshold(W, r, key, algorithm=...)                 # best rank-r W

All are pure and jittable (rank, num_columns, num_experts and algorithm static),
and deterministic for a given key.

References:
  Kumar, Mohri, Talwalkar. Ensemble Nystrom Method. NeurIPS 2009.
  Halko, Martinsson, Tropp. Finding structure with randomness. SIAM Rev. 2011.
"""

from __future__ import annotations

import functools
from typing import Literal

import jax
import jax.numpy as jnp

Triplets = tuple[jax.Array, jax.Array, jax.Array]  # (U (n,r), S (r,), Vt (r,m))
Algorithm = Literal["nystrom", "exact", "randomized"]  # how rank_threshold finds the top-r subspace
ALGORITHMS = ("nystrom", "exact", "randomized")


def default_num_columns(m: int, rank: int) -> int:
  """Columns each Nystrom expert samples by default: 4r, at most m."""
  return min(m, 4 * rank)


DEFAULT_NUM_EXPERTS = 4


def sample_columns(key: jax.Array, m: int, num_columns: int, num_experts: int) -> jax.Array:
  """(num_experts, num_columns) indices, each row a uniform subset of range(m) without replacement.

  The indices of the l largest of m iid uniforms form a uniform random l-subset.
  """
  u = jax.random.uniform(key, (num_experts, m))
  return jax.lax.top_k(u, num_columns)[1]


def _triplets_from_subspace(W: jax.Array, V: jax.Array) -> Triplets:
  """SVD of W V V^T given an orthonormal basis V (m, r) of a right subspace."""
  U, S, Zt = jnp.linalg.svd(W @ V, full_matrices=False)  # W V = U S Z^T
  return U, S, Zt @ V.T  # W V V^T = U S (V Z)^T


@functools.partial(jax.jit, static_argnames=("rank", "num_columns", "num_experts"))
def nystrom_svd(
    W: jax.Array,
    rank: int,
    key: jax.Array,
    *,
    num_columns: int,
    num_experts: int,
) -> Triplets:
  """Top-`rank` singular triplets of a general W (n x m) by ensembled Nystrom.

  Nystrom approximation of the Gram matrix K = W^T W (m x m, PSD): expert j
  samples l = num_columns column indices I_j uniformly without replacement,
  C_j = K[:, I_j], M_j = K[I_j, I_j], and the ensemble of p = num_experts
  experts with uniform weights is

      K_ens = 1/p sum_j C_j M_j^+ C_j^T = F F^T,
      F = [W^T Q_1, ..., W^T Q_p] / sqrt(p),   Q_j = W_I (W_I^T W_I)^{+1/2} = orth(W[:, I_j]),

  because C_j M_j^+ C_j^T = W^T W_I (W_I^T W_I)^+ W_I^T W = W^T P_{W_I} W. Q_j comes from
  the eigendecomposition of the small l x l matrix M_j = W_I^T W_I (directions of the
  sample with eigenvalue below 1e-6 of its largest are dropped: they cannot matter for a
  rank-r truncation with r << l); K itself is never formed. The top-r left singular
  vectors V_r of F (m x pl), taken from the eigh of the small F^T F, approximate W's
  top-r right singular vectors; the triplets returned are the exact SVD of W V_r V_r^T.
  Cost O(n l^2 p + m n l p + m (l p)^2 + (l p)^3 + n m r), never O(m^3) for l p << m.

  Args:
    W: matrix of shape (n, m).
    rank: r, number of triplets (<= min(n, m, l p)).
    key: PRNG key for the column samples.
    num_columns: l, columns per expert (<= m).
    num_experts: p, number of experts.

  Returns:
    (U, S, Vt) with shapes (n, r), (r,), (r, m); S descending.
  """
  n, m = W.shape
  if not 1 <= num_columns <= m:
    raise ValueError(f"num_columns={num_columns} must be in [1, {m}]")
  if not 1 <= rank <= min(n, m, num_columns * num_experts):
    raise ValueError(f"rank={rank} must be in [1, {min(n, m, num_columns * num_experts)}]")
  idx = sample_columns(key, m, num_columns, num_experts)
  # One unbatched eigh per expert: a batched factorisation inside the train step's cond deadlocked
  # XLA:CPU with 2 host devices (jax 0.10.2); p is small and static.
  Q = jnp.concatenate([orthonormal_columns(W[:, idx[j]]) for j in range(num_experts)], axis=1)  # (n, p l)
  F = (W.T @ Q) / jnp.sqrt(num_experts)  # (m, p l)
  # Top-r left singular vectors of F from the small (pl x pl) Gram matrix: F^T F = Z L Z^T,
  # V_r = F Z_r L_r^{-1/2}, re-orthonormalised by a thin QR (cheaper than an SVD of F).
  evals, Z = jnp.linalg.eigh(F.T @ F)  # ascending
  Zr, lr = Z[:, ::-1][:, :rank], evals[::-1][:rank]
  V, _ = jnp.linalg.qr(F @ (Zr / jnp.sqrt(jnp.maximum(lr, jnp.finfo(F.dtype).tiny))))
  return _triplets_from_subspace(W, V)


def orthonormal_columns(C: jax.Array, cutoff: float = 1e-6) -> jax.Array:
  """C V L^{-1/2} from the eigh of C^T C = V L V^T: an orthonormal basis of range(C) (n x l; directions
  with eigenvalue below cutoff * the largest become zero columns, which add nothing to F F^T)."""
  evals, V = jnp.linalg.eigh(C.T @ C)
  inv = jnp.where(evals > cutoff * evals[-1], 1.0 / jnp.sqrt(jnp.maximum(evals, jnp.finfo(C.dtype).tiny)), 0.0)
  return C @ (V * inv)


@functools.partial(jax.jit, static_argnames=("rank", "oversample", "power_iters"))
def randomized_svd(
    W: jax.Array, rank: int, key: jax.Array, *, oversample: int = 10, power_iters: int = 2
) -> Triplets:
  """Top-`rank` triplets by a Gaussian range finder with power iterations (Halko et al.)."""
  n, m = W.shape
  k = min(m, n, rank + oversample)
  Y = W.T @ (W @ jax.random.normal(key, (m, k), W.dtype))  # sketch of W^T W's range
  V, _ = jnp.linalg.qr(Y)
  for _ in range(power_iters):
    V, _ = jnp.linalg.qr(W.T @ (W @ V))
  Vb, _, _ = jnp.linalg.svd((W @ V).T @ (W @ V))  # eigvectors of V^T W^T W V, descending
  return _triplets_from_subspace(W, V @ Vb[:, :rank])


@functools.partial(jax.jit, static_argnames=("rank",))
def exact_svd(W: jax.Array, rank: int) -> Triplets:
  """Top-`rank` triplets from a full SVD (the optimum, O(m^3))."""
  U, S, Vt = jnp.linalg.svd(W, full_matrices=False)
  return U[:, :rank], S[:rank], Vt[:rank]


def rank_threshold(
    W: jax.Array,
    rank: int,
    key: jax.Array,
    *,
    algorithm: Algorithm = "nystrom",
    num_columns: int | None = None,
    num_experts: int = DEFAULT_NUM_EXPERTS,
) -> jax.Array:
  """Replaces W by a rank-`rank` approximation U_r S_r V_r^T (the paper's thresholding).

  Args:
    W: matrix (n, m).
    rank: target rank r.
    key: PRNG key (unused by "exact").
    algorithm: "nystrom" (default, the paper's), "exact" or "randomized".
    num_columns: Nystrom columns per expert; default min(m, 4 r).
    num_experts: Nystrom experts; default 4.

  Returns:
    A matrix of W's shape and rank <= r.
  """
  if algorithm == "nystrom":
    l = default_num_columns(W.shape[1], rank) if num_columns is None else num_columns
    U, S, Vt = nystrom_svd(W, rank, key, num_columns=l, num_experts=num_experts)
  elif algorithm == "randomized":
    U, S, Vt = randomized_svd(W, rank, key)
  elif algorithm == "exact":
    U, S, Vt = exact_svd(W, rank)
  else:
    raise ValueError(f"algorithm={algorithm!r} is not one of {ALGORITHMS}")
  return (U * S) @ Vt
