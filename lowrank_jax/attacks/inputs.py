"""What every attack checks first, one InputError line otherwise: x a finite float batch in [0, 1] (NHWC where
images are needed, with a hint for NCHW), y integer labels in [0, K) with K read from the logits, eps >= 0 (for
Linf in pixel units at most 1: 8/255 is 0.0314). Values are checked for concrete arrays; under jax.jit only shapes
and dtypes can be, so `jit` checks the concrete inputs, then calls the compiled attack.

    check_inputs(x, y, num_classes=, logits_fn=, images=, where=) / check_eps(eps, norm, where)
    jit(attack, static_argnames=...)     # jax.jit that keeps the checks
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np


NORM_NAMES = ("linf", "l2")


class InputError(ValueError):
  """Inputs an attack cannot take (raw 0..255 pixels, wrong rank, labels out of range); one line."""


def _concrete(a) -> bool:
  return not isinstance(a, jax.core.Tracer)


def check_inputs(x, y=None, *, num_classes: int | None = None, images: bool = False, where: str = "attack",
                 logits_fn: Callable | None = None) -> None:
  """Raises InputError unless x is a float batch (n, ...) of finite values in [0, 1] (`images`: NHWC, rank 4)
  and y holds integer labels (n,) in [0, K): K is num_classes, else read from logits_fn's output shape (when
  given; jax.eval_shape: nothing runs). Values are checked only for concrete arrays: under jit only shapes and
  dtypes are."""
  shape, dtype = tuple(np.shape(x)), jnp.result_type(x)
  if images and len(shape) != 4:
    raise InputError(f"{where}: x must be images of shape (n, H, W, C) (NHWC, rank 4); got shape {shape}")
  if images and shape[1] in (1, 3) and shape[-1] not in (1, 3):
    raise InputError(f"{where}: x must be NHWC images (n, H, W, C); shape {shape} looks like NCHW: pass "
                     "x.transpose(0, 2, 3, 1)")
  if len(shape) < 2:
    raise InputError(f"{where}: x must be a batch (n, ...) with the examples on axis 0; got shape {shape}")
  if not jnp.issubdtype(dtype, jnp.floating):
    raise InputError(f"{where}: x must be float pixels in [0, 1]; got dtype {dtype} (uint8 images: divide by 255)")
  if _concrete(x) and np.size(x):
    lo, hi = float(np.min(x)), float(np.max(x))
    if not (np.isfinite(lo) and np.isfinite(hi)):
      raise InputError(f"{where}: x must be finite pixels in [0, 1]; it holds NaN or inf")
    if not (lo >= 0.0 and hi <= 1.0):
      raise InputError(f"{where}: x must be pixels in [0, 1]; got values in [{lo:g}, {hi:g}] "
                       f"(0..255 images: divide by 255)")
  if y is None:
    return
  if tuple(np.shape(y)) != shape[:1] or not jnp.issubdtype(jnp.result_type(y), jnp.integer):
    raise InputError(f"{where}: y must be integer labels of shape ({shape[0]},), one per example of x; "
                     f"got {jnp.result_type(y)} of shape {tuple(np.shape(y))}")
  if num_classes is None and logits_fn is not None and _concrete(x) and _concrete(y) and shape[0]:
    try:
      num_classes = int(jax.eval_shape(logits_fn, jax.ShapeDtypeStruct(shape, dtype)).shape[-1])
    except (TypeError, ValueError) as e:  # the model cannot take x (shape-checked only: nothing runs)
      nchw = (len(shape) == 4 and shape[1] in (1, 3) and shape[-1] not in (1, 3))
      raise InputError(f"{where}: the model does not take x of shape {shape} ({str(e).splitlines()[0][:160]})"
                       + ("; it looks like NCHW: pass x.transpose(0, 2, 3, 1)" if nchw else "")) from None
  if num_classes is not None:
    check_labels(y, num_classes, where)


def check_eps(eps, norm: str = "linf", where: str = "attack") -> None:
  """Raises InputError unless eps (a scalar or per-channel array, when concrete) is finite and >= 0, and, for
  Linf in pixel units [0, 1], at most 1 (eps in 0..255 units: divide by 255)."""
  if norm not in NORM_NAMES:
    raise InputError(f"{where}: norm={norm!r} is not one of {', '.join(NORM_NAMES)}")
  if eps is None or not _concrete(eps):
    return
  e = np.asarray(eps, np.float64)
  if not np.all(np.isfinite(e)) or np.any(e < 0):
    raise InputError(f"{where}: eps must be finite and >= 0; got {eps!r}")
  if norm == "linf" and np.any(e > 1):
    raise InputError(f"{where}: eps={np.max(e):g} exceeds 1, the whole Linf range of pixels in [0, 1]: eps is "
                     f"in pixel units (8/255 = 0.0314)")


def jit(attack: Callable, static_argnames: tuple[str, ...] = (), images: bool = False) -> Callable:
  """jax.jit of attack(logits_fn, x, y, ...) that first checks the concrete x, y (labels against the logits'
  classes) and eps, which a bare jax.jit would see only as tracers."""
  compiled = jax.jit(attack, static_argnames=static_argnames)

  @functools.wraps(attack)
  def checked(logits_fn, x, y=None, *args, **kwargs):
    check_inputs(x, y, images=images, where=attack.__name__, logits_fn=logits_fn)
    check_eps(kwargs.get("eps"), kwargs.get("norm", "linf"), attack.__name__)
    return compiled(logits_fn, x, y, *args, **kwargs) if y is not None else compiled(logits_fn, x, *args, **kwargs)

  return checked


def check_labels(y, num_classes: int, where: str = "attack") -> None:
  """Raises InputError unless the labels (when concrete) lie in [0, num_classes)."""
  if _concrete(y) and np.size(y):
    lo, hi = int(np.min(y)), int(np.max(y))
    if lo < 0 or hi >= num_classes:
      raise InputError(f"{where}: labels must be in [0, {num_classes - 1}]; got values in [{lo}, {hi}]")
