"""Spectral summaries of representations and of the LR layer's W.

    singular_values(acts, centred=False)   # descending, float64
    effective_rank(acts, energy, centred)  # k holding `energy` of sum s_i^2
    numerical_rank(W)
"""

from __future__ import annotations

import numpy as np


def singular_values(acts: np.ndarray, centred: bool = False) -> np.ndarray:
  """Singular values (descending, float64) of activations flattened to (n, m), optionally mean-centred."""
  A = np.asarray(acts, np.float64).reshape(len(acts), -1)
  if centred:
    A = A - A.mean(axis=0, keepdims=True)
  return np.linalg.svd(A, compute_uv=False)


def energy_rank(s: np.ndarray, energy: float = 0.99) -> int:
  """Smallest k with sum_{i<=k} s_i^2 >= energy * sum_i s_i^2 (0 for an all-zero spectrum)."""
  cum = np.cumsum(np.asarray(s, np.float64) ** 2)
  if cum.size == 0 or cum[-1] == 0:
    return 0
  return int(np.searchsorted(cum, energy * cum[-1] * (1 - 1e-12)) + 1)


def effective_rank(acts: np.ndarray, energy: float = 0.99, centred: bool = False) -> int:
  """Smallest k with sum_{i<=k} s_i^2 >= energy * sum_i s_i^2, s the singular values of A.

  Args:
    acts: activations (n, ...), flattened to A (n, m).
    energy: fraction of the squared Frobenius norm to hold.
    centred: subtract the mean activation first (the rank of the spread around the
      mean); the default, uncentred, is rank(A) as in the paper's constraint.
  """
  return energy_rank(singular_values(acts, centred), energy)


def numerical_rank(W: np.ndarray) -> int:
  """Rank of W at numpy's default tolerance (s_max * max(n, m) * float32 eps)."""
  W = np.asarray(W)
  tol = np.linalg.svd(W, compute_uv=False).max(initial=0.0) * max(W.shape) * np.finfo(np.float32).eps
  return int(np.linalg.matrix_rank(W.astype(np.float64), tol=tol))
