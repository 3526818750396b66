"""A run's files, in one place: what train.py and eval.py write into a workdir.

    WORKDIR/config.json      the training config (ml_collections JSON)
    WORKDIR/model.json       what load_model needs besides the config (input statistics, sizes)
    WORKDIR/metrics.jsonl    one record per epoch
    WORKDIR/checkpoints/     orbax checkpoints
    WORKDIR/tensorboard/     TensorBoard event files: per-step (every log_every_steps) and per-epoch scalars
    WORKDIR/eval/eval.json   eval.py's results (+ report.md and PNGs beside it)

Every write is atomic (a temporary file renamed over the target), so an
interrupted run never leaves a half-written JSON behind.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable

CONFIG, MODEL, METRICS, CHECKPOINTS, EVAL_DIR, EVAL, TENSORBOARD = (
    "config.json", "model.json", "metrics.jsonl", "checkpoints", "eval", "eval.json", "tensorboard")


def run_name(workdir: str) -> str:
  """The run's display name: the workdir's last path component."""
  return os.path.basename(os.path.normpath(os.path.abspath(workdir)))


def path(workdir: str, *parts: str) -> str:
  return os.path.join(workdir, *parts)


def write_text_atomic(file: str, text: str) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(file)), exist_ok=True)
  tmp = f"{file}.tmp{os.getpid()}"
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, file)


def write_json(file: str, obj: Any, indent: int | None = None) -> None:
  write_text_atomic(file, json.dumps(obj, indent=indent))


def read_json(file: str, what: str = "") -> Any:
  """Reads JSON; a missing file is a FileNotFoundError naming it (and `what` to do)."""
  if not os.path.exists(file):
    raise FileNotFoundError(f"{file} not found" + (f": {what}" if what else ""))
  with open(file) as f:
    return json.load(f)


def write_jsonl(file: str, records: Iterable[dict]) -> None:
  write_text_atomic(file, "".join(json.dumps(r) + "\n" for r in records))


def read_jsonl(file: str) -> list[dict]:
  if not os.path.exists(file):
    return []
  with open(file) as f:
    return [json.loads(line) for line in f if line.strip()]


def save_run(workdir: str, config, meta: dict) -> None:
  """config.json and model.json of a training run."""
  write_text_atomic(path(workdir, CONFIG), config.to_json_best_effort(indent=2))
  write_json(path(workdir, MODEL), meta)


def load_run(workdir: str) -> tuple[dict, dict]:
  """(config dict, model meta) of a train.py workdir; a one-line FileNotFoundError if it holds none."""
  what = f"{workdir} holds no run of train.py"
  return read_json(path(workdir, CONFIG), what), read_json(path(workdir, MODEL), what)


class TensorBoard:
  """Scalars to WORKDIR/tensorboard event files (tensorboardX; no TensorFlow needed); a no-op when disabled."""

  def __init__(self, workdir: str, enabled: bool = True):
    self._writer = None
    if enabled:
      import tensorboardX  # pylint: disable=g-import-not-at-top
      self._writer = tensorboardX.SummaryWriter(path(workdir, TENSORBOARD), flush_secs=30)

  def scalars(self, step: int, values: dict, prefix: str = "") -> None:
    if self._writer is None:
      return
    for k, v in values.items():
      if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("epoch", "step"):
        self._writer.add_scalar(prefix + k, float(v), step)

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()
