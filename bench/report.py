"""Runs every benchmark and rewrites docs/BENCHMARKS.md (+ docs/results/bench.json): `make bench`.

  python bench/report.py [--skip nystrom,conv,training,attacks,autoattack] [--from-json]

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
from bench import conv as conv_bench  # pylint: disable=g-import-not-at-top
from bench import op_profile  # pylint: disable=g-import-not-at-top
from lowrank_jax import data, runfiles  # pylint: disable=g-import-not-at-top

JSON = os.path.join(ROOT, "docs", "results", "bench.json")
GPU_JSON = os.path.join(ROOT, "docs", "results", "bench_gpu.json")  # bench/gpu.sh on a lent accelerator
SHARDS_JSON = os.path.join(ROOT, "docs", "results", "shards.json")  # bench/shards.py (make bench runs it first)
PAGE = os.path.join(ROOT, "docs", "BENCHMARKS.md")
NOTES = os.path.join(ROOT, "docs", "results", "bench_notes.md")


def collect(skip: set[str]) -> dict:
  have_torch = all(importlib.util.find_spec(m) for m in ("torch", "torchattacks", "pyautoattack"))
  out = {"machine": common.machine(), "date": datetime.date.today().isoformat(), "part_seconds": {}}
  t0 = time.perf_counter()

  def lap(part: str) -> None:  # wall seconds of the part just measured
    nonlocal t0
    out["part_seconds"][part] = round(time.perf_counter() - t0, 1)
    print(f"[bench] {part}: {out['part_seconds'][part]:.0f} s", flush=True)
    t0 = time.perf_counter()

  if "nystrom" not in skip:
    out["nystrom"] = nystrom.run(sizes=(512, 2048))  # m = 8192's exact SVD alone took 108 s; m = 16384 below
    out["nystrom_big"] = nystrom.big_in_subprocess(16384)
    lap("nystrom")
  if "conv" not in skip and have_torch:
    out["conv"] = conv_bench.run()
    lap("conv")
  if "training" not in skip:
    out["lr_overhead"] = training.lr_overhead(rounds=2)
    if have_torch:
      out["resnet"] = training.step_vs_torch("resnet18", rounds=2)
      out["cnn_step"] = training.step_vs_torch("cnn", rounds=6)
    lap("training")
  if have_torch and not {"attacks", "autoattack"} <= skip:
    model = attacks_bench.trained_cnn(os.path.join(ROOT, "runs", "vanilla"))
    tx, ty = data.load_dataset(model.config.dataset).splits["test"]
    x, y = data.to_unit(tx[:500]), ty[:500].astype(np.int32)
  if "attacks" not in skip and have_torch:
    pair = attacks_bench.Pair(model, x[:256], y[:256])
    out["logit_max_abs_diff"] = pair.logit_diff
    out["attacks"] = attacks_bench.pgd_and_deepfool(pair) + [attacks_bench.apgd_vs(pair)]
    out["compile"] = attacks_bench.compile_times(pair)
    out["utilisation"] = attacks_bench.utilisation(pair)
    out["pgd_profile"] = op_profile.pgd_profile(pair.model.logits, pair.x[:256], pair.y[:256])
    out["max_pool"] = attacks_bench.max_pool_before_after(pair)
    lap("attacks")
  if "autoattack" not in skip and have_torch:
    out["autoattack_official"] = []
    for row in attacks_bench.AA_SETTINGS:
      m = model if row["model"] == "vanilla" else attacks_bench.robust_cnn()
      xs, ys = x[:row["images"]], y[:row["images"]]
      out["autoattack_official"].append(attacks_bench.official_vs(
          attacks_bench.Pair(m, xs, ys), xs, ys, row["eps"], row["model"],
          torchattacks_too=row.get("torchattacks", False)))
    lap("autoattack")
  return out


def verdict(value: float, target: float | None, higher_is_better: bool = True) -> str:
  if target is None:
    return ""
  ok = value >= target if higher_is_better else value <= target
  return "met" if ok else "**missed**"


def aa_verdict(a: dict) -> str:
  """>= 2x the official code, robust accuracy <= official + 0.5 points, verdicts differing on <= 1% of examples."""
  differ = len(a["broken_only_by_official"]) + len(a["broken_only_by_ours"])
  ok = (a["official_over_ours"] >= 2.0 and a["ours_robust_accuracy"] <= a["official_robust_accuracy"] + 0.005
        and differ <= 0.01 * a["images"])
  return "met" if ok else "**missed**"


def official_section(rows: list[dict]) -> list[str]:
  L = ["## AutoAttack against the official implementation", "",
       "Standard version, Linf, batch 256 (ours) and 250 (official: `pyautoattack` 0.2.0, fra31/auto-attack by Croce "
       "and Hein), on the same weights (ported to torch; logits agree to 1e-4) and the same first test images. "
       "Ours is timed warm (a second call: compilation is paid once per architecture and shape) and on its first "
       "call; the official code has no compilation. Disagreements: examples the official code breaks and ours does "
       "not, and the reverse (per-example verdicts in `docs/results/bench.json`). Target: >= 2x the official code "
       "with robust accuracy <= official + 0.5 points and verdicts differing on <= 1% of the examples.", "",
       "| model | eps | images | ours warm s (first call) | official s | official / ours | robust accuracy ours / "
       "official | broken only by official / only by ours | target |", "|---|---|---|---|---|---|---|---|---|"]
  for a in rows:
    L.append(f"| {a['model']} (clean {a['clean_accuracy']:.3f}) | {a['eps']:.4g} | {a['images']} | {a['ours_s']:.1f} "
             f"({a['ours_first_call_s']:.0f}) | {a['official_s']:.1f} | {a['official_over_ours']:.2f}x | "
             f"{a['ours_robust_accuracy']:.3f} / {a['official_robust_accuracy']:.3f} | "
             f"{len(a['broken_only_by_official'])} / {len(a['broken_only_by_ours'])} | {aa_verdict(a)} |")
  timed = [a for a in rows if a.get("ours_attack_s")]
  if timed:
    L += ["", "Seconds of each attack, ours (warm) / official: " + "; ".join(
        f"{a['model']} at {a['eps']:.4g}: " + ", ".join(
            f"{k} {v:.1f} / {a['official_attack_s'].get(k, float('nan')):.1f}" for k, v in a["ours_attack_s"].items())
        for a in timed) + " (ours: after the clean predictions; official: its log's total times)."]
  L += ["", "Robust accuracy after each of our attacks: " + "; ".join(
      f"{a['model']} at {a['eps']:.4g}: " + ", ".join(f"{k} {v:.3f}" for k, v in a["after"].items()) for a in rows) + "."]
  for a in rows:
    for e in a.get("explained", []):
      L.append(f"- {a['model']} at {a['eps']:.4g}, example {e['example']}: broken by the official "
               f"{', '.join(e['official_attacks_that_break_it']) or 'ensemble only'} at Linf "
               f"{e['official_point_linf']:.4f}; the official point's margin is {e['official_point_margin_torch']:+.4f} "
               f"on torch and {e['official_point_margin_jax']:+.4f} on our model; our attacks alone reach margins "
               + ", ".join(f"{k} {v:+.4f}" for k, v in e["our_margins"].items())
               + (f", and FAB-T's smallest misclassified point has Linf {e['our_fab_t_smallest_linf']:.4f}"
                  if "our_fab_t_smallest_linf" in e else "") + " (margin > 0: still correctly classified).")
  t = [a for a in rows if "torchattacks_s" in a]
  for a in t:
    ok = a["torchattacks_over_ours"] >= 1.5 and a["ours_robust_accuracy"] <= a["torchattacks_robust_accuracy"]
    L += ["", f"torchattacks' AutoAttack on the {a['model']} CNN at eps {a['eps']:.4g} ({a['images']} images): "
          f"{a['torchattacks_s']:.1f} s against our {a['ours_s']:.1f} s, **{a['torchattacks_over_ours']:.2f}x** "
          f"(target >= 1.5x at equal or lower robust accuracy: {'met' if ok else '**missed**'}); robust accuracy "
          f"ours {a['ours_robust_accuracy']:.3f}, torchattacks {a['torchattacks_robust_accuracy']:.3f}."]
  return L + [""]


def conv_section(c: dict) -> list[str]:
  L = ["## Convolution gradients on XLA:CPU", "",
       "What `lowrank_jax/conv.py` changes (bench/conv.py). Kernel gradients of single 3x3 convolutions (ResNet-18 "
       "shapes), by XLA's own rule compiled with YNNPACK (this jaxlib's default) and with Eigen (`conv.COMPILER_OPTIONS`,"
       " which every jitted function of the library uses on the CPU), against torch's `conv2d_weight`; error = largest "
       "absolute difference from a float64 numpy reference over the reference's largest entry.", "",
       "| shape | YNNPACK ms | Eigen ms | torch ms | YNNPACK error | Eigen error |", "|---|---|---|---|---|---|"]
  for row in c["kernel_gradients"]:
    L.append(f"| {row['shape']} | {row['ynnpack_ms']:.1f} | {row['eigen_ms']:.1f} | {row['torch_ms']:.1f} | "
             f"{row['ynnpack_error']:.1e} | {row['eigen_error']:.1e} |")
  f = c["resnet_float64"]
  L += ["", "A whole ResNet-18 gradient (full width, batch 64, BatchNorm in train mode, at initialisation) in float32 "
        "against the same gradient computed in float64:", "",
        "| path | relative Frobenius error | largest per-leaf error / leaf max | median per-leaf |", "|---|---|---|---|"]
  for k in [k for k in f if isinstance(f[k], dict)]:
    L.append(f"| {k} | {f[k]['relative_frobenius']:.1e} | {f[k]['max_leaf_error']:.1e} | "
             f"{f[k]['median_leaf_error']:.1e} |")
  worst_single = max(max(row["ynnpack_error"], row["eigen_error"]) for row in c["kernel_gradients"])
  control = f.get("eigen, batch permuted", {}).get("relative_frobenius")
  L += ["", f"YNNPACK and Eigen differ from each other by up to {f['ynnpack_vs_eigen_max_leaf']:.1e} of a leaf's "
        f"largest entry. Every single convolution's kernel gradient agrees with float64 to {worst_single:.1e} of its "
        "largest entry on both paths" + (": **both paths are accurate** (float32 rounding)" if worst_single < 1e-5 else
                                        ": **a path is off by more than float32 rounding**") + ". "
        + (f"On the whole network float32 itself is the limit: the Eigen path on the same batch in another order, "
           f"which changes nothing but the order of float32 sums, is {control:.1e} away from float64 (relative "
           f"Frobenius) against {f['eigen']['relative_frobenius']:.1e} in the original order and "
           f"{f['ynnpack']['relative_frobenius']:.1e} for YNNPACK: the network (BatchNorm at initialisation) amplifies "
           "per-op rounding of about 1e-6 into these whole-gradient differences, whichever path rounds. "
           if control else "") + "Eigen is the fast one, so the library compiles with it.", "",
        f"PGD-20 on the default CNN at batch {c['pgd']['batch']} (random weights), flax's `nnx.Conv` against "
        "`conv.Conv` (input gradient as a forward convolution), each compiled with and without the Eigen option:", "",
        "| convolution, compiled with | seconds | speed-up | pixels of the adversarial examples that differ |",
        "|---|---|---|---|"]
  for row in c["pgd"]["rows"]:
    L.append(f"| {row['variant']} | {row['seconds']:.3f} | {row['speedup']:.2f}x | {row['pixels_different']} of "
             f"{row['pixels']} |")
  return L + [""]


def shards_section(s: dict) -> list[str]:
  """bench/shards.py's JSON: one process on every core against one pinned, single-threaded process per core."""
  n = len(s["cores"])
  L = ["## One shard per core", "", f"`python bench/shards.py` (`docs/results/shards.json`): training steps of "
       f"{s['model']} at batch {s['batch']} on CIFAR-10's shape, one process using all {n} cores against {n} processes "
       "pinned one per core with XLA single-threaded, running side by side (as `experiments/run.py --shard K/N` under "
       "`taskset` runs them). Steps per second in all, over one process's: the gain of running a grid's rows that "
       "way on one machine.", "", "| method | one process, s / step | each pinned process, s / step | steps / s in all, "
       "over one process |", "|---|---|---|---|"]
  for row in s["rows"]:
    L.append(f"| {row['method']} | {row['one_process_s_per_step']:.3f} | "
             f"{', '.join(f'{t:.3f}' for t in row['pinned_s_per_step'])} | {row['throughput_ratio']:.2f}x |")
  return L + [""]


