"""AutoAttack in JAX (Croce & Hein, ICML 2020): APGD-CE, APGD-T, FAB-T and Square, the per-example worst case.

    autoattack(logits_fn, x, y, key, eps=, norm=, version=) -> AutoAttackResult
    sanity_checks(logits_fn, x, y)      # AutoAttack's checks on the model itself
    attack_fn(name, norm, settings, num_classes)   # one of its attacks, jitted (cached)

Each attack is one jitted program over a batch with fixed shapes (per-example masks, `lax` loops);
`autoattack` runs them in AutoAttack's order, each on the examples still robust, gathered into
`batching` buckets so few shapes compile. APGD-T and FAB-T run every (example, target class) pair
as rows of one batch (`targets`), keeping per example the first target, in the reference's order,
that succeeds. Randomness is per example, from fold_in(key, global
index), so a result does not depend on batch size, order or padding.

Versions (as in the reference implementation):
  standard: apgd-ce (100 steps), apgd-t (9 targets x 100), fab-t (9 targets x 100), square (5000 queries)
  plus:     apgd-ce x5, apgd-dlr x5, fab x5, square, apgd-t, fab-t
  rand:     apgd-ce, apgd-dlr (the reference adds 20 EOT samples per gradient; every
            model here is deterministic, which `sanity_checks` verifies, so EOT is not run)

References:
  Croce, Hein. Reliable evaluation of adversarial robustness with an ensemble of diverse
    parameter-free attacks. ICML 2020. github.com/fra31/auto-attack
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from lowrank_jax import batching, conv
from lowrank_jax.attacks.ascent import apgd, apgd_target_rows, apgd_targets  # noqa: F401  (apgd_targets: API)
from lowrank_jax.attacks.fab import fab, fab_target_rows
from lowrank_jax.attacks.inputs import InputError, check_eps, check_inputs, check_labels
from lowrank_jax.attacks.losses import LogitsFn, ce_loss, dlr_loss
from lowrank_jax.attacks.norms import NORMS, Norm
from lowrank_jax.attacks.square import SquareState, square, square_queries, square_start
from lowrank_jax.attacks.targets import first_success, target_rows

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

  @classmethod
  def of(cls, version: str, **overrides) -> AttackSettings:
    """The reference's settings of a version ("plus": 5 restarts), with overrides."""
    return cls(**{"restarts": 5 if version == "plus" else 1, **overrides})


TARGETED = ("apgd-t", "fab-t")  # run on rows of (example, target rank): every target in one batch


@functools.lru_cache(maxsize=None)
def attack_fn(name: str, norm: Norm, settings: AttackSettings, num_classes: int) -> Callable:
  """A jitted fn(logits_fn, x, y, key, eps, indices, ranks) -> x_adv for one of AutoAttack's attacks.

  Rows of the targeted attacks (TARGETED) are (example, target rank ranks[i]) pairs; the others ignore ranks.
  Cached: every call with the same arguments returns the same function, so a second
  autoattack() on the same architecture and shapes (another checkpoint) compiles nothing.
  """
  s = settings
  untargeted = {
      "apgd-ce": functools.partial(apgd, norm=norm, steps=s.steps, loss="ce", restarts=s.restarts),
      "apgd-dlr": functools.partial(apgd, norm=norm, steps=s.steps, loss="dlr", restarts=s.restarts),
      "fab": lambda *a, **kw: fab(*a, norm=norm, steps=s.steps, targeted=False, restarts=s.restarts, **kw)[0],
      "square": functools.partial(square, norm=norm, queries=s.queries),
  }
  if name in TARGETED:
    rows = {"apgd-t": apgd_target_rows, "fab-t": fab_target_rows}[name]
    return conv.jit(functools.partial(rows, norm=norm, steps=s.steps))
  f = untargeted[name]
  return conv.jit(lambda logits_fn, x, y, key, eps, indices, ranks: f(logits_fn, x, y, key, eps=eps, indices=indices))


_square_start = conv.jit(square_start, static_argnames=("norm", "queries"))
_square_queries = conv.jit(square_queries, static_argnames=("norm", "queries"))


def square_spans(queries: int) -> list[int]:
  """Where Square's queries are cut into spans: its schedule's steps (10, 50, 200, 500, 1000, 2000) and every
  1000 queries after, up to `queries`."""
  cuts = {10, 50, 200, 500, 1000, 2000} | set(range(3000, queries, 1000))
  return [q for q in sorted(cuts) if q < queries] + [queries]


