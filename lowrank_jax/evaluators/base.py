"""What an evaluator is (`Evaluator`: a module's four functions), reads (`Inputs`, frozen) and returns
(`Result`), what its report section reads (`Report`), the worst case over attacks, and the attack helpers several
evaluators share.

An evaluator is one module with
    NEEDS = ("other", ...)                   # evaluators whose Results it reads (optional)
    config() -> ConfigDict                   # its fields under config.eval.<name>, with `enabled`
    validate(ec) -> None                     # one-line ConfigError naming a bad field (optional)
    evaluate(inputs, needed) -> Result       # the measures
    report(rep) -> list[str]                 # its section of report.md, plots written beside it (optional)
and one line in `lowrank_jax.evaluators.EVALUATORS`: `"name": Evaluator.of(module)`.

    Inputs(model, ec, x, y, clean, key, source, reference, train, log)   # read-only
    Result(json, attacked, checks, outputs)     # its eval.json entry, per-example correctness, audit checks
    Attacked(eps, attack, correct)              # one attack at one eps: correct (k,) on the first k examples
    WorstCase(clean, attacked)                  # per eps, correct under every attack at that eps or below
    Report(results, runs, out_dir)              # eval.json (and a run compared with it) for report sections
    run_pgd(inputs, logits_fn, name, eps=, steps=, loss=) / paper_like(inputs, eps, steps)
"""

from __future__ import annotations

import dataclasses
import os
import types
import zlib
from typing import Any, Callable, Iterable

import jax
import ml_collections
import numpy as np

from lowrank_jax import attacks, batching, conv, per_example
from lowrank_jax.errors import ConfigError, check  # noqa: F401 (for the evaluators' validate)
from lowrank_jax.runfiles import eps_key


@dataclasses.dataclass(frozen=True)
class Inputs:
  """What every evaluator may read; nothing in it changes while evaluators run."""

  model: Any  # loading.LoadedModel
  ec: Any  # config.eval
  x: np.ndarray  # float32 NHWC in [0, 1]
  y: np.ndarray  # int32
  clean: np.ndarray  # (n,) bool: correctly classified without perturbation
  key: jax.Array
  source: Any = None  # LoadedModel: transfer (black-box) source
  reference: Any = None  # LoadedModel: a third model, source of common perturbations
  train: Any = None  # (uint8 images, labels) of the training split, for evaluators that fit something
  log: Callable[[str], None] = lambda s: None

  @property
  def indices(self) -> np.ndarray:
    return np.arange(len(self.x))

  @property
  def batch_size(self) -> int:
    return int(self.ec.batch_size)

  @property
  def mesh(self):
    """The model's device mesh: evaluated examples are sharded over its "data" axis."""
    return self.model.mesh

  def batched(self, fn: Callable, *arrays: np.ndarray):
    """fn over padded batches of the arrays (`batching.map_batches`), as numpy."""
    return batching.map_batches(fn, arrays, self.batch_size, mesh=self.mesh)

  def predict(self, x: np.ndarray, logits_fn=None) -> np.ndarray:
    """The predicted classes of x (default: the model's logits), in batches."""
    f = logits_fn if logits_fn is not None else self.model.logits
    return batching.predict(f, x, self.batch_size, self.mesh)

  def correct(self, x_adv: np.ndarray) -> np.ndarray:
    """Per example of x_adv (the first len(x_adv) examples): correct on x_adv and on the clean x
    (an attack never repairs an error)."""
    n = len(x_adv)
    return (self.predict(x_adv) == self.y[:n]) & self.clean[:n]

  def subkey(self, name: str) -> jax.Array:
    """A key per evaluator/attack name (stable whatever else runs)."""
    return jax.random.fold_in(self.key, zlib.crc32(name.encode()) & 0x7FFFFFFF)


@dataclasses.dataclass(frozen=True)
class Attacked:
  """One attack at one eps: per example of the first len(correct) evaluated examples, still correct."""

  eps: float
  attack: str
  correct: np.ndarray

  @property
  def accuracy(self) -> float:
    return float(self.correct.mean()) if len(self.correct) else 1.0


@dataclasses.dataclass(frozen=True)
class Result:
  """An evaluator's output: its eval.json entry, the attacks it ran per example, its audit checks, and
  outputs that evaluators declaring it in `needs` may read."""

  json: dict
  attacked: tuple[Attacked, ...] = ()
  checks: tuple[dict, ...] = ()
  outputs: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Report:
  """What an evaluator's report section reads: `results` (this run's eval.json), `runs` ((name, results, line
  style) of this run and of a run compared with it, for plots) and the folder its plots go to."""

  results: dict
  runs: tuple[tuple[str, dict, str], ...]
  out_dir: str

  def path(self, file: str) -> str:
    """Where a plot of the report goes."""
    return os.path.join(self.out_dir, file)

  def having(self, name: str) -> list[tuple[str, dict, str]]:
    """The runs whose eval.json has evaluator `name`'s entry."""
    return [r for r in self.runs if name in r[1]]


