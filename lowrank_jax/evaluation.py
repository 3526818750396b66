"""Evaluates a trained run: the evaluators of `lowrank_jax.evaluators`, the worst case, the audit.

    evaluate(model, eval_config, x, y, source=None, reference=None) -> results (JSON-able dict)
    evaluate_workdir(workdir, eval_config, transfer_from=None, reference=None) -> results, and writes
        WORKDIR/eval/eval.json, report.md and PNG plots
    audit(results, eval_config, num_classes) -> [{check, passed, detail}]

Robust accuracy per eps is the per-example worst case over every attack run at
that eps (PGD of every step count, FGSM, restarts, 2x steps, transfer, Gaussian
noise, AutoAttack, the masking probes).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Callable

import jax
import numpy as np
import tqdm

from lowrank_jax import attacks, config as config_lib, data as data_lib, distributed, robustness, runfiles
from lowrank_jax.evaluators import (Context, WorstCase, auto_attack, compression, deepfool, masking,
                                    noise_stability, pgd_grid, random_pixels, representation)
from lowrank_jax.loading import LoadedModel, load_model

EVALUATORS: dict[str, Callable[[Context], dict]] = {
    "pgd_grid": pgd_grid.evaluate, "autoattack": auto_attack.evaluate, "masking": masking.evaluate,
    "deepfool": deepfool.evaluate, "random_pixels": random_pixels.evaluate,
    "noise_stability": noise_stability.evaluate, "representation": representation.evaluate,
    "compression": compression.evaluate,
}


def enabled_evaluators(ec) -> list[str]:
  """In order (noise stability reads DeepFool's and the transfer attack's perturbations)."""
  optional = {"autoattack": bool(ec.autoattack), "masking": bool(ec.masking_probes),
              "compression": bool(ec.compression)}
  return [name for name in EVALUATORS if optional.get(name, True)]


def evaluate(model: LoadedModel, ec, x: np.ndarray, y: np.ndarray, source: LoadedModel | None = None,
             reference: LoadedModel | None = None, progress: bool = True, train=None) -> dict:
  """All enabled measures on (x, y): x float32 in [0, 1] (n, H, W, C), y int (n,); train: (images, labels)."""
  config_lib.validate_eval_config(ec)
  attacks.check_inputs(x, y, num_classes=model.num_classes, images=True, where="evaluate")
  names = enabled_evaluators(ec)
  bar = tqdm.tqdm(names, desc=f"eval {model.name}", unit="family", disable=not progress, file=sys.stderr)
  ctx = Context(model, ec, np.asarray(x, np.float32), np.asarray(y, np.int32), jax.random.PRNGKey(ec.seed),
                WorstCase(np.ones(len(x), bool)), source=source, reference=reference, train=train,
                log=(lambda s: bar.write(s, file=sys.stderr)) if progress else (lambda s: None))
  ctx.worst = WorstCase(ctx.predict(ctx.x) == ctx.y)
  out: dict = {"model": model.name, "step": model.step, "num_examples": int(len(x)),
               "clean_accuracy": float(ctx.worst.clean.mean()), "config": ec.to_dict(), "seconds": {}}
  for name in bar:
    bar.set_postfix_str(name)
    t0 = time.perf_counter()
    out[name] = EVALUATORS[name](ctx)
    out["seconds"][name] = round(time.perf_counter() - t0, 2)
  bar.close()
  out["robust_accuracy"] = ctx.worst.to_json()
  if "autoattack" in out:  # AutoAttack may cover only the first n examples: the worst case on those n as well
    n = out["autoattack"]["examples"]
    for e in ctx.worst.correct:
      if f"{e:g}" in out["autoattack"]["by_eps"]:
        out["robust_accuracy"][f"{e:g}"]["accuracy_autoattack_examples"] = ctx.worst.accuracy(e, first=n)
  out["audit"] = audit(out, ec, model.num_classes)
  return out


def audit(r: dict, ec, num_classes: int) -> list[dict]:
  """The gradient-masking audit: monotone in eps, stronger attacks not weaker, AutoAttack's checks, probes."""
  g, tol = r["pgd_grid"], float(ec.tolerance)
  key = lambda e: float(f"{float(e):g}")  # eps as the JSON keys round them
  grid = {key(e): {int(s): a for s, a in d.items()} for e, d in g["pgd"].items()}
  audit_eps, max_steps = key(ec.audit_eps), max(int(s) for s in ec.steps)
  white = grid[audit_eps][max_steps]
  weaker = {"Gaussian noise": (g["gaussian"]["accuracy"], white)}
  if "transfer" in g:
    weaker[f"transfer from {g['transfer']['from']}"] = (g["transfer"][f"{audit_eps:g}"], white)
  checks = robustness.gradient_masking_audit(
      grid, more_steps=(audit_eps, g["pgd_2x"]["steps"], g["pgd_2x"]["accuracy"]),
      restarts=(audit_eps, g["pgd_restarts"]["restarts"], g["pgd_restarts"]["accuracy"]),
      chance=(key(ec.chance_eps), g["pgd_chance"]["accuracy"], 1.0 / num_classes), weaker=weaker, tolerance=tol)
  if "autoattack" in r:
    aa = r["autoattack"]
    checks += [dict(c, check=f"AutoAttack: {c['check']}") for c in aa["sanity_checks"]]
    for e, d in aa["by_eps"].items():
      checks += [dict(c, check=f"AutoAttack eps {e}: {c['check']}") for c in d["checks"]]
      if e in g["pgd"] and aa["examples"] == r["num_examples"]:
        pgd = g["pgd"][e][str(max_steps)]
        checks.append({"check": f"AutoAttack not weaker than PGD-{max_steps} at eps {e}",
                       "passed": d["robust_accuracy"] <= pgd + tol,
                       "detail": f"{d['robust_accuracy']:.3f} vs {pgd:.3f}"})
  if "masking" in r:
    m = r["masking"]
    checks.append({"check": "no zero CE input gradients", "passed": m["zero_gradient_fraction_correct"] == 0,
                   "detail": f"{m['zero_gradient_fraction_correct']:.4f} of correctly classified examples"})
    ptol = float(ec.get("probe_tolerance", 0.05))
    for e, d in m["by_eps"].items():
      for name, p in d["probes"].items():
        checks.append({"check": f"{name} within {ptol:g} of {d['baseline']} at eps {e}",
                       "passed": p["accuracy"] >= p["baseline"] - ptol,
                       "detail": f"{p['accuracy']:.3f} vs {p['baseline']:.3f}"})
  return checks


