"""AutoAttack in JAX: APGD-CE, APGD-T (DLR), FAB-T and Square, with the per-example worst case.

    square(logits_fn, x, y, key, eps=, norm=, queries=)     # score-based, gradient-free
    fab(logits_fn, x, y, key, eps=, norm=, targeted=)       # minimal-norm (Fast Adaptive Boundary)
    autoattack(logits_fn, x, y, key, eps=, norm=, version=) # the ensemble -> AutoAttackResult
    sanity_checks(logits_fn, x, y)                          # AutoAttack's checks on the model

APGD is `attacks.apgd` (one loop with PGD). Each attack is one jitted program
over a batch with fixed shapes (per-example masks, `lax` loops); `autoattack`
runs them in AutoAttack's order, each on the examples still robust (gathered on
the host into power-of-two buckets, so few shapes compile). Randomness is per
example, from fold_in(key, global index), so a result does not depend on batch
size, order or padding.

Versions (as in the reference implementation):
  standard: apgd-ce (100 steps), apgd-t (9 targets x 100), fab-t (9 targets x 100), square (5000 queries)
  plus:     apgd-ce x5, apgd-dlr x5, fab x5, square, apgd-t, fab-t
  rand:     apgd-ce, apgd-dlr (the reference adds 20 EOT samples per gradient; every
            model here is deterministic, which `sanity_checks` verifies, so EOT is not run)

Differences from the reference, on purpose: Square draws the square's position
and FAB/APGD their starts per example (the reference draws one position per
batch), so results are batch-size independent.

References:
  Croce, Hein. Reliable evaluation of adversarial robustness with an ensemble of diverse
    parameter-free attacks. ICML 2020. github.com/fra31/auto-attack
  Andriushchenko, Croce, Flammarion, Hein. Square Attack. ECCV 2020.
  Croce, Hein. Minimally distorted adversarial examples with a fast adaptive boundary attack. ICML 2020.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from lowrank_jax import attacks, conv, distributed
from lowrank_jax.attacks import NORMS, LogitsFn, Norm, _expand, clip_to_ball, example_keys

# ----------------------------------------------------------------------------- Square


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


def _margin(logits, y):
  true, other = attacks._true_and_other(logits, y)
  return true - other  # > 0: still correct


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
  """
  attacks.check_inputs(x, y, images=True, where="square")
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
    x_best = jnp.clip(x + attacks._l2_scale_to(init, eps), 0.0, 1.0)
  margin = _margin(logits_fn(x_best), y)

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
      return jnp.clip(x1 + attacks._l2_scale_to(delta[None], eps)[0], 0.0, 1.0)

    return jax.vmap(one)(draw(i), xb, x)

  candidate = linf_candidate if norm == "linf" else l2_candidate

  def cond(carry):
    i, _, m = carry
    return (i < queries) & jnp.any(m > 0)

  def body(carry):
    i, xb, m = carry
    active = m > 0
    xn = candidate(i, xb)
    mn = _margin(logits_fn(xn), y)
    take = active & ((mn < m) | (mn <= 0))
    return i + 1, jnp.where(_expand(take, x), xn, xb), jnp.where(take, mn, m)

  _, x_best, _ = jax.lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), x_best, margin))
  return x_best


# ----------------------------------------------------------------------------- FAB


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
  attacks.check_inputs(x, y, where="fab")
  ops = NORMS[norm]
  n = x.shape[0]
  flat = x.reshape(n, -1)
  clean = logits_fn(x)
  targets = attacks.top_k_targets(clean, target_class) if targeted else None
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
    logits, vjp = jax.vjp(logits_fn, zz)
    num = logits.shape[-1]
    grads = jax.vmap(lambda c: vjp(c)[0])(jnp.eye(num, dtype=logits.dtype)[:, None, :].repeat(n, 1))
    grads = jnp.moveaxis(grads, 0, 1).reshape(n, num, -1)
    df = logits - jnp.take_along_axis(logits, y[:, None], 1)
    dg = grads - jnp.take_along_axis(grads, y[:, None, None], 1)
    dist = jnp.abs(df) / (ops.dual(dg) + 1e-12)
    dist = jnp.where(jax.nn.one_hot(y, num, dtype=bool), jnp.inf, dist)
    j = jnp.argmin(dist, -1)
    g = jnp.take_along_axis(dg, j[:, None, None], 1)[:, 0]
    f = jnp.take_along_axis(df, j[:, None], 1)[:, 0]
    return g, -f + jnp.sum(g * z, -1)

  keys = example_keys(key, n, indices)

  def run(r):
    start = attacks.random_starts(jax.vmap(jax.random.fold_in, (0, None))(keys, r), x, eps, norm, kind="surface")
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
    cand, cand_norm = run(jnp.asarray(r))
    better = cand_norm < best_norm
    best, best_norm = jnp.where(better[:, None], cand, best), jnp.minimum(cand_norm, best_norm)
  return best.reshape(x.shape), best_norm


