"""Our attacks against torchattacks on the same trained CNN, side by side in one run.

  python bench/attacks.py [--workdir runs/vanilla] [--examples 256] [--aa-examples 500]

The default CNN's trained weights (--workdir, or a 1-epoch model trained into
runs/bench_cnn) are copied to PyTorch; before timing, both must give the same
logits (max abs difference <= 1e-4) and each attack pair must reach comparable
success. Then, for PGD-20 (Linf 0.1, step 2.5 eps / 20, random start) and
DeepFool (L2, overshoot 0.02, 50 iterations), images per second at batch sizes
1, 32 and 256 and the ratio ours / torchattacks; XLA compile time (paid once per
shape) is reported apart from run time. AutoAttack (standard, Linf 0.1) on
--aa-examples test images: images per second of both. Utilisation: PGD's FLOP/s
(XLA's count of one gradient step times steps) over this CPU's measured float32
matmul peak.

What limits the ratios is written in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import common  # pylint: disable=g-import-not-at-top
from lowrank_jax import attacks, conv, data, loading
from lowrank_jax.attacks import autoattack  # pylint: disable=g-import-not-at-top

EPS, STEPS = 0.1, 20
TARGETS = {"PGD-20 @256": 1.5, "DeepFool @256": 2.0, "AutoAttack": 1.0, "utilisation": 0.35}


def trained_cnn(workdir: str | None):
  if workdir and os.path.exists(os.path.join(workdir, "model.json")):
    return loading.load_model(workdir)
  from configs import default  # pylint: disable=g-import-not-at-top
  from lowrank_jax import training  # pylint: disable=g-import-not-at-top
  cfg = default.get_config()
  cfg.method, cfg.num_epochs = "vanilla", 1
  workdir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "runs", "bench_cnn")
  training.train_and_evaluate(cfg, workdir, log=lambda s: None)
  return loading.load_model(workdir)


class Pair:
  """Our model (NHWC jax) and its torch copy (NCHW) on the same examples."""

  def __init__(self, model, x: np.ndarray, y: np.ndarray, device: str = "cpu"):
    import torch  # pylint: disable=g-import-not-at-top
    from lowrank_jax import torch_port  # pylint: disable=g-import-not-at-top
    self.torch, self.model, self.x, self.y, self.device = torch, model, x, y, device
    self.net = torch_port.torch_cnn(model).to(device)
    self.tx = torch.tensor(np.transpose(x, (0, 3, 1, 2))).to(device)
    self.ty = torch.tensor(y.astype(np.int64)).to(device)
    with torch.no_grad():
      diff = np.abs(self.net(self.tx).cpu().numpy() - np.asarray(model.logits(x))).max()
    if diff > 1e-4:
      raise AssertionError(f"torch and jax logits differ by {diff:.2e} > 1e-4")
    self.logit_diff = float(diff)

  def acc_ours(self, x_adv) -> float:
    return float(np.mean(np.argmax(np.asarray(self.model.logits(np.asarray(x_adv))), -1) == self.y[:len(x_adv)]))

  def acc_theirs(self, adv) -> float:
    with self.torch.no_grad():
      return float((self.net(adv).argmax(1) == self.ty[:len(adv)]).float().mean().cpu())


def _per_batch(fn, n: int, bs: int, keep: dict | None = None):
  """fn(i, j) on consecutive slices of n examples in batches of bs; keep["out"]: every batch's output."""
  def run():
    outs = [fn(i, min(i + bs, n)) for i in range(0, n, bs)]
    if keep is not None:
      keep["out"] = outs
    return outs[-1]
  return run


