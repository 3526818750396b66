"""The ascent loop of FGSM, PGD and APGD, with its step rules passed in.

    ascent(objective, x, x0, eps=, norm=, steps=, rule=)   # lax.fori_loop over steps -> Ascent
    fixed_step(step_size)        # PGD: z <- P(z + step * steepest(grad))
    apgd_step(eps, steps, rho)   # APGD: momentum 0.75, per-example step 2 eps halved at checkpoints
    keep_best(a, b) / best_of(run, count)   # restarts and target classes, combined per example
    fgsm(logits_fn, x, y, eps=)                     # one signed / normalised step
    pgd(logits_fn, x, y, key, eps=, steps=)         # Madry et al.: fixed step, restarts
    apgd(logits_fn, x, y, key, eps=) / apgd_run(...)  # Croce & Hein: APGD (Alg. 1)
    apgd_targets(...) / apgd_target_rows(...)         # APGD-T: every target class in one batch

Every returned input lies in [0, 1] and in the eps-ball of `norm` around x. Randomness is per
example: example i draws from fold_in(key, indices[i]) (default indices 0..n-1), so results do not
depend on batch size or order.

References:
  Goodfellow, Shlens, Szegedy. Explaining and harnessing adversarial examples. ICLR 2015.
  Madry et al. Towards deep learning models resistant to adversarial attacks. ICLR 2018.
  Croce, Hein. Reliable evaluation of adversarial robustness with an ensemble of diverse
    parameter-free attacks. ICML 2020 (APGD, Alg. 1; the DLR loss, Eq. 6-7).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from lowrank_jax.attacks.inputs import check_eps, check_inputs
from lowrank_jax.attacks.losses import LogitsFn, LossFn, dlr_targeted_loss, loss_fn, top_k_targets
from lowrank_jax.attacks.norms import NORMS, Norm, clip_to_ball, example_keys, expand, random_starts, restart_keys
from lowrank_jax.attacks.targets import all_targets

PGD_STATIC = ("steps", "norm", "restarts", "random_start", "loss", "targeted", "keep", "unroll")
APGD_STATIC = ("steps", "norm", "restarts", "loss", "rho")
Carry = dict


class Ascent(NamedTuple):
  """What one run of `ascent` returns, per example."""

  x: jax.Array  # the first adversarial iterate if one was found, else the highest-loss iterate
  success: jax.Array  # (n,) bool
  value: jax.Array  # (n,) best loss seen
  x_loss: jax.Array  # the highest-loss iterate (for transfer: the strongest perturbation on this model)


class StepRule(NamedTuple):
  """How `ascent` moves: its own carry, the next iterate, and an adjustment after each evaluation."""

  init: Callable[[jax.Array, jax.Array], Carry]  # (x, loss at x0) -> the rule's carry (with "step" (n,))
  move: Callable[[jax.Array, Carry, Callable, Callable], jax.Array]  # (i, carry, project, steepest) -> next z
  adapt: Callable[[Carry, Carry, jax.Array], Carry] = lambda old, new, x: new  # (before, after the step, x)


def fixed_step(step_size) -> StepRule:
  """z <- P(z + step_size * steepest(grad)); step_size a scalar, or per channel (its largest value times a
  per-channel scale, as for a per-channel Linf eps)."""

  size = jnp.asarray(step_size)
  scale = size / jnp.max(size)

  def init(x, loss0):
    del loss0
    return {"step": jnp.full((x.shape[0],), jnp.max(size), x.dtype)}

  def move(i, c, proj, steepest):
    del i
    return proj(c["z"] + expand(c["step"], c["z"]) * scale * steepest(c["g"]))

  return StepRule(init, move)


def apgd_step(eps, steps: int, rho: float = 0.75) -> StepRule:
  """APGD's rule: momentum 0.75 and a per-example step 2 eps, halved at checkpoints when the loss oscillated
  (fewer than rho of the steps since the last checkpoint increased it) or stalled (no better best loss and no
  halving at the last checkpoint); each halving restarts from the best point. Checkpoints follow the
  reference's schedule: after 22% of the steps, then periods shrinking by 3% of the steps to at least 6%."""
  period0, period_min, decrease = max(int(0.22 * steps), 1), max(int(0.06 * steps), 1), max(int(0.03 * steps), 1)

  def init(x, loss0):
    n = x.shape[0]
    return {"step": jnp.full((n,), 2.0, x.dtype) * jnp.max(jnp.asarray(eps)), "n_incr": jnp.zeros((n,), jnp.int32),
            "loss_best_check": loss0, "reduced_check": jnp.ones((n,), bool), "counter": jnp.zeros((), jnp.int32),
            "period": jnp.asarray(period0, jnp.int32)}

  def move(i, c, proj, steepest):
    a = jnp.where(i > 0, 0.75, 1.0)
    z1 = proj(c["z"] + expand(c["step"], c["z"]) * steepest(c["g"]))
    return proj(c["z"] + a * (z1 - c["z"]) + (1 - a) * (c["z"] - c["z_prev"]))

  def adapt(c, new, x):
    n_incr = c["n_incr"] + (new["loss"] > c["loss"]).astype(jnp.int32)
    counter = c["counter"] + 1
    check = counter == c["period"]
    oscillated = n_incr <= c["period"] * rho
    stalled = ~c["reduced_check"] & (c["loss_best_check"] >= new["loss_best"])
    halve = check & (oscillated | stalled)
    restart = expand(halve, x)
    return dict(new, step=jnp.where(halve, new["step"] / 2, new["step"]),
                z=jnp.where(restart, new["best"], new["z"]), g=jnp.where(restart, new["g_best"], new["g"]),
                n_incr=jnp.where(check, 0, n_incr),
                loss_best_check=jnp.where(check, new["loss_best"], c["loss_best_check"]),
                reduced_check=jnp.where(check, oscillated | stalled, c["reduced_check"]),
                counter=jnp.where(check, 0, counter),
                period=jnp.where(check, jnp.maximum(c["period"] - decrease, period_min), c["period"]))

  return StepRule(init, move, adapt)