def gpu_section(g: dict) -> list[str]:
  L = ["## GPU", "", f"`bash bench/gpu.sh` on {', '.join(g['devices'])} ({g['date']}; torch on "
       f"{g.get('attacks', {}).get('torch_device', '?')}).", "", "| model | batch | variant | ms / step | / vanilla |",
       "|---|---|---|---|---|"]
  for row in g.get("training", []):
    L.append(f"| {row['model']} | {row['batch']} | {row['variant']} | {row['ms_per_step']:.2f} | "
             f"{row['over_vanilla']:.2f}x |")
  a = g.get("attacks")
  if a:
    L += ["", "| attack | images | ours img/s | torchattacks img/s | ours / theirs | accuracy after: ours / theirs |",
          "|---|---|---|---|---|---|"]
    for row in a["pgd"]:
      L.append(f"| PGD-20, batch {row['batch']} | {row['images']} | {row['ours_img_s']:.0f} | {row['theirs_img_s']:.0f} "
               f"| {row['ours_over_theirs']:.2f}x | {row['ours_accuracy']:.3f} / {row['theirs_accuracy']:.3f} |")
    aa = a["autoattack"]
    if "official_s" in aa:
      L.append(f"| AutoAttack (standard) vs the official code | {aa['images']} | {aa['ours_img_s']:.0f} | "
               f"{aa['official_img_s']:.0f} | {aa['official_over_ours']:.2f}x | {aa['ours_robust_accuracy']:.3f} / "
               f"{aa['official_robust_accuracy']:.3f} |")
    else:  # a JSON of the earlier format (torchattacks' AutoAttack)
      L.append(f"| AutoAttack (standard) | {aa['images']} | {aa['ours_img_s']:.0f} | {aa['theirs_img_s']:.0f} | "
               f"{aa['ours_over_theirs']:.2f}x | {aa['ours_robust_accuracy']:.3f} / {aa['theirs_robust_accuracy']:.3f} |")
  n = g.get("nystrom")
  if n:
    L += ["", f"Nyström rank thresholding at m = {n['m']}, r = {n['rank']}: {n['seconds']:.4f} s per call "
          f"({n['first_call_seconds']:.1f} s first call)."]
  return L + [""]


