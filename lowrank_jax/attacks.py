"""Adversarial attacks as pure functions of a `logits_fn(x) -> (n, K)` logits.

    fgsm(logits_fn, x, y, eps=, norm=)                          # one signed/normalised step
    pgd(logits_fn, x, y, key, eps=, steps=, norm=, restarts=, loss=, targeted=)
    deepfool(logits_fn, x, num_candidates=, overshoot=, max_iter=, norm=)

Inputs are pixels in [0, 1], shape (n, ...); every adversarial input returned
lies in [0, 1] and (fgsm, pgd) in the eps-ball of `norm` around x. Losses are
pluggable: `ce_loss`, `margin_loss`, or any `(logits, labels) -> (n,)`.

`logits_fn` may be any callable. To keep a model's parameters out of the
compiled program as constants, pass `jax.tree_util.Partial(apply, params)`:
it is a pytree, so jit sees the parameters as arguments.

Example:
  logits_fn = jax.tree_util.Partial(lambda p, x: model_apply(p, x), params)
  x_adv = jax.jit(pgd, static_argnames=PGD_STATIC)(logits_fn, x, y, key, eps=0.1, steps=20)
  result = deepfool(logits_fn, x)   # result.norms, result.success

References:
  Goodfellow, Shlens, Szegedy. Explaining and harnessing adversarial examples. ICLR 2015.
  Madry et al. Towards deep learning models resistant to adversarial attacks. ICLR 2018.
  Moosavi-Dezfooli, Fawzi, Frossard. DeepFool. CVPR 2016.
"""

from __future__ import annotations

import functools
from typing import Callable, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

LogitsFn = Callable[[jax.Array], jax.Array]
LossFn = Callable[[jax.Array, jax.Array], jax.Array]  # (logits (n,K), labels (n,)) -> (n,)
Norm = Literal["linf", "l2"]
PGD_STATIC = ("steps", "norm", "restarts", "random_start", "loss", "targeted", "unroll")


def ce_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Per-example softmax cross-entropy."""
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def margin_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Carlini-Wagner margin max_{j != y} z_j - z_y (> 0 iff misclassified)."""
  true = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
  other = jnp.where(jax.nn.one_hot(labels, logits.shape[-1], dtype=bool), -jnp.inf, logits).max(-1)
  return other - true


LOSSES: dict[str, LossFn] = {"ce": ce_loss, "margin": margin_loss}


def _per_example_norm(v: jax.Array, norm: Norm) -> jax.Array:
  flat = v.reshape(v.shape[0], -1)
  return jnp.abs(flat).max(-1) if norm == "linf" else jnp.linalg.norm(flat, axis=-1)


def _expand(s: jax.Array, like: jax.Array) -> jax.Array:
  return s.reshape((-1,) + (1,) * (like.ndim - 1))


def project(delta: jax.Array, eps, norm: Norm) -> jax.Array:
  """Projects each example's delta onto the eps-ball of `norm`."""
  if norm == "linf":
    return jnp.clip(delta, -eps, eps)
  n = _per_example_norm(delta, "l2")
  return delta * _expand(jnp.minimum(1.0, eps / jnp.maximum(n, 1e-12)), delta)


def steepest_direction(g: jax.Array, norm: Norm) -> jax.Array:
  """Unit-norm steepest-ascent direction: sign(g) for Linf, g/||g||_2 for L2."""
  if norm == "linf":
    return jnp.sign(g)
  return g / _expand(jnp.maximum(_per_example_norm(g, "l2"), 1e-12), g)


def random_start_delta(key: jax.Array, shape, eps, norm: Norm) -> jax.Array:
  """Uniform sample of the eps-ball (Linf: a cube; L2: direction x radius U^(1/d))."""
  if norm == "linf":
    return jax.random.uniform(key, shape, minval=-eps, maxval=eps)
  k1, k2 = jax.random.split(key)
  d = int(np.prod(shape[1:]))
  g = jax.random.normal(k1, shape)
  r = jax.random.uniform(k2, (shape[0],)) ** (1.0 / d) * eps
  return steepest_direction(g, "l2") * _expand(r, g)


def _objective(logits_fn: LogitsFn, loss_fn: LossFn, y: jax.Array, targeted: bool):
  sign = -1.0 if targeted else 1.0
  return lambda x: sign * loss_fn(logits_fn(x), y)  # per-example value to maximise


