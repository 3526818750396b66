"""Spectral summaries of representations and of the LR layer's W."""

from __future__ import annotations

import numpy as np


def effective_rank(acts: np.ndarray, energy: float = 0.99) -> int:
  """Smallest k with sum_{i<=k} s_i^2 >= energy * sum_i s_i^2, s the singular values of A.

  Args:
    acts: activations (n, ...), flattened to A (n, m); not centred, as rank(A)
      in the paper's constraint.
    energy: fraction of the squared Frobenius norm to hold.
  """
  s = singular_values(acts)
  cum = np.cumsum(s**2)
  if cum[-1] == 0:
    return 0
  return int(np.searchsorted(cum, energy * cum[-1] * (1 - 1e-12)) + 1)


def singular_values(acts: np.ndarray) -> np.ndarray:
  """Singular values (descending, float64) of activations flattened to (n, m)."""
  A = np.asarray(acts, np.float64).reshape(len(acts), -1)
  return np.linalg.svd(A, compute_uv=False)


def numerical_rank(W: np.ndarray) -> int:
  """Rank of W at numpy's default tolerance (s_max * max(n, m) * float32 eps)."""
  W = np.asarray(W)
  tol = np.linalg.svd(W, compute_uv=False).max(initial=0.0) * max(W.shape) * np.finfo(np.float32).eps
  return int(np.linalg.matrix_rank(W.astype(np.float64), tol=tol))
