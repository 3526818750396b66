"""Evaluates a trained run: the evaluators of `lowrank_jax.evaluators`, the worst case over their attacks, the audit.

    evaluate(model, eval_config, x, y, source=None, reference=None) -> results (JSON-able dict)
    evaluate_workdir(workdir, eval_config, transfer_from=None, reference=None, add_to=None) -> results, and
        writes WORKDIR/eval/eval.json, report.md and PNG plots
    merge(old, new) -> results     # a finished evaluation with evaluators run later (config.eval.only) added

Robust accuracy per eps is the per-example worst case over every attack run at
that eps (PGD of every step count, FGSM, restarts, 2x steps, transfer, Gaussian
noise, AutoAttack, the masking probes). The audit is the checks the evaluators return.
"""

from __future__ import annotations

import os
import sys
import time

import jax
import numpy as np
import tqdm

from lowrank_jax import (attacks, batching, data as data_lib, distributed, eval_progress, evaluators, per_example, report,
                         runfiles, stop)
from lowrank_jax.errors import ConfigError
from lowrank_jax.evaluators import EVALUATORS, Attacked, Inputs, WorstCase, eps_key, order
from lowrank_jax.loading import LoadedModel, load_model


def evaluate(model: LoadedModel, ec, x: np.ndarray, y: np.ndarray, source: LoadedModel | None = None,
             reference: LoadedModel | None = None, progress: bool = True, train=None, keep: str | None = None) -> dict:
  """All enabled measures on (x, y): x float32 in [0, 1] (n, H, W, C), y int (n,); train: (images, labels).
  keep: a folder where each finished evaluator's Result is written as it ends, and taken back instead of run
  again by the next evaluation of the same model, config and examples (`eval_progress`); "resumed" lists those."""
  evaluators.validate(ec)
  attacks.check_inputs(x, y, num_classes=model.num_classes, images=True, where="evaluate")
  x, y = np.asarray(x, np.float32), np.asarray(y, np.int32)
  names = order(ec)
  bar = tqdm.tqdm(names, desc=f"eval {model.name}", unit="family", disable=not progress, file=sys.stderr)
  clean = batching.predict(model.logits, x, int(ec.batch_size), model.mesh) == y
  inputs = Inputs(model, ec, x, y, clean, jax.random.PRNGKey(ec.seed), source=source, reference=reference,
                  train=train, log=(lambda s: bar.write(s, file=sys.stderr)) if progress else (lambda s: None))
  out: dict = {"model": model.name, "step": model.step, "num_examples": int(len(x)),
               "clean_accuracy": float(clean.mean()), "config": ec.to_dict(), "seconds": {}}
  results, resumed = {}, []
  key = eval_progress.fingerprint(model, ec, x, y, source, reference) if keep else ""
  for name in bar:
    stop.check()  # Ctrl-C: at the next evaluator (those finished are kept where `keep` is given)
    bar.set_postfix_str(name)
    kept = eval_progress.load(keep, name, key) if keep else None
    if kept is not None:
      results[name], out["seconds"][name] = kept
      resumed.append(name)
      inputs.log(f"{name}: taken from an interrupted evaluation ({kept[1]:.0f} s not spent again)")
    else:
      t0 = time.perf_counter()
      results[name] = EVALUATORS[name].run(inputs, {k: results[k] for k in EVALUATORS[name].needs})
      out["seconds"][name] = round(time.perf_counter() - t0, 2)
      if keep:
        eval_progress.save(keep, name, key, results[name], out["seconds"][name])
    out[name] = results[name].json
  bar.close()
  if resumed:
    out["resumed"] = resumed
  out["audit"] = [dict(c, evaluator=name) for name, r in results.items() for c in r.checks]
  return _with_worst_case(out, clean, [a for r in results.values() for a in r.attacked])


def _with_worst_case(out: dict, clean: np.ndarray, attacked: list[Attacked]) -> dict:
  """out with the per-example worst case over `attacked` ("robust_accuracy") and the per-example results."""
  worst = WorstCase(clean, attacked)
  out["robust_accuracy"] = worst.to_json()
  for a in attacked:  # AutoAttack may cover only the first k examples: the worst case on those k as well
    if a.attack == "autoattack":
      out["robust_accuracy"][eps_key(a.eps)]["accuracy_autoattack_examples"] = worst.accuracy(a.eps, len(a.correct))
  out["per_example"] = per_example.to_json(clean, attacked)  # paired tests, monotone worst case: per_example.py
  return out


