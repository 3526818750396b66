"""Gradient attacks as pure functions of a `logits_fn(x) -> (n, K)` logits.

    NORMS["linf" | "l2"]                   # per-norm operations, chosen once: size, project,
                                           # steepest direction, random starts, dual norm
    ce_loss, margin_loss, dlr_loss, dlr_targeted_loss   # pluggable losses (logits, y[, t]) -> (n,)
    fgsm(logits_fn, x, y, eps=, norm=)     # one signed / normalised step
    pgd(logits_fn, x, y, key, eps=, steps=, ...)    # Madry et al.: fixed step
    apgd(logits_fn, x, y, key, eps=, steps=, ...)   # Croce & Hein: momentum + step-size schedule
    deepfool(logits_fn, x, ...)            # minimal L2/Linf perturbation

PGD and APGD are one loop (`_ascent`, a `lax.fori_loop` over steps) with two step
rules; restarts and target classes are combined per example by `keep_best`.
Every returned input lies in [0, 1] and in the eps-ball of `norm` around x. Inputs are
checked first (`check_inputs`): x a float batch (n, ...) in [0, 1], y integer labels (n,);
otherwise one InputError line (values are checked when concrete, shapes and dtypes under jit too).
Randomness is per example: example i of a call with `indices` draws from
fold_in(key, indices[i]), so results do not depend on batch size or order
(default indices: 0..n-1). Square and FAB live in `lowrank_jax.autoattack`.

`logits_fn` may be any callable. To keep a model's parameters out of the
compiled program as constants, pass `jax.tree_util.Partial(apply, params)`.

Example:
  logits_fn = jax.tree_util.Partial(lambda p, x: model_apply(p, x), params)
  x_adv = jax.jit(pgd, static_argnames=PGD_STATIC)(logits_fn, x, y, key, eps=0.1, steps=20)
  x_adv = jax.jit(apgd, static_argnames=APGD_STATIC)(logits_fn, x, y, key, eps=0.1, loss="dlr")
  result = deepfool(logits_fn, x)   # result.norms, result.success

References:
  Goodfellow, Shlens, Szegedy. Explaining and harnessing adversarial examples. ICLR 2015.
  Madry et al. Towards deep learning models resistant to adversarial attacks. ICLR 2018.
  Croce, Hein. Reliable evaluation of adversarial robustness with an ensemble of diverse
    parameter-free attacks. ICML 2020 (APGD, Alg. 1; the DLR loss, Eq. 6-7).
  Moosavi-Dezfooli, Fawzi, Frossard. DeepFool. CVPR 2016.
"""

from __future__ import annotations

import functools
from typing import Callable, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lowrank_jax import conv, distributed

LogitsFn = Callable[[jax.Array], jax.Array]
LossFn = Callable[..., jax.Array]  # (logits (n,K), labels (n,)[, targets (n,)]) -> (n,), to maximise
Norm = Literal["linf", "l2"]
PGD_STATIC = ("steps", "norm", "restarts", "random_start", "loss", "targeted", "keep", "unroll")
APGD_STATIC = ("steps", "norm", "restarts", "loss", "rho")


# ----------------------------------------------------------------------------- inputs


class InputError(ValueError):
  """Inputs an attack cannot take (raw 0..255 pixels, wrong rank, labels out of range); one line."""


