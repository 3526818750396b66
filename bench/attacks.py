"""Attack loop forms measured side by side on this machine's backend.

  python bench/attacks.py [--workdir runs/vanilla] [--batch 256] [--steps 20]

1. PGD: rolled lax.fori_loop vs fully unrolled vs a Python loop over one jitted step.
2. DeepFool candidate gradients: vmapped VJP with stacked cotangents vs jacrev.
3. DeepFool: active-example compaction (the library's) vs a fixed batch.
Uses the small CNN of `--workdir` if given, else a freshly initialised one.
"""

import argparse
import functools
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lowrank_jax import attacks  # pylint: disable=g-import-not-at-top


def _model(workdir):
  if workdir:
    from lowrank_jax.loading import load_model
    return load_model(workdir).logits
  from flax import nnx
  from lowrank_jax import models
  fm, p, s = models.FunctionalModel.from_module(
      models.create_model("cnn", 10, (28, 28, 1), [0.3], [0.35], rngs=nnx.Rngs(0)))
  return jax.tree_util.Partial(lambda p, s, x: fm.apply(p, s, x, train=False)[0], p, s)


def _time(fn, repeats=3):
  jax.block_until_ready(fn())
  t = []
  for _ in range(repeats):
    s = time.perf_counter()
    jax.block_until_ready(fn())
    t.append(time.perf_counter() - s)
  return float(np.median(t))


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--workdir", default="")
  ap.add_argument("--batch", type=int, default=256)
  ap.add_argument("--steps", type=int, default=20)
  a = ap.parse_args()
  f = _model(a.workdir)
  key = jax.random.PRNGKey(0)
  x = jax.random.uniform(key, (a.batch, 28, 28, 1))
  y = jnp.argmax(f(x), -1)
  print(f"backend={jax.default_backend()} batch={a.batch} steps={a.steps}")

  pgd = jax.jit(attacks.pgd, static_argnames=attacks.PGD_STATIC)
  rolled = _time(lambda: pgd(f, x, y, key, eps=0.1, steps=a.steps, unroll=1))
  unrolled = _time(lambda: pgd(f, x, y, key, eps=0.1, steps=a.steps, unroll=True))
  one = jax.jit(lambda f, x, d, y: jnp.clip(x + attacks.project(
      d + 0.0125 * attacks.steepest_direction(jax.grad(lambda z: attacks.ce_loss(f(z), y).sum())(x + d), "linf"),
      0.1, "linf"), 0, 1) - x)

  def python_loop():
    d = jnp.zeros_like(x)
    for _ in range(a.steps):
      d = one(f, x, d, y)
    return d
  py = _time(python_loop)
  print(f"PGD-{a.steps}: rolled {rolled:.3f}s  unrolled {unrolled:.3f}s  python-loop {py:.3f}s  "
        f"rolled/unrolled {rolled / unrolled:.2f}x  rolled/python {rolled / py:.2f}x")

  cands = jnp.argsort(-f(x), -1)[:, :10]

  @jax.jit
  def by_vjp(f, x, cands):
    logits, vjp = jax.vjp(f, x)
    cot = jax.nn.one_hot(cands.T, logits.shape[-1])
    return jax.vmap(lambda c: vjp(c)[0])(cot)

  @jax.jit
  def by_jacrev(f, x, cands):
    jac = jax.vmap(jax.jacrev(lambda z: f(z[None])[0]))(x)  # (n, K, ...)
    return jnp.moveaxis(jnp.take_along_axis(jac, cands.reshape(cands.shape + (1,) * (jac.ndim - 2)), 1), 1, 0)

  tv, tj = _time(lambda: by_vjp(f, x, cands)), _time(lambda: by_jacrev(f, x, cands))
  print(f"DeepFool gradients of 10 candidates: vmapped VJP {tv:.3f}s  vmapped jacrev {tj:.3f}s  "
        f"jacrev/VJP {tj / tv:.2f}x")

  xr = np.asarray(x)
  t0 = time.perf_counter()
  res = attacks.deepfool(f, xr)
  t_compact = time.perf_counter() - t0
  t0 = time.perf_counter()
  res = attacks.deepfool(f, xr)
  t_compact = min(t_compact, time.perf_counter() - t0)
  t0 = time.perf_counter()
  fixed = attacks.deepfool(f, xr, compact=False)  # compile (one shape)
  t0 = time.perf_counter()
  fixed = attacks.deepfool(f, xr, compact=False)
  t_fixed = time.perf_counter() - t0
  print(f"DeepFool: compacted {t_compact:.3f}s  fixed batch {t_fixed:.3f}s  fixed/compacted {t_fixed / t_compact:.2f}x  "
        f"(iterations mean {res.iterations.mean():.2f}, max {res.iterations.max()}; "
        f"same norms: {np.allclose(res.norms, fixed.norms, rtol=1e-4)})")


if __name__ == "__main__":
  main()
