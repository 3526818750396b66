"""Multi-process runs on JAX's own distributed runtime, and what only process 0 does.

    initialize(auto, coordinator_address, num_processes, process_id)  # jax.distributed, when asked
    is_main()                 # process 0: the only one that writes logs, JSON, reports
    gather(tree)              # host numpy of arrays sharded over processes (all processes call it)

On CPU, cross-process collectives use gloo (set before the backend starts).
"""

from __future__ import annotations

import jax
import numpy as np
from jax.experimental import multihost_utils


def initialize(auto: bool = False, coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> bool:
  """Starts jax.distributed when asked (auto-detection, or an explicit coordinator); returns whether it did."""
  if not auto and not coordinator_address:
    return False
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if coordinator_address:
    jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                               process_id=process_id)
  else:
    jax.distributed.initialize()
  return True


def is_main() -> bool:
  """Whether this is process 0, the one that writes logs, JSON and reports."""
  return jax.process_index() == 0


def gather(tree):
  """Host numpy copies of every leaf; leaves sharded over several processes are all-gathered."""
  def one(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(jax.device_get(x))
  return jax.tree.map(one, tree)


def shard_rows(mesh, *arrays):
  """Each array split by rows over the mesh's "data" axis (when the rows divide evenly; else unchanged).

  Works with several processes too: every process holds the whole host array and
  contributes its devices' rows.
  """
  if mesh is None or mesh.shape["data"] == 1 and mesh.size == 1:
    return arrays if len(arrays) > 1 else arrays[0]
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
  out = []
  for a in arrays:
    if isinstance(a, np.ndarray) and a.ndim and len(a) % mesh.shape["data"] == 0:
      out.append(jax.make_array_from_callback(a.shape, sharding, lambda idx, a=a: a[idx]))
    else:
      out.append(a)
  return tuple(out) if len(out) > 1 else out[0]
