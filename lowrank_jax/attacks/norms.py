"""Per-norm operations, chosen once by name (NORMS["linf" | "l2"]), and per-example randomness.

    NORMS[norm].size / project / steepest / uniform_start / surface_start / dual
    clip_to_ball(x, x_adv, eps, norm)      # x + project(x_adv - x), clipped to [0, 1]
    example_keys(key, n, indices)          # fold_in(key, indices[i]): results independent of batching
    random_starts(keys, x, eps, norm, kind)
"""

from __future__ import annotations

from typing import Callable, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

Norm = Literal["linf", "l2"]


def expand(s: jax.Array, like: jax.Array) -> jax.Array:
  """(n,) -> (n, 1, ..., 1) broadcastable against `like`."""
  return s.reshape((-1,) + (1,) * (like.ndim - 1))


def flat(v: jax.Array) -> jax.Array:
  """(n, ...) -> (n, d)."""
  return v.reshape(v.shape[0], -1)


class NormOps(NamedTuple):
  """What an attack needs of a norm, chosen once by name (NORMS[norm])."""

  size: Callable[[jax.Array], jax.Array]  # (n, ...) -> (n,) per-example norm
  project: Callable[[jax.Array, jax.Array], jax.Array]  # delta onto the eps-ball
  steepest: Callable[[jax.Array], jax.Array]  # unit steepest-ascent direction of a gradient
  uniform_start: Callable[[jax.Array, tuple, jax.Array], jax.Array]  # one example, uniform in the ball
  surface_start: Callable[[jax.Array, tuple, jax.Array], jax.Array]  # one example, APGD's start
  dual: Callable[[jax.Array], jax.Array]  # (..., d) -> (...) dual norm (distance to a hyperplane)


def _linf_size(v):
  return jnp.abs(flat(v)).max(-1)


def _l2_size(v):
  return jnp.linalg.norm(flat(v), axis=-1)


def l2_scale_to(v: jax.Array, radius) -> jax.Array:
  """Each example of v rescaled to L2 norm `radius`."""
  return v * expand(radius / jnp.maximum(_l2_size(v), 1e-12), v)


def _l2_uniform(key, shape, eps):
  k1, k2 = jax.random.split(key)
  g = jax.random.normal(k1, shape)
  r = jax.random.uniform(k2) ** (1.0 / int(np.prod(shape))) * eps
  return g * r / jnp.maximum(jnp.linalg.norm(g), 1e-12)


NORMS: dict[str, NormOps] = {
    "linf": NormOps(
        size=_linf_size,
        project=lambda d, eps: jnp.clip(d, -eps, eps),
        steepest=jnp.sign,
        uniform_start=lambda k, shape, eps: jax.random.uniform(k, shape, minval=-1.0, maxval=1.0) * eps,
        surface_start=lambda k, shape, eps: (lambda t: eps * t / jnp.maximum(jnp.abs(t).max(), 1e-12))(
            jax.random.uniform(k, shape, minval=-1.0, maxval=1.0)),
        dual=lambda w: jnp.abs(w).sum(-1)),
    "l2": NormOps(
        size=_l2_size,
        project=lambda d, eps: d * expand(jnp.minimum(1.0, eps / jnp.maximum(_l2_size(d), 1e-12)), d),
        steepest=lambda g: l2_scale_to(g, 1.0),
        uniform_start=_l2_uniform,
        surface_start=lambda k, shape, eps: (lambda g: eps * g / jnp.maximum(jnp.linalg.norm(g), 1e-12))(
            jax.random.normal(k, shape)),
        dual=lambda w: jnp.linalg.norm(w, axis=-1)),
}


def clip_to_ball(x: jax.Array, x_adv: jax.Array, eps, norm: Norm) -> jax.Array:
  """x + project(x_adv - x), clipped to the box [0, 1]."""
  return jnp.clip(x + NORMS[norm].project(x_adv - x, eps), 0.0, 1.0)


def example_keys(key: jax.Array, n: int, indices: jax.Array | None = None, streams: jax.Array | None = None
                 ) -> jax.Array:
  """One key per example: fold_in(key, indices[i]) (indices default to 0..n-1); with `streams` (n,),
  fold_in(fold_in(key, streams[i]), indices[i]): row i's stream (a target class) as if run alone with
  key fold_in(key, streams[i])."""
  idx = jnp.arange(n) if indices is None else jnp.asarray(indices)
  if streams is None:
    return jax.vmap(jax.random.fold_in, (None, 0))(key, idx)
  return jax.vmap(lambda s, i: jax.random.fold_in(jax.random.fold_in(key, s), i))(jnp.asarray(streams), idx)


def restart_keys(keys: jax.Array, restart) -> jax.Array:
  """Each example's key for restart (or target) number `restart`: fold_in(keys[i], restart)."""
  return jax.vmap(jax.random.fold_in, (0, None))(keys, restart)


def random_starts(keys: jax.Array, x: jax.Array, eps, norm: Norm, kind: str = "uniform") -> jax.Array:
  """A random delta per example (its own key): uniform in the ball, or APGD's surface start."""
  ops = NORMS[norm]
  fn = ops.uniform_start if kind == "uniform" else ops.surface_start
  eps_b = jnp.broadcast_to(jnp.asarray(eps, x.dtype), x.shape[1:]) if norm == "linf" else jnp.asarray(eps, x.dtype)
  return jax.vmap(lambda k: fn(k, x.shape[1:], eps_b))(keys)