def check_inputs(x, y=None, *, num_classes: int | None = None, images: bool = False, where: str = "attack") -> None:
  """Raises InputError unless x is a float batch (n, ...) in [0, 1] (`images`: NHWC, rank 4) and y holds
  integer labels (n,) (in [0, num_classes) when given). Values are checked only for concrete arrays: under
  jit only shapes and dtypes are."""
  shape, dtype = tuple(np.shape(x)), jnp.result_type(x)
  if images and len(shape) != 4:
    raise InputError(f"{where}: x must be images of shape (n, H, W, C) (NHWC, rank 4); got shape {shape}")
  if len(shape) < 2:
    raise InputError(f"{where}: x must be a batch (n, ...) with the examples on axis 0; got shape {shape}")
  if not jnp.issubdtype(dtype, jnp.floating):
    raise InputError(f"{where}: x must be float pixels in [0, 1]; got dtype {dtype} (uint8 images: divide by 255)")
  if not isinstance(x, jax.core.Tracer) and np.size(x):
    lo, hi = float(np.min(x)), float(np.max(x))
    if not (lo >= 0.0 and hi <= 1.0):
      raise InputError(f"{where}: x must be pixels in [0, 1]; got values in [{lo:g}, {hi:g}] "
                       f"(0..255 images: divide by 255)")
  if y is None:
    return
  if tuple(np.shape(y)) != shape[:1] or not jnp.issubdtype(jnp.result_type(y), jnp.integer):
    raise InputError(f"{where}: y must be integer labels of shape ({shape[0]},), one per example of x; "
                     f"got {jnp.result_type(y)} of shape {tuple(np.shape(y))}")
  if num_classes is not None and not isinstance(y, jax.core.Tracer) and np.size(y):
    lo, hi = int(np.min(y)), int(np.max(y))
    if lo < 0 or hi >= num_classes:
      raise InputError(f"{where}: labels must be in [0, {num_classes - 1}]; got values in [{lo}, {hi}]")


# ----------------------------------------------------------------------------- norms


def _expand(s: jax.Array, like: jax.Array) -> jax.Array:
  """(n,) -> (n, 1, ..., 1) broadcastable against `like`."""
  return s.reshape((-1,) + (1,) * (like.ndim - 1))


def _flat(v: jax.Array) -> jax.Array:
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
  return jnp.abs(_flat(v)).max(-1)


def _l2_size(v):
  return jnp.linalg.norm(_flat(v), axis=-1)


def _l2_scale_to(v, radius):
  return v * _expand(radius / jnp.maximum(_l2_size(v), 1e-12), v)


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
        project=lambda d, eps: d * _expand(jnp.minimum(1.0, eps / jnp.maximum(_l2_size(d), 1e-12)), d),
        steepest=lambda g: _l2_scale_to(g, 1.0),
        uniform_start=_l2_uniform,
        surface_start=lambda k, shape, eps: (lambda g: eps * g / jnp.maximum(jnp.linalg.norm(g), 1e-12))(
            jax.random.normal(k, shape)),
        dual=lambda w: jnp.linalg.norm(w, axis=-1)),
}


def project(delta: jax.Array, eps, norm: Norm) -> jax.Array:
  """Projects each example's delta onto the eps-ball of `norm`."""
  return NORMS[norm].project(delta, eps)


def steepest_direction(g: jax.Array, norm: Norm) -> jax.Array:
  """Unit-norm steepest-ascent direction: sign(g) for Linf, g/||g||_2 for L2."""
  return NORMS[norm].steepest(g)


def perturbation_size(delta: jax.Array, norm: Norm) -> jax.Array:
  """Per-example norm of a perturbation (n, ...) -> (n,)."""
  return NORMS[norm].size(delta)


def clip_to_ball(x: jax.Array, x_adv: jax.Array, eps, norm: Norm) -> jax.Array:
  """x + project(x_adv - x), clipped to the box [0, 1]."""
  return jnp.clip(x + NORMS[norm].project(x_adv - x, eps), 0.0, 1.0)


def example_keys(key: jax.Array, n: int, indices: jax.Array | None = None) -> jax.Array:
  """One key per example: fold_in(key, indices[i]) (indices default to 0..n-1)."""
  idx = jnp.arange(n) if indices is None else jnp.asarray(indices)
  return jax.vmap(jax.random.fold_in, (None, 0))(key, idx)