def square_in_spans(logits_fn: LogitsFn, x: np.ndarray, y: np.ndarray, key: jax.Array, indices: np.ndarray, *,
                    eps: float, norm: Norm, queries: int, batch_size: int, mesh=None) -> np.ndarray:
  """Square over [0, queries) in spans (`square_spans`), each span on the examples not yet broken, re-batched
  (the reference likewise queries only the examples it has not broken), in `fine` buckets (each of the
  5,000 queries pays for the padding); per example the same result as one `square` call, whose queries stop
  at the example's break anyway."""
  e = jnp.float32(eps)
  state = batching.map_batches(lambda xs, ys, ids: _square_start(logits_fn, xs, ys, key, eps=e, norm=norm,
                                                                 queries=queries, indices=ids),
                               (x, y, indices), batch_size, mesh=mesh)
  x_best, margin = np.array(state.x_best), np.array(state.margin)
  start = 0
  for stop in square_spans(queries):
    live = np.flatnonzero(margin > 0)
    if not len(live):
      break
    out = batching.map_batches(
        lambda xs, ys, ids, xb, m, a=start, b=stop: _square_queries(
            logits_fn, xs, ys, key, SquareState(xb, m), jnp.int32(a), jnp.int32(b), eps=e, norm=norm,
            queries=queries, indices=ids),
        (x, y, indices, x_best, margin), batch_size, idx=live, mesh=mesh, fine=True)
    x_best[live], margin[live] = out.x_best, out.margin
    start = stop
  return x_best


@dataclasses.dataclass
class AutoAttackResult:
  """Per example: the worst case found and which attack found it first."""

  x_adv: np.ndarray  # the first successful adversarial input, else x
  robust: np.ndarray  # (n,) bool: correct on x and on every attack within eps
  broken_by: np.ndarray  # (n,) int: index in `attacks` of the first attack that succeeded; -1 robust; -2 wrong on x;
  #                        -3 given as broken (`known_broken`: say, adversarial within a smaller eps) and not attacked
  attacks: tuple[str, ...]
  norms: np.ndarray  # (n,) ||x_adv - x|| in `norm`
  clean_accuracy: float
  robust_accuracy: float
  after: dict[str, float]  # robust accuracy after each attack, cumulative, in order
  checks: list[dict]  # {check, passed, detail}: Square not stronger than the white-box attacks before it


