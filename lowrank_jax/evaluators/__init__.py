"""Evaluators: one module per family of measures (big_vision style), each owning its config, checks and report.

    pgd_grid        PGD over eps x steps, FGSM, the audit's attacks, Gaussian noise, transfer
    autoattack      AutoAttack (APGD-CE, APGD-T, FAB-T, Square) per eps + its sanity checks
    masking         gradient-masking probes (temperatures, strong PGD, Square, paper-like PGD)
    deepfool        minimal L2 perturbations, rho_adv
    random_pixels   accuracy when a fraction p of the pixels is perturbed
    noise_stability the representation's gain under own, common and transfer perturbations
    representation  spectra, effective ranks, norms, logit scale, layer cushion
    compression     compressed representations, a linear head, 2-D PCA (needs the training split)

Adding one: write its module (`evaluators/base.py` says what it defines) and add its line below; its
config section (config.eval.<name>), its checks and its report.md section follow from the module.

An evaluator reads only the frozen `Inputs` and the Results of the evaluators it names in `NEEDS`;
`order` runs every evaluator after what it needs. Each returns its eval.json entry, the per-example
correctness of every attack it ran by eps (`Attacked`), and its audit checks; the worst case
(`base.WorstCase`) and the audit are assembled from those by `lowrank_jax.evaluation`.
"""

from __future__ import annotations

import ml_collections

from lowrank_jax.evaluators import (auto_attack, compression, deepfool, masking, noise_stability, pgd_grid,
                                    random_pixels, representation)
from lowrank_jax.evaluators.base import (Attacked, ConfigError, Evaluator, Inputs, Report, Result,  # noqa: F401
                                         WorstCase, check, check_pixel_eps, eps_key)

EVALUATORS: dict[str, Evaluator] = {
    "pgd_grid": Evaluator.of(pgd_grid),
    "autoattack": Evaluator.of(auto_attack),
    "masking": Evaluator.of(masking),
    "deepfool": Evaluator.of(deepfool),
    "random_pixels": Evaluator.of(random_pixels),
    "noise_stability": Evaluator.of(noise_stability),
    "representation": Evaluator.of(representation),
    "compression": Evaluator.of(compression),
}


def sections() -> dict[str, ml_collections.ConfigDict]:
  """Every evaluator's config section with its defaults (config.eval.<name>)."""
  return {name: e.config() for name, e in EVALUATORS.items()}


def order(ec) -> list[str]:
  """The evaluators to run, each after those it needs (otherwise in EVALUATORS' order): those named in
  config.eval.only and what they need, whether enabled or not; without `only`, the enabled ones."""
  only = [s.strip() for s in str(ec.get("only", "")).split(",") if s.strip()]
  for name in only:
    check(name in EVALUATORS, f"config.eval.only names {name!r}, which is not one of {', '.join(EVALUATORS)}")
  enabled = [name for name in EVALUATORS if only or ec[name].enabled]
  done: list[str] = []

  def visit(name: str, path: tuple[str, ...]) -> None:
    if name in done:
      return
    check(name not in path, f"evaluators needing each other: {' -> '.join(path + (name,))}")
    who = f"evaluator {path[-1]!r} needs" if path else "config.eval.only names"
    check(name in enabled, f"{who} {name!r}, which config.eval.{name}.enabled=False disables")
    for need in EVALUATORS[name].needs:
      visit(need, path + (name,))
    done.append(name)

  for name in only or enabled:
    visit(name, ())
  return done


VALID_SPLITS = ("test", "validation")


def _check_number_tuples(section, defaults, prefix: str) -> None:
  """Each field whose default is a tuple holds a tuple of numbers (a command line's 'abc' is one line)."""
  for field, default in defaults.items():
    if isinstance(default, tuple) and field in section:
      value = section[field]
      ok = isinstance(value, (tuple, list)) and all(
          isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
      check(ok, f"{prefix}{field}={value!r} must be a tuple of numbers, e.g. --{prefix}{field}='(0.1, 0.2)'")


def validate(ec) -> None:
  """Checks config.eval before any compute: the shared fields, then each evaluator's own (one-line ConfigError)."""
  for name in EVALUATORS:
    check(name in ec and "enabled" in ec[name], f"config.eval.{name} is missing: build config.eval from get_config()")
    _check_number_tuples(ec[name], EVALUATORS[name].config(), f"config.eval.{name}.")
  _check_number_tuples(ec, {"eps": (0.1,)}, "config.eval.")
  order(ec)
  check(ec.norm in ("linf", "l2"), f"config.eval.norm={ec.norm!r} is not one of linf, l2")
  check(ec.split in VALID_SPLITS, f"config.eval.split={ec.split!r} is not one of {', '.join(VALID_SPLITS)}")
  for field in ("num_examples", "batch_size"):
    check(ec[field] >= 1, f"config.eval.{field}={ec[field]} must be >= 1")
  check(len(ec.eps) > 0, "config.eval.eps=() must name at least one eps")
  check(all(e > 0 for e in ec.eps), f"config.eval.eps={tuple(ec.eps)} must be > 0")
  check_pixel_eps(ec, "eps", ec.eps)
  for e in EVALUATORS.values():
    e.validate(ec)