def random_starts(keys: jax.Array, x: jax.Array, eps, norm: Norm, kind: str = "uniform") -> jax.Array:
  """A random delta per example (its own key): uniform in the ball, or APGD's surface start."""
  ops = NORMS[norm]
  fn = ops.uniform_start if kind == "uniform" else ops.surface_start
  eps_b = jnp.broadcast_to(jnp.asarray(eps, x.dtype), x.shape[1:]) if norm == "linf" else jnp.asarray(eps, x.dtype)
  return jax.vmap(lambda k: fn(k, x.shape[1:], eps_b))(keys)


# ----------------------------------------------------------------------------- losses


def ce_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Per-example softmax cross-entropy."""
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def _true_and_other(logits, labels):
  true = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
  other = jnp.where(jax.nn.one_hot(labels, logits.shape[-1], dtype=bool), -jnp.inf, logits).max(-1)
  return true, other


def margin_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Carlini-Wagner margin max_{j != y} z_j - z_y (> 0 iff misclassified)."""
  true, other = _true_and_other(logits, labels)
  return other - true


def dlr_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Difference of logits ratio, -(z_y - max_{j != y} z_j) / (z_pi1 - z_pi3) (Croce & Hein, Eq. 6).

  Invariant to shifting and to positive scaling of the logits. Needs >= 3 classes.
  """
  true, other = _true_and_other(logits, labels)
  top = jnp.sort(logits, axis=-1)[:, ::-1]
  return -(true - other) / (top[:, 0] - top[:, 2] + 1e-12)


def dlr_targeted_loss(logits: jax.Array, labels: jax.Array, targets: jax.Array) -> jax.Array:
  """Targeted DLR, -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2) (Croce & Hein, Eq. 7). Needs >= 4 classes."""
  true = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
  tgt = jnp.take_along_axis(logits, targets[:, None], axis=1)[:, 0]
  top = jnp.sort(logits, axis=-1)[:, ::-1]
  return -(true - tgt) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


LOSSES: dict[str, LossFn] = {"ce": ce_loss, "margin": margin_loss, "dlr": dlr_loss}


def top_k_targets(logits: jax.Array, rank) -> jax.Array:
  """The class with the `rank`-th highest logit (rank 2: the runner-up), per example; rank may be traced."""
  order = jnp.argsort(-logits, axis=-1)
  return jnp.take_along_axis(order, jnp.broadcast_to(jnp.asarray(rank) - 1, (logits.shape[0], 1)), 1)[:, 0]


# ----------------------------------------------------------------------------- the ascent loop


class Ascent(NamedTuple):
  """What one run of `_ascent` returns, per example."""

  x: jax.Array  # the first adversarial iterate if one was found, else the highest-loss iterate
  success: jax.Array  # (n,) bool
  value: jax.Array  # (n,) best loss seen
  x_loss: jax.Array  # the highest-loss iterate (for transfer: the strongest perturbation on this model)


def _ascent(objective: Callable, x: jax.Array, x0: jax.Array, *, eps, norm: Norm, steps: int, step_size,
            rule: str, rho: float = 0.75, unroll: bool | int = 1) -> Ascent:
  """Maximises `objective` over the eps-ball around x from x0 (steps + 1 gradient evaluations).

  objective(z) -> (loss (n,), success (n,) bool). Rules:
    "fixed": z <- P(z + step_size * steepest(grad))                      (PGD; step_size
             a scalar, or per channel like a per-channel Linf eps)
    "apgd":  momentum 0.75 and a per-example step size 2 eps, halved at
             checkpoints when the loss oscillated or stalled (Croce & Hein, Alg. 1,
             with the reference's checkpoint schedule 0.22 steps, then -0.03 down to 0.06).
  """
  ops = NORMS[norm]
  proj = lambda z: clip_to_ball(x, z, eps, norm)
  vg = jax.value_and_grad(lambda z: (lambda l, s: (l.sum(), (l, s)))(*objective(z)), has_aux=True)
  n = x.shape[0]
  period0, period_min, decrease = max(int(0.22 * steps), 1), max(int(0.06 * steps), 1), max(int(0.03 * steps), 1)

  def evaluate(z):
    (_, (loss, success)), g = vg(z)
    return loss, success, g

  loss0, succ0, g0 = evaluate(x0)
  if rule == "apgd":  # per-example step, adapted
    step0, scale = jnp.full((n,), 2.0, x.dtype) * jnp.max(jnp.asarray(eps)), 1.0
  else:  # fixed; a per-channel step is its largest value times a per-channel scale
    size = jnp.asarray(step_size, x.dtype)
    step0, scale = jnp.full((n,), jnp.max(size), x.dtype), size / jnp.max(size)
  carry = dict(z=x0, z_prev=x0, g=g0, loss=loss0, step=step0, best=x0, g_best=g0, loss_best=loss0,
               adv=x0, found=succ0, n_incr=jnp.zeros((n,), jnp.int32),
               loss_best_check=loss0, reduced_check=jnp.ones((n,), bool), counter=jnp.zeros((), jnp.int32),
               period=jnp.asarray(period0, jnp.int32))

  def body(i, c):
    a = jnp.where(i > 0, 0.75, 1.0) if rule == "apgd" else 1.0
    z1 = proj(c["z"] + _expand(c["step"], x) * scale * ops.steepest(c["g"]))
    z = proj(c["z"] + a * (z1 - c["z"]) + (1 - a) * (c["z"] - c["z_prev"])) if rule == "apgd" else z1
    loss, success, g = evaluate(z)
    better = loss > c["loss_best"]
    new = dict(c, z=z, z_prev=c["z"], g=g, loss=loss,
               best=jnp.where(_expand(better, x), z, c["best"]), g_best=jnp.where(_expand(better, x), g, c["g_best"]),
               loss_best=jnp.where(better, loss, c["loss_best"]),
               adv=jnp.where(_expand(success & ~c["found"], x), z, c["adv"]), found=c["found"] | success,
               n_incr=c["n_incr"] + (loss > c["loss"]).astype(jnp.int32))
    if rule != "apgd":
      return new
    counter = c["counter"] + 1
    check = counter == c["period"]
    oscillated = new["n_incr"] <= c["period"] * rho
    stalled = ~c["reduced_check"] & (c["loss_best_check"] >= new["loss_best"])
    halve = check & (oscillated | stalled)
    restart = _expand(halve, x)
    return dict(new, step=jnp.where(halve, new["step"] / 2, new["step"]),
                z=jnp.where(restart, new["best"], new["z"]), g=jnp.where(restart, new["g_best"], new["g"]),
                n_incr=jnp.where(check, 0, new["n_incr"]),
                loss_best_check=jnp.where(check, new["loss_best"], c["loss_best_check"]),
                reduced_check=jnp.where(check, oscillated | stalled, c["reduced_check"]),
                counter=jnp.where(check, 0, counter),
                period=jnp.where(check, jnp.maximum(c["period"] - decrease, period_min), c["period"]))

  c = jax.lax.fori_loop(0, steps, body, carry, unroll=unroll)
  return Ascent(jnp.where(_expand(c["found"], x), c["adv"], c["best"]), c["found"], c["loss_best"], c["best"])


def keep_best(a: Ascent, b: Ascent) -> Ascent:
  """Per example: a success over a failure, the earlier of two successes, else the higher loss."""
  take = (b.success & ~a.success) | (~b.success & ~a.success & (b.value > a.value))
  higher = b.value > a.value
  return Ascent(jnp.where(_expand(take, a.x), b.x, a.x), a.success | b.success,
                jnp.maximum(a.value, b.value), jnp.where(_expand(higher, a.x), b.x_loss, a.x_loss))


def best_of(run: Callable[[jax.Array], Ascent], count: int) -> Ascent:
  """keep_best over run(0), ..., run(count - 1) (restarts, or target classes), as a fori_loop."""
  first = run(jnp.zeros((), jnp.int32))
  if count == 1:
    return first
  return jax.lax.fori_loop(1, count, lambda r, best: keep_best(best, run(r)), first)


def _success_fn(y: jax.Array, targets: jax.Array | None):
  if targets is None:
    return lambda logits: jnp.argmax(logits, -1) != y
  return lambda logits: jnp.argmax(logits, -1) == targets


# ----------------------------------------------------------------------------- attacks


def fgsm(logits_fn: LogitsFn, x: jax.Array, y: jax.Array, *, eps, norm: Norm = "linf",
         loss: str | LossFn = "ce", targeted: bool = False) -> jax.Array:
  """Fast gradient (sign) method: x + eps * steepest_direction(grad), clipped to [0, 1].

  Linf: Goodfellow et al.'s FGSM; L2: the fast gradient method with the step
  eps * g / ||g||_2 (per example), so the L2 budget is honoured. `targeted`: y are targets.
  """
  check_inputs(x, y, where="fgsm")
  fn = LOSSES.get(loss, loss) if isinstance(loss, str) else loss
  sign = -1.0 if targeted else 1.0
  g = jax.grad(lambda z: sign * fn(logits_fn(z), y).sum())(x)
  return clip_to_ball(x, x + eps * NORMS[norm].steepest(g), eps, norm)


def pgd(logits_fn: LogitsFn, x: jax.Array, y: jax.Array, key: jax.Array, *, eps, steps: int,
        step_size=None, norm: Norm = "linf", restarts: int = 1, random_start: bool = True,
        loss: str | LossFn = "ce", targeted: bool = False, indices: jax.Array | None = None,
        keep: str = "adversarial", unroll: bool | int = 1) -> jax.Array:
  """Projected gradient descent (Madry et al.), with restarts.

  Each of `restarts` runs starts uniformly in the eps-ball (or at x), takes
  `steps` steps of `step_size` (default 2.5 eps / steps) along the steepest
  direction of the loss and projects each iterate onto the eps-ball and [0, 1].
  Per example, keep="adversarial" returns the first iterate that succeeded
  (misclassified, or hit the target if `targeted`) of the first restart that
  succeeded, else the iterate of highest loss (for robust accuracy: any
  iterate that fools the model counts); keep="loss" returns the highest-loss
  iterate over all restarts (for transfer to another model).

  On this project's 2-core CPU the rolled loop measured 0.99-1.06x the unrolled
  one (and faster than a Python loop over a jitted step; README of release 0.1),
  so steps and restarts are rolled `lax.fori_loop`s; `unroll` is passed through.

  Args:
    logits_fn: x -> logits (n, K).
    x: clean inputs in [0, 1], (n, ...).
    y: labels (n,), or target labels if `targeted`.
    key: PRNG key; example i uses fold_in(fold_in(key, indices[i]), restart).
    eps: radius of the ball (Linf: a scalar or per-channel array broadcast on x).
    steps: iterations per restart.
    step_size: default 2.5 * eps / steps.
    norm: "linf" or "l2".
    restarts: independent runs.
    random_start: start uniformly in the ball (else at x).
    loss: "ce", "margin", "dlr" or a LossFn (logits, labels) -> (n,).
    targeted: move towards y instead of away from it.
    indices: the examples' global indices (per-example randomness).
    keep: "adversarial" or "loss" (see above).
    unroll: passed to the steps' fori_loop (1: rolled).

  Returns:
    Adversarial inputs, shape of x.
  """
  check_inputs(x, y, where="pgd")
  fn = LOSSES.get(loss, loss) if isinstance(loss, str) else loss
  sign = -1.0 if targeted else 1.0
  succeeded = _success_fn(y, y if targeted else None)
  objective = lambda z: (lambda lg: (sign * fn(lg, y), succeeded(lg)))(logits_fn(z))
  alpha = jnp.asarray(2.5 * jnp.asarray(eps) / steps if step_size is None else step_size, x.dtype)
  keys = example_keys(key, x.shape[0], indices)

  def run(r):
    d0 = random_starts(jax.vmap(jax.random.fold_in, (0, None))(keys, r), x, eps, norm) if random_start else 0.0
    return _ascent(objective, x, clip_to_ball(x, x + d0, eps, norm), eps=eps, norm=norm, steps=steps,
                   step_size=alpha, rule="fixed", unroll=unroll)

  best = best_of(run, restarts)
  return best.x_loss if keep == "loss" else best.x


def apgd(logits_fn: LogitsFn, x: jax.Array, y: jax.Array, key: jax.Array, *, eps, steps: int = 100,
         norm: Norm = "linf", loss: str = "ce", restarts: int = 1, rho: float = 0.75,
         target_class: int | jax.Array | None = None, indices: jax.Array | None = None) -> jax.Array:
  """Auto-PGD (Croce & Hein 2020, Alg. 1), with restarts.

  Step size 2 eps per example, momentum 0.75, halved at checkpoints (after 22% of
  the steps, then at periods shrinking by 3% to at least 6%) when fewer than
  rho of the steps since the last checkpoint increased the loss, or when the
  best loss did not improve since the last checkpoint and the step was not
  halved then; each halving restarts from the best point. Starts at x + eps * t
  / ||t|| (t uniform in [-1, 1]^d for Linf, Gaussian for L2). Per example it
  returns an adversarial iterate if one was found, else the highest-loss one.

  Args:
    loss: "ce", "dlr" (untargeted), or "dlr_targeted" with `target_class`.
    target_class: for "dlr_targeted": an int rank k (the target is the class with
      the k-th highest clean logit, AutoAttack's choice; 2 is the runner-up), or
      an (n,) array of target labels. Success is still "not y".
    indices: the examples' global indices (per-example randomness).
  """
  return apgd_run(logits_fn, x, y, key, eps=eps, steps=steps, norm=norm, loss=loss, restarts=restarts, rho=rho,
                  target_class=target_class, indices=indices).x


def apgd_run(logits_fn: LogitsFn, x: jax.Array, y: jax.Array, key: jax.Array, *, eps, steps: int = 100,
             norm: Norm = "linf", loss: str = "ce", restarts: int = 1, rho: float = 0.75,
             target_class: int | jax.Array | None = None, indices: jax.Array | None = None) -> Ascent:
  """`apgd`, returning the per-example Ascent (x, success, best loss) for combining runs."""
  check_inputs(x, y, where="apgd")
  targeted = loss == "dlr_targeted"
  if targeted and target_class is None:
    raise ValueError("loss='dlr_targeted' needs target_class")
  targets = None
  if targeted:
    tc = jnp.asarray(target_class)
    targets = top_k_targets(logits_fn(x), tc) if tc.ndim == 0 else tc
    value = lambda lg: dlr_targeted_loss(lg, y, targets)
  else:
    value = lambda lg: LOSSES[loss](lg, y)
  objective = lambda z: (lambda lg: (value(lg), jnp.argmax(lg, -1) != y))(logits_fn(z))
  keys = example_keys(key, x.shape[0], indices)

  def run(r):
    d0 = random_starts(jax.vmap(jax.random.fold_in, (0, None))(keys, r), x, eps, norm, kind="surface")
    return _ascent(objective, x, jnp.clip(x + d0, 0.0, 1.0), eps=eps, norm=norm, steps=steps, step_size=None,
                   rule="apgd", rho=rho)

  return best_of(run, restarts)


# ----------------------------------------------------------------------------- DeepFool


class DeepFoolResult(NamedTuple):
  x_adv: np.ndarray  # (n, ...) in [0, 1]
  norms: np.ndarray  # (n,) ||x_adv - x|| in the attack's norm
  success: np.ndarray  # (n,) label flipped within max_iter
  iterations: np.ndarray  # (n,) iterations used


@functools.partial(conv.jit, static_argnames=("norm",))
def _deepfool_step(logits_fn, x0, r_tot, candidates, overshoot, *, norm: Norm):
  """One DeepFool iteration for a batch: linearise f_k - f_orig at the current point and step.

  Gradients of all candidate differences come from one forward pass and one
  vmapped VJP with stacked one-hot cotangents (no per-class backward loop).
  """
  ops = NORMS[norm]
  x = jnp.clip(x0 + (1 + overshoot) * r_tot, 0.0, 1.0)
  logits, vjp = jax.vjp(logits_fn, x)
  n, num_k = candidates.shape
  cot = jax.nn.one_hot(candidates.T, logits.shape[-1], dtype=logits.dtype)  # (C, n, K)
  grads = jax.vmap(lambda c: vjp(c)[0])(cot)  # (C, n, ...)
  grads = jnp.moveaxis(grads, 0, 1).reshape(n, num_k, -1)  # (n, C, d)
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


_apply = conv.jit(lambda f, z: f(z))  # module level: one compilation per logits_fn type and shape


def pow2(n: int) -> int:
  """The smallest power of two >= n."""
  return 1 << max(0, int(np.ceil(np.log2(n))))


def deepfool(logits_fn: LogitsFn, x: jax.Array, *, num_candidates: int = 10, overshoot: float = 0.02,
             max_iter: int = 50, norm: Norm = "l2", min_bucket: int = 32, compact: bool = True,
             mesh=None) -> DeepFoolResult:
  """DeepFool (Moosavi-Dezfooli et al.): the smallest perturbation to the nearest linearised boundary.

  The candidates are the top `num_candidates` classes of the clean logits,
  fixed once (the first is the original prediction). Each iteration moves
  every still-active example to the nearest boundary of its linearisation
  plus 1e-4 (so an example landing on a boundary within float error still
  crosses it); the overshoot multiplies the accumulated perturbation. An
  example stops once its label flips. The returned x_adv is clipped to [0, 1];
  success means its prediction differs from the clean one.

  Between jitted iterations the still-active examples are compacted and padded
  to a power-of-two bucket of at least `min_bucket` (or the batch's own power of two, if
  smaller: a batch of 1 is never padded to 32), so few shapes compile and finished
  examples cost nothing (`compact=False` steps the whole batch every
  iteration: 1.55x slower at batch 256 when last measured). With a device `mesh`,
  each bucket is sharded over its "data" axis.

  Returns:
    DeepFoolResult(x_adv, norms, success, iterations); norms are in `norm`.
  """
  check_inputs(x, where="deepfool")
  if not isinstance(logits_fn, jax.tree_util.Partial):
    logits_fn = jax.tree_util.Partial(logits_fn)
  x = jnp.asarray(x)
  n = x.shape[0]
  clean = _apply(logits_fn, x)
  num_candidates = min(num_candidates, clean.shape[-1])
  candidates = np.asarray(jnp.argsort(-clean, axis=-1)[:, :num_candidates])
  r_tot = np.zeros(x.shape, np.float32)
  iters = np.zeros(n, np.int32)
  success = np.zeros(n, bool)
  active = np.arange(n)
  x_np = np.asarray(x)
  for _ in range(max_iter):
    if active.size == 0:
      break
    if compact:
      size = max(min(min_bucket, pow2(n)), pow2(active.size))  # never above the batch's own bucket
      idx = np.concatenate([active, np.full(size - active.size, active[0])])
      keep = slice(0, active.size)
    else:  # the whole batch every iteration (for comparison): finished examples are recomputed, not kept
      idx, keep = np.arange(n), active
    args = distributed.shard_rows(mesh, x_np[idx], r_tot[idx], candidates[idx])
    new_r, flipped = distributed.gather(_deepfool_step(logits_fn, *args, jnp.float32(overshoot), norm=norm))
    new_r, flipped = new_r[keep], flipped[keep]
    r_tot[active] = new_r
    iters[active] += 1
    success[active[flipped]] = True
    active = active[~flipped]
  x_adv = np.clip(x_np + (1 + overshoot) * r_tot, 0.0, 1.0)
  norms = np.asarray(NORMS[norm].size(jnp.asarray(x_adv - x_np)))
  return DeepFoolResult(x_adv, norms, success, iters)
