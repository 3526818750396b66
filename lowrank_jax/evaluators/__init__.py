"""Evaluators: one module per family of measures, each `evaluate(ctx) -> dict` (big_vision style).

    pgd_grid        PGD over eps x steps, FGSM, the audit's attacks, Gaussian noise, transfer
    auto_attack     AutoAttack (APGD-CE, APGD-T, FAB-T, Square) per eps + its sanity checks
    deepfool        minimal L2 perturbations, rho_adv
    random_pixels   accuracy when a fraction p of the pixels is perturbed
    noise_stability the representation's gain under own, common and transfer perturbations
    representation  spectra, effective ranks, norms, logit scale, layer cushion
    masking         gradient-masking probes (temperatures, strong PGD, Square, paper-like PGD)
    compression     compressed representations, a linear head, 2-D PCA (needs the training split)

Attacks record which examples they leave correct in `ctx.worst`, a `WorstCase`
accumulator: the robust accuracy at an eps is the per-example worst case over
every attack run at that eps.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from lowrank_jax import conv, distributed


class WorstCase:
  """Per eps, the examples still correct after every attack recorded so far."""

  def __init__(self, clean_correct: np.ndarray):
    self.clean = np.asarray(clean_correct, bool)
    self.correct: dict[float, np.ndarray] = {}
    self.attacks: dict[float, list[str]] = {}

  def record(self, eps: float, attack: str, correct: np.ndarray) -> float:
    """Adds an attack's per-example correctness at eps; returns that attack's own accuracy."""
    correct = np.asarray(correct, bool) & self.clean
    eps = float(eps)
    self.correct[eps] = self.correct.get(eps, self.clean) & correct
    self.attacks.setdefault(eps, []).append(attack)
    return float(correct.mean())

  def accuracy(self, eps: float, first: int | None = None) -> float:
    """Worst-case accuracy at eps, over all examples or the `first` ones (where a subset attack also ran)."""
    return float(self.correct[float(eps)][:first].mean())

  def to_json(self) -> dict:
    return {f"{e:g}": {"accuracy": self.accuracy(e), "attacks": self.attacks[e]} for e in sorted(self.correct)}


@dataclasses.dataclass
class Context:
  """What evaluators share: the model, the examples, the config, the worst case, artifacts."""

  model: Any  # loading.LoadedModel
  ec: Any  # config.eval
  x: np.ndarray  # float32 NHWC in [0, 1]
  y: np.ndarray  # int32
  key: jax.Array
  worst: WorstCase
  source: Any = None  # LoadedModel: transfer (black-box) source
  reference: Any = None  # LoadedModel: a third model, source of common perturbations
  train: Any = None  # (uint8 images, labels) of the training split, for evaluators that fit something
  artifacts: dict = dataclasses.field(default_factory=dict)  # e.g. adversarial inputs for noise stability
  log: Callable[[str], None] = lambda s: None

  @property
  def indices(self) -> np.ndarray:
    return np.arange(len(self.x))

  @property
  def bs(self) -> int:
    return int(self.ec.batch_size)

  @property
  def mesh(self):
    """The model's device mesh: evaluated examples are sharded over its "data" axis."""
    return self.model.setup.mesh

  def batched(self, fn: Callable, *arrays: np.ndarray) -> np.ndarray:
    """fn over batches of the arrays (first axis, sharded over the mesh's data axis), concatenated as numpy."""
    n = len(arrays[0])
    put = lambda *a: distributed.shard_rows(self.mesh, *a)
    out = []
    for i in range(0, n, self.bs):
      args = put(*(np.asarray(a[i:i + self.bs]) for a in arrays))
      out.append(distributed.gather(fn(*(args if isinstance(args, tuple) else (args,)))))
    return np.concatenate(out)

  def predict(self, x: np.ndarray, logits_fn=None) -> np.ndarray:
    f = logits_fn if logits_fn is not None else self.model.logits
    return self.batched(lambda z: _predict(f, z), x)

  def correct(self, x_adv: np.ndarray) -> np.ndarray:
    """Per example of x_adv (the first len(x_adv) examples): correct on x_adv and on the clean x
    (an attack never repairs an error)."""
    n = len(x_adv)
    return (self.predict(x_adv) == self.y[:n]) & self.worst.clean[:n]

  def subkey(self, name: str) -> jax.Array:
    """A key per evaluator/attack name (stable whatever else runs)."""
    return jax.random.fold_in(self.key, zlib.crc32(name.encode()) & 0x7FFFFFFF)


_predict = conv.jit(lambda f, z: jnp.argmax(f(z), -1))