def pgd_and_deepfool(pair: Pair, batch_sizes=(1, 32, 256), examples: int = 256, deepfool: bool = True) -> list[dict]:
  import torchattacks  # pylint: disable=g-import-not-at-top
  f, key = pair.model.logits, jax.random.PRNGKey(0)
  pgd = conv.jit(attacks.pgd, static_argnames=attacks.PGD_STATIC)  # what the library compiles
  tpgd = torchattacks.PGD(pair.net, eps=EPS, alpha=2.5 * EPS / STEPS, steps=STEPS, random_start=True)
  tdf = torchattacks.DeepFool(pair.net, steps=50, overshoot=0.02)
  rows = []
  for bs in batch_sizes:
    n = min(examples, 16) if bs == 1 else examples  # batch 1: 16 images, one at a time
    ours = _per_batch(lambda i, j: pgd(f, pair.x[i:j], pair.y[i:j], key, eps=EPS, steps=STEPS), n, bs)
    theirs = _per_batch(lambda i, j: tpgd(pair.tx[i:j], pair.ty[i:j]), n, bs)
    t0 = time.perf_counter()
    common.block(ours())
    compile_s = time.perf_counter() - t0
    t = common.interleaved({"ours": ours, "theirs": theirs}, rounds=3, warmup=0)
    acc = (pair.acc_ours(pgd(f, pair.x[:n], pair.y[:n], key, eps=EPS, steps=STEPS)),
           pair.acc_theirs(tpgd(pair.tx[:n], pair.ty[:n])))
    rows.append(_row("PGD-20", bs, n, t, compile_s - t["ours"], acc))
    if not deepfool:
      continue
    # torchattacks' DeepFool runs at 4-6 img/s: one interleaved round, and the accuracies read from its outputs.
    kept = {}
    n = min(n, 64) if bs == 32 else n  # torchattacks' DeepFool runs at 4-7 img/s: two batches of 32 suffice
    ours = _per_batch(lambda i, j: attacks.deepfool(f, pair.x[i:j], max_iter=50).x_adv, n, bs)
    theirs = _per_batch(lambda i, j: tdf(pair.tx[i:j], pair.ty[i:j]), n, bs, kept)
    t0 = time.perf_counter()
    res = attacks.deepfool(f, pair.x[:n], max_iter=50)
    compile_s = time.perf_counter() - t0
    t = common.interleaved({"ours": ours, "theirs": theirs}, rounds=1, warmup=0)
    acc = (pair.acc_ours(res.x_adv), pair.acc_theirs(pair.torch.cat(kept["out"])))
    rows.append(_row("DeepFool", bs, n, t, max(compile_s - t["ours"], 0.0), acc,
                     extra={"mean_iterations": float(res.iterations.mean())}))
  return rows


def apgd_vs(pair: Pair, steps: int = 100, batch: int = 256) -> dict:
  """APGD-CE (Linf 0.1, `steps` iterations, one restart) ours vs torchattacks' APGD on the same `batch` images."""
  import torchattacks  # pylint: disable=g-import-not-at-top
  f, key = pair.model.logits, jax.random.PRNGKey(0)
  apgd = conv.jit(attacks.apgd, static_argnames=attacks.APGD_STATIC)
  tapgd = torchattacks.APGD(pair.net, norm="Linf", eps=EPS, steps=steps, n_restarts=1, loss="ce", seed=0)
  x, y = pair.x[:batch], pair.y[:batch]
  ours = lambda: apgd(f, x, y, key, eps=EPS, steps=steps)
  theirs = lambda: tapgd(pair.tx[:batch], pair.ty[:batch])
  t0 = time.perf_counter()
  common.block(ours())
  compile_s = time.perf_counter() - t0
  t = common.interleaved({"ours": ours, "theirs": theirs}, rounds=2, warmup=0)
  acc = (pair.acc_ours(ours()), pair.acc_theirs(theirs()))
  return _row(f"APGD-CE-{steps}", batch, batch, t, max(compile_s - t["ours"], 0.0), acc)


def _row(name, bs, n, t, compile_s, acc, extra=None) -> dict:
  ratio = t["theirs"] / t["ours"]
  row = {"attack": name, "batch": bs, "images": n, "ours_img_s": n / t["ours"], "theirs_img_s": n / t["theirs"],
         "ours_over_theirs": ratio, "compile_s": compile_s, "ours_accuracy": acc[0], "theirs_accuracy": acc[1],
         "target": TARGETS.get(f"{name} @{bs}"), **(extra or {})}
  print(f"{name:<9} batch {bs:<4} ours {n / t['ours']:8.1f} img/s  torchattacks {n / t['theirs']:8.1f} img/s  "
        f"ours/theirs {ratio:5.2f}x  compile {compile_s:5.1f} s  accuracy after attack: ours {acc[0]:.3f}, "
        f"theirs {acc[1]:.3f}" + (f"  (target >= {row['target']}x)" if row["target"] else ""), flush=True)
  return row


def autoattack_vs(pair: Pair, x: np.ndarray, y: np.ndarray) -> dict:
  import torch  # pylint: disable=g-import-not-at-top
  import torchattacks  # pylint: disable=g-import-not-at-top
  t0 = time.perf_counter()
  ours = autoattack.autoattack(pair.model.logits, x, y, jax.random.PRNGKey(0), eps=EPS, batch_size=256)
  t_ours = time.perf_counter() - t0
  t0 = time.perf_counter()
  ours2 = autoattack.autoattack(pair.model.logits, x, y, jax.random.PRNGKey(0), eps=EPS, batch_size=256)
  t_ours_warm = time.perf_counter() - t0
  tx = torch.tensor(np.transpose(x, (0, 3, 1, 2))).to(pair.device)
  ty = torch.tensor(y.astype(np.int64)).to(pair.device)
  taa = torchattacks.AutoAttack(pair.net, norm="Linf", eps=EPS, version="standard", n_classes=10, seed=0)
  t0 = time.perf_counter()
  adv = torch.cat([taa(tx[i:i + 256], ty[i:i + 256]) for i in range(0, len(x), 256)])
  t_theirs = time.perf_counter() - t0
  with torch.no_grad():
    theirs_acc = float((pair.net(adv).argmax(1) == ty).float().mean().cpu())
  out = {"images": len(x), "ours_s": t_ours_warm, "ours_first_call_s": t_ours, "theirs_s": t_theirs,
         "ours_img_s": len(x) / t_ours_warm, "theirs_img_s": len(x) / t_theirs,
         "ours_over_theirs": t_theirs / t_ours_warm, "ours_robust_accuracy": ours2.robust_accuracy,
         "theirs_robust_accuracy": theirs_acc, "after": ours2.after, "target": TARGETS["AutoAttack"]}
  assert ours.robust_accuracy == ours2.robust_accuracy
  print(f"AutoAttack ({len(x)} images, eps {EPS}): ours {out['ours_img_s']:.1f} img/s (first call, with compiles: "
        f"{t_ours:.0f} s), torchattacks {out['theirs_img_s']:.1f} img/s, ours/theirs {out['ours_over_theirs']:.2f}x; "
        f"robust accuracy ours {ours2.robust_accuracy:.3f}, theirs {theirs_acc:.3f}", flush=True)
  return out