def merge(old: dict, new: dict) -> dict:
  """A finished evaluation with evaluators run later on the same checkpoint and examples (`config.eval.only`,
  which reruns what they need): their entries, attacks (by eps and name) and audit checks replace the old ones
  or join them, and the worst case is recomputed over all; the other evaluators are not rerun. The evaluators
  added and their config are listed under "added". The run's folder may have been moved or copied since (its
  name and path are the new ones); a ConfigError (one line) where the two are not of one checkpoint and examples."""
  digests = [r.get("dataset", {}).get("digest") for r in (old, new)]
  if None not in digests and digests[0] != digests[1]:
    raise ConfigError(f"merge: the evaluations read two copies of the dataset (digest {digests[0]} vs {digests[1]}): "
                      "evaluate every evaluator on the new copy (without config.eval.only)")
  for field in ("step", "num_examples", "clean_accuracy"):
    if old.get(field) != new.get(field):
      raise ConfigError(f"merge: the evaluations differ in {field!r} ({old.get(field)!r} vs {new.get(field)!r}): "
                        "not the same checkpoint and examples")
  olds, news = per_example.from_json(old["per_example"]), per_example.from_json(new["per_example"])
  if not np.array_equal(olds.clean, news.clean):
    raise ConfigError("merge: the evaluations' clean per-example results differ: not the same checkpoint and examples")
  ran = list(new["seconds"])
  out = {**old, **{k: new[k] for k in ran}, "seconds": {**old["seconds"], **new["seconds"]},
         "added": old.get("added", []) + [{"evaluators": ran, "config": new["config"]}],
         **{k: new[k] for k in ("model", "workdir") if k in new}}
  again = {c["check"] for c in new["audit"]}  # (a check without "evaluator": one written before it was recorded)
  out["audit"] = [c for c in old["audit"] if c.get("evaluator") not in ran and c["check"] not in again] + new["audit"]
  replaced = {(e, a) for e, a, _ in news.attacks}
  attacked = [Attacked(e, a, c) for e, a, c in olds.attacks if (e, a) not in replaced]
  return _with_worst_case(out, olds.clean, attacked + [Attacked(e, a, c) for e, a, c in news.attacks])


def _existing_evaluation(out_dir: str, step: int, split: str, n: int, only: str) -> dict | None:
  """The eval.json a partial evaluation joins (None where there is none); one line when it is of another
  checkpoint, split or number of examples (the partial one would replace it, losing its attacks)."""
  path = runfiles.path(out_dir, runfiles.EVAL)
  if not os.path.exists(path):
    return None
  old = runfiles.read_json(path)
  if (old.get("step"), old.get("split", "test"), old.get("num_examples")) != (step, split, n):
    raise ConfigError(f"{path} holds an evaluation of step {old.get('step')} on {old.get('num_examples')} "
                      f"{old.get('split', 'test')} examples; config.eval.only={only!r} would be of step {step} on "
                      f"{n} {split} examples: run the full evaluation (config.eval.only='') to replace it")
  return old


def _check_others(model: LoadedModel, others: dict[str, LoadedModel | None]) -> None:
  """--transfer_from / --reference runs of another dataset or input shape: one line before any attack."""
  for flag, other in others.items():
    if other is not None and (other.config.dataset.name, other.num_classes) != (model.config.dataset.name,
                                                                              model.num_classes):
      raise ConfigError(f"--{flag} {other.workdir} is a run on {other.config.dataset.name} "
                        f"({other.num_classes} classes); {model.workdir} is on {model.config.dataset.name} "
                        f"({model.num_classes}): give a run on the same dataset")


def _compared(transfer_from: str | None, log) -> dict | None:
  """The --transfer_from run's eval.json, drawn beside this one in the plots; None (and a line) when it has none or
  it cannot be read (the evaluation goes on without the comparison)."""
  path = runfiles.path(transfer_from, runfiles.EVAL_DIR, runfiles.EVAL) if transfer_from else None
  if path is None or not os.path.exists(path):
    return None
  try:
    return runfiles.read_json(path)
  except runfiles.WorkdirError as e:
    log(f"report: no comparison with {transfer_from}: {e}")
    return None


