"""Runs every benchmark and rewrites docs/BENCHMARKS.md (+ docs/results/bench.json): `make bench`.

  python bench/report.py [--skip nystrom,training,attacks,autoattack] [--from-json]

Every ratio is measured side by side in this one run (absolute times on a
shared CPU are noise). Explanations of what limits a missed target live in
docs/results/bench_notes.md and are included verbatim.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from bench import attacks as attacks_bench  # pylint: disable=g-import-not-at-top
from bench import common, nystrom, training  # pylint: disable=g-import-not-at-top
from lowrank_jax import data, runfiles  # pylint: disable=g-import-not-at-top

JSON = os.path.join(ROOT, "docs", "results", "bench.json")
PAGE = os.path.join(ROOT, "docs", "BENCHMARKS.md")
NOTES = os.path.join(ROOT, "docs", "results", "bench_notes.md")


def collect(skip: set[str]) -> dict:
  have_torch = all(importlib.util.find_spec(m) for m in ("torch", "torchattacks"))
  out = {"machine": common.machine(), "date": datetime.date.today().isoformat(), "part_seconds": {}}
  t0 = time.perf_counter()

  def lap(part: str) -> None:  # wall seconds of the part just measured
    nonlocal t0
    out["part_seconds"][part] = round(time.perf_counter() - t0, 1)
    print(f"[bench] {part}: {out['part_seconds'][part]:.0f} s", flush=True)
    t0 = time.perf_counter()

  if "nystrom" not in skip:
    out["nystrom"] = nystrom.run()
    out["nystrom_big"] = nystrom.big_in_subprocess(16384)
    lap("nystrom")
  if "training" not in skip:
    out["lr_overhead"] = training.lr_overhead()
    if have_torch:
      out["resnet"] = training.resnet_vs_torch()
    lap("training")
  if "attacks" not in skip and have_torch:
    model = attacks_bench.trained_cnn(os.path.join(ROOT, "runs", "vanilla"))
    tx, ty = data.load_dataset(model.config.dataset).splits["test"]
    x, y = tx[:500].astype(np.float32) / 255, ty[:500].astype(np.int32)
    pair = attacks_bench.Pair(model, x[:256], y[:256])
    out["logit_max_abs_diff"] = pair.logit_diff
    out["attacks"] = attacks_bench.pgd_and_deepfool(pair)
    out["compile"] = attacks_bench.compile_times(pair)
    out["utilisation"] = attacks_bench.utilisation(pair)
    lap("attacks")
    if "autoattack" not in skip:
      out["autoattack"] = attacks_bench.autoattack_vs(pair, x, y)
      lap("autoattack")
  return out


def verdict(value: float, target: float | None, higher_is_better: bool = True) -> str:
  if target is None:
    return ""
  ok = value >= target if higher_is_better else value <= target
  return "met" if ok else "**missed**"


def page(r: dict) -> str:
  m = r["machine"]
  L = ["# Benchmarks", "", f"Regenerate with `make bench` (raw numbers: `docs/results/bench.json`). Measured {r['date']} "
       "on:", "", "| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in m.items()] + [
           "", "No GPU was lent to this project; all figures are CPU figures. Ratios come from one run with the "
           "compared programs interleaved; absolute times on this shared 2-core machine vary by 10-30%.", ""]
  if r.get("part_seconds"):
    ps = r["part_seconds"]
    L += ["Wall time of each part in the run that measured it: " + ", ".join(f"{k} {v:.0f} s" for k, v in ps.items())
          + f" (total {sum(ps.values()):.0f} s).", ""]
  if "nystrom" in r:
    L += ["## Rank thresholding: Nyström vs exact vs randomized SVD", "",
          "W = U diag(1/(1+i)) V^T, m x m (a slowly decaying spectrum: the hard case for column sampling). Nyström: "
          "l = 4r columns per expert, 4 experts (the training defaults), and 2 experts. Target: " + nystrom.TARGET + ".", "",
          "| m | r | method | seconds | exact / method | error / optimal | target |", "|---|---|---|---|---|---|---|"]
    for row in r["nystrom"]:
      tgt = ""
      if row["m"] == 2048 and row["rank"] == 16 and row["method"].startswith("nystrom"):
        ok = row["exact_over_method"] >= 50 and row["error_over_optimal"] <= 1.05
        tgt = ">= 50x, <= 1.05: " + ("met" if ok else "**missed**")
      L.append(f"| {row['m']} | {row['rank']} | {row['method']} | {row['seconds']:.4f} | {row['exact_over_method']:.1f}x "
               f"| {row['error_over_optimal']:.4f} | {tgt} |")
    b = r.get("nystrom_big")
    if b:
      L += ["", f"m = {b['m']} (the ResNet-18 layer-3 placement; W alone is {b['w_gib']:.1f} GiB), r = {b['rank']}: "
            f"Nyström takes {b['seconds']:.2f} s per thresholding ({b['first_call_seconds']:.1f} s on the first call, "
            f"compilation included); peak resident memory of the process {b['peak_rss_gib']:.2f} GiB. The exact SVD "
            "was not run at this size.", ""]
  if "lr_overhead" in r:
    L += ["## Training: the LR regularizer's overhead", "",
          "Default CNN, batch 128, 20-step blocks of each variant interleaved (dense W thresholded every 10 steps: "
          "amortised).", "", "| variant | ms / step | / vanilla | target |", "|---|---|---|---|"]
    for row in r["lr_overhead"]:
      t = row.get("target")
      L.append(f"| {row['variant']} | {row['ms_per_step']:.1f} | {row['over_vanilla']:.2f}x | "
               + (f"<= {t}: {verdict(row['over_vanilla'], t, False)}" if t else "") + " |")
    L.append("")
  if "resnet" in r:
    rr = r["resnet"]
    L += ["## Training: ResNet-18 against PyTorch", "",
          f"CIFAR-style ResNet-18 (full width), 28x28x1 inputs, batch {rr['batch']}, Adam, BatchNorm in train mode; "
          "our jitted step against the same architecture in PyTorch (CPU build).", "",
          "| ours (s / step) | torch (s / step) | torch / ours | target |", "|---|---|---|---|",
          f"| {rr['ours_s']:.3f} | {rr['torch_s']:.3f} | {rr['torch_over_ours']:.2f}x | >= 1: "
          f"{verdict(rr['torch_over_ours'], 1.0)} |", ""]
  if "attacks" in r:
    L += ["## Attacks against torchattacks", "",
          f"The default CNN (trained), its weights copied into PyTorch: logits agree to "
          f"{r['logit_max_abs_diff']:.1e}. PGD-20 (Linf 0.1, step 2.5 eps/20, random start) and DeepFool (L2, "
          "overshoot 0.02, 50 iterations); batch 1 runs 16 images one at a time. Compile time is paid once per shape "
          "and is not in the rates.", "",
          "| attack | batch | ours img/s | torchattacks img/s | ours / theirs | compile (s) | after attack: ours / theirs "
          "| target |", "|---|---|---|---|---|---|---|---|"]
    for row in r["attacks"]:
      t = row.get("target")
      L.append(f"| {row['attack']} | {row['batch']} | {row['ours_img_s']:.1f} | {row['theirs_img_s']:.1f} | "
               f"{row['ours_over_theirs']:.2f}x | {row['compile_s']:.1f} | {row['ours_accuracy']:.3f} / "
               f"{row['theirs_accuracy']:.3f} | " + (f">= {t}x: {verdict(row['ours_over_theirs'], t)}" if t else "")
               + " |")
    if "compile" in r:
      L += ["", "XLA compile time of each jitted attack at batch 256 (once per shape and architecture; not in the "
            "rates): " + ", ".join(f"{k} {v:.1f} s" for k, v in r["compile"].items()) + "."]
    u = r["utilisation"]
    L += ["", f"Utilisation: PGD-20 at batch {u['batch']} runs at {u['pgd_gflop_s']:.1f} GFLOP/s (XLA's FLOP count of "
          f"one gradient step, {u['gradient_step_gflop']:.2f} GFLOP, x 21), {u['fraction_of_peak']:.0%} of this "
          f"CPU's measured float32 matmul peak of {u['matmul_peak_gflop_s']:.1f} GFLOP/s (target >= 50%: "
          f"{verdict(u['fraction_of_peak'], 0.5)}).", ""]
  if "autoattack" in r:
    a = r["autoattack"]
    L += ["## AutoAttack against torchattacks' AutoAttack", "",
          f"Standard version, Linf 0.1, {a['images']} test images, batch 256, the same CNN.", "",
          "| ours img/s | torchattacks img/s | ours / theirs | robust accuracy ours / theirs | target |",
          "|---|---|---|---|---|",
          f"| {a['ours_img_s']:.1f} | {a['theirs_img_s']:.1f} | {a['ours_over_theirs']:.2f}x | "
          f"{a['ours_robust_accuracy']:.3f} / {a['theirs_robust_accuracy']:.3f} | >= 2x: "
          f"{verdict(a['ours_over_theirs'], 2.0)} |", "",
          f"Our first call, with every compilation, took {a['ours_first_call_s']:.0f} s; robust accuracy after each "
          "of our attacks: " + ", ".join(f"{k} {v:.3f}" for k, v in a["after"].items()) + ".", ""]
  if os.path.exists(NOTES):
    L += [open(NOTES).read().strip(), ""]
  return "\n".join(L) + "\n"


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--skip", default="", help="parts not to measure (nystrom,training,attacks,autoattack); their numbers "
                  "in docs/results/bench.json are kept")
  ap.add_argument("--from-json", action="store_true", help="only rewrite the page from docs/results/bench.json")
  a = ap.parse_args()
  if a.from_json:
    r = runfiles.read_json(JSON)
  else:
    r = collect({s for s in a.skip.split(",") if s})
    if a.skip and os.path.exists(JSON):  # keep the parts not measured this time
      old = runfiles.read_json(JSON)
      r = {**old, **r, "part_seconds": {**old.get("part_seconds", {}), **r["part_seconds"]}}
    runfiles.write_json(JSON, r, indent=1)
  runfiles.write_text_atomic(PAGE, page(r))
  print(f"wrote {PAGE}")


if __name__ == "__main__":
  main()
