"""Experiments: lists of training runs, trained and evaluated resumably in one process, results as JSON.

    Run(name, overrides, eval_overrides, transfer_from, reference)
    run_experiment(runs, root, results_dir, base_config=..., eval_overrides=...) -> {name: result}
    table_row(result) -> flat dict of the numbers a results table shows

Each run trains into ROOT/<name> (train_and_evaluate resumes from its newest
checkpoint) and is then evaluated unless RESULTS_DIR/<name>.json exists; that
file holds {"run", "config", "train" (the last epoch's record), "eval"} with
floats rounded to 5 significant digits. Rerunning skips finished runs and
resumes an interrupted one, so a long experiment can run in the background and
be restarted at will. One process evaluates every run, so runs of the same
architecture share compiled attacks.
"""

from __future__ import annotations

import dataclasses
import glob
import importlib.util
import math
import os
import re
import shutil
import sys
import time
from typing import Any, Callable, Iterable

import jax
import ml_collections
import numpy as np

from lowrank_jax import config as config_lib
from lowrank_jax import default_config, evaluation, export, loading, runfiles, training
from lowrank_jax.eval_results import EvalResults
from lowrank_jax.runfiles import eps_key


@dataclasses.dataclass(frozen=True)
class Run:
  """One training run: config overrides (dotted keys) and how to evaluate it."""

  name: str
  overrides: dict = dataclasses.field(default_factory=dict)
  eval_overrides: dict = dataclasses.field(default_factory=dict)
  transfer_from: str | None = None  # another run's name: the transfer (black-box) source
  reference: str | None = None  # another run's name: the common-perturbation model
  evaluate: bool = True  # False: train only (e.g. a reference model)
  label: str = ""  # what the run varies, for tables
  workdir: str = ""  # "": the name; runs of one learning curve share a workdir
  until_epoch: int | None = None  # train (the schedule of num_epochs) up to this epoch, then evaluate
  config_from: tuple[str, tuple[str, ...]] | None = None  # (results folder, key path): `best_config` under overrides
  reuse: str = ""  # another experiment's finished workdir of the same config (EXPERIMENT/RUN), copied, not retrained

  @property
  def dir(self) -> str:
    return self.workdir or self.name


def apply_overrides(config: ml_collections.ConfigDict, overrides: dict) -> ml_collections.ConfigDict:
  """config with each dotted key set; an unknown key is a ValueError naming it."""
  config = ml_collections.ConfigDict(config.to_dict())
  for dotted, value in overrides.items():
    for name in default_config.new_names(dotted, value):  # a spec written with a field's old name still runs
      node = config
      *parents, leaf = name.split(".")
      for p in parents:
        if p not in node or not isinstance(node[p], ml_collections.ConfigDict):
          raise ValueError(f"unknown config field {dotted!r}")
        node = node[p]
      if leaf not in node:
        raise ValueError(f"unknown config field {dotted!r}")
      node[leaf] = spec_value(value)
  return config


def spec_value(value: Any) -> Any:
  """A value as a spec (JSON) writes it: lists become tuples, and a fraction "8/255" a float."""
  if isinstance(value, (list, tuple)):
    return tuple(spec_value(v) for v in value)
  if isinstance(value, str) and re.fullmatch(r"\d+/\d+", value.strip()):
    num, den = value.split("/")
    return int(num) / int(den)
  return value


