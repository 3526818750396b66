"""AutoAttack at every eval eps (or config.eval.autoattack.eps) on the first config.eval.autoattack.examples
examples, with its sanity checks; checked against the grid's PGD-<max steps> where it ran on every example.

The eps run in increasing order, and each attacks only the examples that the smaller ones left robust: an
adversarial example within a smaller eps is one within every larger eps, so the per-example worst case is the
same as attacking every example at every eps, and monotone in eps, at a fraction of the cost."""

from __future__ import annotations

import time

import numpy as np

from lowrank_jax import markdown
from lowrank_jax.attacks import autoattack
from lowrank_jax.evaluators.base import (Attacked, Inputs, Report, Result, check, check_pixel_eps, check_positive,
                                         eps_key, section)

NEEDS = ("pgd_grid",)


def config():
  """config.eval.autoattack: the reference's settings; lower steps/queries only for smoke runs."""
  return section(
      version="standard",  # standard | plus | rand
      eps=(),  # empty: every config.eval.eps
      examples=0,  # the first N evaluated examples; 0: all
      square_queries=5000,
      steps=100,  # APGD / FAB iterations
      tolerance=0.01)  # slack when checked against the grid's PGD


def validate(ec) -> None:
  """Checks config.eval.autoattack (one-line ConfigError naming the field)."""
  a = ec.autoattack
  check(a.version in autoattack.VERSIONS,
        f"config.eval.autoattack.version={a.version!r} is not one of {', '.join(autoattack.VERSIONS)}")
  check(all(e > 0 for e in a.eps), f"config.eval.autoattack.eps={tuple(a.eps)} must be > 0")
  check_pixel_eps(ec, "autoattack.eps", a.eps)
  check(a.examples >= 0, f"config.eval.autoattack.examples={a.examples} must be >= 0 (0: all)")
  check_positive(a, "autoattack", "square_queries", "steps")
  check(a.tolerance >= 0, f"config.eval.autoattack.tolerance={a.tolerance} must be >= 0")


def evaluate(inputs: Inputs, needed: dict) -> Result:
  """Runs AutoAttack on inputs (see the module docstring); its eval.json entry, attacks and checks."""
  ec, a, bs = inputs.ec, inputs.ec.autoattack, inputs.batch_size
  n = min(int(a.examples) or len(inputs.x), len(inputs.x))
  eps_list = sorted(float(e) for e in (tuple(a.eps) or tuple(ec.eps)))
  x, y = inputs.x[:n], inputs.y[:n]
  sanity = autoattack.sanity_checks(inputs.model.logits, x[:bs], y[:bs])
  out = {"version": a.version, "examples": n, "square_queries": int(a.square_queries),
         "steps": int(a.steps), "sanity_checks": sanity, "by_eps": {}}
  settings = autoattack.AttackSettings.of(a.version, queries=int(a.square_queries), steps=int(a.steps))
  attacked, checks = [], [dict(c, check=f"AutoAttack: {c['check']}") for c in sanity]
  grid = needed["pgd_grid"]
  pgd = f"pgd-{max(int(s) for d in grid.json['pgd'].values() for s in d)}"
  white_box = {t.eps: t.accuracy for t in grid.attacked if t.attack == pgd}
  broken = np.zeros(n, bool)  # adversarial (or wrong on x) within the eps so far
  for e in eps_list:
    t0 = time.perf_counter()
    r = autoattack.autoattack(inputs.model.logits, x, y, inputs.subkey("autoattack"), eps=e, norm=ec.norm,
                              version=a.version, settings=settings, batch_size=bs,
                              num_classes=inputs.model.num_classes, mesh=inputs.mesh,
                              progress=lambda s, e=e: inputs.log(f"autoattack eps {e:g}: {s}"),
                              known_broken=broken)
    broken = ~r.robust
    attacked.append(Attacked(e, "autoattack", r.robust))
    broken_by = {name: int(np.sum(r.broken_by == i)) for i, name in enumerate(r.attacks)}
    broken_by["smaller eps"] = int(np.sum(r.broken_by == -3))
    out["by_eps"][eps_key(e)] = {"robust_accuracy": r.robust_accuracy, "clean_accuracy": r.clean_accuracy,
                                 "after": r.after, "first_success": broken_by, "checks": r.checks,
                                 "seconds": time.perf_counter() - t0}
    checks += [dict(c, check=f"AutoAttack eps {eps_key(e)}: {c['check']}") for c in r.checks]
    if e in white_box and n == len(inputs.x):
      checks.append({"check": f"AutoAttack not weaker than {pgd.upper()} at eps {eps_key(e)}",
                     "passed": r.robust_accuracy <= white_box[e] + float(a.tolerance),
                     "detail": f"{r.robust_accuracy:.3f} vs {white_box[e]:.3f}"})
  return Result(out, tuple(attacked), tuple(checks))


def report(rep: Report) -> list[str]:
  """## AutoAttack: robust accuracy per eps, and after each of its attacks."""
  aa = rep.results["autoattack"]
  names = list(next(iter(aa["by_eps"].values()))["after"])
  return (["## AutoAttack", "", f"AutoAttack ({aa['version']}) on the first {aa['examples']} examples. Robust "
           "accuracy after each attack (cumulative, each on the examples still robust; an example broken at a smaller "
           "eps is not attacked again):", ""]
          + markdown.table(["eps", "robust accuracy"] + names + ["seconds"],
                           [[e, f"**{d['robust_accuracy']:.4f}**"] + [f"{d['after'][n]:.4f}" for n in names]
                            + [f"{d['seconds']:.0f}"] for e, d in aa["by_eps"].items()]) + [""])