def compile_times(pair: Pair, batch: int = 256) -> dict[str, float]:
  """Seconds XLA takes to compile each jitted attack at this batch size (paid once per shape and model)."""
  f, key = pair.model.logits, jax.random.PRNGKey(0)
  x, y = jnp.asarray(pair.x[:batch]), jnp.asarray(pair.y[:batch])
  eps, ids = jnp.float32(EPS), jnp.arange(batch)
  settings = autoattack.AttackSettings()
  fns = {"PGD-20": (conv.jit(lambda f, x, y: attacks.pgd(f, x, y, key, eps=EPS, steps=STEPS)), (f, x, y)),
         "FGSM": (conv.jit(lambda f, x, y: attacks.fgsm(f, x, y, eps=EPS)), (f, x, y)),
         "DeepFool step": (attacks.deepfool_step, (f, x, jnp.zeros_like(x), jnp.zeros((batch, 10), jnp.int32),
                                                    jnp.float32(0.02))),
         **{name: (autoattack.attack_fn(name, "linf", settings, 10), (f, x, y, key, eps, ids))
            for name in ("apgd-ce", "apgd-t", "fab-t", "square")}}
  out = {}
  for name, (fn, args) in fns.items():
    jax.clear_caches()  # the attacks above compiled some of these already: measure a cold compile
    t0 = time.perf_counter()
    (fn.lower(*args, norm="l2") if name == "DeepFool step" else fn.lower(*args)).compile()
    out[name] = time.perf_counter() - t0
  print("compile seconds at batch 256: " + ", ".join(f"{k} {v:.1f}" for k, v in out.items()), flush=True)
  return out


def utilisation(pair: Pair, batch: int = 256) -> dict:
  f, x, y = pair.model.logits, jnp.asarray(pair.x[:batch]), jnp.asarray(pair.y[:batch])
  grad = lambda z: jax.grad(lambda u: attacks.ce_loss(f(u), y).sum())(z)
  step_flops = common.flops(grad, x)
  pgd = conv.jit(attacks.pgd, static_argnames=attacks.PGD_STATIC)  # what the library compiles
  _, t = common.timed(lambda: pgd(f, x, y, jax.random.PRNGKey(0), eps=EPS, steps=STEPS), 3)
  peak = common.matmul_peak()
  achieved = step_flops * (STEPS + 1) / t
  out = {"gradient_step_gflop": step_flops / 1e9, "pgd_gflop_s": achieved / 1e9, "matmul_peak_gflop_s": peak / 1e9,
         "fraction_of_peak": achieved / peak, "batch": batch}
  print(f"PGD-20 at batch {batch}: {achieved / 1e9:.1f} GFLOP/s = {achieved / peak:.0%} of this CPU's float32 "
        f"matmul peak ({peak / 1e9:.1f} GFLOP/s; one gradient step {step_flops / 1e9:.2f} GFLOP) (target >= 35%)",
        flush=True)
  return out


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--workdir", default="")
  ap.add_argument("--examples", type=int, default=256)
  ap.add_argument("--aa-examples", type=int, default=500)
  a = ap.parse_args()
  model = trained_cnn(a.workdir)
  tx, ty = data.load_dataset(model.config.dataset).splits["test"]
  n = max(a.examples, a.aa_examples)
  x, y = data.to_unit(tx[:n]), ty[:n].astype(np.int32)
  pair = Pair(model, x[:a.examples], y[:a.examples])
  print(f"logits agree to {pair.logit_diff:.1e}")
  pgd_and_deepfool(pair, examples=a.examples)
  apgd_vs(pair)
  compile_times(pair)
  utilisation(pair)
  autoattack_vs(pair, x[:a.aa_examples], y[:a.aa_examples])


if __name__ == "__main__":
  main()
