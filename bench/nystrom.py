"""Rank thresholding: ensembled Nystrom vs exact SVD vs randomized SVD, side by side.

  python bench/nystrom.py [--sizes 512,2048,8192] [--ranks 10,16,64] [--big 16384]

For each m x m matrix (singular values 1/(1+i): the hard case for sampling) and
rank r: each method's median time (jitted, compiled beforehand), the time ratio
exact/method, and the Frobenius error over the optimal rank-r error. The exact
SVD's time does not depend on r, so it is measured once per m. --big runs
Nystrom alone at that m in a fresh process and reports time and peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import common  # pylint: disable=g-import-not-at-top
from lowrank_jax import svd  # pylint: disable=g-import-not-at-top

TARGET = "m = 2048, r = 16: >= 50x faster than exact with error <= 1.05x optimal"
# label -> rank_threshold arguments; Nystrom with the training defaults (l = 4r, p = 4) and with 2 experts.
VARIANTS = {"exact": {"method": "exact"}, "nystrom": {"method": "nystrom"},
            "nystrom (p=2)": {"method": "nystrom", "num_experts": 2}, "randomized": {"method": "randomized"}}


def test_matrix(m: int, seed: int = 0) -> tuple[jax.Array, np.ndarray]:
  """W = U diag(1/(1+i)) V^T with random orthogonal U, V (float32) and its singular values."""
  rng = np.random.default_rng(seed)
  U, _ = np.linalg.qr(rng.normal(size=(m, m)).astype(np.float32))
  V, _ = np.linalg.qr(rng.normal(size=(m, m)).astype(np.float32))
  s = (1.0 / (1.0 + np.arange(m))).astype(np.float32)
  return jnp.asarray((U * s) @ V.T), s


def run(sizes=(512, 2048, 8192), ranks=(10, 16, 64), repeats: int = 5) -> list[dict]:
  rows = []
  key = jax.random.PRNGKey(0)
  for m in sizes:
    W, s = test_matrix(m)
    # The exact SVD once per m (85 s at m = 8192: that one call is the time, its compilation is negligible);
    # every r truncates the same factorisation.
    full = jax.jit(lambda w: jnp.linalg.svd(w, full_matrices=False))
    t0 = time.perf_counter()
    U, S, Vt = jax.block_until_ready(full(W))
    t_exact = time.perf_counter() - t0 if m >= 8192 else common.timed(lambda: full(W), repeats)[1]
    for r in ranks:
      opt = float(np.sqrt(np.sum(s.astype(np.float64)[r:] ** 2)))
      for method in VARIANTS:
        if method == "exact":
          t, approx = t_exact, (U[:, :r] * S[:r]) @ Vt[:r]
        else:
          f = jax.jit(lambda w, kw=VARIANTS[method], r=r: svd.rank_threshold(w, r, key, **kw))
          t = common.timed(lambda: f(W), repeats if m < 8192 else 2)[1]  # seconds a call at m = 8192: 2 suffice
          approx = f(W)
        err = float(jnp.linalg.norm(W - approx)) / opt
        rows.append({"m": m, "rank": r, "method": method, "seconds": t, "exact_over_method": t_exact / t,
                     "error_over_optimal": err})
        print(f"m={m:<6} r={r:<3} {method:<11} {t:9.4f} s  exact/method {t_exact / t:7.1f}x  "
              f"error/optimal {err:.4f}", flush=True)
  return rows


def big(m: int, r: int = 16) -> dict:
  """Nystrom at a large m in this process: time and peak resident memory (the caller uses a fresh process)."""
  key = jax.random.PRNGKey(0)
  W = jax.random.normal(key, (m, m)) / np.sqrt(m)  # 1 GiB at m = 16384; no exact SVD to compare
  f = jax.jit(lambda w: svd.rank_threshold(w, r, key))
  first, t = common.timed(lambda: f(W), 3)
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
  return {"m": m, "rank": r, "seconds": t, "first_call_seconds": first, "peak_rss_gib": peak,
          "w_gib": 4 * m * m / 2**30}


def big_in_subprocess(m: int) -> dict:
  out = subprocess.run([sys.executable, os.path.abspath(__file__), "--big-only", str(m)], capture_output=True,
                       text=True, check=True)
  return json.loads(out.stdout.strip().splitlines()[-1])


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--sizes", default="512,2048,8192")
  ap.add_argument("--ranks", default="10,16,64")
  ap.add_argument("--big", type=int, default=16384)
  ap.add_argument("--big-only", type=int, default=0)
  a = ap.parse_args()
  if a.big_only:
    print(json.dumps(big(a.big_only)))
    return
  run([int(v) for v in a.sizes.split(",")], [int(v) for v in a.ranks.split(",")])
  if a.big:
    print(big_in_subprocess(a.big))


if __name__ == "__main__":
  main()
