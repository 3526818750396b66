"""Training steps per second on one CPU machine: one process using every core, against one process per core
(pinned, XLA single-threaded) running at the same time, as `experiments/run.py --shard K/N` runs them under
`taskset -c K`. CIFAR-10's shape (batch 128, 32x32x3, the grid's ResNet-18/4 recipe), for each method.

  python bench/shards.py [--methods vanilla,lowrank,pgd_at] [--steps 10] [--rounds 3]

Each measurement runs in fresh child processes (the XLA thread settings are fixed at start-up): they compile and
warm up, wait until all are ready, then run --rounds blocks of --steps steps, the median block kept. Prints, for
each method, the aggregate steps per second of N pinned processes over one process's, and writes
docs/results/shards.json. Run it on an otherwise idle machine: it measures the machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def child(method: str, steps: int, rounds: int) -> None:
  """Compiles, warms up, prints 'ready', waits for a line on stdin, then prints the median seconds per step."""
  sys.path.insert(0, ROOT)
  from bench import cifar_recipe, common  # pylint: disable=g-import-not-at-top
  overrides = {"pgd_at": {"pgd_at.steps": 3, "pgd_at.eps": 8 / 255}}.get(method, {})
  fn = cifar_recipe.stepper("resnet18", 0.25, method, steps, overrides)
  common.block(fn())
  print("ready", flush=True)
  sys.stdin.readline()
  times = []
  for _ in range(rounds):
    t0 = time.perf_counter()
    common.block(fn())
    times.append((time.perf_counter() - t0) / steps)
  print(json.dumps(sorted(times)[len(times) // 2]), flush=True)


def measure(method: str, cores: list[int] | None, steps: int, rounds: int) -> list[float]:
  """Seconds per step of each process: one on every core (cores None), or one pinned per core, side by side."""
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  if cores is not None:
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + SINGLE_THREAD).strip()
  procs = []
  for core in cores if cores is not None else [None]:
    pin = (lambda c=core: os.sched_setaffinity(0, {c})) if core is not None else None
    procs.append(subprocess.Popen([sys.executable, __file__, "--child", method, "--steps", str(steps), "--rounds",
                                   str(rounds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                  preexec_fn=pin))
  for p in procs:
    if p.stdout.readline().strip() != "ready":
      raise RuntimeError(f"a {method} child failed before it was ready (exit {p.wait()})")
  for p in procs:
    p.stdin.write("go\n")
    p.stdin.flush()
  out = [float(p.stdout.readline()) for p in procs]
  for p in procs:
    p.wait()
  return out


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--methods", default="vanilla,lowrank,pgd_at")
  ap.add_argument("--steps", type=int, default=10)
  ap.add_argument("--rounds", type=int, default=3)
  ap.add_argument("--out", default=os.path.join(ROOT, "docs", "results", "shards.json"))
  ap.add_argument("--child", default="", help=argparse.SUPPRESS)
  a = ap.parse_args()
  if a.child:
    return child(a.child, a.steps, a.rounds)
  sys.path.insert(0, ROOT)
  from bench import common  # pylint: disable=g-import-not-at-top
  cores = sorted(os.sched_getaffinity(0))
  rows = []
  for method in a.methods.split(","):
    one = measure(method, None, a.steps, a.rounds)[0]
    pinned = measure(method, cores, a.steps, a.rounds)
    ratio = sum(1 / t for t in pinned) * one
    rows.append({"method": method, "one_process_s_per_step": one, "pinned_s_per_step": pinned,
                 "throughput_ratio": ratio})
    print(f"{method}: one process on {len(cores)} cores {one:.3f} s/step; {len(cores)} pinned processes "
          f"{', '.join(f'{t:.3f}' for t in pinned)} s/step each: {ratio:.2f}x the steps per second", flush=True)
  with open(a.out, "w") as f:
    json.dump({"machine": common.machine(), "cores": cores, "batch": 128, "model": "resnet18 x0.25",
               "steps": a.steps, "rounds": a.rounds, "rows": rows}, f, indent=1)
  print(f"wrote {a.out}")


if __name__ == "__main__":
  main()
