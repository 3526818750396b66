"""AutoAttack at every eval eps (or config.eval.autoattack_eps), with its sanity checks."""

from __future__ import annotations

import time

import numpy as np

from lowrank_jax import autoattack
from lowrank_jax.evaluators import Context


def evaluate(ctx: Context) -> dict:
  ec = ctx.ec
  n = min(int(ec.autoattack_examples) or len(ctx.x), len(ctx.x))
  eps_list = [float(e) for e in (tuple(ec.autoattack_eps) or tuple(ec.eps))]
  x, y = ctx.x[:n], ctx.y[:n]
  out = {"version": ec.autoattack_version, "examples": n, "square_queries": int(ec.autoattack_square_queries),
         "steps": int(ec.autoattack_steps),
         "sanity_checks": autoattack.sanity_checks(ctx.model.logits, x[:ctx.bs], y[:ctx.bs]), "by_eps": {}}
  for e in eps_list:
    t0 = time.perf_counter()
    settings = autoattack.AttackSettings(restarts=5 if ec.autoattack_version == "plus" else 1,
                                         queries=int(ec.autoattack_square_queries), steps=int(ec.autoattack_steps))
    r = autoattack.autoattack(ctx.model.logits, x, y, ctx.subkey("autoattack"), eps=e, norm=ec.norm,
                              version=ec.autoattack_version, settings=settings, batch_size=ctx.bs,
                              num_classes=ctx.model.num_classes, mesh=ctx.mesh,
                              progress=lambda s, e=e: ctx.log(f"autoattack eps {e:g}: {s}"))
    correct = np.ones(len(ctx.x), bool)
    correct[:n] = r.robust
    ctx.worst.record(e, "autoattack", correct)
    first = {name: int(np.sum(r.first == i)) for i, name in enumerate(r.attacks)}
    out["by_eps"][f"{e:g}"] = {"robust_accuracy": r.robust_accuracy, "clean_accuracy": r.clean_accuracy,
                               "after": r.after, "first_success": first, "checks": r.checks,
                               "seconds": time.perf_counter() - t0}
  return out