def fgsm(logits_fn: LogitsFn, x: jax.Array, y: jax.Array, *, eps, norm: Norm = "linf",
         loss: str | LossFn = "ce", targeted: bool = False) -> jax.Array:
  """Fast gradient (sign) method: x + eps * steepest_direction(grad), clipped to [0, 1].

  Linf: Goodfellow et al.'s FGSM; L2: the fast gradient method with the step
  eps * g / ||g||_2 (per example), so the L2 budget is honoured.
  """
  obj = _objective(logits_fn, LOSSES.get(loss, loss), y, targeted)
  g = jax.grad(lambda z: obj(z).sum())(x)
  return jnp.clip(x + eps * steepest_direction(g, norm), 0.0, 1.0)


def pgd(logits_fn: LogitsFn, x: jax.Array, y: jax.Array, key: jax.Array, *, eps, steps: int,
        step_size=None, norm: Norm = "linf", restarts: int = 1, random_start: bool = True,
        loss: str | LossFn = "ce", targeted: bool = False, unroll: bool | int = 1) -> jax.Array:
  """Projected gradient descent (Madry et al.), with restarts.

  Each of `restarts` runs starts uniformly in the eps-ball (or at x), takes
  `steps` steps of `step_size` (default 2.5 eps / steps) along the steepest
  direction of the loss and projects each iterate onto the eps-ball and [0, 1].
  Per example, the result is the final iterate of the first restart that
  succeeded (misclassified, or hit the target if `targeted`), else the one
  with the highest loss.

  Steps and restarts are rolled `lax.fori_loop`s (one compiled step). On this
  project's 2-core CPU (jax 0.10.2, the Fashion-MNIST CNN, batch 256)
  `bench/attacks.py` measured PGD-20 rolled/unrolled at 0.99-1.06x and rolled/Python
  loop over a jitted step at 0.80-0.90x (time ratios), while unrolling 40 steps multiplied the
  compile time; so the rolled loop is the default on every backend (not yet
  measured on GPU/TPU). `unroll` is passed through for other models/backends.

  Args:
    logits_fn: x -> logits (n, K).
    x: clean inputs in [0, 1], (n, ...).
    y: labels (n,), or target labels if `targeted`.
    key: PRNG key for the random starts.
    eps: radius of the ball.
    steps: iterations per restart.
    step_size: default 2.5 * eps / steps.
    norm: "linf" or "l2".
    restarts: independent runs.
    random_start: start uniformly in the ball (else at x).
    loss: "ce", "margin" or a LossFn.
    targeted: move towards y instead of away from it.
    unroll: passed to the steps' fori_loop (1: rolled).

  Returns:
    Adversarial inputs, shape of x.
  """
  loss_fn = LOSSES.get(loss, loss)
  obj = _objective(logits_fn, loss_fn, y, targeted)
  alpha = 2.5 * eps / steps if step_size is None else step_size
  grad = jax.grad(lambda z: obj(z).sum())

  def body(_, delta):
    delta = delta + alpha * steepest_direction(grad(x + delta), norm)
    return jnp.clip(x + project(delta, eps, norm), 0.0, 1.0) - x

  def one_run(k):
    delta = random_start_delta(k, x.shape, eps, norm) if random_start else jnp.zeros_like(x)
    delta = jnp.clip(x + project(delta, eps, norm), 0.0, 1.0) - x
    delta = jax.lax.fori_loop(0, steps, body, delta, unroll=unroll)
    logits = logits_fn(x + delta)
    hit = jnp.argmax(logits, -1) == y
    value = (-1.0 if targeted else 1.0) * loss_fn(logits, y)
    return x + delta, (hit if targeted else ~hit), value

  def restart(r, carry):
    best, best_ok, best_val = carry
    cand, ok, val = one_run(jax.random.fold_in(key, r))
    take = (ok & ~best_ok) | (~ok & ~best_ok & (val > best_val))
    return (jnp.where(_expand(take, x), cand, best), best_ok | ok, jnp.where(take, val, best_val))

  first = one_run(jax.random.fold_in(key, 0))
  return jax.lax.fori_loop(1, restarts, restart, first)[0] if restarts > 1 else first[0]


class DeepFoolResult(NamedTuple):
  x_adv: np.ndarray  # (n, ...) in [0, 1]
  norms: np.ndarray  # (n,) ||x_adv - x|| in the attack's norm
  success: np.ndarray  # (n,) label flipped within max_iter
  iterations: np.ndarray  # (n,) iterations used


