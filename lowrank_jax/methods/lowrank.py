"""The LR regularizer as a training variant: penalty + alternating rank thresholding (Sec. 3).

    penalty:      ramp(step) * sum_l (projection_weight L_c + norm_weight L_n)
    post_update:  dense W: every k steps (and at the last step) W_l <- rank_threshold(W_l, r_l),
                  logging ||W - [W]_r||_F / ||W||_F just before (a Sparse metric "<layer>/W_offrank");
                  optionally fresh moments for W, b.
                  factored W = U V^T: nothing to do (rank <= r by construction).
    epoch_metrics: the effective rank of each layer's W (U V^T when factored).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import ml_collections

from lowrank_jax import regularizer, spectra, svd
from lowrank_jax.methods.base import Method, Setup, Sparse


def penalty_scale(step: jax.Array, warmup_steps: int) -> jax.Array:
  """Linear ramp of the LR penalty weight: min(1, step / warmup_steps) (1 if warmup_steps = 0)."""
  if warmup_steps <= 0:
    return jnp.ones(())
  return jnp.minimum(1.0, jnp.asarray(step, jnp.float32) / warmup_steps)


def threshold_layers(cfg: ml_collections.ConfigDict, ranks: dict[str, int], lowrank: regularizer.LowRankParams,
                     key: jax.Array) -> tuple[regularizer.LowRankParams, dict[str, jax.Array]]:
  """Each dense W_l <- rank_threshold(W_l, r_l) (b_l unchanged); also returns each W's off-rank distance."""
  out, offrank = {}, {}
  for i, (name, p) in enumerate(sorted(lowrank.items())):
    W = svd.rank_threshold(p["W"], ranks[name], jax.random.fold_in(key, i), algorithm=cfg.svd,
                           num_columns=cfg.num_columns or None, num_experts=cfg.num_experts)
    out[name] = {"W": W, "b": p["b"]}
    offrank[name] = regularizer.offrank_distance(p["W"], W)
  return out, offrank


def make(setup: Setup) -> Method:
  """The LR method for layers `setup.ranks` (name -> r) of sizes `setup.dims` (name -> m)."""
  config, ranks, dims, total_steps, optimizers = (setup.config, setup.ranks, setup.dims, setup.total_steps,
                                                  setup.optimizers)
  cfg = config.lowrank
  dense = cfg.parametrization == "dense"

  def init_params(key):
    return regularizer.init_lowrank_params(key, {k: dims[k] for k in ranks}, ranks, cfg.parametrization)

  def penalty(extra, features, step):
    total, metrics = regularizer.lowrank_penalty(
        features, extra, projection_weight=cfg.projection_weight, norm_weight=cfg.norm_weight,
        norm_target=cfg.norm_target, scale_free=cfg.scale_free)
    return penalty_scale(step, cfg.warmup_steps) * total, metrics

  def post_update(params, opt_state, step, key, state):
    del state
    if not dense:
      return params, opt_state, {}
    do = (step % cfg.threshold_every == 0) | (step == total_steps)
    zeros = {name: jnp.zeros(()) for name in ranks}
    lowrank, offrank = jax.lax.cond(do, functools.partial(threshold_layers, cfg, ranks, key=key),
                                    lambda p: (p, zeros), params["lowrank"])
    params = {**params, "lowrank": lowrank}
    if cfg.reset_moments_on_threshold:
      opt_state = jax.lax.cond(do, lambda s: optimizers.reset_lowrank(s, lowrank), lambda s: s, opt_state)
    return params, opt_state, {f"{name}/W_offrank": Sparse(v, do) for name, v in offrank.items()}

  def epoch_metrics(extra, energy):
    return {f"{name}/W_effective_rank": spectra.effective_rank(p["W"] if "W" in p else p["U"] @ p["V"].T, energy)
            for name, p in extra.items()}

  return Method("lowrank", init_params=init_params, penalty=penalty, post_update=post_update,
                epoch_metrics=epoch_metrics)
