"""The one reader of eval.json (`evaluation.evaluate`'s results, an experiment row's "eval"): typed, eps as floats.

    ev = EvalResults(json.load(open("runs/lr/eval/eval.json")))
    ev.clean, ev.worst(8 / 255), ev.pgd(8 / 255, 20), ev.autoattack(8 / 255), ev.deepfool["rho_adv"]
    ev.per_example                      # per_example.PerExample: correctness per example and attack
    ev.pixels(), ev.pixels_correct()    # random pixels: p -> accuracy, p -> per example
    ev.compression(), ev.linear_head, ev.pca_2d

Every module that reads eval.json reads it here (the evaluators' own report sections aside: each reads the entry
it wrote). A measure that did not run reads as None or an empty dict; eps keys are compared within
`per_example.EPS_TOLERANCE` (eval.json stores them with 6 significant digits). `config` maps the flat field names
of eval.json files written before the evaluators owned their config sections to today's (`default_config.RENAMED`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from lowrank_jax import default_config, per_example
from lowrank_jax.runfiles import eps_key


def _near(d: dict[str, Any], eps: float) -> Any:
  """d's value at eps (keys: eps as text), or None."""
  for k, v in d.items():
    if k != "from" and abs(float(k) - float(eps)) < per_example.EPS_TOLERANCE:
      return v
  return None


def _by_eps(d: dict[str, Any], get=lambda v: v) -> dict[float, Any]:
  return {float(k): get(v) for k, v in d.items() if k != "from"}