@dataclasses.dataclass(frozen=True)
class Evaluator:
  """A family of measures: run(inputs, needed) -> Result, where needed maps each name in `needs` to its Result;
  `config()` its fields (config.eval.<name>), `validate(ec)` their checks, `report(rep)` its report.md section."""

  run: Callable[[Inputs, dict[str, Result]], Result]
  config: Callable[[], ml_collections.ConfigDict]
  validate: Callable[[Any], None] = lambda ec: None
  report: Callable[[Report], list[str]] = lambda rep: []
  needs: tuple[str, ...] = ()

  @classmethod
  def of(cls, module: types.ModuleType) -> "Evaluator":
    """The evaluator a module defines (see this module's docstring)."""
    return cls(run=module.evaluate, config=module.config, validate=getattr(module, "validate", lambda ec: None),
               report=getattr(module, "report", lambda rep: []), needs=tuple(getattr(module, "NEEDS", ())))


def section(enabled: bool = True, **fields) -> ml_collections.ConfigDict:
  """An evaluator's config section: `enabled` and its fields."""
  return ml_collections.ConfigDict({"enabled": enabled, **fields})


def check_pixel_eps(ec, field: str, eps) -> None:
  """eps of config.eval.<field> in pixel units: for Linf at most 1, the whole range of pixels in [0, 1]."""
  check(ec.norm != "linf" or all(e <= 1 for e in eps),
        f"config.eval.{field}={tuple(eps)} exceeds 1, the whole Linf range of pixels in [0, 1]: eps is in pixel "
        "units (8/255 = 0.0314)")


def check_positive(sec: ml_collections.ConfigDict, name: str, *fields: str, minimum: float = 1) -> None:
  """Each field of config.eval.<name> >= minimum, or a ConfigError naming it."""
  for f in fields:
    check(sec[f] >= minimum, f"config.eval.{name}.{f}={sec[f]} must be >= {minimum:g}")


class WorstCase:
  """Per eps, the examples correct under every attack at that eps or a smaller one (monotone in eps: an
  adversarial example within a smaller budget is within every larger one; an attack run on the first k
  examples leaves the others as they were), and the attacks' names in the order they ran."""

  def __init__(self, clean: np.ndarray, attacked: Iterable[Attacked] = ()):
    attacked = list(attacked)
    self.per_example = per_example.PerExample(np.asarray(clean, bool),
                                              tuple((float(a.eps), a.attack, np.asarray(a.correct, bool))
                                                    for a in attacked))
    tol = per_example.EPS_TOLERANCE  # an eps read back from eval.json (6 digits) is the same as the config's
    eps = []
    for e in sorted({float(a.eps) for a in attacked}):
      if not eps or e - eps[-1] >= tol:
        eps.append(e)
    self.correct: dict[float, np.ndarray] = {e: self.per_example.worst(e) for e in eps}
    self.attacks: dict[float, list[str]] = {
        e: [f"{a.attack} @{eps_key(a.eps)}" if abs(a.eps - e) >= tol else a.attack for a in attacked
            if a.eps <= e + tol] for e in eps}

  def accuracy(self, eps: float, examples: int | None = None) -> float:
    """Worst-case accuracy at eps, over all examples or the first `examples` (where a subset attack ran)."""
    e = min(self.correct, key=lambda k: abs(k - float(eps)))
    if abs(e - float(eps)) >= per_example.EPS_TOLERANCE:
      raise KeyError(f"no attack ran at eps {float(eps):g}")
    return float(self.correct[e][:examples].mean())

  def to_json(self) -> dict:
    """eps -> {accuracy, attacks} for eval.json."""
    return {eps_key(e): {"accuracy": self.accuracy(e), "attacks": self.attacks[e]} for e in sorted(self.correct)}


_pgd = conv.jit(attacks.pgd, static_argnames=attacks.PGD_STATIC)


def run_pgd(inputs: Inputs, logits_fn, name: str, *, eps, steps: int, restarts: int = 1, loss="ce",
            examples: int | None = None, **kw) -> np.ndarray:
  """Adversarial inputs of PGD on the first `examples` (default all) of inputs.x, per-example keys;
  `name` seeds it."""
  key = inputs.subkey(name)
  fn = lambda x, y, i: _pgd(logits_fn, x, y, key, eps=eps, steps=steps, norm=inputs.ec.norm, restarts=restarts,
                            loss=loss, indices=i, **kw)
  n = len(inputs.x) if examples is None else examples
  return inputs.batched(fn, inputs.x[:n], inputs.y[:n], inputs.indices[:n])


def paper_like(inputs: Inputs, eps: float, steps: int, loss="ce") -> np.ndarray:
  """PGD as the paper likely ran it: eps in the normalised input space (pixel eps = eps * std per channel),
  a fixed step of eps / 4, no random start; returns per-example correctness."""
  pixel_eps = eps * np.asarray(inputs.model.std, np.float32)
  adv = run_pgd(inputs, inputs.model.logits, f"paper-{steps}@{eps_key(eps)}", eps=pixel_eps, steps=int(steps),
                step_size=pixel_eps / 4, random_start=False, loss=loss)
  return inputs.correct(adv)
