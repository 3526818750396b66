"""FAB (Croce & Hein, ICML 2020): minimally distorted adversarial examples by Fast Adaptive Boundary steps.

    fab(logits_fn, x, y, key, eps=, norm=, targeted=) -> (x_adv, norms)     # one target class, restarts
    fab_targets(logits_fn, x, y, key, eps=, norm=, num_targets=)  # FAB-T: the classes ranked 2..num_targets+1
    hyperplane_box_projection(t, w, b, norm)    # the exact projection FAB steps with
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lowrank_jax.attacks.inputs import check_inputs
from lowrank_jax.attacks.losses import LogitsFn, class_gradients, top_k_targets
from lowrank_jax.attacks.norms import NORMS, Norm, example_keys, expand, random_starts, restart_keys


def keep_smaller(best: jax.Array, best_norm: jax.Array, cand: jax.Array, cand_norm: jax.Array
                 ) -> tuple[jax.Array, jax.Array]:
  """Per example, the candidate where its norm is smaller, else the best so far; and the smaller norm."""
  return jnp.where(expand(cand_norm < best_norm, best), cand, best), jnp.minimum(cand_norm, best_norm)


def hyperplane_box_projection(t: jax.Array, w: jax.Array, b: jax.Array, norm: Norm) -> jax.Array:
  """The smallest d (in `norm`) with <w, t + d> = b and 0 <= t + d <= 1, per row.

  Rows t, w of shape (n, d), b (n,). Coordinate i moves towards the plane by
  min(mu * v_i, room_i) (v_i = 1 for Linf, |w_i| for L2; room_i is the distance
  to the box's face in that direction); mu is the smallest value whose total
  change of <w, .> reaches |<w, t> - b| -- a piecewise-linear increasing
  function of mu, solved exactly by sorting its breakpoints room_i / v_i. If
  the box makes the plane unreachable, the unconstrained projection is returned
  (FAB clips it to the box afterwards).
  """
  c = jnp.sum(w * t, -1) - b
  s = -jnp.sign(c)[:, None]  # direction that reduces |c|
  ws = w * s
  a = jnp.abs(ws)
  room = jnp.where(ws > 0, 1.0 - t, t) * (a > 0)
  v = jnp.ones_like(a) if norm == "linf" else a
  brk = jnp.where(a > 0, room / jnp.maximum(v, 1e-30), 0.0)
  order = jnp.argsort(brk, axis=-1)
  brk_s, a_s, v_s, room_s = (jnp.take_along_axis(z, order, -1) for z in (brk, a, v, room))
  filled = jnp.cumsum(a_s * room_s, -1)  # change from the coordinates already at their face
  rate_after = jnp.sum(a_s * v_s, -1, keepdims=True) - jnp.cumsum(a_s * v_s, -1)  # rate of the others
  total_at = filled + brk_s * rate_after  # change at mu = breakpoint k
  need = jnp.abs(c)[:, None]
  k = jnp.argmax(total_at >= need, axis=-1)[:, None]
  feasible = total_at[:, -1:] >= need
  before = jnp.take_along_axis(filled - a_s * room_s, k, -1)
  rate = jnp.take_along_axis(rate_after + a_s * v_s, k, -1)
  mu = jnp.where(feasible, (need - before) / jnp.maximum(rate, 1e-30),
                 need / jnp.maximum(jnp.sum(a * v, -1, keepdims=True), 1e-30))
  move = jnp.where(feasible, jnp.minimum(mu * v, room), mu * v)
  return jnp.sign(ws) * move


def fab(logits_fn: LogitsFn, x: jax.Array, y: jax.Array, key: jax.Array, *, eps, norm: Norm = "linf",
        steps: int = 100, targeted: bool = True, target_class: int = 2, restarts: int = 1,
        alpha_max: float = 0.1, eta: float = 1.05, beta: float = 0.9,
        indices: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
  """FAB (Croce & Hein 2020): steps to the projection on the linearised boundary, biased towards x.

  Targeted (FAB-T): the boundary between y and the class with the
  `target_class`-th highest clean logit; untargeted: the nearest linearised
  boundary over all classes. Each step mixes the projections of the current
  point and of x onto that hyperplane (weight alpha <= alpha_max on x's),
  overshoots by eta, and after each success moves back towards x by beta.
  Restarts after the first start at x + eps/2 * (random direction).

  Returns:
    (x_adv, norms): the smallest-norm misclassified point found (x where none),
    and its norm (inf where none). Success at budget eps is norms <= eps.
  """
  check_inputs(x, y, where="fab")
  ops = NORMS[norm]
  n = x.shape[0]
  flat = x.reshape(n, -1)
  clean = logits_fn(x)
  targets = top_k_targets(clean, target_class) if targeted else None
  already = jnp.argmax(clean, -1) != y

  def target_gap(u):
    lg = logits_fn(u)
    f = jnp.take_along_axis(lg, targets[:, None], 1)[:, 0] - jnp.take_along_axis(lg, y[:, None], 1)[:, 0]
    return f.sum(), f

  def plane(z):
    """(w, b) of the linearised boundary to attack at z (n, d): <w, u> = b."""
    zz = z.reshape(x.shape)
    if targeted:
      (_, f), g = jax.value_and_grad(target_gap, has_aux=True)(zz)
      g = g.reshape(n, -1)
      return g, -f + jnp.sum(g * z, -1)
    logits, grads = class_gradients(logits_fn, zz)
    df = logits - jnp.take_along_axis(logits, y[:, None], 1)
    dg = grads - jnp.take_along_axis(grads, y[:, None, None], 1)
    dist = jnp.abs(df) / (ops.dual(dg) + 1e-12)
    dist = jnp.where(jax.nn.one_hot(y, logits.shape[-1], dtype=bool), jnp.inf, dist)
    j = jnp.argmin(dist, -1)
    g = jnp.take_along_axis(dg, j[:, None, None], 1)[:, 0]
    f = jnp.take_along_axis(df, j[:, None], 1)[:, 0]
    return g, -f + jnp.sum(g * z, -1)

  keys = example_keys(key, n, indices)

  def run(r):
    start = random_starts(restart_keys(keys, r), x, eps, norm, kind="surface")
    z0 = jnp.where(r > 0, jnp.clip(flat + 0.5 * start.reshape(n, -1), 0.0, 1.0), flat)

    def body(_, carry):
      z, best, best_norm = carry
      w, b = plane(z)
      d1 = hyperplane_box_projection(z, w, b, norm)
      d2 = hyperplane_box_projection(flat, w, b, norm)
      a1 = jnp.maximum(ops.size(d1), 1e-8)[:, None]
      a2 = jnp.maximum(ops.size(d2), 1e-8)[:, None]
      alpha = jnp.clip(a1 / (a1 + a2), 0.0, alpha_max)
      z = jnp.clip((z + eta * d1) * (1 - alpha) + (flat + eta * d2) * alpha, 0.0, 1.0)
      adv = jnp.argmax(logits_fn(z.reshape(x.shape)), -1) != y
      size = ops.size(z - flat)
      better = adv & (size < best_norm)
      best = jnp.where(better[:, None], z, best)
      best_norm = jnp.where(better, size, best_norm)
      z = jnp.where(adv[:, None], flat + (z - flat) * beta, z)
      return z, best, best_norm

    init = (z0, flat, jnp.where(already, 0.0, jnp.inf).astype(x.dtype))
    _, best, best_norm = jax.lax.fori_loop(0, steps, body, init)
    return best, best_norm

  best, best_norm = run(jnp.zeros((), jnp.int32))
  for r in range(1, restarts):
    best, best_norm = keep_smaller(best, best_norm, *run(jnp.asarray(r)))
  return best.reshape(x.shape), best_norm


def fab_targets(logits_fn: LogitsFn, x: jax.Array, y: jax.Array, key: jax.Array, *, eps, norm: Norm = "linf",
                steps: int = 100, num_targets: int = 9, indices: jax.Array | None = None) -> jax.Array:
  """FAB-T: targeted FAB towards the classes ranked 2..num_targets+1 (key fold_in(key, t) for rank t + 2);
  per example the smallest-norm success (x where none)."""

  def body(t, carry):
    cand, cand_norm = fab(logits_fn, x, y, jax.random.fold_in(key, t), eps=eps, norm=norm, steps=steps,
                          targeted=True, target_class=t + 2, indices=indices)
    return keep_smaller(*carry, cand, cand_norm)

  init = (x, jnp.full((x.shape[0],), jnp.inf, x.dtype))
  return jax.lax.fori_loop(0, num_targets, body, init)[0]
