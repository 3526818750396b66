"""Shared by the benchmarks: timing (compile separated from run), interleaved comparisons, the machine."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from typing import Callable

import jax
import numpy as np


def block(x):
  """Waits for jax arrays and torch tensors (synchronous on CPU; on a GPU, torch.cuda.synchronize)."""
  if getattr(x, "is_cuda", False):
    import torch  # pylint: disable=g-import-not-at-top
    torch.cuda.synchronize()
  return jax.block_until_ready(x)


def timed(fn: Callable, repeats: int = 5) -> tuple[float, float]:
  """(first call, median of `repeats` later calls) in seconds; the first includes XLA compilation."""
  t0 = time.perf_counter()
  block(fn())
  first = time.perf_counter() - t0
  ts = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    block(fn())
    ts.append(time.perf_counter() - t0)
  return first, float(np.median(ts))


def train_steps(steps_obj, state, batch: tuple, steps: int) -> Callable:
  """A function running `steps` jitted training steps (`training.Steps`) on one fixed sharded batch, carrying
  the state from call to call; it returns the step counter (to block on)."""
  holder = {"state": state}

  def run():
    for _ in range(steps):
      holder["state"], _ = steps_obj.train(holder["state"], *batch)
    return holder["state"]["step"]

  return run


def interleaved(fns: dict[str, Callable], rounds: int = 5, warmup: int = 1) -> dict[str, float]:
  """Median seconds per call of each fn, calling them in turn each round (shared-CPU noise hits all alike)."""
  for _ in range(warmup):
    for f in fns.values():
      block(f())
  times = {k: [] for k in fns}
  for _ in range(rounds):
    for k, f in fns.items():
      t0 = time.perf_counter()
      block(f())
      times[k].append(time.perf_counter() - t0)
  return {k: float(np.median(v)) for k, v in times.items()}


def machine() -> dict[str, str]:
  """CPU model, cores, memory, library versions."""
  cpu = platform.processor() or ""
  try:
    with open("/proc/cpuinfo") as f:
      cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), cpu)
  except OSError:
    pass
  try:
    mem = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.split("\n")[1].split()[1] + " GiB"
  except (OSError, IndexError):
    mem = "?"
  out = {"cpu": cpu, "cores": str(os.cpu_count()), "memory": mem, "jax": jax.__version__,
         "backend": f"{jax.default_backend()} ({jax.devices()[0].device_kind})"}
  try:
    import torch  # pylint: disable=g-import-not-at-top
    out["torch"] = f"{torch.__version__} ({torch.get_num_threads()} threads)"
  except ImportError:
    out["torch"] = "not installed"
  return out


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
  """Measured float32 matmul FLOP/s of this backend (an n x n x n product)."""
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n))
  f = jax.jit(lambda a: a @ a)
  _, t = timed(lambda: f(a), repeats)
  return 2 * n**3 / t


def flops(fn: Callable, *args) -> float:
  """FLOPs of one call of a jitted fn, from XLA's cost analysis of the compiled program."""
  analysis = jax.jit(fn).lower(*args).compile().cost_analysis()
  if isinstance(analysis, list):
    analysis = analysis[0]
  return float(analysis.get("flops", float("nan")))