# ----------------------------------------------------------------------------- the ensemble

VERSIONS: dict[str, tuple[str, ...]] = {
    "standard": ("apgd-ce", "apgd-t", "fab-t", "square"),
    "plus": ("apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"),
    "rand": ("apgd-ce", "apgd-dlr"),
}


@dataclasses.dataclass(frozen=True)
class AttackSettings:
  """AutoAttack's hyper-parameters (the reference's defaults)."""

  steps: int = 100  # APGD and FAB iterations
  restarts: int = 1  # APGD-CE/DLR and FAB restarts (plus: 5)
  num_targets: int = 9  # APGD-T and FAB-T target classes
  queries: int = 5000  # Square


def apgd_targets(logits_fn, x, y, key, eps, indices, *, norm, steps, num_targets):
  """APGD-T: APGD on the targeted DLR loss for the classes ranked 2..num_targets+1, per example the best."""
  run = lambda t: attacks.apgd_run(logits_fn, x, y, jax.random.fold_in(key, t), eps=eps, steps=steps, norm=norm,
                                   loss="dlr_targeted", target_class=t + 2, indices=indices)
  return attacks.best_of(run, num_targets).x


def _fab_targets(logits_fn, x, y, key, eps, indices, *, norm, steps, num_targets, targeted, restarts):
  if not targeted:
    return fab(logits_fn, x, y, key, eps=eps, norm=norm, steps=steps, targeted=False, restarts=restarts,
               indices=indices)[0]

  def body(t, carry):
    best, best_norm = carry
    cand, cand_norm = fab(logits_fn, x, y, jax.random.fold_in(key, t), eps=eps, norm=norm, steps=steps,
                          targeted=True, target_class=t + 2, indices=indices)
    better = cand_norm < best_norm
    return jnp.where(_expand(better, x), cand, best), jnp.minimum(cand_norm, best_norm)

  init = (x, jnp.full((x.shape[0],), jnp.inf, x.dtype))
  return jax.lax.fori_loop(0, num_targets, body, init)[0]


@functools.lru_cache(maxsize=None)
def attack_fn(name: str, norm: Norm, settings: AttackSettings, num_classes: int) -> Callable:
  """A jitted fn(logits_fn, x, y, key, eps, indices) -> x_adv for one of AutoAttack's attacks.

  Cached: every call with the same arguments returns the same function, so a second
  autoattack() on the same architecture and shapes (another checkpoint) compiles nothing.
  """
  s, targets = settings, min(settings.num_targets, num_classes - 1)
  fns = {
      "apgd-ce": functools.partial(attacks.apgd, norm=norm, steps=s.steps, loss="ce", restarts=s.restarts),
      "apgd-dlr": functools.partial(attacks.apgd, norm=norm, steps=s.steps, loss="dlr", restarts=s.restarts),
      "apgd-t": functools.partial(apgd_targets, norm=norm, steps=s.steps, num_targets=targets),
      "fab": functools.partial(_fab_targets, norm=norm, steps=s.steps, num_targets=0, targeted=False,
                               restarts=s.restarts),
      "fab-t": functools.partial(_fab_targets, norm=norm, steps=s.steps, num_targets=targets, targeted=True,
                                 restarts=1),
      "square": functools.partial(square, norm=norm, queries=s.queries),
  }
  f = fns[name]
  return conv.jit(lambda logits_fn, x, y, key, eps, indices: f(logits_fn, x, y, key, eps=eps, indices=indices))


