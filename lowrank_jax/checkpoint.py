"""Orbax checkpoints of the training state, with errors that name the path."""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
  """A checkpoint cannot be restored; the message names its path. Nothing is overwritten."""


class Checkpointer:
  """Keeps the newest `keep` checkpoints of a pytree under `directory/<step>`."""

  def __init__(self, directory: str, keep: int):
    self.directory = os.path.abspath(directory)
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, cleanup_tmp_directories=True),
    )

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def path(self, step: int) -> str:
    return os.path.join(self.directory, str(step))

  def restore(self, step: int, target: Any) -> Any:
    """Restores `step` into the structure, shapes, dtypes and shardings of `target`."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    try:
      restored = self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except Exception as e:  # orbax raises many types for corrupt or mismatched files
      first = str(e).strip().splitlines()[0] if str(e).strip() else ""
      raise CheckpointError(
          f"checkpoint {self.path(step)} is corrupt or incompatible with this config "
          f"({type(e).__name__}: {first[:300]}); move it away or use another --workdir"
      ) from e
    shapes = jax.tree.map(lambda a: (a.shape, a.dtype), restored)
    if shapes != jax.tree.map(lambda a: (a.shape, a.dtype), target):
      raise CheckpointError(f"checkpoint {self.path(step)} does not match this config's shapes")
    return restored

  def save(self, step: int, state: Any) -> None:
    if self._manager.latest_step() == step:
      return
    self._manager.save(step, args=ocp.args.StandardSave(state), force=True)

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()
