"""Square attack (Andriushchenko, Croce, Flammarion, Hein, ECCV 2020): score-based, gradient-free.

    square(logits_fn, x, y, key, eps=, norm=, queries=) -> x_adv
    square_start(...) -> SquareState; square_queries(..., state, start, stop) -> SquareState   # in spans

Differences from the reference, on purpose: the square's position is drawn per example (the
reference draws one per batch), so results are batch-size independent.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lowrank_jax.attacks.inputs import check_inputs
from lowrank_jax.attacks.losses import LogitsFn, margin_loss
from lowrank_jax.attacks.norms import Norm, example_keys, expand, l2_scale_to

def p_schedule(i: jax.Array, p_init: float, queries: int, rescale: bool) -> jax.Array:
  """Square's fraction of pixels per square: p_init halved at iterations 10, 50, 200, 500, 1k, 2k, 4k, 6k, 8k."""
  it = jnp.floor(i / queries * 10000).astype(jnp.int32) if rescale else i
  thresholds = jnp.asarray([10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000])
  return p_init / 2.0 ** jnp.sum(it > thresholds)


def _square_side(p, h, w, minimum):
  s = jnp.maximum(jnp.round(jnp.sqrt(p * h * w)).astype(jnp.int32), minimum)
  return jnp.minimum(s, min(h, w))


def _window(key, h, w, s):
  """Mask (h, w) of an s x s square at a uniform position, as the reference draws it."""
  kh, kw = jax.random.split(key)
  vh = jnp.floor(jax.random.uniform(kh) * (h - s)).astype(jnp.int32)
  vw = jnp.floor(jax.random.uniform(kw) * (w - s)).astype(jnp.int32)
  r, c = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
  return ((r >= vh) & (r < vh + s) & (c >= vw) & (c < vw + s)).astype(jnp.float32), vh, vw