@dataclasses.dataclass
class AutoAttackResult:
  """Per example: the worst case found and which attack found it first."""

  x_adv: np.ndarray  # the first successful adversarial input, else x
  robust: np.ndarray  # (n,) bool: correct on x and on every attack within eps
  first: np.ndarray  # (n,) int: index in `attacks` of the first attack that succeeded; -1 robust; -2 wrong on x
  attacks: tuple[str, ...]
  norms: np.ndarray  # (n,) ||x_adv - x|| in `norm`
  clean_accuracy: float
  robust_accuracy: float
  after: dict[str, float]  # robust accuracy after each attack, cumulative, in order
  checks: list[dict]  # AutoAttack's sanity checks: {check, passed, detail}

  def to_json(self) -> dict:
    return {"attacks": list(self.attacks), "clean_accuracy": self.clean_accuracy,
            "robust_accuracy": self.robust_accuracy, "after": self.after, "checks": self.checks,
            "first": self.first.tolist(), "norms": [float(v) for v in self.norms]}


def bucket_size(n: int, batch_size: int) -> int:
  """The padded size of a chunk of n: a power of two up to 32, then a multiple of 32 (few shapes, little waste)."""
  size = 1 << max(3, int(np.ceil(np.log2(max(n, 1))))) if n <= 32 else -(-n // 32) * 32
  return min(size, batch_size) if n <= batch_size else batch_size


def _buckets(idx: np.ndarray, batch_size: int):
  """Chunks of idx, each padded with its first element to bucket_size (results of the padding are dropped)."""
  for i in range(0, len(idx), batch_size):
    chunk = idx[i:i + batch_size]
    yield chunk, np.concatenate([chunk, np.full(bucket_size(len(chunk), batch_size) - len(chunk), chunk[0])])


_predict = conv.jit(lambda f, z: jnp.argmax(f(z), -1))


def predict(logits_fn: LogitsFn, x: np.ndarray, batch_size: int) -> np.ndarray:
  """argmax of logits_fn over x in batches (host numpy in, numpy out)."""
  return np.concatenate([np.asarray(_predict(logits_fn, x[i:i + batch_size]))
                         for i in range(0, len(x), batch_size)]) if len(x) else np.zeros(0, np.int32)


def autoattack(logits_fn: LogitsFn, x: np.ndarray, y: np.ndarray, key: jax.Array, *, eps: float,
               norm: Norm = "linf", version: str = "standard", settings: AttackSettings | None = None,
               batch_size: int = 256, indices: np.ndarray | None = None, num_classes: int | None = None,
               progress: Callable[[str], None] | None = None, mesh=None) -> AutoAttackResult:
  """AutoAttack: its attacks in order, each on the examples still robust; the per-example worst case.

  Args:
    logits_fn: x -> logits; a `jax.tree_util.Partial` keeps parameters out of the compiled code.
    x, y: NHWC inputs in [0, 1] and labels (host arrays).
    key: PRNG key; example i draws from fold_in(key, indices[i]).
    eps: the budget in `norm`; a point counts as broken when misclassified within eps (+1e-5 relative).
    version: "standard", "plus" or "rand" (see the module docstring).
    settings: hyper-parameters (default: the reference's; "plus" uses 5 restarts).
    indices: global indices of the examples (default 0..n-1).
    progress: called with a line after each attack.
    mesh: a device mesh whose "data" axis shards each batch (sizes divisible by it: see bucket_size).
  """
  names = VERSIONS[version]
  attacks.check_inputs(x, y, images="square" in names, where="autoattack")
  settings = settings or (AttackSettings(restarts=5) if version == "plus" else AttackSettings())
  x, y = np.asarray(x, np.float32), np.asarray(y, np.int32)
  n = len(x)
  indices = np.arange(n) if indices is None else np.asarray(indices)
  num_classes = num_classes or int(np.asarray(logits_fn(x[:1])).shape[-1])
  attacks.check_inputs(x, y, num_classes=num_classes, where="autoattack")
  pred = predict(logits_fn, x, batch_size)
  robust = pred == y
  first = np.where(robust, -1, -2)
  x_adv = x.copy()
  after = {}
  for a, name in enumerate(names):
    fn = attack_fn(name, norm, settings, num_classes)
    todo = np.flatnonzero(robust)
    for chunk, padded in _buckets(todo, batch_size):
      xs, ys, ids = distributed.shard_rows(mesh, x[padded], y[padded], np.asarray(indices[padded]))
      adv = distributed.gather(fn(logits_fn, xs, ys, key, jnp.float32(eps), ids))
      adv = adv[: len(chunk)]
      size = np.asarray(NORMS[norm].size(jnp.asarray(adv - x[chunk])))
      broken = (predict(logits_fn, adv, batch_size) != y[chunk]) & (size <= eps * (1 + 1e-5))
      hit = chunk[broken]
      robust[hit], first[hit], x_adv[hit] = False, a, adv[broken]
    after[name] = float(robust.mean())
    if progress:
      progress(f"{name}: robust accuracy {after[name]:.4f}")
  norms = np.asarray(NORMS[norm].size(jnp.asarray(x_adv - x)))
  checks = []
  if "square" in after and len(after) > 1:
    white = min(v for k, v in after.items() if k != "square" and names.index(k) < names.index("square"))
    checks.append({"check": "Square not stronger than the white-box attacks before it",
                   "passed": after["square"] >= white - 0.002,
                   "detail": f"robust accuracy {white:.4f} before Square, {after['square']:.4f} after"})
  return AutoAttackResult(x_adv, robust, first, names, norms, float((pred == y).mean()), float(robust.mean()),
                          after, checks)


def sanity_checks(logits_fn: LogitsFn, x: np.ndarray, y: np.ndarray, *, repeats: int = 5,
                  tolerance: float = 1e-4) -> list[dict]:
  """AutoAttack's checks of the model itself (reference: autoattack/checks.py), as {check, passed, detail}.

  - deterministic: `repeats` forward passes agree (normalised logits within `tolerance`);
    a randomised model needs EOT, which this evaluation does not do.
  - logits, not probabilities: outputs are not rows in [0, 1] summing to 1.
  - no zero gradients: no correctly classified example's input gradient of the CE and DLR
    losses is exactly zero in float32 (a symptom of masked gradients; DLR is constant,
    with a zero gradient, on a misclassified example whose label ranks third).
  """
  x, y = jnp.asarray(x), jnp.asarray(y)
  outs = [np.asarray(logits_fn(x), np.float64) for _ in range(repeats)]
  correct = np.argmax(outs[0], -1) == np.asarray(y)
  unit = [o / (np.linalg.norm(o, axis=1, keepdims=True) + 1e-10) for o in outs]
  diff = max(float(np.abs(u - unit[0]).max()) for u in unit)
  probs = bool(np.all(outs[0] <= 1 + 1e-5) and np.all(outs[0] >= -1e-5)
               and np.all(np.abs(outs[0].sum(-1) - 1) < 1e-5))
  zero = {}
  for name, loss in (("ce", attacks.ce_loss), ("dlr", attacks.dlr_loss)):
    g = jax.grad(lambda z: loss(logits_fn(z), y).sum())(x)
    zero[name] = int(np.sum(np.all(np.asarray(g).reshape(len(y), -1) == 0, axis=1) & correct))
  return [
      {"check": "deterministic forward pass", "passed": diff <= tolerance,
       "detail": f"max difference of normalised logits over {repeats} calls: {diff:.2e}"},
      {"check": "outputs are logits, not probabilities", "passed": not probs,
       "detail": "rows in [0, 1] summing to 1" if probs else "unnormalised outputs"},
      {"check": "no zero input gradients", "passed": zero["ce"] == 0 and zero["dlr"] == 0,
       "detail": f"{zero['ce']} (CE) and {zero['dlr']} (DLR) of {int(correct.sum())} correctly classified "
                 "examples have an all-zero gradient"},
  ]