def evaluate_workdir(workdir: str, ec, transfer_from: str | None = None, reference: str | None = None,
                     progress: bool = True) -> dict:
  """Loads workdir (and the others), evaluates, writes WORKDIR/eval/{eval.json, report.md, *.png}."""
  from lowrank_jax import report  # pylint: disable=g-import-not-at-top (matplotlib is slow to import)

  config_lib.validate_eval_config(ec)
  runfiles.load_run(workdir)  # a workdir with no run: one line before anything else
  out_dir = runfiles.path(workdir, runfiles.EVAL_DIR)
  with runfiles.locked(out_dir, "eval", enabled=distributed.is_main()):  # writable before minutes of compute
    model = load_model(workdir)
    source = load_model(transfer_from) if transfer_from else None
    ref = load_model(reference) if reference else None
    ds = data_lib.load_dataset(model.config.dataset)
    tx, ty = ds.splits["test"]
    n = min(int(ec.num_examples), len(tx))
    results = evaluate(model, ec, tx[:n].astype(np.float32) / 255.0, ty[:n], source=source, reference=ref,
                       progress=progress, train=ds.splits["train"])
    results.update(workdir=workdir, transfer_from=transfer_from, reference=reference)
    if distributed.is_main():
      runfiles.write_json(runfiles.path(out_dir, runfiles.EVAL), results)
      other = runfiles.path(transfer_from, runfiles.EVAL_DIR, runfiles.EVAL) if transfer_from else None
      report.write_report(results, out_dir,
                          compare=runfiles.read_json(other) if other and os.path.exists(other) else None)
  return results