def _eta_table(size: int) -> np.ndarray:
  """eta(s) of the L2 Square attack for s = 0..size, each zero-padded to (size, size)."""

  def rectangles(a, b):
    d = np.zeros((a, b))
    xc, yc = a // 2 + 1, b // 2 + 1
    c0, c1 = xc - 1, yc - 1
    for k in range(max(xc, yc)):
      d[max(c0, 0):min(c0 + 2 * k + 1, a), max(0, c1):min(c1 + 2 * k + 1, b)] += 1.0 / (k + 1) ** 2
      c0, c1 = c0 - 1, c1 - 1
    return d / max(np.sqrt((d**2).sum()), 1e-12)

  table = np.zeros((size + 1, size, size), np.float32)
  for s in range(1, size + 1):
    e = np.zeros((s, s))
    e[: s // 2] = rectangles(s // 2, s) if s // 2 else 0.0
    e[s // 2:] = -rectangles(s - s // 2, s)
    table[s, :s, :s] = e / max(np.sqrt((e**2).sum()), 1e-12)
  return table


def _place(table, s, vh, vw, h, w, transpose):
  """table[s] placed with its corner at (vh, vw) in an (h, w) image (zeros elsewhere)."""
  pat = jnp.where(transpose, table[s].T, table[s])
  r, c = jnp.arange(h)[:, None] - vh, jnp.arange(w)[None, :] - vw
  inside = (r >= 0) & (r < s) & (c >= 0) & (c < s)
  return jnp.where(inside, pat[jnp.clip(r, 0, pat.shape[0] - 1), jnp.clip(c, 0, pat.shape[1] - 1)], 0.0)


class SquareState(NamedTuple):
  """Per example: the best point so far and its margin z_y - max_{j != y} z_j (<= 0: broken, no more queries)."""

  x_best: jax.Array
  margin: jax.Array


def square(logits_fn: LogitsFn, x: jax.Array, y: jax.Array, key: jax.Array, *, eps, norm: Norm = "linf",
           queries: int = 5000, p_init: float = 0.8, rescale_schedule: bool = False,
           indices: jax.Array | None = None) -> jax.Array:
  """Square attack (Andriushchenko et al. 2020): random square updates accepted when the margin drops.

  Linf: starts from vertical stripes of +-eps; each query adds a square of side
  sqrt(p h w) of +-2 eps per channel, clipped to the ball and [0, 1]. L2: starts
  from a grid of eta patterns; each query moves mass between two windows keeping
  ||delta||_2 = eps. p follows the reference's schedule (AutoAttack does not
  rescale it to `queries`). The margin loss z_y - max_{j != y} z_j is minimised;
  an example stops once misclassified. Inputs are NHWC in [0, 1].

  `square_start` then `square_queries` over [0, queries) is the same attack in parts: AutoAttack runs
  it in spans of queries and drops the broken examples between spans, as the reference stops querying them.
  """
  state = square_start(logits_fn, x, y, key, eps=eps, norm=norm, queries=queries, indices=indices)
  return square_queries(logits_fn, x, y, key, state, 0, queries, eps=eps, norm=norm, queries=queries,
                        p_init=p_init, rescale_schedule=rescale_schedule, indices=indices).x_best


def square_start(logits_fn: LogitsFn, x: jax.Array, y: jax.Array, key: jax.Array, *, eps, norm: Norm = "linf",
                 queries: int = 5000, indices: jax.Array | None = None) -> SquareState:
  """Square's starting point per example (Linf: vertical stripes of +-eps; L2: a grid of eta patterns)."""
  check_inputs(x, y, images=True, where="square")
  n, h, w, c = x.shape
  keys = example_keys(key, n, indices)
  draw = lambda i: jax.vmap(lambda k: jax.random.fold_in(k, i))(keys)
  sign = lambda ks, shape: jax.vmap(lambda k: jnp.sign(jax.random.uniform(k, shape) - 0.5))(ks)
  if norm == "linf":
    x_best = jnp.clip(x + eps * sign(draw(queries), (1, w, c)), 0.0, 1.0)
  else:
    table = jnp.asarray(_eta_table(min(h, w)))
    s0 = h // 5
    sp = (h - 5 * s0) // 2
    init = jnp.zeros_like(x)
    ks = draw(queries)  # the loop draws 0..queries-1
    for a in range(h // s0):
      for b in range(w // s0):
        blk = _place(table, s0, sp + a * s0, sp + b * s0, h, w, False)
        sg = sign(jax.vmap(lambda k: jax.random.fold_in(k, a * 97 + b))(ks), (1, 1, c))
        init = init + blk[None, :, :, None] * sg
    x_best = jnp.clip(x + l2_scale_to(init, eps), 0.0, 1.0)
  return SquareState(x_best, -margin_loss(logits_fn(x_best), y))


def square_queries(logits_fn: LogitsFn, x: jax.Array, y: jax.Array, key: jax.Array, state: SquareState,
                   start, stop, *, eps, norm: Norm = "linf", queries: int = 5000, p_init: float = 0.8,
                   rescale_schedule: bool = False, indices: jax.Array | None = None) -> SquareState:
  """Square's queries start..stop-1 (traced ints: one compilation for every span) from `state`; the loop ends
  early once every example is broken. Query i of example k draws from fold_in(fold_in(key, index_k), i)."""
  n, h, w, c = x.shape
  keys = example_keys(key, n, indices)
  draw = lambda i: jax.vmap(lambda k: jax.random.fold_in(k, i))(keys)
  table = None if norm == "linf" else jnp.asarray(_eta_table(min(h, w)))

  def linf_candidate(i, xb):
    s = _square_side(p_schedule(i, p_init, queries, rescale_schedule), h, w, 1)

    def one(k, xb1, x1):
      k1, k2 = jax.random.split(k)
      mask = _window(k1, h, w, s)[0][:, :, None]
      signs = jnp.sign(jax.random.uniform(k2, (1, 1, c)) - 0.5)
      return jnp.clip(jnp.clip(xb1 + mask * 2 * eps * signs, x1 - eps, x1 + eps), 0.0, 1.0)

    return jax.vmap(one)(draw(i), xb, x)

  def l2_candidate(i, xb):
    s = _square_side(p_schedule(i, p_init, queries, rescale_schedule), h, w, 3)
    s = jnp.minimum(s + (s % 2 == 0), min(h, w))

    def one(k, xb1, x1):
      k1, k2, k3, k4 = jax.random.split(k, 4)
      delta = xb1 - x1
      m1, vh, vw = _window(k1, h, w, s)
      m2 = _window(k2, h, w, s)[0]
      m1, m2 = m1[:, :, None], m2[:, :, None]
      per_channel = lambda v: jnp.sqrt(jnp.sum(v**2, axis=(0, 1), keepdims=True))  # (1, 1, c)
      norm_img = jnp.sqrt(jnp.sum(delta**2))
      norm_w1 = per_channel(delta * m1)
      norm_ws = per_channel(delta * jnp.maximum(m1, m2))
      eta = _place(table, s, vh, vw, h, w, jax.random.uniform(k4) > 0.5)[:, :, None]
      new = eta * jnp.sign(jax.random.uniform(k3, (1, 1, c)) - 0.5) + delta * m1 / (1e-12 + norm_w1)
      new = new / (1e-12 + per_channel(new * m1)) * jnp.sqrt(jnp.maximum(eps**2 - norm_img**2, 0.0) / c + norm_ws**2)
      delta = delta * (1 - m2) * (1 - m1) + new * m1
      return jnp.clip(x1 + l2_scale_to(delta[None], eps)[0], 0.0, 1.0)

    return jax.vmap(one)(draw(i), xb, x)

  candidate = linf_candidate if norm == "linf" else l2_candidate

  def cond(carry):
    i, _, m = carry
    return (i < stop) & jnp.any(m > 0)

  def body(carry):
    i, xb, m = carry
    active = m > 0
    xn = candidate(i, xb)
    mn = -margin_loss(logits_fn(xn), y)  # z_y - max_{j != y} z_j: > 0 while correct
    take = active & ((mn < m) | (mn <= 0))
    return i + 1, jnp.where(expand(take, x), xn, xb), jnp.where(take, mn, m)

  _, x_best, margin = jax.lax.while_loop(cond, body, (jnp.asarray(start, jnp.int32), state.x_best, state.margin))
  return SquareState(x_best, margin)

