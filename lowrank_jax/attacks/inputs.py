"""What every attack checks first: x a float batch in [0, 1], y integer labels; one InputError line otherwise."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


class InputError(ValueError):
  """Inputs an attack cannot take (raw 0..255 pixels, wrong rank, labels out of range); one line."""


def check_inputs(x, y=None, *, num_classes: int | None = None, images: bool = False, where: str = "attack") -> None:
  """Raises InputError unless x is a float batch (n, ...) in [0, 1] (`images`: NHWC, rank 4) and y holds
  integer labels (n,) (in [0, num_classes) when given). Values are checked only for concrete arrays: under
  jit only shapes and dtypes are."""
  shape, dtype = tuple(np.shape(x)), jnp.result_type(x)
  if images and len(shape) != 4:
    raise InputError(f"{where}: x must be images of shape (n, H, W, C) (NHWC, rank 4); got shape {shape}")
  if len(shape) < 2:
    raise InputError(f"{where}: x must be a batch (n, ...) with the examples on axis 0; got shape {shape}")
  if not jnp.issubdtype(dtype, jnp.floating):
    raise InputError(f"{where}: x must be float pixels in [0, 1]; got dtype {dtype} (uint8 images: divide by 255)")
  if not isinstance(x, jax.core.Tracer) and np.size(x):
    lo, hi = float(np.min(x)), float(np.max(x))
    if not (lo >= 0.0 and hi <= 1.0):
      raise InputError(f"{where}: x must be pixels in [0, 1]; got values in [{lo:g}, {hi:g}] "
                       f"(0..255 images: divide by 255)")
  if y is None:
    return
  if tuple(np.shape(y)) != shape[:1] or not jnp.issubdtype(jnp.result_type(y), jnp.integer):
    raise InputError(f"{where}: y must be integer labels of shape ({shape[0]},), one per example of x; "
                     f"got {jnp.result_type(y)} of shape {tuple(np.shape(y))}")
  if num_classes is not None:
    check_labels(y, num_classes, where)


def check_labels(y, num_classes: int, where: str = "attack") -> None:
  """Raises InputError unless the labels (when concrete) lie in [0, num_classes)."""
  if not isinstance(y, jax.core.Tracer) and np.size(y):
    lo, hi = int(np.min(y)), int(np.max(y))
    if lo < 0 or hi >= num_classes:
      raise InputError(f"{where}: labels must be in [0, {num_classes - 1}]; got values in [{lo}, {hi}]")
