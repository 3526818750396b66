"""FAB (Croce & Hein, ICML 2020): minimally distorted adversarial examples by Fast Adaptive Boundary steps.

    fab(logits_fn, x, y, key, eps=, norm=, targeted=) -> (x_adv, norms)     # one target class, restarts
    fab_targets(logits_fn, x, y, key, eps=, norm=, num_targets=)  # FAB-T: the classes ranked 2..num_targets+1
    fab_target_rows(logits_fn, x, y, key, eps, indices, ranks, norm=, steps=)  # FAB-T on (example, rank) rows
    hyperplane_box_projection(t, w, b, norm)    # the exact projection FAB steps with
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from lowrank_jax.attacks.inputs import check_inputs
from lowrank_jax.attacks.losses import LogitsFn, class_gradients, top_k_targets
from lowrank_jax.attacks.norms import NORMS, Norm, example_keys, expand, random_starts, restart_keys
from lowrank_jax.attacks.targets import all_targets


def keep_smaller(best: jax.Array, best_norm: jax.Array, cand: jax.Array, cand_norm: jax.Array
                 ) -> tuple[jax.Array, jax.Array]:
  """Per example, the candidate where its norm is smaller, else the best so far; and the smaller norm."""
  return jnp.where(expand(cand_norm < best_norm, best), cand, best), jnp.minimum(cand_norm, best_norm)


def hyperplane_box_projection(t: jax.Array, w: jax.Array, b: jax.Array, norm: Norm, iterations: int = 40
                              ) -> jax.Array:
  """The smallest d (in `norm`) with <w, t + d> = b and 0 <= t + d <= 1, per row.

  Rows t, w of shape (n, d), b (n,). Coordinate i moves towards the plane by
  min(mu * v_i, room_i) (v_i = 1 for Linf, |w_i| for L2; room_i is the distance
  to the box's face in that direction); mu is the smallest value whose total
  change of <w, .> reaches |<w, t> - b| -- a piecewise-linear, increasing,
  concave function of mu with breakpoints room_i / v_i. The reference sorts the
  breakpoints; sorting (n, d) twice per FAB step was 61% of FAB-T's time on
  XLA:CPU, so mu is bracketed by `iterations` bisection steps between 0 and the
  largest breakpoint, then solved on the linear piece at the bracket's lower end
  (which coordinates are at their face there, exactly), followed by two Newton
  steps from below, which a concave function never overshoots. If the box makes
  the plane unreachable, the unconstrained projection is returned (FAB clips it
  to the box afterwards).
  """
  c = jnp.sum(w * t, -1) - b
  s = -jnp.sign(c)[:, None]  # direction that reduces |c|
  ws = w * s
  a = jnp.abs(ws)
  room = jnp.where(ws > 0, 1.0 - t, t) * (a > 0)
  v = jnp.ones_like(a) if norm == "linf" else a
  brk = jnp.where(a > 0, room / jnp.maximum(v, 1e-30), 0.0)
  need = jnp.abs(c)[:, None]
  total = lambda mu: jnp.sum(a * jnp.minimum(mu * v, room), -1, keepdims=True)
  feasible = jnp.sum(a * room, -1, keepdims=True) >= need

  def bisect(_, bracket):
    lo, hi = bracket
    mid = 0.5 * (lo + hi)
    below = total(mid) < need
    return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

  lo, _ = jax.lax.fori_loop(0, iterations, bisect, (jnp.zeros_like(need), jnp.max(brk, -1, keepdims=True)))

  def newton(mu):  # on the linear piece at mu: the coordinates at their face stay there, the others move at rate v
    free = brk > mu
    filled = jnp.sum(jnp.where(free, 0.0, a * room), -1, keepdims=True)
    rate = jnp.sum(jnp.where(free, a * v, 0.0), -1, keepdims=True)
    return jnp.where(rate > 0, jnp.maximum(mu, (need - filled) / jnp.maximum(rate, 1e-30)), mu)

  mu = newton(newton(newton(lo)))
  mu = jnp.where(feasible, mu, need / jnp.maximum(jnp.sum(a * v, -1, keepdims=True), 1e-30))
  move = jnp.where(feasible, jnp.minimum(mu * v, room), mu * v)
  return jnp.sign(ws) * move


def linearised_boundary(logits_fn: LogitsFn, x: jax.Array, y: jax.Array, targets: jax.Array | None,
                        norm: Norm) -> Callable[[jax.Array], tuple[jax.Array, jax.Array]]:
  """plane(z) -> (w, b): the decision boundary linearised at z (n, d), <w, u> = b, between y and `targets` (FAB-T)
  or, where targets is None, the boundary nearest to z in the norm's dual (untargeted FAB)."""
  ops, n = NORMS[norm], x.shape[0]

  def target_gap(u):
    lg = logits_fn(u)
    f = jnp.take_along_axis(lg, targets[:, None], 1)[:, 0] - jnp.take_along_axis(lg, y[:, None], 1)[:, 0]
    return f.sum(), f

  def plane(z):
    zz = z.reshape(x.shape)
    if targets is not None:
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

  return plane


def fab_step(logits_fn: LogitsFn, plane: Callable, flat: jax.Array, y: jax.Array, shape: tuple, norm: Norm, *,
             alpha_max: float, eta: float, beta: float) -> Callable:
  """One FAB iteration as a fori_loop body on (z, best, best_norm): project z and x (`flat`) on the boundary,
  mix them (weight alpha <= alpha_max on x's), overshoot by eta; keep the smallest adversarial point; after a
  success move back towards x by beta."""
  ops = NORMS[norm]

  def body(_, carry):
    z, best, best_norm = carry
    w, b = plane(z)
    d1 = hyperplane_box_projection(z, w, b, norm)
    d2 = hyperplane_box_projection(flat, w, b, norm)
    a1 = jnp.maximum(ops.size(d1), 1e-8)[:, None]
    a2 = jnp.maximum(ops.size(d2), 1e-8)[:, None]
    alpha = jnp.clip(a1 / (a1 + a2), 0.0, alpha_max)
    z = jnp.clip((z + eta * d1) * (1 - alpha) + (flat + eta * d2) * alpha, 0.0, 1.0)
    adv = jnp.argmax(logits_fn(z.reshape(shape)), -1) != y
    size = ops.size(z - flat)
    better = adv & (size < best_norm)
    best = jnp.where(better[:, None], z, best)
    best_norm = jnp.where(better, size, best_norm)
    z = jnp.where(adv[:, None], flat + (z - flat) * beta, z)
    return z, best, best_norm

  return body


def fab(logits_fn: LogitsFn, x: jax.Array, y: jax.Array, key: jax.Array, *, eps, norm: Norm = "linf",
        steps: int = 100, targeted: bool = True, target_class: int | jax.Array = 2, restarts: int = 1,
        alpha_max: float = 0.1, eta: float = 1.05, beta: float = 0.9,
        indices: jax.Array | None = None, streams: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
  """FAB (Croce & Hein 2020): steps to the projection on the linearised boundary, biased towards x.

  Targeted (FAB-T): the boundary between y and the class with the
  `target_class`-th highest clean logit (an int, or one rank per example); untargeted: the nearest linearised
  boundary over all classes. Each step mixes the projections of the current
  point and of x onto that hyperplane (weight alpha <= alpha_max on x's),
  overshoots by eta, and after each success moves back towards x by beta.
  Restarts after the first start at x + eps/2 * (random direction). `streams`:
  as in `apgd_run` (row i draws as if run alone with key fold_in(key, streams[i])).

  Returns:
    (x_adv, norms): the smallest-norm misclassified point found (x where none),
    and its norm (inf where none). Success at budget eps is norms <= eps.
  """
  check_inputs(x, y, where="fab")
  n = x.shape[0]
  flat = x.reshape(n, -1)
  clean = logits_fn(x)
  targets = top_k_targets(clean, target_class) if targeted else None
  already = jnp.argmax(clean, -1) != y
  step = fab_step(logits_fn, linearised_boundary(logits_fn, x, y, targets, norm), flat, y, x.shape, norm,
                  alpha_max=alpha_max, eta=eta, beta=beta)
  keys = example_keys(key, n, indices, streams)

  def run(r):
    start = random_starts(restart_keys(keys, r), x, eps, norm, kind="surface")
    z0 = jnp.where(r > 0, jnp.clip(flat + 0.5 * start.reshape(n, -1), 0.0, 1.0), flat)
    init = (z0, flat, jnp.where(already, 0.0, jnp.inf).astype(x.dtype))
    _, best, best_norm = jax.lax.fori_loop(0, steps, step, init)
    return best, best_norm

  best, best_norm = run(jnp.zeros((), jnp.int32))
  for r in range(1, restarts):
    best, best_norm = keep_smaller(best, best_norm, *run(jnp.asarray(r)))
  return best.reshape(x.shape), best_norm


def fab_targets(logits_fn: LogitsFn, x: jax.Array, y: jax.Array, key: jax.Array, *, eps, norm: Norm = "linf",
                steps: int = 100, num_targets: int = 9, indices: jax.Array | None = None) -> jax.Array:
  """FAB-T as AutoAttack runs it: targeted FAB towards the classes ranked 2..num_targets+1, every (example,
  target) pair in one batch (`targets.all_targets`); per example the first target, in that order, whose point is
  misclassified within eps (x where none)."""
  return all_targets(fab_target_rows, logits_fn, x, y, key, eps, indices, norm=norm, steps=steps,
                     num_targets=num_targets)


def fab_target_rows(logits_fn: LogitsFn, x: jax.Array, y: jax.Array, key: jax.Array, eps, indices: jax.Array,
                    ranks: jax.Array, *, norm: Norm, steps: int) -> jax.Array:
  """Targeted FAB on rows (example, target rank ranks[i]), each row as in a run for that rank alone
  (key fold_in(key, rank - 2)); the smallest-norm misclassified point per row (x where none)."""
  return fab(logits_fn, x, y, key, eps=eps, norm=norm, steps=steps, targeted=True, target_class=ranks,
             indices=indices, streams=ranks - 2)[0]