def autoattack(logits_fn: LogitsFn, x: np.ndarray, y: np.ndarray, key: jax.Array, *, eps: float,
               norm: Norm = "linf", version: str = "standard", settings: AttackSettings | None = None,
               batch_size: int = 256, indices: np.ndarray | None = None, num_classes: int | None = None,
               progress: Callable[[str], None] | None = None, mesh=None,
               known_broken: np.ndarray | None = None) -> AutoAttackResult:
  """AutoAttack: its attacks in order, each on the examples still robust; the per-example worst case.

  Args:
    logits_fn: x -> logits: any callable (a plain function, a closure over a linen model's variables, a bound
      nnx.Module, a `jax.tree_util.Partial`; the last two keep parameters out of the compiled code). The same
      function object compiles once per shape.
    x, y: NHWC inputs in [0, 1] and labels (host arrays).
    key: PRNG key; example i draws from fold_in(key, indices[i]).
    eps: the budget in `norm`; a point counts as broken when misclassified within eps (+1e-5 relative).
    version: "standard", "plus" or "rand" (see the module docstring).
    settings: hyper-parameters (default: AttackSettings.of(version), the reference's).
    indices: global indices of the examples (default 0..n-1).
    progress: called with a line after each attack.
    mesh: a device mesh whose "data" axis shards each batch.
    known_broken: (n,) bool, examples already broken (an adversarial example within a smaller eps is one
      within eps too): not attacked, counted as broken (broken_by -3).
  """
  if version not in VERSIONS:
    raise InputError(f"autoattack: version={version!r} is not one of {', '.join(VERSIONS)}")
  names = VERSIONS[version]
  logits_fn = batching.as_pytree(logits_fn)  # any callable: a plain function, a Partial, an nnx.Module
  x, y = np.asarray(x), np.asarray(y)
  check_inputs(x, y, images="square" in names, where="autoattack")
  num_classes = num_classes or int(jax.eval_shape(logits_fn, jax.ShapeDtypeStruct((1,) + x.shape[1:],
                                                                                  np.float32)).shape[-1])
  check_labels(y, num_classes, where="autoattack")
  check_eps(eps, norm, "autoattack")
  if len(x) == 0:  # an empty batch: nothing to attack
    empty = np.zeros(0, bool)
    return AutoAttackResult(np.asarray(x, np.float32), empty, np.zeros(0, int), names, np.zeros(0, np.float32), 1.0,
                            1.0, {}, [])
  settings = settings or AttackSettings.of(version)
  x, y = x.astype(np.float32), y.astype(np.int32)
  n = len(x)
  indices = np.arange(n) if indices is None else np.asarray(indices)
  pred = batching.predict(logits_fn, x, batch_size, mesh)
  robust = pred == y
  broken_by = np.where(robust, -1, -2)
  if known_broken is not None:
    given = robust & np.asarray(known_broken, bool)
    robust[given], broken_by[given] = False, -3
  x_adv = x.copy()
  after = {}
  targets = min(settings.num_targets, num_classes - 1)
  for a, name in enumerate(names):
    todo = np.flatnonzero(robust)
    if len(todo):
      per = targets if name in TARGETED else 1
      adv, broken = attack_rows(name, logits_fn, x, y, key, todo, indices, eps=eps, norm=norm, settings=settings,
                                num_classes=num_classes, per_example=per, batch_size=batch_size, mesh=mesh)
      hit = todo[broken]
      robust[hit], broken_by[hit], x_adv[hit] = False, a, adv[broken]
    after[name] = float(robust.mean())
    if progress:
      progress(f"{name}: robust accuracy {after[name]:.4f}")
  norms = np.asarray(NORMS[norm].size(jnp.asarray(x_adv - x)))
  return AutoAttackResult(x_adv, robust, broken_by, names, norms, float((pred == y).mean()), float(robust.mean()),
                          after, square_check(after, names))


def attack_rows(name: str, logits_fn: LogitsFn, x: np.ndarray, y: np.ndarray, key: jax.Array, todo: np.ndarray,
                indices: np.ndarray, *, eps: float, norm: Norm, settings: AttackSettings, num_classes: int,
                per_example: int, batch_size: int, mesh=None) -> tuple[np.ndarray, np.ndarray]:
  """One of AutoAttack's attacks on the examples `todo`, `per_example` rows each (targets of APGD-T / FAB-T):
  (x_adv of each example: its first row broken within eps, else x; whether it broke)."""
  fn = attack_fn(name, norm, settings, num_classes)
  ex, ranks = target_rows(len(todo), per_example)
  rows = todo[ex]
  if name == "square":
    adv = square_in_spans(logits_fn, x[todo], y[todo], key, indices[todo], eps=eps, norm=norm,
                          queries=settings.queries, batch_size=batch_size, mesh=mesh)
  else:
    adv = batching.map_batches(lambda xs, ys, ids, rs: fn(logits_fn, xs, ys, key, jnp.float32(eps), ids, rs),
                               (x[rows], y[rows], indices[rows], ranks.astype(np.int32)), batch_size, mesh=mesh)
  size = np.asarray(NORMS[norm].size(jnp.asarray(adv - x[rows])))
  success = (batching.predict(logits_fn, adv, batch_size, mesh) != y[rows]) & (size <= eps * (1 + 1e-5))
  adv, broken = first_success(success.reshape(len(todo), per_example),
                              adv.reshape((len(todo), per_example) + x.shape[1:]), x[todo])
  return np.asarray(adv), np.asarray(broken)


def square_check(after: dict[str, float], names: tuple[str, ...]) -> list[dict]:
  """The reference's check: Square (gradient-free) does not break what the white-box attacks before it left."""
  if "square" not in after or len(after) == 1:
    return []
  white = min(v for k, v in after.items() if k != "square" and names.index(k) < names.index("square"))
  return [{"check": "Square not stronger than the white-box attacks before it",
           "passed": after["square"] >= white - 0.002,
           "detail": f"robust accuracy {white:.4f} before Square, {after['square']:.4f} after"}]


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
  for name, loss in (("ce", ce_loss), ("dlr", dlr_loss)):
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