@dataclasses.dataclass(frozen=True)
class EvalResults:
  """A read-only, typed view of one eval.json dict."""

  raw: dict

  # ---------------------------------------------------------------- header
  @property
  def model(self) -> str:
    return self.raw["model"]

  @property
  def num_examples(self) -> int:
    return int(self.raw["num_examples"])

  @property
  def clean(self) -> float:
    return float(self.raw["clean_accuracy"])

  @property
  def split(self) -> str:
    return self.raw.get("split", "test")

  def has(self, evaluator: str) -> bool:
    """Whether the evaluator ran."""
    return evaluator in self.raw

  @functools.cached_property
  def config(self) -> Any:
    """config.eval as run (a ConfigDict with today's field names, defaults where eval.json predates a field)."""
    return default_config.with_defaults({"eval": self.raw.get("config", {})}).eval

  @property
  def eps(self) -> list[float]:
    return [float(e) for e in self.config.eps]

  @property
  def audit_flags(self) -> list[str]:
    return [a["check"] for a in self.raw.get("audit", []) if not a["passed"]]

  @property
  def audit(self) -> list[dict]:
    return list(self.raw.get("audit", []))

  # ---------------------------------------------------------------- worst case over all attacks
  def worst_by_eps(self) -> dict[float, float]:
    """eps -> the worst case over every attack at that eps or below."""
    return _by_eps(self.raw.get("robust_accuracy", {}), lambda d: d["accuracy"])

  def worst(self, eps: float) -> float | None:
    """The worst case at eps (None: no attack ran there)."""
    d = _near(self.raw.get("robust_accuracy", {}), eps)
    return None if d is None else d["accuracy"]

  def worst_on_autoattack_examples(self) -> dict[float, float]:
    """eps -> the worst case on the examples AutoAttack ran on (all of them where it ran on all)."""
    return _by_eps(self.raw.get("robust_accuracy", {}), lambda d: d.get("accuracy_autoattack_examples", d["accuracy"]))

  def attacks_at(self, eps: float) -> list[str]:
    """The attacks whose results the worst case at eps takes (those at a smaller eps marked "@eps")."""
    d = _near(self.raw.get("robust_accuracy", {}), eps)
    return [] if d is None else list(d["attacks"])

  @functools.cached_property
  def per_example(self) -> per_example.PerExample | None:
    return per_example.from_json(self.raw["per_example"]) if "per_example" in self.raw else None

  # ---------------------------------------------------------------- pgd_grid
  @property
  def pgd_steps(self) -> list[int]:
    return sorted({int(s) for d in self.raw.get("pgd_grid", {}).get("pgd", {}).values() for s in d})

  def pgd(self, eps: float, steps: int | None = None) -> float | None:
    """PGD-<steps> (default the most steps) accuracy at eps."""
    d = _near(self.raw.get("pgd_grid", {}).get("pgd", {}), eps)
    return None if d is None else d.get(str(steps or max(self.pgd_steps)))

  def pgd_by_eps(self, steps: int | None = None) -> dict[float, float]:
    """eps -> PGD-<steps> accuracy (default the most steps)."""
    return {e: self.pgd(e, steps) for e in _by_eps(self.raw.get("pgd_grid", {}).get("pgd", {}))}

  def paper_like(self, eps: float, steps: int | None = None) -> float | None:
    """The grid's paper-like PGD at eps (default the fewest steps), if it ran."""
    d = _near(self.raw.get("pgd_grid", {}).get("paper_like", {}), eps)
    return None if d is None else d[str(steps)] if steps else d[min(d, key=int)]

  def paper_like_by_eps(self) -> dict[float, dict[int, float]]:
    """eps -> {steps: the grid's paper-like PGD accuracy}."""
    return _by_eps(self.raw.get("pgd_grid", {}).get("paper_like", {}), lambda d: {int(s): v for s, v in d.items()})

  @property
  def has_paper_like(self) -> bool:
    return "paper_like" in self.raw.get("pgd_grid", {})

  # ---------------------------------------------------------------- autoattack
  def autoattack(self, eps: float) -> float | None:
    """AutoAttack's robust accuracy at eps (None: it did not run there)."""
    d = _near(self.raw.get("autoattack", {}).get("by_eps", {}), eps)
    return None if d is None else d["robust_accuracy"]

  def autoattack_by_eps(self) -> dict[float, float]:
    """eps -> AutoAttack's robust accuracy."""
    return _by_eps(self.raw.get("autoattack", {}).get("by_eps", {}), lambda d: d["robust_accuracy"])

  @property
  def autoattack_version(self) -> str | None:
    return self.raw.get("autoattack", {}).get("version")

  @property
  def autoattack_examples(self) -> int:
    """The examples AutoAttack ran on (all evaluated ones where it did not run)."""
    return int(self.raw.get("autoattack", {}).get("examples") or self.num_examples)

  # ---------------------------------------------------------------- deepfool, representation, stability
  @property
  def deepfool(self) -> dict | None:
    """rho_adv, rho_adv_fooled, rho_adv_median, success_rate, examples, max_iter; "rho" per example."""
    return self.raw.get("deepfool")

  def rho(self) -> np.ndarray | None:
    """DeepFool's ||r|| / ||x|| per example (None: not kept)."""
    d = self.deepfool or {}
    return np.asarray(d["rho"], float) if "rho" in d else None

  @property
  def representation(self) -> dict | None:
    return self.raw.get("representation")

  def layer(self, name: str = "penultimate") -> dict | None:
    """The representation of one layer (dim, effective_rank(_centred), mean_norm, singular_values)."""
    layers = (self.representation or {}).get("layers", {})
    return layers.get(name)

  @property
  def layer_cushion(self) -> dict:
    """layer, cushion (the minimum over examples), median, mean; {} where it was not measured."""
    return (self.representation or {}).get("layer_cushion", {})

  @property
  def cushion(self) -> float | None:
    """The median layer cushion."""
    return self.layer_cushion.get("median")

  def stability(self, source: str, layer: str = "penultimate") -> dict | None:
    """Noise stability under one perturbation source at one layer: slope, median_gain, input/feature ratios."""
    return self.raw.get("noise_stability", {}).get(source, {}).get(layer)

  # ---------------------------------------------------------------- random pixels
  @property
  def pixel_sigma(self) -> float | None:
    return self.raw.get("random_pixels", {}).get("sigma")

  def pixels(self) -> dict[float, float]:
    """p -> accuracy with each pixel perturbed with probability p."""
    return {float(p): a for p, a in self.raw.get("random_pixels", {}).get("accuracy", {}).items()}

  def pixels_correct(self) -> dict[float, np.ndarray]:
    """p -> which examples stay correct."""
    return {float(p): per_example.unpack(c, self.num_examples)
            for p, c in self.raw.get("random_pixels", {}).get("correct", {}).items()}

  # ---------------------------------------------------------------- compression
  def _unpack(self, bits) -> np.ndarray | None:
    return None if bits is None else per_example.unpack(bits, self.num_examples)

  @property
  def compression_layer(self) -> str | None:
    return self.raw.get("compression", {}).get("layer")

  def compression(self) -> dict[int, float]:
    """rate -> accuracy with the layer compressed (0: uncompressed)."""
    rep = self.raw.get("compression", {}).get("representation", {})
    return {0: rep["uncompressed"], **{int(k): v["accuracy"] for k, v in rep.items() if k.isdigit()}} if rep else {}

  def compression_correct(self) -> dict[int, np.ndarray]:
    """rate -> which examples stay correct with the layer compressed (0: uncompressed)."""
    rep = self.raw.get("compression", {}).get("representation", {})
    out = {int(k): self._unpack(v["correct"]) for k, v in rep.items() if k.isdigit() and "correct" in v}
    if "uncompressed_correct" in rep:
      out[0] = self._unpack(rep["uncompressed_correct"])
    return out

  @property
  def linear_head(self) -> dict | None:
    """accuracy, parameters, parameters_replaced; "correct" per example unpacked."""
    h = self.raw.get("compression", {}).get("linear_head")
    return None if h is None else {**h, "correct": self._unpack(h.get("correct"))}

  @property
  def pca_2d(self) -> dict | None:
    """linear_accuracy, points, labels; "correct" per example unpacked."""
    p = self.raw.get("compression", {}).get("pca_2d")
    return None if p is None else {**p, "correct": self._unpack(p.get("correct"))}

  # ---------------------------------------------------------------- masking
  @property
  def masking(self) -> dict | None:
    return self.raw.get("masking")


def read(ev: dict) -> EvalResults:
  """EvalResults of an eval.json dict."""
  return EvalResults(ev)


__all__ = ["EvalResults", "read", "eps_key"]
