"""AutoAttack at every eval eps (or config.eval.autoattack_eps) on the first config.eval.autoattack_examples
examples, with its sanity checks; checked against PGD-<max steps> where it ran on every example.

The eps run in increasing order, and each attacks only the examples that the smaller ones left robust: an
adversarial example within a smaller eps is one within every larger eps, so the per-example worst case is the
same as attacking every example at every eps, and monotone in eps, at a fraction of the cost."""

from __future__ import annotations

import time

import numpy as np

from lowrank_jax.attacks import autoattack
from lowrank_jax.evaluators.base import Attacked, Inputs, Result, eps_key


def evaluate(inputs: Inputs, needed: dict) -> Result:
  ec, bs = inputs.ec, inputs.batch_size
  n = min(int(ec.autoattack_examples) or len(inputs.x), len(inputs.x))
  eps_list = sorted(float(e) for e in (tuple(ec.autoattack_eps) or tuple(ec.eps)))
  x, y = inputs.x[:n], inputs.y[:n]
  sanity = autoattack.sanity_checks(inputs.model.logits, x[:bs], y[:bs])
  out = {"version": ec.autoattack_version, "examples": n, "square_queries": int(ec.autoattack_square_queries),
         "steps": int(ec.autoattack_steps), "sanity_checks": sanity, "by_eps": {}}
  settings = autoattack.AttackSettings.of(ec.autoattack_version, queries=int(ec.autoattack_square_queries),
                                          steps=int(ec.autoattack_steps))
  attacked, checks = [], [dict(c, check=f"AutoAttack: {c['check']}") for c in sanity]
  pgd = f"pgd-{max(int(s) for s in ec.steps)}"
  white_box = {a.eps: a.accuracy for a in needed["pgd_grid"].attacked if a.attack == pgd}
  broken = np.zeros(n, bool)  # adversarial (or wrong on x) within the eps so far
  for e in eps_list:
    t0 = time.perf_counter()
    r = autoattack.autoattack(inputs.model.logits, x, y, inputs.subkey("autoattack"), eps=e, norm=ec.norm,
                              version=ec.autoattack_version, settings=settings, batch_size=bs,
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
                     "passed": r.robust_accuracy <= white_box[e] + float(ec.tolerance),
                     "detail": f"{r.robust_accuracy:.3f} vs {white_box[e]:.3f}"})
  return Result(out, tuple(attacked), tuple(checks))
