"""One 2-D convolution for every model, and `jit` with the XLA:CPU options that make convolutions fast.

    conv_general_dilated(lhs, rhs, window_strides, padding, ...)  # drop-in for lax's; nnx.Conv's hook
    Conv(cin, cout, kernel_size, ..., rngs=rngs)                    # nnx.Conv with it plugged in
    jit(fun, **jax_jit_kwargs)                                      # jax.jit + COMPILER_OPTIONS on CPU

Two measured causes made convolution gradients slow on XLA:CPU (jaxlib 0.10.2;
docs/BENCHMARKS.md has the numbers):

- Input gradient inside a loop. XLA's own transpose, `convolution(g,
  reverse(kernel))` with `dim_labels=b01f_01oi->b01f`, runs in the generic loop
  emitter when it sits in a `while` body (every attack's loop). On the CPU
  backend an NHWC x HWIO convolution (any stride, SAME/VALID/explicit padding,
  no dilation, one feature group) therefore gets a custom VJP whose input
  gradient is an ordinary forward convolution of the cotangent with the
  spatially flipped, in/out-swapped kernel (`input_gradient`); for an input
  of at most `FEW_CHANNELS` channels (an image) it is one matmul and a sum of
  shifted slices instead. The kernel gradient stays XLA's own.
- YNNPACK. This jaxlib routes convolutions to YNNPACK by default; its kernel
  gradient of a 3x3 64->64 convolution at 128x28x28 takes 1.8 s, Eigen's 0.1 s.
  `jit` compiles with `COMPILER_OPTIONS`, which leave convolutions to Eigen
  (dots stay on YNNPACK: turning it off entirely made a dense 12,544-wide LR
  step 1.5x slower), on the CPU backend; every jitted function of the library
  uses it. Both paths agree with a float64 reference to float32 rounding
  (conv_test.py); on a whole ResNet-18 gradient both differ from float64 by up
  to 5% of a leaf's largest entry: float32 rounding amplified by the network,
  not an error of either path.

Every other case, and every other backend (GPU/TPU keep XLA's own rules, through
`lax.platform_dependent`), is `lax.conv_general_dilated` itself. The forward pass
is always `lax.conv_general_dilated`, so values are bit-identical.
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

Padding = tuple[tuple[int, int], ...]
COMPILER_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}  # XLA:CPU: YNNPACK for dots only: convolutions go to Eigen
_NHWC = ("NHWC", "HWIO", "NHWC")
FEW_CHANNELS = 4  # input gradients with at most this many channels (images) are computed by taps


def _explicit_padding(padding, in_hw: Sequence[int], kernel_hw: Sequence[int], strides: Sequence[int]) -> Padding:
  """'SAME' / 'VALID' / pairs as explicit ((lo, hi), (lo, hi)) pairs, as lax computes them."""
  if isinstance(padding, str):
    return tuple(lax.padtype_to_pads(tuple(in_hw), tuple(kernel_hw), tuple(strides), padding))
  return tuple((int(lo), int(hi)) for lo, hi in padding)


def _forward(x: jax.Array, w: jax.Array, strides: tuple[int, int], padding: Padding, precision) -> jax.Array:
  return lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=_NHWC, precision=precision)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_cpu(x: jax.Array, w: jax.Array, strides: tuple[int, int], padding: Padding, precision) -> jax.Array:
  return _forward(x, w, strides, padding, precision)


def _conv_cpu_fwd(x, w, strides, padding, precision):
  return _forward(x, w, strides, padding, precision), (x, w)


def input_gradient(g: jax.Array, w: jax.Array, in_hw: Sequence[int], strides: tuple[int, int], padding: Padding,
                   precision=None) -> jax.Array:
  """dL/dx of y = conv(x, w) as a forward convolution: g (n, Ho, Wo, O), w (kh, kw, I, O) -> (n, H, W, I).

  The cotangent, dilated by the stride, convolved with the kernel flipped in space
  and with in/out swapped; padding (k - 1 - lo) before and whatever makes the
  output H x W after (negative where the forward dropped trailing rows).
  """
  if w.shape[2] <= FEW_CHANNELS:
    return _input_gradient_by_taps(g, w, in_hw, strides, padding, precision)
  kernel = jnp.flip(w, (0, 1)).swapaxes(2, 3)
  pads = []
  for size, k, s, (lo, _), out in zip(in_hw, w.shape[:2], strides, padding, g.shape[1:3]):
    before = k - 1 - lo
    pads.append((before, size + k - 1 - ((out - 1) * s + 1) - before))
  return lax.conv_general_dilated(g, kernel, (1, 1), pads, lhs_dilation=strides, dimension_numbers=_NHWC,
                                  precision=precision)


def _input_gradient_by_taps(g, w, in_hw, strides, padding, precision=None):
  """The input gradient as one matmul, (n Ho Wo, O) @ (O, kh kw I), then each tap's columns added at its offset.

  For an image input (I = 1 or 3) the convolution form has I output channels, a
  shape Eigen runs at under 1 GFLOP/s (29% of PGD-20's op time on the CNN).
  """
  n, ho, wo, cout = g.shape
  kh, kw, cin, _ = w.shape
  (lo_h, hi_h), (lo_w, hi_w) = padding
  sh, sw = strides
  hp, wp = in_hw[0] + lo_h + hi_h, in_hw[1] + lo_w + hi_w
  cols = jnp.matmul(g.reshape(-1, cout), w.reshape(kh * kw * cin, cout).T, precision=precision)
  cols = cols.reshape(n, ho, wo, kh, kw, cin)
  out = jnp.zeros((n, hp, wp, cin), g.dtype)
  for i in range(kh):
    for j in range(kw):
      out = out.at[:, i:i + (ho - 1) * sh + 1:sh, j:j + (wo - 1) * sw + 1:sw].add(cols[:, :, :, i, j])
  return lax.pad(out, jnp.zeros((), g.dtype), ((0, 0, 0), (-lo_h, -hi_h, 0), (-lo_w, -hi_w, 0), (0, 0, 0)))


def _conv_cpu_bwd(strides, padding, precision, residuals, g):
  x, w = residuals
  dw = jax.vjp(lambda w: _forward(x, w, strides, padding, precision), w)[1](g)[0]  # XLA's own kernel gradient
  return input_gradient(g, w, x.shape[1:3], strides, padding, precision), dw


_conv_cpu.defvjp(_conv_cpu_fwd, _conv_cpu_bwd)


def conv_nhwc(x: jax.Array, w: jax.Array, strides: Sequence[int] = (1, 1), padding="SAME", precision=None) -> jax.Array:
  """y = conv(x, w) for x (n, H, W, I), w (kh, kw, I, O): custom fast VJP on CPU, XLA's own elsewhere."""
  strides = tuple(int(s) for s in strides)
  pads = _explicit_padding(padding, x.shape[1:3], w.shape[:2], strides)
  return lax.platform_dependent(
      x, w, cpu=lambda x, w: _conv_cpu(x, w, strides, pads, precision),
      default=lambda x, w: _forward(x, w, strides, pads, precision))


def _is_nhwc(lhs, rhs, dimension_numbers) -> bool:
  if lhs.ndim != 4 or dimension_numbers is None:
    return False
  canon = lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC)
  return lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers) == canon


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                         dimension_numbers=None, feature_group_count: int = 1, batch_group_count: int = 1,
                         precision=None, preferred_element_type=None, out_sharding=None) -> jax.Array:
  """`lax.conv_general_dilated` with the same arguments and values; see the module docstring for the VJP.

  This is the `conv_general_dilated` hook of `nnx.Conv`: pass it to use the fast
  gradients in a model of your own.
  """
  plain = (_is_nhwc(lhs, rhs, dimension_numbers) and feature_group_count == 1 and batch_group_count == 1
           and all(d == 1 for d in (lhs_dilation or (1,))) and all(d == 1 for d in (rhs_dilation or (1,)))
           and preferred_element_type is None and out_sharding is None
           and jnp.issubdtype(lhs.dtype, jnp.floating) and lhs.dtype == rhs.dtype)
  if plain:
    return conv_nhwc(lhs, rhs, window_strides, padding, precision)
  kwargs = {} if out_sharding is None else {"out_sharding": out_sharding}
  return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
                                  feature_group_count, batch_group_count, precision, preferred_element_type,
                                  **kwargs)


