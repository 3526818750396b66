"""`export_model(workdir, out)`: a trained run reduced to what others need to check it; `mismatches(out, result)`:
whether the copy classifies its result's evaluated examples exactly as the result says.

The copy is itself a run directory that `load_model` and `eval.py` read: config.json, model.json (the dataset's
source and digest included), metrics.jsonl (the run's epoch records) and one checkpoint holding only the model's parameters and batch statistics (no
optimizer state, no LR layers' W and b), with the digest of every array.
"""

from __future__ import annotations

import os
import shutil

from lowrank_jax import batching, checkpoint as ckpt_lib
from lowrank_jax import data as data_lib
from lowrank_jax import loading, per_example, runfiles


def export_model(workdir: str, out: str, note: dict | None = None, model=None) -> str:
  """Writes the newest checkpoint of `workdir` as the run `out` (replaced if it exists; written beside it first, so
  an interrupted export leaves the old copy or none); note: what model.json's "exported_from" adds (e.g. the result
  file the copy must reproduce). Returns out."""
  loaded = loading.load_model(workdir, model=model)
  config, meta = runfiles.load_run(workdir)
  tmp = f"{out.rstrip('/')}.tmp{os.getpid()}"
  shutil.rmtree(tmp, ignore_errors=True)
  os.makedirs(tmp)
  runfiles.write_json(runfiles.path(tmp, runfiles.CONFIG), {**config, "keep_checkpoints": 1})
  runfiles.write_json(runfiles.path(tmp, runfiles.MODEL),
                      {**meta, "exported_from": {"step": loaded.step, **(note or {})}})
  if os.path.exists(runfiles.path(workdir, runfiles.METRICS)):  # its epoch records (learning curve, last record)
    shutil.copyfile(runfiles.path(workdir, runfiles.METRICS), runfiles.path(tmp, runfiles.METRICS))
  ckpt = ckpt_lib.Checkpointer(runfiles.path(tmp, runfiles.CHECKPOINTS), keep=1)
  try:
    ckpt.save(loaded.step, {"params": {"model": loaded.params}, "batch_stats": loaded.batch_stats})
  finally:
    ckpt.close()
  shutil.rmtree(out, ignore_errors=True)
  os.replace(tmp, out)
  return out


def mismatches(out: str, result: dict) -> tuple[int, int]:
  """(examples classified otherwise than the result says, examples checked): the exported model `out` on the
  examples its result evaluated (the first n of its split, as eval.py takes them), clean predictions against the
  result's per-example clean correctness; its batch size is the evaluation's."""
  ev = result["eval"]
  if "per_example" not in ev:
    raise ValueError(f"the result of {out} keeps no per-example results to check against")
  kept = per_example.from_json(ev["per_example"])
  model = loading.load_model(out)
  ds = data_lib.load_dataset(model.config.dataset)
  if ev.get("dataset", {}).get("digest") not in (None, ds.digest):
    raise ValueError(f"{out}: the dataset at {model.config.dataset.data_dir or model.config.dataset.name} (digest "
                     f"{ds.digest}) is not the one evaluated (digest {ev['dataset']['digest']})")
  x, y = ds.splits[ev.get("split", "test")]
  correct = batching.predict(model.logits, data_lib.to_unit(x[:kept.n]), int(ev["config"]["batch_size"]),
                             model.mesh) == y[:kept.n]
  return int((correct != kept.clean).sum()), kept.n