def _dataset_at(cfg, data_dir: str | None):
  """config.dataset with data_dir replaced (if given)."""
  if not data_dir:
    return cfg
  cfg = cfg.copy_and_resolve_references()
  cfg.data_dir = data_dir
  return cfg


def evaluate_workdir(workdir: str, ec, transfer_from: str | None = None, reference: str | None = None,
                     progress: bool = True, add_to: dict | None = None, fresh: bool = False,
                     model_factory=None, data_dir: str | None = None) -> dict:
  """Loads workdir (and the others), evaluates, writes WORKDIR/eval/{eval.json, report.md, *.png}; each evaluator
  as it ends goes to WORKDIR/eval/partial/ (one process only), from where an interrupted evaluation resumes; add_to: a
  finished evaluation of the same checkpoint that this one's evaluators join (`merge`). A partial evaluation
  (config.eval.only) joins the workdir's eval.json the same way; only a full one replaces it, once finished
  (fresh: replace it whatever ran, as the experiment runner does: each row keeps its own results). data_dir: where
  the run's dataset is on this machine, if not where it was trained (config.dataset.data_dir): eval.json records the
  digest of what was read, and the one trained on when they differ (a model shared with its digest, checked on
  another copy)."""
  evaluators.validate(ec)
  _, meta = runfiles.load_run(workdir)  # a workdir with no run: one line before anything else
  out_dir = runfiles.path(workdir, runfiles.EVAL_DIR)
  with runfiles.locked(out_dir, "eval", enabled=distributed.is_main()):  # writable before minutes of compute
    if distributed.is_main():
      runfiles.remove_stale_temporaries(out_dir)  # a report's half-written plot of a killed eval.py
      if not report.is_current(out_dir):  # killed between eval.json and report.md: the report of the results kept
        report.write_report(runfiles.read_json(runfiles.path(out_dir, runfiles.EVAL)), out_dir)
    model = load_model(workdir, model=model_factory() if model_factory else None)
    source = load_model(transfer_from) if transfer_from else None
    ref = load_model(reference) if reference else None
    _check_others(model, {"transfer_from": source, "reference": ref})
    compare = _compared(transfer_from, lambda s: print(s, file=sys.stderr) if progress else None)
    ds = data_lib.load_dataset(_dataset_at(model.config.dataset, data_dir))
    trained_on = meta.get("dataset", {}).get("digest")
    if trained_on and trained_on != ds.digest:
      print(f"note: {ds.source} (digest {ds.digest}) is not the copy {workdir} was trained on (digest {trained_on})",
            file=sys.stderr)
    if ec.split not in ds.splits or ec.split == "train":
      raise ConfigError(f"config.eval.split={ec.split!r}: the run's dataset has no such held-out split "
                                   f"(validation needs config.dataset.validation_size > 0 in training)")
    tx, ty = ds.splits[ec.split]
    n = min(int(ec.num_examples), len(tx))
    if add_to is None and str(ec.only).strip() and not fresh:
      add_to = _existing_evaluation(out_dir, model.step, ec.split, n, ec.only)
    keep = runfiles.path(out_dir, runfiles.EVAL_PARTIAL) if jax.process_count() == 1 else None
    results = evaluate(model, ec, data_lib.to_unit(tx[:n]), ty[:n], source=source, reference=ref,
                       progress=progress, train=ds.splits["train"], keep=keep)
    results.update(workdir=workdir, split=ec.split, transfer_from=transfer_from, reference=reference,
                   dataset={"name": ds.name, "source": ds.source, "digest": ds.digest,
                            **({"trained_on": trained_on} if trained_on and trained_on != ds.digest else {})})
    if add_to is not None:
      results = merge(add_to, results)
    if distributed.is_main():
      runfiles.write_json(runfiles.path(out_dir, runfiles.EVAL), results)
      if keep:
        eval_progress.clear(keep, list(results["seconds"]))  # eval.json holds them now
      report.write_report(results, out_dir, compare=compare)
  return results