def Conv(*args, **kwargs) -> nnx.Conv:  # pylint: disable=invalid-name
  """`nnx.Conv` with `conv_general_dilated` above: same parameters, same values, fast gradients on CPU."""
  kwargs.setdefault("conv_general_dilated", conv_general_dilated)
  return nnx.Conv(*args, **kwargs)


def jit(fun: Callable | None = None, **kwargs) -> Callable:
  """`jax.jit(fun, **kwargs)`, compiled with `COMPILER_OPTIONS` when the default backend is the CPU.

  Usable as `jit(f, static_argnames=...)`, `@jit` or `@functools.partial(jit, ...)`.
  The backend is read at the first call, never at import (jax.distributed must
  initialise first on many hosts).
  """
  if fun is None:
    return functools.partial(jit, **kwargs)
  compiled: dict[bool, Callable] = {}

  def jitted():
    cpu = jax.default_backend() == "cpu"
    if cpu not in compiled:
      compiled[cpu] = jax.jit(fun, compiler_options=COMPILER_OPTIONS if cpu else None, **kwargs)
    return compiled[cpu]

  @functools.wraps(fun)
  def call(*args, **kw):
    return jitted()(*args, **kw)

  call.lower = lambda *args, **kw: jitted().lower(*args, **kw)
  return call
