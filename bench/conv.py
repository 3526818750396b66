"""Convolution gradients on XLA:CPU: which path is fast, which is accurate (float64 reference), what conv.py gains.

  python bench/conv.py            # prints the rows; bench/report.py puts them on docs/BENCHMARKS.md
  python bench/conv.py --resnet-float64-worker OUT.npz   # (internal) the float64 ResNet gradient, x64 process

1. Kernel gradient of single convolutions (ResNet-18 shapes, batch 128): XLA's own
   rule compiled with YNNPACK (jaxlib's default), with Eigen (conv.COMPILER_OPTIONS),
   and torch's `conv2d_weight`: milliseconds, and each JAX path's largest error
   against a float64 numpy reference over the largest entry.
2. A whole ResNet-18 gradient (full width, batch 64, BatchNorm in train mode, at
   initialisation) in float32 on both paths against the same gradient in float64
   (a separate process with jax_enable_x64): relative Frobenius error and the
   largest per-leaf error over the leaf's largest entry. A control: the Eigen path
   on the same batch in another order, the same gradient in exact arithmetic.
3. PGD-20 on the default CNN at batch 256 with flax's own `nnx.Conv` and with
   `conv.Conv`, each compiled with and without conv.COMPILER_OPTIONS: seconds per
   call and how many pixels of the adversarial examples differ.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax import lax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import common  # pylint: disable=g-import-not-at-top
from lowrank_jax import attacks, conv, models  # pylint: disable=g-import-not-at-top

_DN = ("NHWC", "HWIO", "NHWC")
SHAPES = [(128, 28, 64, 64, 1), (128, 28, 64, 128, 2), (128, 14, 128, 128, 1), (128, 7, 256, 256, 1)]  # N H Cin Cout s


def _kernel_gradient_fn(s: int, pads, options):
  def dw(x, w, g):
    return jax.vjp(lambda w: lax.conv_general_dilated(x, w, (s, s), pads, dimension_numbers=_DN), w)[1](g)[0]
  return jax.jit(dw, compiler_options=options)


def kernel_gradients() -> list[dict]:
  import torch  # pylint: disable=g-import-not-at-top
  rng, rows = np.random.default_rng(0), []
  for n, h, cin, cout, s in SHAPES:
    x = np.maximum(rng.standard_normal((n, h, h, cin)), 0).astype(np.float32)
    w = (rng.standard_normal((3, 3, cin, cout)) / np.sqrt(9 * cin)).astype(np.float32)
    pads = tuple(lax.padtype_to_pads((h, h), (3, 3), (s, s), "SAME"))
    ho = -(-h // s)
    g = rng.standard_normal((n, ho, ho, cout)).astype(np.float32)
    xp = np.pad(x.astype(np.float64), ((0, 0), pads[0], pads[1], (0, 0)))
    g64 = g.reshape(-1, cout).astype(np.float64)
    ref = np.stack([np.stack([xp[:, i:i + (ho - 1) * s + 1:s, j:j + (ho - 1) * s + 1:s].reshape(-1, cin).T @ g64
                              for j in range(3)]) for i in range(3)])
    fns = {"ynnpack": _kernel_gradient_fn(s, pads, None), "eigen": _kernel_gradient_fn(s, pads, conv.COMPILER_OPTIONS)}
    tx, tg = torch.tensor(x.transpose(0, 3, 1, 2)), torch.tensor(g.transpose(0, 3, 1, 2))
    shape = (cout, cin, 3, 3)
    calls = {k: (lambda f=f: f(x, w, g)) for k, f in fns.items()}
    calls["torch"] = lambda: torch.nn.grad.conv2d_weight(tx, shape, tg, stride=s, padding=1)
    times = common.interleaved(calls, rounds=3)
    row = {"shape": f"{n}x{h}x{h}, 3x3 {cin}->{cout}, stride {s}", **{f"{k}_ms": 1e3 * v for k, v in times.items()}}
    for k, f in fns.items():
      row[f"{k}_error"] = float(np.abs(np.asarray(f(x, w, g)) - ref).max() / np.abs(ref).max())
    rows.append(row)
    print(f"kernel gradient {row['shape']}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in times.items() for v in [1e3 * v])
          + f"; error vs float64: ynnpack {row['ynnpack_error']:.1e}, eigen {row['eigen_error']:.1e}", flush=True)
  return rows


def _resnet_gradient(x64: bool, options=None, permute: bool = False) -> list[np.ndarray]:
  """Leaves of d(cross-entropy)/d(params) of a full-width ResNet-18 at init, batch 64 (fixed seeds).

  permute: the same batch in another order (the same gradient in exact arithmetic: a control for rounding).
  """
  rng = np.random.default_rng(0)
  dtype = jnp.float64 if x64 else jnp.float32
  model = models.create_model("resnet18", 10, (28, 28, 1), (0.286,), (0.353,), rngs=nnx.Rngs(0))
  fm, params, stats = models.FunctionalModel.from_module(model)
  cast = lambda t: jax.tree.map(lambda a: jnp.asarray(a, dtype), t)
  x = jnp.asarray(rng.uniform(0, 1, (64, 28, 28, 1)), dtype)
  y = rng.integers(0, 10, 64).astype(np.int32)
  if permute:
    order = np.random.default_rng(1).permutation(64)
    x, y = x[order], y[order]

  def loss(p):
    return optax.softmax_cross_entropy_with_integer_labels(fm.apply(p, cast(stats), x, train=True)[0], y).mean()

  return [np.asarray(v) for v in jax.tree.leaves(jax.jit(jax.grad(loss), compiler_options=options)(cast(params)))]


def resnet_float64() -> dict:
  out = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"resnet_grad_f64_{os.getpid()}.npz")
  subprocess.run([sys.executable, os.path.abspath(__file__), "--resnet-float64-worker", out], check=True,
                 env={**os.environ, "JAX_ENABLE_X64": "1"})
  with np.load(out) as f:
    ref = [f[k] for k in sorted(f.files, key=int)]
  os.remove(out)
  res = {}
  got = {"ynnpack": _resnet_gradient(False), "eigen": _resnet_gradient(False, conv.COMPILER_OPTIONS),
         "eigen, batch permuted": _resnet_gradient(False, conv.COMPILER_OPTIONS, permute=True)}
  for name, leaves in got.items():
    per_leaf = [float(np.abs(a - b).max() / np.abs(b).max()) for a, b in zip(leaves, ref)]
    res[name] = {"relative_frobenius": float(np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(leaves, ref))
                                                     / sum(np.sum(b ** 2) for b in ref))),
                 "max_leaf_error": max(per_leaf), "median_leaf_error": float(np.median(per_leaf))}
  between = [float(np.abs(a - b).max() / np.abs(b).max()) for a, b in zip(got["ynnpack"], got["eigen"])]
  res["ynnpack_vs_eigen_max_leaf"] = max(between)
  print("ResNet-18 gradient vs float64: " + ", ".join(
      f"{k} rel. Frobenius {v['relative_frobenius']:.1e}, largest leaf error {v['max_leaf_error']:.1e}"
      for k, v in res.items() if isinstance(v, dict)) + f"; ynnpack vs eigen {max(between):.1e}", flush=True)
  return res


def pgd_before_after(batch: int = 256) -> dict:
  rng = np.random.default_rng(0)
  x = rng.uniform(0, 1, (batch, 28, 28, 1)).astype(np.float32)
  y = rng.integers(0, 10, batch).astype(np.int32)
  calls, advs = {}, {}
  for conv_name, conv_cls in (("nnx.Conv", nnx.Conv), ("conv.Conv", conv.Conv)):
    saved, models.Conv = models.Conv, conv_cls
    try:
      m = models.create_model("cnn", 10, (28, 28, 1), (0.286,), (0.353,), rngs=nnx.Rngs(0))
    finally:
      models.Conv = saved
    fm, params, stats = models.FunctionalModel.from_module(m)
    fn = jax.tree_util.Partial(lambda p, z, fm=fm: fm.apply(p, stats, z, train=False)[0], params)
    for opt_name, options in (("ynnpack", None), ("eigen", conv.COMPILER_OPTIONS)):
      f = jax.jit(lambda fn, x, y: attacks.pgd(fn, x, y, jax.random.PRNGKey(0), eps=0.1, steps=20),
                  compiler_options=options)
      key = f"{conv_name}, {opt_name}"
      calls[key] = lambda f=f, fn=fn: f(fn, x, y)
      advs[key] = np.asarray(calls[key]())
  times = common.interleaved(calls, rounds=2)
  base = advs["nnx.Conv, ynnpack"]
  rows = [{"variant": k, "seconds": t, "speedup": times["nnx.Conv, ynnpack"] / t,
           "pixels_different": int((advs[k] != base).sum()), "pixels": int(base.size)} for k, t in times.items()]
  for r in rows:
    print(f"PGD-20 batch {batch}, {r['variant']}: {r['seconds']:.3f} s ({r['speedup']:.2f}x), "
          f"{r['pixels_different']} of {r['pixels']} pixels differ", flush=True)
  return {"batch": batch, "rows": rows}


def run() -> dict:
  return {"kernel_gradients": kernel_gradients(), "resnet_float64": resnet_float64(), "pgd": pgd_before_after()}


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--resnet-float64-worker", default="")
  a = ap.parse_args()
  if a.resnet_float64_worker:
    assert jax.config.jax_enable_x64, "run with JAX_ENABLE_X64=1"
    leaves = _resnet_gradient(True)
    np.savez(a.resnet_float64_worker, **{str(i): v for i, v in enumerate(leaves)})
    return
  print(json.dumps(run(), indent=1))


if __name__ == "__main__":
  main()