def ascent(objective: Callable, x: jax.Array, x0: jax.Array, *, eps, norm: Norm, steps: int, rule: StepRule,
           unroll: bool | int = 1) -> Ascent:
  """Maximises `objective` over the eps-ball around x from x0 with `rule` (steps + 1 gradient evaluations).

  objective(z) -> (loss (n,), success (n,) bool). Per example it keeps the first successful iterate and
  the highest-loss one.
  """
  proj = lambda z: clip_to_ball(x, z, eps, norm)
  vg = jax.value_and_grad(lambda z: (lambda l, s: (l.sum(), (l, s)))(*objective(z)), has_aux=True)

  def evaluate(z):
    (_, (loss, success)), g = vg(z)
    return loss, success, g

  loss0, succ0, g0 = evaluate(x0)
  carry = dict(rule.init(x, loss0), z=x0, z_prev=x0, g=g0, loss=loss0, best=x0, g_best=g0, loss_best=loss0,
               adv=x0, found=succ0)

  def body(i, c):
    z = rule.move(i, c, proj, NORMS[norm].steepest)
    loss, success, g = evaluate(z)
    better = loss > c["loss_best"]
    new = dict(c, z=z, z_prev=c["z"], g=g, loss=loss,
               best=jnp.where(expand(better, x), z, c["best"]), g_best=jnp.where(expand(better, x), g, c["g_best"]),
               loss_best=jnp.where(better, loss, c["loss_best"]),
               adv=jnp.where(expand(success & ~c["found"], x), z, c["adv"]), found=c["found"] | success)
    return rule.adapt(c, new, x)

  c = jax.lax.fori_loop(0, steps, body, carry, unroll=unroll)
  return Ascent(jnp.where(expand(c["found"], x), c["adv"], c["best"]), c["found"], c["loss_best"], c["best"])


def keep_best(a: Ascent, b: Ascent) -> Ascent:
  """Per example: a success over a failure, the earlier of two successes, else the higher loss."""
  take = (b.success & ~a.success) | (~b.success & ~a.success & (b.value > a.value))
  higher = b.value > a.value
  return Ascent(jnp.where(expand(take, a.x), b.x, a.x), a.success | b.success,
                jnp.maximum(a.value, b.value), jnp.where(expand(higher, a.x), b.x_loss, a.x_loss))


def best_of(run: Callable[[jax.Array], Ascent], count: int) -> Ascent:
  """keep_best over run(0), ..., run(count - 1) (restarts, or target classes), as a fori_loop."""
  first = run(jnp.zeros((), jnp.int32))
  if count == 1:
    return first
  return jax.lax.fori_loop(1, count, lambda r, best: keep_best(best, run(r)), first)


