"""A run's files, in one place: what train.py and eval.py write into a workdir.

    WORKDIR/config.json      the training config (ml_collections JSON)
    WORKDIR/model.json       what load_model needs besides the config (input statistics, sizes)
    WORKDIR/metrics.jsonl    one record per epoch
    WORKDIR/checkpoints/     orbax checkpoints
    WORKDIR/partial_epoch/   per checkpoint step, the epoch's metric sums so far (a resume logs whole epochs)
    WORKDIR/tensorboard/     TensorBoard event files: per-step (every log_every_steps) and per-epoch scalars
    WORKDIR/eval/eval.json   eval.py's results (+ report.md and PNGs beside it)
    WORKDIR/eval/partial/    the evaluators an interrupted eval.py finished, taken back by the next (eval_progress)

    WORKDIR/.train.lock      held by the training process (WORKDIR/.eval.lock: by eval.py)

Every write is atomic (a temporary file renamed over the target; on failure, a disk
full say, the temporary file is removed and the target is untouched), so an
interrupted run never leaves a half-written JSON behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import re
import os
import socket
import tempfile
import time
from typing import Any, Iterable, Iterator

CONFIG, MODEL, METRICS, CHECKPOINTS, EVAL_DIR, EVAL, TENSORBOARD, PARTIAL_EPOCH, EVAL_PARTIAL = (
    "config.json", "model.json", "metrics.jsonl", "checkpoints", "eval", "eval.json", "tensorboard", "partial_epoch",
    "partial")


class WorkdirError(RuntimeError):
  """A workdir cannot be used (not writable, or in use by another process); str(e) is one line."""


def eps_key(eps: float) -> str:
  """An eps as the key eval.json stores it under ("0.05"; 8/255 -> "0.0313725"): the one place eps becomes text."""
  return f"{float(eps):g}"


def run_name(workdir: str) -> str:
  """The run's display name: the workdir's last path component."""
  return os.path.basename(os.path.normpath(os.path.abspath(workdir)))


def path(workdir: str, *parts: str) -> str:
  """A file or folder of a run: workdir/part/..."""
  return os.path.join(workdir, *parts)


@contextlib.contextmanager
def atomic_file(file: str) -> Iterator[str]:
  """Yields a temporary path to write `file` to; renamed over `file` on success, removed on failure."""
  os.makedirs(os.path.dirname(os.path.abspath(file)), exist_ok=True)
  tmp = f"{file}.tmp{os.getpid()}"
  try:
    yield tmp
    os.replace(tmp, file)
  except BaseException:
    with contextlib.suppress(OSError):
      os.remove(tmp)
    raise


def remove_stale_temporaries(folder: str) -> list[str]:
  """Deletes the `<file>.tmp<pid>` files that `atomic_file` left when its process was killed (call it holding the
  folder's lock: no other writer is running); returns them."""
  stale = [p for p in glob.glob(os.path.join(folder, "**", "*.tmp*"), recursive=True)
           if re.search(r"\.tmp\d+$", p) and os.path.isfile(p)]
  for p in stale:
    with contextlib.suppress(OSError):
      os.remove(p)
  return stale


def write_text_atomic(file: str, text: str) -> None:
  """Writes text to file atomically (a temporary file renamed over it)."""
  with atomic_file(file) as tmp, open(tmp, "w") as f:
    f.write(text)


def check_writable(directory: str) -> None:
  """Creates `directory` if needed and writes a probe file in it: a one-line WorkdirError if it cannot."""
  try:
    os.makedirs(directory, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=".write_probe", dir=directory)
    try:
      os.write(fd, b"ok")
    finally:
      os.close(fd)
      os.remove(probe)
  except OSError as e:
    raise WorkdirError(f"cannot write to {os.path.abspath(directory)}: {e.strerror or e}") from None


@contextlib.contextmanager
def locked(workdir: str, what: str = "train", enabled: bool = True) -> Iterator[None]:
  """Holds the advisory lock WORKDIR/.<what>.lock, after checking the workdir is writable.

  A second process asking for the same lock gets a one-line WorkdirError naming the holder's
  pid and host. The lock is `fcntl.flock`: the kernel releases it when its holder exits, even
  when killed, so no stale lock is ever left to delete by hand. `enabled=False` (processes
  other than 0 of a multi-process run) only checks writability.
  """
  check_writable(workdir)
  if not enabled:
    yield
    return
  file = path(workdir, f".{what}.lock")
  fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError:
    holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
    os.close(fd)
    raise WorkdirError(f"{os.path.abspath(workdir)} is in use by {holder} (lock {file}): wait for it to end "
                       f"or use another --workdir") from None
  try:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{what} pid {os.getpid()} on host {socket.gethostname()}".encode(), 0)
    yield
  finally:
    with contextlib.suppress(OSError):
      os.ftruncate(fd, 0)
    os.close(fd)  # releases the lock


def write_json(file: str, obj: Any, indent: int | None = None) -> None:
  """Writes obj as JSON, atomically."""
  write_text_atomic(file, json.dumps(obj, indent=indent))


def _not_json(file: str, e: json.JSONDecodeError, line: int | None = None) -> WorkdirError:
  where = f"line {line}" if line is not None else f"line {e.lineno} column {e.colno}"
  return WorkdirError(f"{file} is not valid JSON at {where} ({e.msg}): cut short by an interrupted write? move it "
                      "away (or restore it) and rerun")


def read_json(file: str, what: str = "") -> Any:
  """Reads JSON; a missing file is a FileNotFoundError naming it (and `what` to do), a damaged one a one-line
  WorkdirError naming it."""
  if not os.path.exists(file):
    raise FileNotFoundError(f"{file} not found" + (f": {what}" if what else ""))
  with open(file) as f:
    try:
      return json.load(f)
    except json.JSONDecodeError as e:
      raise _not_json(file, e) from None


def write_jsonl(file: str, records: Iterable[dict]) -> None:
  """Writes the records as JSON lines, atomically."""
  write_text_atomic(file, "".join(json.dumps(r) + "\n" for r in records))


def read_jsonl(file: str) -> list[dict]:
  """The records of a JSON-lines file ([] if it does not exist)."""
  if not os.path.exists(file):
    return []
  out = []
  with open(file) as f:
    for i, line in enumerate(f, 1):
      if line.strip():
        try:
          out.append(json.loads(line))
        except json.JSONDecodeError as e:
          raise _not_json(file, e, i) from None
  return out


def save_run(workdir: str, config, meta: dict) -> None:
  """config.json and model.json of a training run."""
  write_text_atomic(path(workdir, CONFIG), config.to_json_best_effort(indent=2))
  write_json(path(workdir, MODEL), meta)


def write_partial_epoch(workdir: str, step: int, sums: dict) -> None:
  """Saves the epoch's metric sums at `step` (before the checkpoint of `step`)."""
  write_json(path(workdir, PARTIAL_EPOCH, f"{step}.json"), {"step": step, **sums})


def prune_partial_epochs(workdir: str, keep: Iterable[int]) -> None:
  """Drops the sums of steps that have no checkpoint any more."""
  folder, keep = path(workdir, PARTIAL_EPOCH), {int(k) for k in keep}
  for name in os.listdir(folder) if os.path.isdir(folder) else ():
    stem = name.removesuffix(".json")
    if name.endswith(".json") and stem.isdigit() and int(stem) not in keep:
      with contextlib.suppress(OSError):
        os.remove(path(folder, name))


def read_partial_epoch(workdir: str, step: int) -> dict | None:
  """The sums write_partial_epoch saved at `step`, or None (a run saved before they existed)."""
  file = path(workdir, PARTIAL_EPOCH, f"{step}.json")
  return read_json(file) if os.path.exists(file) else None


def load_run(workdir: str) -> tuple[dict, dict]:
  """(config dict, model meta) of a train.py workdir; a one-line FileNotFoundError if it holds none."""
  what = f"{workdir} holds no run of train.py"
  return read_json(path(workdir, CONFIG), what), read_json(path(workdir, MODEL), what)


class TensorBoard:
  """Scalars to WORKDIR/tensorboard event files (tensorboardX's record writer; no TensorFlow needed), written in
  this thread: `flush` puts everything logged so far on disk (tensorboardX's SummaryWriter queues events for a
  thread whose flush leaves the queue unwritten); a no-op when disabled."""

  def __init__(self, workdir: str, enabled: bool = True):
    self._writer = None
    if enabled:
      from tensorboardX import event_file_writer  # pylint: disable=g-import-not-at-top
      os.makedirs(path(workdir, TENSORBOARD), exist_ok=True)
      self._writer = event_file_writer.EventsWriter(path(workdir, TENSORBOARD, "events"))

  def scalars(self, step: int, values: dict, prefix: str = "") -> None:
    """Logs the numeric values (epoch and step aside) at step, each name prefixed."""
    if self._writer is None:
      return
    from tensorboardX import summary  # pylint: disable=g-import-not-at-top
    from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
    for k, v in values.items():
      if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("epoch", "step"):
        self._writer.write_event(event_pb2.Event(wall_time=time.time(), step=int(step),
                                                 summary=summary.scalar(prefix + k, float(v))))

  def flush(self) -> None:
    """Writes what is pending to the event file (each epoch's end: a killed run keeps its curves)."""
    if self._writer is not None:
      self._writer.flush()

  def close(self) -> None:
    """Flushes and closes the event file."""
    if self._writer is not None:
      self._writer.close()