def round_floats(obj: Any, digits: int = 5) -> Any:
  """Nested floats rounded to `digits` significant digits (compact, diff-friendly JSON); "config" kept exact."""
  if isinstance(obj, float):
    return obj if not math.isfinite(obj) or obj == 0 else round(obj, digits - 1 - int(math.floor(math.log10(abs(obj)))))
  if isinstance(obj, dict):
    return {k: (v if k == "config" else round_floats(v, digits)) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [round_floats(v, digits) for v in obj]
  return obj


def _order(runs: Iterable[Run]) -> list[Run]:
  """Runs that others depend on (transfer sources, references) first."""
  runs = list(runs)
  needed = {r.transfer_from for r in runs} | {r.reference for r in runs}
  return [r for r in runs if r.name in needed] + [r for r in runs if r.name not in needed]


def run_experiment(runs: Iterable[Run], root: str, results_dir: str, *, base_config: ml_collections.ConfigDict,
                   eval_overrides: dict | None = None, log: Callable[[str], None] | None = None,
                   on_result: Callable[[str], None] | None = None, redo: Iterable[str] = (),
                   export_dir: str | None = None) -> dict[str, dict]:
  """Trains and evaluates every run (resuming, skipping what is done); returns {name: result}.
  on_result(path) is called with each result file written (e.g. to commit it). Runs named in redo are evaluated
  again although their result exists (trained first only if their checkpoint is missing); the old result stays
  until the new one replaces it. export_dir: seed 0 of each row (not the learning curves' checkpoints) is exported
  there as export_dir/<name> (`export.export_model`, naming its result file), once its result exists; on_result is
  called with that folder too."""
  log = log or (lambda s: print(s, file=sys.stderr, flush=True))
  runs = _order(runs)
  names = {r.name for r in runs}
  redo = set(redo)
  if redo - names:
    raise ValueError(f"--redo: run(s) {', '.join(sorted(redo - names))} not selected; selected: {', '.join(sorted(names))}")
  for r in runs:
    for dep in (r.transfer_from, r.reference):
      if dep is not None and dep not in names:
        raise ValueError(f"run {r.name!r} needs run {dep!r}, which is not in the experiment")
  os.makedirs(results_dir, exist_ok=True)
  dirs = {r.name: r.dir for r in runs}
  results = {}
  for i, r in enumerate(runs):
    out = os.path.join(results_dir, f"{r.name}.json")
    workdir = os.path.join(root, r.dir)
    old = runfiles.read_json(out) if os.path.exists(out) else None
    if old is not None and r.name not in redo:
      results[r.name] = old
      if _exported(r, export_dir) and not os.path.exists(os.path.join(export_dir, r.name)) and _has_checkpoint(workdir):
        _export(workdir, out, export_dir, r, on_result)
      continue
    if r.config_from is not None:  # chosen now, from the results that exist when the run starts
      folder, key = r.config_from
      if not glob.glob(os.path.join(folder, "*.json")):
        log(f"[{i + 1}/{len(runs)}] {r.name}: skipped: it takes its config from {folder}, which has no results yet")
        continue
      r = dataclasses.replace(r, overrides={**best_config(folder, list(key)), **r.overrides})
    config = apply_overrides(base_config, r.overrides)
    parked = _unpark(r, workdir, config, export_dir)
    if parked:
      log(f"[{i + 1}/{len(runs)}] {r.name}: {parked}: not trained again")
    if r.reuse and not _has_checkpoint(workdir):
      waits = _reuse(os.path.join(os.path.dirname(root), r.reuse), workdir, config)
      if waits:
        log(f"[{i + 1}/{len(runs)}] {r.name}: skipped: {waits}")
        continue
      log(f"[{i + 1}/{len(runs)}] {r.name}: reuses {r.reuse} (the same config, trained to the end): not trained again")
    t0 = time.perf_counter()
    resumed = _has_checkpoint(workdir)  # its train seconds cover only this call
    log(f"[{i + 1}/{len(runs)}] {r.name}: training ({', '.join(f'{k}={v}' for k, v in r.overrides.items()) or 'base'})")
    if _is_export(workdir):  # a parked model (`park`): trained to the end elsewhere, never trained here
      history = runfiles.read_jsonl(runfiles.path(workdir, runfiles.METRICS))
      last = history[-1] if history else {"step": loading.load_model(workdir).step}
    else:
      last = training.train_and_evaluate(config, workdir, log=lambda s: None, until_epoch=r.until_epoch)
    train_s = time.perf_counter() - t0
    if r.until_epoch is not None and last.get("epoch") != r.until_epoch:
      raise RuntimeError(f"run {r.name!r}: {workdir} is at epoch {last.get('epoch')}, not {r.until_epoch} (trained past "
                         f"it by another run?): remove its checkpoints to measure epoch {r.until_epoch}")
    if not r.evaluate:
      log(f"[{i + 1}/{len(runs)}] {r.name}: trained (test accuracy {last['test_accuracy']:.4f}; not evaluated)")
      continue
    ec = _eval_config(base_config, eval_overrides, r)
    ev = evaluation.evaluate_workdir(workdir, ec, transfer_from=_dir(root, dirs.get(r.transfer_from)),
                                     reference=_dir(root, dirs.get(r.reference)), fresh=True)
    history = runfiles.read_jsonl(runfiles.path(workdir, runfiles.METRICS))
    kept_s = sum(ev["seconds"][name] for name in ev.get("resumed", []))  # evaluators an interrupted call finished
    was_parked = _parked_note(workdir)
    result = {"run": dataclasses.asdict(r), **({"trained_by": r.reuse} if r.reuse else {}),
              **({"parked": was_parked} if was_parked else {}), "config": config.to_dict(), "train": last,
              "history": history, "eval": ev,
              "seconds": {"train": round(train_s, 1), "eval": round(time.perf_counter() - t0 - train_s + kept_s, 1),
                          "resumed": resumed, **where_it_ran()}}
    write_result(out, result)
    results[r.name] = runfiles.read_json(out)
    if on_result is not None:
      on_result(out)
    if _exported(r, export_dir) or was_parked:  # a parked copy now names its result (its test checks it)
      _export(workdir, out, export_dir, r, on_result)
    log(f"[{i + 1}/{len(runs)}] {r.name}: done in {time.perf_counter() - t0:.0f} s; "
        f"{summary_line(results[r.name])}")
    if old is not None:
      log(f"[{i + 1}/{len(runs)}] {r.name}: replaced; it was: {summary_line(old)}")
  return results


def _eval_config(base_config: ml_collections.ConfigDict, eval_overrides: dict | None, r: Run, **more):
  """config.eval of a run: the base's, the spec's overrides, the run's, then `more`."""
  return apply_overrides(ml_collections.ConfigDict({"eval": base_config.eval.to_dict()}),
                         {f"eval.{k}": v for k, v in {**(eval_overrides or {}), **r.eval_overrides, **more}.items()}).eval


def add_evaluators(runs: Iterable[Run], root: str, results_dir: str, evaluators: str, *,
                   base_config: ml_collections.ConfigDict, eval_overrides: dict | None = None,
                   log: Callable[[str], None] | None = None,
                   on_result: Callable[[str], None] | None = None, export_dir: str | None = None) -> dict[str, dict]:
  """Runs `evaluators` (comma separated, `config.eval.only`: what they need is rerun too) on each finished run's
  checkpoint and merges them into its result (`evaluation.merge`), without rerunning the others; a run with no
  result yet is skipped. A run whose workdir holds no checkpoint (another machine, a fresh clone) is retrained
  first from its spec (the same config and seed), unless export_dir holds its model (seed 0's export, or a parked
  copy), which is used instead; the merge then refuses it unless it classifies every evaluated example as the
  result says. Returns {name: result} of the runs changed."""
  log = log or (lambda s: print(s, file=sys.stderr, flush=True))
  runs = list(runs)
  dirs = {r.name: r.dir for r in runs}
  changed = {}
  for r in runs:
    out = os.path.join(results_dir, f"{r.name}.json")
    if not r.evaluate or not os.path.exists(out):
      log(f"{r.name}: skipped: {'not evaluated' if not r.evaluate else 'no result yet'}")
      continue
    result = runfiles.read_json(out)
    t0 = time.perf_counter()
    workdir = os.path.join(root, r.dir)
    parked = _unpark(r, workdir, apply_overrides(base_config, r.overrides), export_dir)
    if parked:
      log(f"{r.name}: {parked}")
    retrained = not _has_checkpoint(workdir)
    if retrained:
      # a chosen config (config_from) is the one the result recorded; a spec's own overrides are exact (the JSON's
      # floats are rounded to 5 digits)
      overrides = result["run"]["overrides"] if r.config_from is not None else r.overrides
      log(f"{r.name}: no checkpoint in {workdir}: retraining it (the same config and seed) before adding {evaluators}")
      training.train_and_evaluate(apply_overrides(base_config, overrides), workdir, log=lambda s: None,
                                  until_epoch=r.until_epoch)
      result["seconds"]["retrained"] = round(result["seconds"].get("retrained", 0.0) + time.perf_counter() - t0, 1)
      t0 = time.perf_counter()
    try:
      result["eval"] = evaluation.evaluate_workdir(
          workdir, _eval_config(base_config, eval_overrides, r, only=evaluators),
          transfer_from=_dir(root, dirs.get(r.transfer_from)), reference=_dir(root, dirs.get(r.reference)),
          add_to=result["eval"])
    except ValueError as e:
      if not retrained:
        raise
      raise ValueError(f"{r.name}: retrained in {workdir}, it is not the model of {out} ({e}); rerun the row instead "
                       f"(move {out} away)") from None
    result["seconds"]["added"] = round(result["seconds"].get("added", 0.0) + time.perf_counter() - t0, 1)
    write_result(out, result)
    changed[r.name] = runfiles.read_json(out)
    if on_result is not None:
      on_result(out)
    log(f"{r.name}: {evaluators} added in {time.perf_counter() - t0:.0f} s; {summary_line(changed[r.name])}")
  return changed


def _exported(r: Run, export_dir: str | None) -> bool:
  return bool(export_dir) and r.evaluate and r.until_epoch is None and r.overrides.get("seed") == 0


def _export(workdir: str, result_file: str, export_dir: str, r: Run, on_result) -> None:
  folder = os.path.join(export_dir, r.name)
  export.export_model(workdir, folder, {"result": os.path.relpath(result_file, folder)})
  if on_result is not None:
    on_result(folder)


AWAITS = "awaits"  # model.json's exported_from key of a parked copy: what it waits for (no result names it yet)


def park(runs: Iterable[Run], root: str, results_dir: str, export_dir: str, *,
         log: Callable[[str], None] | None = None, on_result: Callable[[str], None] | None = None) -> list[str]:
  """Parks each run trained to the end but not yet evaluated (no result file), or never evaluated (a transfer
  source, a reference model), in export_dir/<name>: its model, config and metrics as `export.export_model` writes
  them (a few MB, no optimizer state), to be committed. A fresh clone of the repository (a new machine, a cluster's
  next job, a CI-like session whose work tree is laid anew) then evaluates it, or attacks with it, without training
  it again: `run_experiment` and `add_evaluators` copy it into a workdir that has no checkpoint. A run still in
  training (its last epoch record short of the schedule) or not started is left, and said; one parked at the same
  step already is not written again. Returns the folders written (on_result is called with each)."""
  log = log or (lambda s: print(s, file=sys.stderr, flush=True))
  written = []
  for r in runs:
    workdir = os.path.join(root, r.dir)
    if r.evaluate and os.path.exists(os.path.join(results_dir, f"{r.name}.json")):
      continue  # evaluated: seed 0's model is exported with its result already
    if not _has_checkpoint(workdir):
      log(f"{r.name}: not parked: no checkpoint in {workdir}")
      continue
    history = runfiles.read_jsonl(runfiles.path(workdir, runfiles.METRICS))
    saved = runfiles.read_json(runfiles.path(workdir, runfiles.CONFIG))
    if not _finished(history, saved):
      log(f"{r.name}: not parked: in training (epoch {history[-1]['epoch'] if history else 0} of "
          f"{saved.get('num_epochs')}); rerun it to the end first")
      continue
    folder = os.path.join(export_dir, r.name)
    step = history[-1]["step"]
    if _parked_note(folder).get("step") == step:
      log(f"{r.name}: parked already at step {step} in {folder}")
      continue
    why = "evaluation" if r.evaluate else "nothing: the model other runs attack with (transfer, reference)"
    export.export_model(workdir, folder, {AWAITS: why})
    log(f"{r.name}: parked in {folder} (step {step}; test accuracy {history[-1].get('test_accuracy', float('nan')):.4f})")
    written.append(folder)
    if on_result is not None:
      on_result(folder)
  return written


def _finished(history: list[dict], saved: dict) -> bool:
  """Whether a run's epoch records reach the end of its schedule (num_train_steps, else num_epochs)."""
  if not history:
    return False
  steps = int(saved.get("num_train_steps", 0) or 0)
  return history[-1]["step"] >= steps if steps > 0 else history[-1]["epoch"] >= int(saved["num_epochs"])


def _is_export(workdir: str) -> bool:
  """Whether workdir holds an exported model (export.export_model), not a training run's checkpoints."""
  path = runfiles.path(workdir, runfiles.MODEL)
  return os.path.exists(path) and "exported_from" in runfiles.read_json(path)


def _parked_note(workdir: str) -> dict:
  """model.json's exported_from of a parked copy ({} for anything else)."""
  if not _is_export(workdir):
    return {}
  note = runfiles.read_json(runfiles.path(workdir, runfiles.MODEL))["exported_from"]
  return note if AWAITS in note else {}


def _unpark(r: Run, workdir: str, config: ml_collections.ConfigDict, export_dir: str | None) -> str:
  """Copies export_dir/<name> (a parked copy, or seed 0's export) into `workdir` when workdir has no checkpoint, so
  that the run is evaluated, not trained again; returns what it did ("" when nothing). A copy of another config (the
  spec changed since) is a ValueError naming the first difference."""
  if not export_dir or r.until_epoch is not None or _has_checkpoint(workdir):
    return ""
  source = os.path.join(export_dir, r.name)
  if not _has_checkpoint(source):
    return ""
  diff = _config_diff(runfiles.read_json(runfiles.path(source, runfiles.CONFIG)), config)
  if diff:
    raise ValueError(f"{source} was trained with another config ({diff}): remove it to train {r.name} again")
  tmp = f"{workdir}.copying"
  shutil.rmtree(tmp, ignore_errors=True)
  shutil.copytree(source, tmp, ignore=shutil.ignore_patterns(runfiles.EVAL_DIR, runfiles.EVAL))
  if os.path.isdir(workdir):  # a start that never saved a checkpoint (checked above): nothing to keep
    shutil.rmtree(workdir)
  os.replace(tmp, workdir)
  step = runfiles.read_json(runfiles.path(workdir, runfiles.MODEL))["exported_from"]["step"]
  return f"trained to step {step} before, taken from {source}"


def _reuse(source: str, workdir: str, config: ml_collections.ConfigDict) -> str:
  """Copies `source`, a finished run of the same config (another experiment's, e.g. a learning curve's last point),
  to `workdir` (its checkpoints, config, metrics; not its evaluation), so that it is evaluated, not trained again.
  Returns why it waits ("" once copied): `source` is still training. A source that does not exist is trained
  here from scratch (""); one of another config is a ValueError naming the first difference."""
  if not _has_checkpoint(source):
    return ""
  saved = runfiles.read_json(runfiles.path(source, runfiles.CONFIG))
  diff = _config_diff(saved, config)
  if diff:
    raise ValueError(f"reuse: {source} was trained with another config ({diff}): remove \"reuse\" or the run")
  history = runfiles.read_jsonl(runfiles.path(source, runfiles.METRICS))
  if not history or history[-1].get("epoch") != config.num_epochs:
    return (f"it reuses {source}, which is at epoch {history[-1].get('epoch') if history else 0} of "
            f"{config.num_epochs}: finish that experiment first")
  tmp = f"{workdir}.copying"
  shutil.rmtree(tmp, ignore_errors=True)
  shutil.copytree(source, tmp, ignore=shutil.ignore_patterns(runfiles.EVAL_DIR))
  if os.path.isdir(workdir):  # a start here that never saved a checkpoint (the caller checked): nothing to keep
    shutil.rmtree(workdir)
  os.replace(tmp, workdir)
  return ""


def _config_diff(saved: dict, config: ml_collections.ConfigDict) -> str:
  """'' when a run saved with `saved` continues as `config` unchanged (length included); else the first change."""
  fields = config_lib.changed_fields(saved, config)
  return (f"config.{fields[0]} differs" if fields else "") or (config_lib.schedule_change(saved, config) or "")


def where_it_ran() -> dict:
  """What a row's seconds were spent on: the backend, and the CPU cores this process may run on (its affinity: a
  shard pinned to one core with taskset records 1), so that seconds add up to core-hours."""
  try:
    cores = len(os.sched_getaffinity(0))
  except AttributeError:  # no affinity on this OS
    cores = os.cpu_count() or 1
  return {"platform": jax.default_backend(), "cores": cores}


def _has_checkpoint(workdir: str) -> bool:
  ckpts = runfiles.path(workdir, runfiles.CHECKPOINTS)
  return os.path.isdir(ckpts) and bool(os.listdir(ckpts))


def write_result(path: str, result: dict) -> None:
  """One result as JSON: numpy scalars as Python numbers, floats to 5 significant digits."""
  runfiles.write_json(path, round_floats(_jsonable(result)))


def _dir(root: str, name: str | None) -> str | None:
  return os.path.join(root, name) if name else None


def _jsonable(obj: Any) -> Any:
  if isinstance(obj, dict):
    return {str(k): _jsonable(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [_jsonable(v) for v in obj]
  if isinstance(obj, np.generic):
    return obj.item()
  return obj


def table_row(result: dict) -> dict[str, Any]:
  """The numbers one row of a results table shows (measures that did not run are absent)."""
  ev, tr = EvalResults(result["eval"]), result["train"]
  row: dict[str, Any] = {"clean": ev.clean, "test_accuracy": tr["test_accuracy"]}
  layer = "penultimate"
  if ev.representation is not None:
    rep = ev.representation
    layer = "penultimate" if "penultimate" in rep["layers"] else next(iter(rep["layers"]))
    row.update({"eff_rank": rep["layers"][layer]["effective_rank"],
                "eff_rank_centred": rep["layers"][layer]["effective_rank_centred"],
                "mean_norm": rep["layers"][layer]["mean_norm"], "max_logit": rep["mean_max_logit"],
                "max_softmax": rep["mean_max_softmax"]})
  if ev.deepfool is not None:
    row.update({"rho_adv": ev.deepfool["rho_adv"], "rho_adv_fooled": ev.deepfool["rho_adv_fooled"],
                "deepfool_success": ev.deepfool["success_rate"]})
  lc = [v for k, v in tr.items() if k.startswith("train_") and k.endswith("/projection_loss")]
  if lc:
    row["L_c"] = float(sum(lc))
  offrank = [v for k, v in tr.items() if k.endswith("/W_offrank")]
  if offrank:
    row["W_offrank"] = max(offrank)
  if ev.has("pgd_grid"):
    steps = max(int(s) for s in ev.config.pgd_grid.steps)
    for e, v in ev.pgd_by_eps(steps).items():
      row[f"pgd{steps}@{eps_key(e)}"] = v
  for e, v in ev.worst_by_eps().items():
    row[f"worst@{eps_key(e)}"] = v
  for e, v in ev.autoattack_by_eps().items():
    row[f"aa@{eps_key(e)}"] = v
  for src in ("deepfool", "gaussian", "transfer", "reference", "reference_gaussian"):
    if ev.stability(src, layer) is not None:
      row[f"slope_{src}"] = ev.stability(src, layer)["slope"]
  if ev.masking is not None:
    m = ev.masking
    row["zero_grad"] = m["zero_gradient_fraction_correct"]
    for e, d in m["by_eps"].items():
      for k, v in d["accuracy"].items():
        row[f"probe {k}@{e}"] = v
      for k, v in d["paper_like"].items():
        row[f"paper {k}@{e}"] = v
  row["audit_flags"] = ev.audit_flags
  return row


def summary_line(result: dict) -> str:
  """A result in one line: clean, effective rank, mean norm, worst case and AutoAttack per eps, rho_adv."""
  s = table_row(result)
  keys = ["clean", "eff_rank", "mean_norm"] + [k for k in s if k.startswith(("worst@", "aa@"))] + ["rho_adv"]
  return ", ".join(f"{k} {s[k]:.4g}" for k in keys if k in s)


@dataclasses.dataclass(frozen=True)
class Spec:
  """An experiment as data (a JSON file): its runs, the config and eval overrides they share, where results go."""

  name: str
  about: str
  runs: tuple[Run, ...]
  config: dict
  eval: dict
  results: str  # the results folder, relative to the repository
  base: str = ""  # a config file (e.g. configs/cifar10_resnet18.py) the overrides start from; "": the default
  export: str = ""  # a folder (relative to the repository) for seed 0 of each row's parameters; "": none

  def base_config(self) -> ml_collections.ConfigDict:
    """The base config (`base`, else the default) with the spec's overrides."""
    return apply_overrides(config_file(self.base) if self.base else default_config.get_config(), self.config)


def config_file(path: str) -> ml_collections.ConfigDict:
  """get_config() of a config file (a path; configs/ files import `configs`: run from the repository root)."""
  spec = importlib.util.spec_from_file_location(f"_config_{os.path.basename(path)[:-3]}", path)
  if spec is None or not os.path.exists(path):
    raise ValueError(f"config file {path} not found")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def best_config(results_dir: str, maximise: list[str]) -> dict:
  """The config overrides (seed aside) of the result in results_dir with the largest value at the key path
  `maximise` (e.g. ["eval", "pgd_grid", "pgd", "0.0313725", "20"]); ties: the first by name."""
  best = None
  for path in sorted(glob.glob(os.path.join(results_dir, "*.json"))):
    r = runfiles.read_json(path)
    value = r
    for k in maximise:
      value = value[k]
    if best is None or value > best[0]:
      best = (value, {k: v for k, v in r["run"]["overrides"].items() if k != "seed"})
  if best is None:
    raise ValueError(f"no results in {results_dir} to choose a config from: run that experiment first")
  return best[1]


def _expand(entry: dict, quick: dict | None, results_of: Callable[[str], str]) -> list[Run]:
  """One spec entry -> its runs: one per seed (NAME_s<seed>), and per epoch of a learning curve
  (NAME_s<seed>_e<EE>, sharing the workdir NAME_s<seed>). "config_from": {"results", "maximise"} takes the config
  of the best result of another experiment (`best_config`), under the entry's own "config", when the run starts
  (a run whose source has no results yet is skipped: run that experiment to the end first)."""
  known = {"name", "label", "config", "eval", "seeds", "epochs", "transfer_from", "reference", "evaluate", "quick",
           "config_from"}
  unknown = set(entry) - known
  if unknown:
    raise ValueError(f"spec run {entry.get('name')!r}: unknown field(s) {', '.join(sorted(unknown))}")
  seeds = entry.get("seeds")
  epochs = entry.get("epochs")
  if quick is not None:
    seeds = seeds[:1] if seeds else seeds
    epochs = quick.get("epochs", epochs[:2]) if epochs else epochs
  out = []
  for seed in seeds if seeds is not None else [None]:
    name = entry["name"] if seed is None else f"{entry['name']}_s{seed}"
    chosen = None
    if "config_from" in entry:
      chosen = (results_of(entry["config_from"]["results"]), tuple(entry["config_from"]["maximise"]))
    overrides = {**entry.get("config", {}), **({} if seed is None else {"seed": seed})}
    extra = entry.get("quick") if quick is not None and isinstance(entry.get("quick"), dict) else {}
    overrides.update({**(quick or {}).get("config", {}), **extra.get("config", {})})
    # quick: the spec's quick settings, then the entry's, over the entry's own
    evals = {**entry.get("eval", {}), **(quick or {}).get("eval", {}), **extra.get("eval", {})}
    common = dict(overrides=overrides, eval_overrides=evals,
                  label=entry.get("label", entry["name"]),
                  transfer_from=entry.get("transfer_from"), reference=entry.get("reference"),
                  evaluate=entry.get("evaluate", True), config_from=chosen)
    if epochs:
      out += [Run(f"{name}_e{e:02d}", workdir=name, until_epoch=int(e), **common) for e in epochs]
    else:
      out.append(Run(name, **common))
  return out


def load_spec(path: str, quick: bool = False, results_of: Callable[[str], str] = lambda folder: folder) -> Spec:
  """A spec file: {"about", "results", "base" (a config file; default: the default config), "export" (a folder for
  seed 0 of each row's model), "config", "eval",
  "quick": {"config", "eval", "epochs"}, "order", "reuse", "runs": [entry]},
  "reuse": {run name: "EXPERIMENT/RUN"}: a finished run of another experiment with the same config (a learning
  curve's seed-0 run is a grid's seed-0 row), copied and evaluated instead of trained twice (`_reuse`);
  "order": "runs" (each entry's seeds in turn), "seeds" (every entry's first seed first: a partial run fills
  every table) or a list of run names (those first, in that order: what answers most lands first; the runs that
  others need stay ahead of them);
  each entry {"name", "label", "config", "eval", "seeds", "epochs", "transfer_from", "reference", "evaluate",
  "quick": false to leave it out of quick runs, or {"config", "eval"} overrides for them}. quick: the smoke version (first seed, first epochs, the quick
  overrides on top). results_of: where another spec's "results" folder is (config_from). A bad spec is a
  ValueError naming the file."""
  try:
    d = runfiles.read_json(path)
    q = d.get("quick", {}) if quick else None
    entries = [e for e in d["runs"] if not quick or e.get("quick", True)]
    expanded = [_expand(e, q, results_of) for e in entries]
    order = d.get("order", "runs")
    if order == "seeds":  # every entry's first seed, then every entry's second, ...
      by_seed = [list(dict.fromkeys(r.dir for r in runs)) for runs in expanded]
      rounds = max(len(dirs) for dirs in by_seed)
      runs = tuple(r for k in range(rounds) for runs, dirs in zip(expanded, by_seed) if k < len(dirs)
                   for r in runs if r.dir == dirs[k])
    else:
      runs = tuple(r for e in expanded for r in e)
    if isinstance(order, list):  # run (or workdir) names first, in that order; the others after, as listed
      known = {r.name for r in runs} | {r.dir for r in runs}
      if not quick and set(order) - known:
        raise ValueError(f"order names unknown run(s) {', '.join(sorted(set(order) - known))}")
      rank = {n: i for i, n in enumerate(order)}
      needed = {r.transfer_from for r in runs} | {r.reference for r in runs}  # what other runs need stays first
      runs = tuple(sorted(runs, key=lambda r: (r.name not in needed, rank.get(r.name, rank.get(r.dir, len(order))))))
    reuse = {} if quick else d.get("reuse", {})  # quick runs differ in length from the runs they would reuse
    if set(reuse) - {r.name for r in runs}:
      raise ValueError(f"reuse names unknown run(s) {', '.join(sorted(set(reuse) - {r.name for r in runs}))}")
    runs = tuple(dataclasses.replace(r, reuse=reuse[r.name]) if r.name in reuse else r for r in runs)
    return Spec(os.path.splitext(os.path.basename(path))[0], d.get("about", ""), runs,
                {**d.get("config", {}), **(q or {}).get("config", {})}, {**d.get("eval", {}), **(q or {}).get("eval", {})},
                d["results"], d.get("base", ""), d.get("export", ""))
  except (KeyError, TypeError, ValueError) as e:
    raise ValueError(f"{path}: {type(e).__name__}: {e}") from None


def shard(runs: list[Run], k: int, n: int) -> list[Run]:
  """The runs of shard k of n (1 <= k <= n), for machines sharing a filesystem (a cluster's job array): runs that
  share a workdir (a learning curve's epochs) stay together, and workdir groups are dealt round-robin in the spec's
  order; the runs they need (transfer sources, references) are added first, trained by whichever shard reaches
  them first (a second shard finding one in training stops with one line: rerun it later)."""
  if not 1 <= k <= n:
    raise ValueError(f"--shard {k}/{n}: K must be in 1..N")
  groups = list(dict.fromkeys(r.dir for r in runs))
  mine = {g for i, g in enumerate(groups) if i % n == k - 1}
  picked = [r for r in runs if r.dir in mine]
  names = {r.name for r in picked}
  needed = {d for r in picked for d in (r.transfer_from, r.reference) if d and d not in names}
  return [r for r in runs if r.name in needed] + picked


def select(runs: list[Run], names: list[str]) -> list[Run]:
  """The named runs in that order, after the runs they need (transfer sources, references); an unknown name is
  a ValueError listing the known ones."""
  by_name = {r.name: r for r in runs}
  unknown = [n for n in names if n not in by_name]
  if unknown:
    raise ValueError(f"unknown run(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
  picked = [by_name[n] for n in names]
  deps = {d for r in picked for d in (r.transfer_from, r.reference) if d and d not in names}
  return [by_name[d] for d in sorted(deps)] + picked