def fgsm(logits_fn: LogitsFn, x: jax.Array, y: jax.Array, *, eps, norm: Norm = "linf",
         loss: str | LossFn = "ce", targeted: bool = False) -> jax.Array:
  """Fast gradient (sign) method: x + eps * steepest direction of the loss, clipped to [0, 1].

  Linf: Goodfellow et al.'s FGSM; L2: the fast gradient method with the step
  eps * g / ||g||_2 (per example), so the L2 budget is honoured. `targeted`: y are targets.
  """
  check_inputs(x, y, where="fgsm", logits_fn=logits_fn)
  check_eps(eps, norm, "fgsm")
  fn, sign = loss_fn(loss), -1.0 if targeted else 1.0
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
  one, so steps and restarts are rolled `lax.fori_loop`s; `unroll` is passed through.

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
  check_inputs(x, y, where="pgd", logits_fn=logits_fn)
  check_eps(eps, norm, "pgd")
  if jnp.shape(x)[0] == 0:  # an empty batch: nothing to attack
    return x
  fn, sign = loss_fn(loss), -1.0 if targeted else 1.0
  succeeded = (lambda lg: jnp.argmax(lg, -1) == y) if targeted else (lambda lg: jnp.argmax(lg, -1) != y)
  objective = lambda z: (lambda lg: (sign * fn(lg, y), succeeded(lg)))(logits_fn(z))
  rule = fixed_step(jnp.asarray(2.5 * jnp.asarray(eps) / steps if step_size is None else step_size, x.dtype))
  keys = example_keys(key, x.shape[0], indices)

  def run(r):
    d0 = random_starts(restart_keys(keys, r), x, eps, norm) if random_start else 0.0
    return ascent(objective, x, clip_to_ball(x, x + d0, eps, norm), eps=eps, norm=norm, steps=steps, rule=rule,
                  unroll=unroll)

  best = best_of(run, restarts)
  return best.x_loss if keep == "loss" else best.x


def apgd(logits_fn: LogitsFn, x: jax.Array, y: jax.Array, key: jax.Array, *, eps, steps: int = 100,
         norm: Norm = "linf", loss: str = "ce", restarts: int = 1, rho: float = 0.75,
         target_class: int | jax.Array | None = None, indices: jax.Array | None = None) -> jax.Array:
  """Auto-PGD (Croce & Hein 2020, Alg. 1), with restarts: `apgd_run(...).x`.

  Step size 2 eps per example, momentum 0.75, halved at checkpoints (`apgd_step`);
  starts at x + eps * t / ||t|| (t uniform in [-1, 1]^d for Linf, Gaussian for L2).
  Per example it returns an adversarial iterate if one was found, else the highest-loss one.

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
             target_class: int | jax.Array | None = None, indices: jax.Array | None = None,
             streams: jax.Array | None = None) -> Ascent:
  """`apgd`, returning the per-example Ascent (x, success, best loss) for combining runs.

  streams: (n,) ints; row i then draws as if run alone with key fold_in(key, streams[i]) (APGD-T's rows
  of (example, target) pairs use the target's number, so a batch of all pairs equals one run per target).
  """
  check_inputs(x, y, where="apgd", logits_fn=logits_fn)
  check_eps(eps, norm, "apgd")
  if loss == "dlr_targeted":
    if target_class is None:
      raise ValueError("loss='dlr_targeted' needs target_class")
    tc = jnp.asarray(target_class)
    targets = top_k_targets(logits_fn(x), tc) if tc.ndim == 0 else tc
    value = lambda lg: dlr_targeted_loss(lg, y, targets)
  else:
    value = lambda lg: loss_fn(loss)(lg, y)
  objective = lambda z: (lambda lg: (value(lg), jnp.argmax(lg, -1) != y))(logits_fn(z))
  keys, rule = example_keys(key, x.shape[0], indices, streams), apgd_step(eps, steps, rho)

  def run(r):
    d0 = random_starts(restart_keys(keys, r), x, eps, norm, kind="surface")
    return ascent(objective, x, jnp.clip(x + d0, 0.0, 1.0), eps=eps, norm=norm, steps=steps, rule=rule)

  return best_of(run, restarts)


def apgd_target_rows(logits_fn: LogitsFn, x: jax.Array, y: jax.Array, key: jax.Array, eps, indices: jax.Array,
                     ranks: jax.Array, *, norm: Norm, steps: int) -> jax.Array:
  """APGD-T on rows (example, target rank ranks[i]): APGD on the targeted DLR loss towards the class with the
  ranks[i]-th highest clean logit, each row as in a run for that rank alone (key fold_in(key, rank - 2))."""
  targets = top_k_targets(logits_fn(x), ranks)
  return apgd_run(logits_fn, x, y, key, eps=eps, steps=steps, norm=norm, loss="dlr_targeted", target_class=targets,
                  indices=indices, streams=ranks - 2).x


def apgd_targets(logits_fn: LogitsFn, x: jax.Array, y: jax.Array, key: jax.Array, *, eps, norm: Norm = "linf",
                 steps: int = 100, num_targets: int = 9, indices: jax.Array | None = None) -> jax.Array:
  """APGD-T as AutoAttack runs it: the classes ranked 2..num_targets+1, every (example, target) pair in one
  batch; per example the first target, in that order, whose point is misclassified within eps (x where none)."""
  return all_targets(apgd_target_rows, logits_fn, x, y, key, eps, indices, norm=norm, steps=steps,
                     num_targets=num_targets)
