"""Orbax checkpoints of the training state, with errors that name the path, and integrity: a digest of every saved
array (`DIGESTS` inside each checkpoint's folder) checked on every restore, training's and load_model's alike."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import logging
import os
import re
import shutil
import sys
from typing import Any, Iterator

import jax
import numpy as np
import orbax.checkpoint as ocp

DIGESTS = "array_digests.json"  # in each checkpoint's folder: {key path: sha256 of dtype, shape and bytes}


class CheckpointError(RuntimeError):
  """A checkpoint cannot be restored or saved; the message (one line) names its path. Nothing is overwritten."""


def _first_line(e: BaseException) -> str:
  text = re.sub(r"\s*\[tensorstore_spec.*", "", str(e).strip().split("\n")[0])  # drop the driver's JSON spec
  return f"{type(e).__name__}: {text[:300]}"


def _disk_full(e: BaseException) -> bool:
  while e is not None:
    if getattr(e, "errno", None) == 28 or "No space left" in str(e) or "RESOURCE_EXHAUSTED" in str(e):
      return True
    e = e.__cause__ or e.__context__
  return False


def _drop_closed_loop_callbacks() -> None:
  """After a failed restore, tensorstore's reads still in flight call back into orbax's asyncio loop, closed by
  then; Python reports each as an unraisable `RuntimeError: Event loop is closed` (a traceback on stderr after
  the one-line error). This filters exactly those and passes everything else to the previous hook."""
  previous = sys.unraisablehook
  if getattr(previous, "drops_closed_loop_callbacks", False):
    return

  def hook(unraisable):
    if not (isinstance(unraisable.exc_value, RuntimeError) and str(unraisable.exc_value) == "Event loop is closed"):
      previous(unraisable)

  hook.drops_closed_loop_callbacks = True
  sys.unraisablehook = hook


@contextlib.contextmanager
def _orbax_errors_raised_not_logged() -> Iterator[None]:
  """While saving, drops orbax's own ERROR logs (each a long traceback from its writer thread): the failure
  reaches save() as an exception, which reports it in one line."""
  drop = lambda record: not (record.levelno >= logging.ERROR and f"{os.sep}orbax{os.sep}" in record.pathname)
  logger = logging.getLogger("absl")
  logger.addFilter(drop)
  try:
    yield
  finally:
    logger.removeFilter(drop)


def digests(tree: Any) -> dict[str, str] | None:
  """sha256 (16 hex digits) of each array of the pytree (dtype, shape and bytes), by key path; None when an array
  is not fully addressable from this process (a multi-process run's shards: not digested)."""
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    if not getattr(leaf, "is_fully_addressable", True):
      return None
    a = np.ascontiguousarray(jax.device_get(leaf))
    h = hashlib.sha256(f"{a.dtype}{a.shape}".encode())
    h.update(a.tobytes())
    out[jax.tree_util.keystr(path)] = h.hexdigest()[:16]
  return out


class Checkpointer:
  """Keeps the newest `keep` checkpoints of a pytree under `directory/<step>`."""

  def __init__(self, directory: str, keep: int, read_only: bool = False):
    """read_only (load_model, eval.py): never creates or cleans anything, so it can read a run in progress;
    a missing directory is a FileNotFoundError. Otherwise the temporary folders of saves that did not finish
    are removed here, synchronously (orbax would do it in a thread that can outlive an early exit)."""
    self.directory = os.path.abspath(directory)
    _drop_closed_loop_callbacks()  # a failed read or write: see there
    if read_only and not os.path.isdir(self.directory):
      raise FileNotFoundError(f"{self.directory} not found")
    if not read_only:
      os.makedirs(self.directory, exist_ok=True)
      self.remove_partial_saves()
    self._manager = ocp.CheckpointManager(
        self.directory,
        # synchronous: a failed save (disk full, ...) is raised by save() itself, with nothing left half-written
        # (not orbax's own read_only, which logs warnings: reading never writes with create and cleanup off)
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=False, cleanup_tmp_directories=False,
                                             enable_async_checkpointing=False),
    )

  def latest_step(self) -> int | None:
    """The newest checkpoint's step (None: none yet)."""
    return self._manager.latest_step()

  def steps(self) -> list[int]:
    """Every checkpoint's step, oldest first."""
    return list(self._manager.all_steps())

  def path(self, step: int) -> str:
    """The folder of the checkpoint of `step`."""
    return os.path.join(self.directory, str(step))

  def restore(self, step: int, target: Any, partial: bool = False) -> Any:
    """Restores `step` into the structure, shapes, dtypes and shardings of `target`; `partial`: target names
    only part of the saved tree (e.g. the model's parameters without the optimizer state), the rest is not read."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    args = (ocp.args.PyTreeRestore(item=abstract, restore_args=ocp.checkpoint_utils.construct_restore_args(abstract),
                                   partial_restore=True) if partial else ocp.args.StandardRestore(abstract))
    try:
      restored = self._manager.restore(step, args=args)
    except Exception as e:  # orbax raises many types for corrupt or mismatched files
      # the sibling reads that failed too are logged by asyncio when their tasks are collected: already said here
      logging.getLogger("asyncio").addFilter(lambda r: r.getMessage() != "Task exception was never retrieved")
      raise CheckpointError(
          f"checkpoint {self.path(step)} is corrupt or incompatible with this config "
          f"({_first_line(e)}); move it away or use another --workdir"
      ) from e
    shapes = jax.tree.map(lambda a: (a.shape, a.dtype), restored)
    if shapes != jax.tree.map(lambda a: (a.shape, a.dtype), target):
      raise CheckpointError(f"checkpoint {self.path(step)} does not match this config's shapes")
    self.verify(step, restored)
    return restored

  def verify(self, step: int, restored: Any) -> None:
    """One-line CheckpointError when an array read back differs from the digest written with it (bytes changed on
    disk); checkpoints saved before digests existed are not checked."""
    path = os.path.join(self.path(step), DIGESTS)
    if not os.path.exists(path):
      return
    saved, now = json.load(open(path)), digests(restored)
    bad = [k for k, v in (now or {}).items() if k in saved and saved[k] != v]
    if bad:
      earlier = [s for s in self.steps() if s < step]
      prev = (f"the previous checkpoint is {self.path(earlier[-1])}: move {self.path(step)} away to resume from it"
              if earlier else "no earlier checkpoint is kept")
      raise CheckpointError(f"checkpoint {self.path(step)} is corrupt: {len(bad)} of {len(now)} arrays differ from "
                            f"the digests written with them (e.g. {bad[0]}); {prev}")

  def save(self, step: int, state: Any) -> None:
    """Saves `state` as `step`; on failure (disk full, ...) removes the partial save and raises one line."""
    previous = self._manager.latest_step()
    if previous == step:
      return
    try:
      with _orbax_errors_raised_not_logged():
        self._manager.save(step, args=ocp.args.StandardSave(state), force=True)
      self._write_digests(step, state)
    except Exception as e:  # pylint: disable=broad-except (tensorstore and orbax raise many types)
      self.remove_partial_saves()
      why = "the disk is full (No space left on device)" if _disk_full(e) else _first_line(e)
      kept = f"the previous checkpoint {self.path(previous)} is intact" if previous is not None else "none saved before"
      raise CheckpointError(f"cannot save checkpoint {self.path(step)}: {why}; {kept}; rerun the same command "
                            f"to resume once fixed") from None

  def _write_digests(self, step: int, state: Any) -> None:
    found = digests(state)
    if found is None or jax.process_index() != 0:
      return
    path = os.path.join(self.path(step), DIGESTS)
    with open(path + ".tmp", "w") as f:
      json.dump(found, f)
    os.replace(path + ".tmp", path)

  def remove_partial_saves(self) -> None:
    """Deletes orbax's temporary folders of saves that did not finish."""
    for tmp in glob.glob(os.path.join(self.directory, "*.orbax-checkpoint-tmp*")):
      shutil.rmtree(tmp, ignore_errors=True)

  def wait(self) -> None:
    """Blocks until the checkpoints being written (asynchronously) are on disk."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    """Waits for pending saves, then releases the manager."""
    self._manager.wait_until_finished()
    self._manager.close()
