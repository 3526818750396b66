"""DeepFool (Moosavi-Dezfooli, Fawzi, Frossard, CVPR 2016): the smallest step to the nearest linearised boundary.

    deepfool(logits_fn, x, norm="l2") -> DeepFoolResult(x_adv, norms, success, iterations)
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lowrank_jax import batching, conv
from lowrank_jax.attacks.inputs import check_eps, check_inputs
from lowrank_jax.attacks.losses import LogitsFn, class_gradients
from lowrank_jax.attacks.norms import NORMS, Norm


class DeepFoolResult(NamedTuple):
  x_adv: np.ndarray  # (n, ...) in [0, 1]
  norms: np.ndarray  # (n,) ||x_adv - x|| in the attack's norm
  success: np.ndarray  # (n,) label flipped within max_iter
  iterations: np.ndarray  # (n,) iterations used


@functools.partial(conv.jit, static_argnames=("norm",))
def deepfool_step(logits_fn, x0, r_tot, candidates, overshoot, *, norm: Norm):
  """One DeepFool iteration for a batch: linearise f_k - f_orig at the current point and step."""
  ops = NORMS[norm]
  x = jnp.clip(x0 + (1 + overshoot) * r_tot, 0.0, 1.0)
  logits, grads = class_gradients(logits_fn, x, candidates)  # (n, C, d)
  f = jnp.take_along_axis(logits, candidates, axis=1)  # (n, C)
  w = grads[:, 1:] - grads[:, :1]  # candidate 0 is the original class
  fd = f[:, 1:] - f[:, :1]  # < 0 while not flipped
  wn = ops.dual(w) + 1e-12  # the distance to a hyperplane is |f| / ||w||_dual
  dist = jnp.abs(fd) / wn
  k = jnp.argmin(dist, axis=1)
  wk = jnp.take_along_axis(w, k[:, None, None], 1)[:, 0]
  dk = jnp.take_along_axis(dist, k[:, None], 1)[:, 0] + 1e-4  # margin: cross, never land on the plane
  step = ops.steepest(wk) * dk[:, None]
  r_tot = r_tot + step.reshape(x0.shape)
  x_new = jnp.clip(x0 + (1 + overshoot) * r_tot, 0.0, 1.0)
  flipped = jnp.argmax(logits_fn(x_new), -1) != candidates[:, 0]
  return r_tot, flipped


def deepfool(logits_fn: LogitsFn, x: jax.Array, *, num_candidates: int = 10, overshoot: float = 0.02,
             max_iter: int = 50, norm: Norm = "l2", batch_size: int | None = None, mesh=None) -> DeepFoolResult:
  """DeepFool: per example, steps to the nearest boundary of the linearised model until the label flips.

  The candidates are the top `num_candidates` classes of the clean logits,
  fixed once (the first is the original prediction). Each iteration moves
  every still-active example to the nearest boundary of its linearisation
  plus 1e-4 (so an example landing on a boundary within float error still
  crosses it); the overshoot multiplies the accumulated perturbation. An
  example stops once its label flips. The returned x_adv is clipped to [0, 1];
  success means its prediction differs from the clean one.

  Between jitted iterations the still-active examples are gathered into chunks of
  at most `batch_size` (default: all n) padded to `batching.bucket_size`, so few shapes
  compile and finished examples cost nothing. Gradients of all candidates come from
  one forward pass and one vmapped VJP. With a device `mesh`, each chunk is sharded
  over its "data" axis.

  Returns:
    DeepFoolResult(x_adv, norms, success, iterations); norms are in `norm`.
  """
  check_inputs(x, where="deepfool")
  check_eps(None, norm, "deepfool")
  if np.shape(x)[0] == 0:  # an empty batch: nothing to attack
    return DeepFoolResult(np.asarray(x, np.float32), np.zeros(0, np.float32), np.zeros(0, bool), np.zeros(0, int))
  if not isinstance(logits_fn, jax.tree_util.Partial):
    logits_fn = jax.tree_util.Partial(logits_fn)
  x_np = np.asarray(x, np.float32)
  n = len(x_np)
  bs = batch_size or n
  clean = batching.outputs(logits_fn, x_np, bs, mesh)
  num_candidates = min(num_candidates, clean.shape[-1])
  candidates = np.asarray(jnp.argsort(-jnp.asarray(clean), axis=-1)[:, :num_candidates])
  r_tot = np.zeros(x_np.shape, np.float32)
  iters = np.zeros(n, np.int32)
  success = np.zeros(n, bool)
  active = np.arange(n)
  step = lambda x0, r, c: deepfool_step(logits_fn, x0, r, c, jnp.float32(overshoot), norm=norm)
  for _ in range(max_iter):
    if active.size == 0:
      break
    new_r, flipped = batching.map_batches(step, (x_np, r_tot, candidates), bs, idx=active, mesh=mesh)
    r_tot[active] = new_r
    iters[active] += 1
    success[active[flipped]] = True
    active = active[~flipped]
  x_adv = np.clip(x_np + (1 + overshoot) * r_tot, 0.0, 1.0)
  norms = np.asarray(NORMS[norm].size(jnp.asarray(x_adv - x_np)))
  return DeepFoolResult(x_adv, norms, success, iters)
