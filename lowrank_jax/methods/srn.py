"""Stable rank normalisation (Sanyal, Torr, Dokania, ICLR 2020), as a projection after every update.

For each kernel, as a matrix W (out x fan-in): with the top singular triplet
(sigma_1, u, v), W <- W / sigma_1 (spectral norm 1), and if the residual
R = W / sigma_1 - u v^T has ||R||_F > sqrt(r_hat - 1), R is rescaled to that
norm, where r_hat = rank_ratio * min(out, fan-in): the stable rank
||W||_F^2 / ||W||_2^2 becomes at most r_hat. (The authors' implementation, a
reparametrisation with power iteration, does the same to the weight it uses.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lowrank_jax.methods.base import Method, Setup
from lowrank_jax.methods.snip import is_prunable


def srn_matrix(W: jax.Array, rank_ratio: float) -> jax.Array:
  """Spectral norm 1 and stable rank <= rank_ratio * min(W.shape)."""
  U, S, Vt = jnp.linalg.svd(W, full_matrices=False)
  W1 = W / S[0]
  top = jnp.outer(U[:, 0], Vt[0])
  residual = W1 - top
  r_hat = rank_ratio * min(W.shape)
  target = jnp.sqrt(jnp.maximum(r_hat - 1.0, 0.0))
  frob = jnp.linalg.norm(residual)
  return jnp.where(frob > target, top + residual * target / jnp.maximum(frob, 1e-12), W1)


def srn_kernel(kernel: jax.Array, rank_ratio: float) -> jax.Array:
  """A Flax kernel (..., fan_in_last, out) viewed as (out, fan-in), normalised, reshaped back."""
  out = kernel.shape[-1]
  W = kernel.reshape(-1, out).T
  return srn_matrix(W, rank_ratio).T.reshape(kernel.shape)


def make(setup: Setup) -> Method:
  """Stable rank normalisation (config.srn.rank_ratio) of every kernel after each update."""
  config = setup.config
  ratio = config.srn.rank_ratio

  def post_update(params, opt_state, step, key, state):
    del step, key, state
    model = jax.tree_util.tree_map_with_path(lambda p, w: srn_kernel(w, ratio) if is_prunable(p) else w,
                                             params["model"])
    return {**params, "model": model}, opt_state, {}

  return Method("srn", post_update=post_update)
