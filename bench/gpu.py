"""The GPU benchmark in one run, ready for the day a GPU is lent: `bash bench/gpu.sh` (writes one JSON).

  python bench/gpu.py --out docs/results/bench_gpu.json            # full sizes (an accelerator; < 8 min on an H200)
  python bench/gpu.py --small --out /tmp/bench_gpu_small.json      # small sizes: runs on a CPU (tests/bench_test.py)

Parts, each ratio measured side by side in this run:
1. Training: the LR step against the vanilla step (default LR on the penultimate
   layer, dense W with Nystrom every 10 steps) for the default CNN and ResNet-18
   (full width), at batch 128 and 512; ResNet-18 also with LR on layer3 (the
   paper's placement, factored W).
2. Attacks: the default CNN trained briefly, copied into PyTorch on the same
   device; PGD-20 (Linf 0.1) ours vs torchattacks at batch 256 and 1,024, and
   AutoAttack (standard, Linf 0.1) ours vs torchattacks' on the same images, robust
   accuracy beside the speed.
3. Nystrom rank thresholding at m = 16,384, r = 16: seconds per call.
docs/BENCHMARKS.md gets a GPU section from the JSON (bench/report.py).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import sys
import tempfile
import time

import jax
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from bench import attacks as attacks_bench  # pylint: disable=g-import-not-at-top
from bench import common, nystrom, training  # pylint: disable=g-import-not-at-top
from configs import default  # pylint: disable=g-import-not-at-top
from lowrank_jax import data, runfiles  # pylint: disable=g-import-not-at-top
from lowrank_jax.spec_runner import apply_overrides  # pylint: disable=g-import-not-at-top

FULL = {"batches": (128, 512), "resnet_width": 1.0, "steps": 20, "rounds": 3, "train_steps": 300,
        "pgd_batches": (256, 1024), "aa_examples": 1000, "nystrom_m": 16384}
SMALL = {"batches": (8,), "resnet_width": 0.125, "steps": 2, "rounds": 1, "train_steps": 10,
         "pgd_batches": (16,), "aa_examples": 16, "nystrom_m": 256}


def train_steps(s: dict) -> list[dict]:
  rows = []
  variants = {"cnn": {"LR penultimate": {}},
              "resnet18": {"LR penultimate": {}, "LR layer3 (factored) + penultimate": {
                  "lowrank.layers": "layer3,penultimate", "lowrank.parametrization": "factored"}}}
  if s is SMALL:  # every code path on the CNN alone (a ResNet-18 step compiles for a minute on 2 cores)
    variants = {"cnn": {"LR penultimate": {}, "LR pool2 (factored) + penultimate": {
        "lowrank.layers": "pool2,penultimate", "lowrank.parametrization": "factored"}}}
  for model, lrs in variants.items():
    for batch in s["batches"]:
      base = {"model": model, "batch_size": batch, "model_width": s["resnet_width"]}
      fns = {"vanilla": training._stepper(apply_overrides(default.get_config(), {**base, "method": "vanilla"}),
                                          s["steps"])}
      for name, ov in lrs.items():
        fns[name] = training._stepper(apply_overrides(default.get_config(), {**base, **ov}), s["steps"])
      times = common.interleaved(fns, rounds=s["rounds"])
      for name, t in times.items():
        rows.append({"model": model, "batch": batch, "variant": name, "ms_per_step": 1e3 * t / s["steps"],
                     "over_vanilla": t / times["vanilla"]})
        print(f"{model} batch {batch} {name}: {1e3 * t / s['steps']:.2f} ms/step, "
              f"{t / times['vanilla']:.2f}x vanilla", flush=True)
  return rows


def attacks_part(s: dict, workdir: str, data_dir: str = "") -> dict:
  import torch  # pylint: disable=g-import-not-at-top
  device = "cuda" if torch.cuda.is_available() else "cpu"
  cfg = apply_overrides(default.get_config(), {"method": "vanilla", "num_train_steps": s["train_steps"],
                                                     "dataset.data_dir": data_dir})
  from lowrank_jax import loading, training as training_lib  # pylint: disable=g-import-not-at-top
  training_lib.train_and_evaluate(cfg, workdir, log=lambda _: None)
  model = loading.load_model(workdir)
  tx, ty = data.load_dataset(model.config.dataset).splits["test"]
  n = max(max(s["pgd_batches"]), s["aa_examples"])
  x, y = data.to_unit(tx[:n]), ty[:n].astype(np.int32)
  out = {"torch_device": device}
  pgd_rows = []
  for bs in s["pgd_batches"]:
    pair = attacks_bench.Pair(model, x[:bs], y[:bs], device)
    pgd_rows += attacks_bench.pgd_and_deepfool(pair, batch_sizes=(bs,), examples=bs, deepfool=False)
  out["pgd"] = pgd_rows
  pair = attacks_bench.Pair(model, x[:s["aa_examples"]], y[:s["aa_examples"]], device)
  out["autoattack"] = attacks_bench.official_vs(pair, x[:s["aa_examples"]], y[:s["aa_examples"]], attacks_bench.EPS,
                                                "vanilla", torchattacks_too=True)
  return out


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--small", action="store_true", help="small sizes (runs on a CPU in seconds)")
  ap.add_argument("--out", default=os.path.join(ROOT, "docs", "results", "bench_gpu.json"))
  ap.add_argument("--skip", default="", help="parts not to run: training,attacks,nystrom")
  ap.add_argument("--data-dir", default="", help="Fashion-MNIST's IDX files, if not in Debian's folder")
  a = ap.parse_args()
  s, skip = (SMALL if a.small else FULL), set(a.skip.split(","))
  r = {"machine": common.machine(), "devices": [str(d) for d in jax.devices()], "small": a.small,
       "date": datetime.date.today().isoformat(), "sizes": s, "part_seconds": {}}
  t0 = time.perf_counter()
  if "training" not in skip:
    r["training"] = train_steps(s)
    r["part_seconds"]["training"] = round(time.perf_counter() - t0, 1)
  if "attacks" not in skip and all(importlib.util.find_spec(m) for m in ("torch", "torchattacks", "pyautoattack")):
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
      r["attacks"] = attacks_part(s, workdir, a.data_dir)
    r["part_seconds"]["attacks"] = round(time.perf_counter() - t0, 1)
  if "nystrom" not in skip:
    t0 = time.perf_counter()
    r["nystrom"] = nystrom.big_in_subprocess(s["nystrom_m"])
    print(f"Nystrom m = {s['nystrom_m']}: {r['nystrom']['seconds']:.4f} s per thresholding", flush=True)
    r["part_seconds"]["nystrom"] = round(time.perf_counter() - t0, 1)
  runfiles.write_json(a.out, r, indent=1)
  print(f"wrote {a.out} (parts: {r['part_seconds']})")


if __name__ == "__main__":
  main()