@functools.partial(jax.jit, static_argnames=("norm",))
def _deepfool_step(logits_fn, x0, r_tot, candidates, overshoot, *, norm: Norm):
  """One DeepFool iteration for a batch: linearise f_k - f_orig at the current point and step.

  Gradients of all candidate differences come from one forward pass and one
  vmapped VJP with stacked one-hot cotangents (no per-class backward loop).
  """
  x = jnp.clip(x0 + (1 + overshoot) * r_tot, 0.0, 1.0)
  logits, vjp = jax.vjp(logits_fn, x)
  n, num_k = candidates.shape
  cot = jax.nn.one_hot(candidates.T, logits.shape[-1], dtype=logits.dtype)  # (C, n, K)
  grads = jax.vmap(lambda c: vjp(c)[0])(cot)  # (C, n, ...)
  grads = jnp.moveaxis(grads, 0, 1).reshape(n, num_k, -1)  # (n, C, d)
  f = jnp.take_along_axis(logits, candidates, axis=1)  # (n, C)
  w = grads[:, 1:] - grads[:, :1]  # candidate 0 is the original class
  fd = f[:, 1:] - f[:, :1]  # < 0 while not flipped
  dual = 1 if norm == "linf" else 2  # distance to a hyperplane uses the dual norm of w
  wn = jnp.linalg.norm(w, ord=dual, axis=-1) + 1e-12
  dist = jnp.abs(fd) / wn
  k = jnp.argmin(dist, axis=1)
  wk = jnp.take_along_axis(w, k[:, None, None], 1)[:, 0]
  dk = jnp.take_along_axis(dist, k[:, None], 1)[:, 0] + 1e-4  # margin: cross, never land on the plane
  wnk = jnp.take_along_axis(wn, k[:, None], 1)[:, 0]
  step = (jnp.sign(wk) if norm == "linf" else wk / wnk[:, None]) * dk[:, None]
  r_tot = r_tot + step.reshape(x0.shape)
  x_new = jnp.clip(x0 + (1 + overshoot) * r_tot, 0.0, 1.0)
  flipped = jnp.argmax(logits_fn(x_new), -1) != candidates[:, 0]
  return r_tot, flipped


def deepfool(logits_fn: LogitsFn, x: jax.Array, *, num_candidates: int = 10, overshoot: float = 0.02,
             max_iter: int = 50, norm: Norm = "l2", min_bucket: int = 32, compact: bool = True) -> DeepFoolResult:
  """DeepFool (Moosavi-Dezfooli et al.): the smallest perturbation to the nearest linearised boundary.

  The candidates are the top `num_candidates` classes of the clean logits,
  fixed once (the first is the original prediction). Each iteration moves
  every still-active example to the nearest boundary of its linearisation
  plus 1e-4 (so an example landing on a boundary within float error still
  crosses it); the overshoot multiplies the accumulated perturbation. An
  example stops once its label flips.

  Between jitted iterations the still-active examples are compacted and padded
  to a power-of-two bucket of at least `min_bucket` (few shapes compile), so finished
  examples cost nothing (`compact=False` steps the whole batch every
  iteration; `bench/attacks.py` times both).

  Returns:
    DeepFoolResult(x_adv, norms, success, iterations); norms are in `norm`.
  """
  if not isinstance(logits_fn, jax.tree_util.Partial):
    logits_fn = jax.tree_util.Partial(logits_fn)
  x = jnp.asarray(x)
  n = x.shape[0]
  clean = jax.jit(lambda f, z: f(z))(logits_fn, x)
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
      size = max(min_bucket, 1 << int(np.ceil(np.log2(active.size))))
      idx = np.concatenate([active, np.full(size - active.size, active[0])])
      keep = slice(0, active.size)
    else:  # the whole batch every iteration (for comparison): finished examples are recomputed, not kept
      idx, keep = np.arange(n), active
    new_r, flipped = _deepfool_step(logits_fn, x_np[idx], r_tot[idx], candidates[idx],
                                    jnp.float32(overshoot), norm=norm)
    new_r, flipped = np.asarray(new_r)[keep], np.asarray(flipped)[keep]
    r_tot[active] = new_r
    iters[active] += 1
    success[active[flipped]] = True
    active = active[~flipped]
  x_adv = np.clip(x_np + (1 + overshoot) * r_tot, 0.0, 1.0)
  diff = (x_adv - x_np).reshape(n, -1)
  norms = np.abs(diff).max(-1) if norm == "linf" else np.linalg.norm(diff, axis=-1)
  return DeepFoolResult(x_adv, norms, success, iters)
