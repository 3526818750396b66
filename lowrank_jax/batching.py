"""One batching policy for attacks, evaluators and evaluation: chunks of examples padded to few compiled shapes.

    bucket_size(n, batch_size)             # a power of two (>= 8) up to 32, then a multiple of 32
    chunks(idx, batch_size, fixed=False)   # (chunk, padded): padded repeats chunk[0] up to the bucket
    map_batches(fn, arrays, batch_size, idx=None, mesh=None)  # fn over padded chunks, padding dropped
    call(fn, x)                            # fn(x) jitted (one compilation per fn type and shape)
    as_pytree(fn)                          # any callable as an argument of a jitted function
    predict(logits_fn, x, batch_size, mesh=None) / outputs(fn, x, batch_size, mesh=None)

Padding repeats a real example, so a padded row never holds values a model has not seen, and its
result is dropped; with per-example randomness (fold_in of the example's index) a result does not
depend on the batch it ran in. Active examples (those an attack has not broken yet) are gathered
by `idx` first, so finished examples cost nothing. Bucket sizes divide evenly over up to 8 devices
of a mesh's "data" axis (each chunk is sharded over it).
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from lowrank_jax import conv, distributed


def bucket_size(n: int, batch_size: int, fine: bool = False) -> int:
  """The padded size of a chunk of n <= batch_size: a power of two (at least 8) up to 32, then a multiple
  of 32, never above batch_size (few shapes, at most 1/2 waste below 32 and 31 rows above). `fine`: a
  multiple of 8 up to 64 (for long sequential loops on few rows, such as Square's 5,000 queries, where
  padding costs every step and a compilation is paid once)."""
  if fine and n <= 64:
    return min(-(-max(n, 1) // 8) * 8, batch_size)
  size = 1 << max(3, int(np.ceil(np.log2(max(n, 1))))) if n <= 32 else -(-n // 32) * 32
  return min(size, batch_size)


def chunks(idx: np.ndarray | int, batch_size: int, fixed: bool = False, fine: bool = False
           ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
  """Chunks of idx (an int n: 0..n-1) of at most batch_size, each with its padded copy (chunk[0] repeated
  up to bucket_size, or to batch_size when `fixed`: one compiled shape)."""
  idx = np.arange(idx) if np.ndim(idx) == 0 else np.asarray(idx)
  for i in range(0, len(idx), batch_size):
    chunk = idx[i:i + batch_size]
    size = batch_size if fixed else bucket_size(len(chunk), batch_size, fine)
    yield chunk, np.concatenate([chunk, np.full(size - len(chunk), chunk[0], chunk.dtype)])


def map_batches(fn: Callable, arrays: Sequence[np.ndarray], batch_size: int, idx: np.ndarray | None = None,
                mesh=None, fine: bool = False):
  """fn(*rows) over padded chunks of the rows `idx` (default all) of each host array, sharded over the
  mesh's "data" axis; the outputs (an array or a pytree of arrays) concatenated as numpy, padding dropped.
  `fine`: finer buckets for few rows (`bucket_size`)."""
  idx = np.arange(len(arrays[0])) if idx is None else np.asarray(idx)
  parts = []
  for chunk, padded in chunks(idx, batch_size, fine=fine):
    args = distributed.shard_rows(mesh, *(np.asarray(a[padded]) for a in arrays))
    out = distributed.gather(fn(*(args if isinstance(args, tuple) else (args,))))
    parts.append(jax.tree.map(lambda o, k=len(chunk): o[:k], out))
  if not parts:  # no rows: fn on zero rows gives the outputs' shapes
    return distributed.gather(fn(*(np.asarray(a)[:0] for a in arrays)))
  return jax.tree.map(lambda *p: np.concatenate(p), *parts)


_call = conv.jit(lambda fn, x: fn(x))  # module level: one compilation per fn (by value) and input shape
_argmax = conv.jit(lambda fn, x: jnp.argmax(fn(x), -1))


def as_pytree(fn: Callable) -> Callable:
  """fn as a pytree argument of a jitted function, compiled once per function and shapes.

  A callable pytree whose leaves are all arrays (a `jax.tree_util.Partial` over parameters, a bound
  `nnx.Module`) passes as it is: its arrays stay arguments, not constants. Anything else (a plain
  function, a closure over a linen model's variables, a `functools.partial`) is wrapped in a `Partial`,
  whose function is static: the same function object hits the same compiled code.
  """
  leaves = jax.tree_util.tree_leaves(fn)
  if isinstance(fn, jax.tree_util.Partial) or (leaves and all(isinstance(v, (jax.Array, np.ndarray)) for v in leaves)):
    return fn
  return jax.tree_util.Partial(fn)


def call(fn: Callable, x):
  """fn(x), jitted: one compilation per fn and shape (fn a Partial of the same function: shared)."""
  return _call(as_pytree(fn), x)


def outputs(fn: Callable, x: np.ndarray, batch_size: int, mesh=None):
  """fn(x) (logits, or a dict of features) over batches of x, as numpy."""
  fn = as_pytree(fn)
  return map_batches(lambda z: _call(fn, z), (x,), batch_size, mesh=mesh)


def predict(logits_fn: Callable, x: np.ndarray, batch_size: int, mesh=None) -> np.ndarray:
  """argmax of logits_fn over batches of x (host numpy in, numpy out)."""
  logits_fn = as_pytree(logits_fn)
  return map_batches(lambda z: _argmax(logits_fn, z), (x,), batch_size, mesh=mesh)