def page(r: dict) -> str:
  m = r["machine"]
  L = ["# Benchmarks", "", f"Regenerate with `make bench` (raw numbers: `docs/results/bench.json`). Measured {r['date']} "
       "on:", "", "| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in m.items()] + [
           "", "Ratios come from one run with the compared programs interleaved; absolute times on this shared 2-core "
           "machine vary by 10-30%. " + ("The GPU section comes from `bash bench/gpu.sh` on a lent accelerator."
                                         if r.get("gpu") else "No GPU has been lent to this project yet: every figure "
                                         "is a CPU figure. `bash bench/gpu.sh` is ready for one (it runs on a CPU with "
                                         "`--small`)."), ""]
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
  if "conv" in r:
    L += conv_section(r["conv"])
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
    L += ["## Training: steps against PyTorch", "",
          "Our jitted vanilla step (Adam) against the same architecture's step in PyTorch (CPU build), 28x28x1 inputs: "
          "the CIFAR-style ResNet-18 (full width, BatchNorm in train mode) and the default CNN.", "",
          "| model | batch | ours (s / step) | torch (s / step) | torch / ours | target |", "|---|---|---|---|---|---|"]
    for key, name, target in (("resnet", "ResNet-18", 1.0), ("cnn_step", "default CNN", None)):
      if key in r:
        rr = r[key]
        L.append(f"| {name} | {rr['batch']} | {rr['ours_s']:.4f} | {rr['torch_s']:.4f} | {rr['torch_over_ours']:.2f}x | "
                 + (f">= 1: {verdict(rr['torch_over_ours'], target)}" if target else "") + " |")
    L.append("")
  if "attacks" in r:
    L += ["## Attacks against torchattacks", "",
          f"The default CNN (trained), its weights copied into PyTorch: logits agree to "
          f"{r['logit_max_abs_diff']:.1e}. PGD-20 (Linf 0.1, step 2.5 eps/20, random start) and DeepFool (L2, "
          "overshoot 0.02, 50 iterations), APGD-CE (Linf 0.1, 100 iterations, one restart); batch 1 runs 16 images one "
          "at a time. Compile time is paid once per shape and is not in the rates.", "",
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
          f"CPU's measured float32 matmul peak of {u['matmul_peak_gflop_s']:.1f} GFLOP/s (target >= 35%: "
          f"{verdict(u['fraction_of_peak'], 0.35)}).", ""]
    mp = r.get("max_pool")
    if mp:
      L += [f"Max pooling's gradient (PGD-20 at batch {mp['batch']}, the same model, interleaved): the library's, XLA's "
            f"own (split between tied maxima), {mp['xla_s']:.3f} s; a custom VJP sending it to each window's first "
            f"maximum, as torch does (`bench/attacks.py: max_pool_first_max`), {mp['first_max_s']:.3f} s "
            f"({mp['xla_s'] / mp['first_max_s']:.2f}x). {mp['pixels_different']} of {mp['pixels']} pixels of the "
            f"adversarial examples differ ({mp['examples_different']} of {mp['batch']} examples: Fashion-MNIST's flat "
            "background gives equal positive activations, whose tie the two rules break differently); accuracy after "
            f"the attack {mp['xla_accuracy']:.3f} with XLA's gradient, {mp['first_max_accuracy']:.3f} with the first "
            "maximum.", ""]
    if "pgd_profile" in r:
      L += ["Where PGD-20's time goes (batch 256, the same model; `bench/op_profile.py`: a jax.profiler trace of two "
            "calls, XLA's ops summed by name; share of the traced op time):", "",
            "| op | s / call | share | what it is (HLO) |", "|---|---|---|---|"]
      L += [f"| `{p['op']}` | {p['seconds_per_call']:.3f} | {p['share']:.0%} | {p['hlo']} |" for p in r["pgd_profile"]]
      L.append("")
  if "autoattack_official" in r:
    L += official_section(r["autoattack_official"])
  if r.get("gpu"):
    L += gpu_section(r["gpu"])
  if r.get("shards"):
    L += shards_section(r["shards"])
  if os.path.exists(NOTES):
    L += [open(NOTES).read().strip(), ""]
  return "\n".join(L) + "\n"


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--skip", default="", help="parts not to measure (nystrom,conv,training,attacks,autoattack); their numbers "
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
  if os.path.exists(GPU_JSON):
    r = {**r, "gpu": runfiles.read_json(GPU_JSON)}
  if os.path.exists(SHARDS_JSON):
    r = {**r, "shards": runfiles.read_json(SHARDS_JSON)}
  runfiles.write_text_atomic(PAGE, page(r))
  print(f"wrote {PAGE}")


if __name__ == "__main__":
  main()
