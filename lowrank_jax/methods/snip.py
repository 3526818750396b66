"""SNIP (Lee, Ajanthan, Torr, ICLR 2019): prune at initialisation by connection sensitivity.

    saliency_j = |g_j * w_j| of every kernel weight (conv and dense; biases and
    BatchNorm are kept), g the gradient of the loss on one training batch at
    initialisation; the (1 - sparsity) fraction with the largest saliency over
    the whole network is kept. The 0/1 mask is fixed for the rest of training:
    weights and their gradients are multiplied by it at every step.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from lowrank_jax.methods.base import Method, Setup


def is_prunable(path) -> bool:
  """Whether the parameter at this pytree path is a kernel (conv or dense weights; biases and BatchNorm are kept)."""
  return getattr(path[-1], "key", None) == "kernel"


def snip_mask(loss_of_params: Callable, params, sparsity: float):
  """0/1 tree like params: 1 for kept weights (non-kernels are always kept)."""
  grads = jax.grad(loss_of_params)(params)
  saliency = jax.tree_util.tree_map_with_path(lambda p, g, w: jnp.abs(g * w) if is_prunable(p) else None,
                                              grads, params)
  scores = jnp.concatenate([s.ravel() for s in jax.tree.leaves(saliency)])
  keep = max(1, int(round((1.0 - sparsity) * scores.size)))
  threshold = jnp.sort(scores)[::-1][keep - 1]
  return jax.tree_util.tree_map_with_path(
      lambda p, g, w: (jnp.abs(g * w) >= threshold).astype(w.dtype) if is_prunable(p) else jnp.ones_like(w),
      grads, params)


def make(setup: Setup) -> Method:
  """SNIP (config.snip.sparsity): the mask made once from one batch, applied to weights and gradients."""
  config = setup.config
  masked = lambda tree, mask: jax.tree.map(jnp.multiply, tree, mask)

  def init_state(loss_of_params, params):
    if loss_of_params is None:  # a checkpoint's mask will be restored over this
      return {"mask": jax.tree.map(jnp.ones_like, params)}, params
    mask = snip_mask(loss_of_params, params, config.snip.sparsity)
    return {"mask": mask}, masked(params, mask)

  def transform_grads(grads, state):
    return {**grads, "model": masked(grads["model"], state["mask"])}

  def post_update(params, opt_state, step, key, state):
    del step, key
    return {**params, "model": masked(params["model"], state["mask"])}, opt_state, {}

  return Method("snip", init_state=init_state, transform_grads=transform_grads, post_update=post_update)
