"""Exact SVD vs ensembled Nystrom (and randomized) rank thresholding, side by side.

  python bench/nystrom.py [--m 2048] [--rank 16] [--repeats 5]

Prints, for one m x m matrix with a decaying spectrum, each method's median
wall time (jitted, compiled beforehand) and Frobenius error, and the ratios
exact/method (time) and method/optimal (error), all measured in this run.
"""

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lowrank_jax import svd  # pylint: disable=g-import-not-at-top


def _time(fn, *args, repeats):
  jax.block_until_ready(fn(*args))  # compile
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t)
  return float(np.median(times))


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--m", type=int, default=2048)
  ap.add_argument("--rank", type=int, default=16)
  ap.add_argument("--repeats", type=int, default=5)
  args = ap.parse_args()
  m, r = args.m, args.rank
  rng = np.random.default_rng(0)
  U, _ = np.linalg.qr(rng.normal(size=(m, m)))
  V, _ = np.linalg.qr(rng.normal(size=(m, m)))
  s = 1.0 / (1.0 + np.arange(m))  # polynomial decay: the harder case for sampling
  W = jnp.asarray((U * s) @ V.T, jnp.float32)
  optimal = float(np.sqrt(np.sum(s[r:] ** 2)))
  key = jax.random.PRNGKey(0)
  fns = {
      "exact": jax.jit(lambda w: svd.rank_threshold(w, r, key, method="exact")),
      "nystrom": jax.jit(lambda w: svd.rank_threshold(w, r, key, method="nystrom")),
      "randomized": jax.jit(lambda w: svd.rank_threshold(w, r, key, method="randomized")),
  }
  print(f"m={m} rank={r} device={jax.devices()[0].device_kind} backend={jax.default_backend()} "
        f"nystrom: num_columns={svd.default_num_columns(m, r)} num_experts={svd.DEFAULT_NUM_EXPERTS}")
  times, errors = {}, {}
  for name, fn in fns.items():
    times[name] = _time(fn, W, repeats=args.repeats)
    errors[name] = float(jnp.linalg.norm(W - fn(W)))
  print(f"{'method':<11} {'time_s':>9} {'exact/method time':>18} {'error':>9} {'error/optimal':>14}")
  for name in fns:
    print(f"{name:<11} {times[name]:>9.4f} {times['exact'] / times[name]:>18.1f} {errors[name]:>9.5f} "
          f"{errors[name] / optimal:>14.4f}")


if __name__ == "__main__":
  main()
