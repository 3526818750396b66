"""Evaluators: one module per family of measures, each `evaluate(inputs, needed) -> Result` (big_vision style).

    pgd_grid        PGD over eps x steps, FGSM, the audit's attacks, Gaussian noise, transfer
    autoattack      AutoAttack (APGD-CE, APGD-T, FAB-T, Square) per eps + its sanity checks
    masking         gradient-masking probes (temperatures, strong PGD, Square, paper-like PGD)
    deepfool        minimal L2 perturbations, rho_adv
    random_pixels   accuracy when a fraction p of the pixels is perturbed
    noise_stability the representation's gain under own, common and transfer perturbations
    representation  spectra, effective ranks, norms, logit scale, layer cushion
    compression     compressed representations, a linear head, 2-D PCA (needs the training split)

An evaluator reads only the frozen `Inputs` and the Results of the evaluators it names in `needs`;
`order` runs every evaluator after what it needs. Each returns its eval.json entry, the per-example
correctness of every attack it ran by eps (`Attacked`), and its audit checks; the worst case
(`base.WorstCase`) and the audit are assembled from those by `lowrank_jax.evaluation`.
"""

from __future__ import annotations

from lowrank_jax.evaluators import (auto_attack, compression, deepfool, masking, noise_stability, pgd_grid,
                                    random_pixels, representation)
from lowrank_jax.evaluators.base import Attacked, Evaluator, Inputs, Result, WorstCase, eps_key  # noqa: F401

EVALUATORS: dict[str, Evaluator] = {
    "pgd_grid": Evaluator(pgd_grid.evaluate),
    "autoattack": Evaluator(auto_attack.evaluate, needs=("pgd_grid",), enabled=lambda ec: bool(ec.autoattack)),
    "masking": Evaluator(masking.evaluate, enabled=lambda ec: bool(ec.masking_probes)),
    "deepfool": Evaluator(deepfool.evaluate),
    "random_pixels": Evaluator(random_pixels.evaluate),
    "noise_stability": Evaluator(noise_stability.evaluate, needs=("deepfool", "pgd_grid")),
    "representation": Evaluator(representation.evaluate),
    "compression": Evaluator(compression.evaluate, enabled=lambda ec: bool(ec.compression)),
}


def order(ec) -> list[str]:
  """The enabled evaluators (config.eval.only: just those named, and what they need), each after those it
  needs (otherwise in EVALUATORS' order)."""
  enabled = [name for name, e in EVALUATORS.items() if e.enabled(ec)]
  only = [s.strip() for s in str(ec.get("only", "")).split(",") if s.strip()]
  for name in only:
    if name not in EVALUATORS:
      raise ValueError(f"config.eval.only names {name!r}, which is not one of {', '.join(EVALUATORS)}")
  done: list[str] = []

  def visit(name: str, path: tuple[str, ...]) -> None:
    if name in done:
      return
    if name in path:
      raise ValueError(f"evaluators needing each other: {' -> '.join(path + (name,))}")
    if name not in enabled:
      raise ValueError(f"evaluator {path[-1]!r} needs {name!r}, which config.eval disables")
    for need in EVALUATORS[name].needs:
      visit(need, path + (name,))
    done.append(name)

  for name in only or enabled:
    visit(name, ())
  return done
