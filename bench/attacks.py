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
import logging
import os
import re
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
TARGETS = {"PGD-20 @256": 1.5, "DeepFool @256": 2.0, "AutoAttack vs official": 2.0, "AutoAttack vs torchattacks": 1.5,
           "utilisation": 0.35}
AA_SETTINGS = [  # AutoAttack against the official implementation: model, eps, test images (the first n)
    {"model": "vanilla", "eps": 0.1, "images": 500, "torchattacks": True},
    {"model": "vanilla", "eps": 8 / 255, "images": 100},
    {"model": "PGD-3 adversarially trained", "eps": 0.1, "images": 100},
]


def trained_cnn(workdir: str | None, method: str = "vanilla", **overrides):
  """The default CNN: loaded from `workdir` if it holds a run, else trained into runs/bench_<method> (1 epoch;
  reused by the next bench)."""
  if workdir and os.path.exists(os.path.join(workdir, "model.json")):
    return loading.load_model(workdir)
  workdir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "runs", f"bench_{method}")
  if not os.path.exists(os.path.join(workdir, "model.json")):
    from configs import default  # pylint: disable=g-import-not-at-top
    from lowrank_jax import training  # pylint: disable=g-import-not-at-top
    from lowrank_jax.spec_runner import apply_overrides  # pylint: disable=g-import-not-at-top
    cfg = apply_overrides(default.get_config(), {"method": method, "num_epochs": 1, **overrides})
    training.train_and_evaluate(cfg, workdir, log=lambda s: None)
  return loading.load_model(workdir)


def robust_cnn():
  """A partly robust CNN: PGD-3 adversarial training (Linf 0.1) for one epoch, trained inside the bench."""
  return trained_cnn(None, "pgd_at", **{"pgd_at.steps": 3, "pgd_at.eps": 0.1})


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
    t = common.interleaved({"ours": ours, "theirs": theirs}, rounds=2, warmup=0)
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


def _margins(logits) -> np.ndarray:
  """z_y - max_{j != y} z_j per row of (logits, labels): > 0 while correctly classified."""
  logits, y = logits
  z = np.array(logits, np.float64)
  true = z[np.arange(len(y)), y]
  z[np.arange(len(y)), y] = -np.inf
  return true - z.max(1)


def _explain(pair: Pair, official, x: np.ndarray, y: np.ndarray, x_off: np.ndarray, i: int, eps: float) -> dict:
  """For an example the official AutoAttack breaks and ours does not: which official attacks break it alone,
  the official point's margin on both models (is it a float disagreement at the boundary?), and the margins
  our attacks reach on it alone (how close they came)."""
  torch = pair.torch
  tx = torch.tensor(np.transpose(x[i:i + 1], (0, 3, 1, 2))).to(pair.device)
  ty = torch.tensor(y[i:i + 1].astype(np.int64)).to(pair.device)
  alone = official.run_standard_evaluation_individual(tx, ty, batch_size=1)
  by = [k for k, (_, ya) in alone.items() if int(ya[0]) != int(y[i])]
  with torch.no_grad():
    m_torch = _margins((pair.net(torch.tensor(np.transpose(x_off[i:i + 1], (0, 3, 1, 2)))).cpu().numpy(), y[i:i + 1]))
  m_jax = _margins((np.asarray(pair.model.logits(x_off[i:i + 1])), y[i:i + 1]))
  f, key, xi, yi, idx = pair.model.logits, jax.random.PRNGKey(0), x[i:i + 1], y[i:i + 1], np.array([i])
  margin = lambda v: float(_margins((np.asarray(f(np.asarray(v))), yi))[0])
  targets = range(9)  # each target's run alone, as AutoAttack keys it: its best-loss point (apgd) or smallest norm
  fab_norms = [float(attacks.fab(f, xi, yi, jax.random.fold_in(key, t), eps=eps, target_class=t + 2,
                                 indices=idx)[1][0]) for t in targets]
  return {"example": int(i), "official_attacks_that_break_it": by,
          "official_point_linf": float(np.abs(x_off[i] - x[i]).max()),
          "official_point_margin_torch": float(m_torch[0]), "official_point_margin_jax": float(m_jax[0]),
          "our_margins": {  # at the point each of our attacks returns alone (> 0: still correctly classified)
              "apgd-ce": margin(attacks.apgd(f, xi, yi, key, eps=eps, indices=idx)),
              "apgd-t": min(margin(attacks.apgd_run(f, xi, yi, jax.random.fold_in(key, t), eps=eps,
                                                    loss="dlr_targeted", target_class=t + 2, indices=idx).x)
                            for t in targets),
              "square": margin(attacks.square(f, xi, yi, key, eps=eps, indices=idx))},
          "our_fab_t_smallest_linf": min(fab_norms)}


class _OfficialLaps(logging.Handler):
  """Collects the official AutoAttack's cumulative seconds after each attack from its debug log."""

  def __init__(self):
    super().__init__(logging.DEBUG)
    self.laps: dict[str, float] = {}

  def emit(self, record):
    m = re.match(r"robust accuracy after (\S+): .*\(total time ([\d.]+) s\)", record.getMessage())
    if m:
      self.laps[m.group(1).lower()] = float(m.group(2))


def _per_attack(laps: dict[str, float]) -> dict[str, float]:
  """Cumulative seconds after each attack -> seconds of each attack."""
  out, last = {}, 0.0
  for name, t in laps.items():
    out[name], last = t - last, t
  return out


def official_vs(pair: Pair, x: np.ndarray, y: np.ndarray, eps: float, model: str, torchattacks_too: bool = False,
                explain: int = 3) -> dict:
  """AutoAttack (standard, Linf) ours against the official implementation (pyautoattack) on the same weights and
  images: seconds (our first call with compilation, and warm), robust accuracy, per-example verdicts and the
  examples on which the two disagree, in both directions (the first `explain` the official breaks and ours
  does not are explained). torchattacks_too: torchattacks' AutoAttack timed as well."""
  import torch  # pylint: disable=g-import-not-at-top
  from pyautoattack import AutoAttack  # pylint: disable=g-import-not-at-top
  laps: dict[str, float] = {}  # cumulative seconds of our warm call at the end of each attack
  ours_run = lambda progress=None: autoattack.autoattack(pair.model.logits, x, y, jax.random.PRNGKey(0), eps=eps,
                                                         batch_size=256, progress=progress)
  t0 = time.perf_counter()
  first = ours_run()
  t_first = time.perf_counter() - t0
  t0 = time.perf_counter()
  ours = ours_run(lambda line: laps.setdefault(line.split(":")[0], time.perf_counter() - t0))
  t_warm = time.perf_counter() - t0
  assert np.array_equal(first.robust, ours.robust), "two calls of our AutoAttack disagree"
  tx = torch.tensor(np.transpose(x, (0, 3, 1, 2))).to(pair.device)
  ty = torch.tensor(y.astype(np.int64)).to(pair.device)
  official = AutoAttack(pair.net, norm="Linf", eps=eps, version="standard", seed=0, device=pair.device)
  official_laps = _OfficialLaps()  # its own log lines: "robust accuracy after APGD-T: ... (total time 18.9 s)"
  official.logger.addHandler(official_laps)
  official.logger.setLevel(logging.DEBUG)
  official.logger.propagate = False
  t0 = time.perf_counter()
  try:
    x_off, y_off = official.run_standard_evaluation(tx, ty, batch_size=250)
  finally:
    official.logger.removeHandler(official_laps)
  t_official = time.perf_counter() - t0
  off_robust = (y_off == ty).cpu().numpy()
  x_off = np.transpose(x_off.cpu().numpy(), (0, 2, 3, 1))
  only_official = np.flatnonzero(ours.robust & ~off_robust)  # the official breaks it, ours does not
  only_ours = np.flatnonzero(~ours.robust & off_robust)
  out = {"model": model, "eps": eps, "images": len(x), "ours_first_call_s": t_first, "ours_s": t_warm,
         "official_s": t_official, "official_over_ours": t_official / t_warm,
         "ours_img_s": len(x) / t_warm, "official_img_s": len(x) / t_official,
         "ours_attack_s": _per_attack(laps), "official_attack_s": _per_attack(official_laps.laps),
         "clean_accuracy": ours.clean_accuracy, "ours_robust_accuracy": ours.robust_accuracy,
         "official_robust_accuracy": float(off_robust.mean()), "after": ours.after,
         "broken_only_by_official": only_official.tolist(), "broken_only_by_ours": only_ours.tolist(),
         "verdicts_ours": "".join("1" if r else "0" for r in ours.robust),
         "verdicts_official": "".join("1" if r else "0" for r in off_robust)}
  print(f"AutoAttack {model}, eps {eps:.4g}, {len(x)} images: ours {t_warm:.1f} s warm ({t_first:.0f} s first call), "
        f"official {t_official:.1f} s: {out['official_over_ours']:.2f}x; robust accuracy ours "
        f"{ours.robust_accuracy:.3f}, official {out['official_robust_accuracy']:.3f}; broken only by the official "
        f"{len(only_official)}, only by ours {len(only_ours)}", flush=True)
  out["explained"] = [_explain(pair, official, x, y, x_off, int(i), eps) for i in only_official[:explain]]
  for e in out["explained"]:
    print(f"  example {e['example']}: {e}", flush=True)
  if torchattacks_too:
    import torchattacks  # pylint: disable=g-import-not-at-top
    taa = torchattacks.AutoAttack(pair.net, norm="Linf", eps=eps, version="standard", n_classes=10, seed=0)
    t0 = time.perf_counter()
    adv = torch.cat([taa(tx[i:i + 256], ty[i:i + 256]) for i in range(0, len(x), 256)])
    out["torchattacks_s"] = time.perf_counter() - t0
    with torch.no_grad():
      out["torchattacks_robust_accuracy"] = float((pair.net(adv).argmax(1) == ty).float().mean().cpu())
    out["torchattacks_over_ours"] = out["torchattacks_s"] / t_warm
    print(f"  torchattacks' AutoAttack {out['torchattacks_s']:.1f} s: {out['torchattacks_over_ours']:.2f}x; robust "
          f"accuracy {out['torchattacks_robust_accuracy']:.3f}", flush=True)
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
         **{name: (autoattack.attack_fn(name, "linf", settings, 10), (f, x, y, key, eps, ids, jnp.full(batch, 2)))
            for name in ("apgd-ce", "apgd-t", "fab-t", "square")}}
  out = {}
  for name, (fn, args) in fns.items():
    jax.clear_caches()  # the attacks above compiled some of these already: measure a cold compile
    t0 = time.perf_counter()
    (fn.lower(*args, norm="l2") if name == "DeepFool step" else fn.lower(*args)).compile()
    out[name] = time.perf_counter() - t0
  print("compile seconds at batch 256: " + ", ".join(f"{k} {v:.1f}" for k, v in out.items()), flush=True)
  return out


@jax.custom_vjp
def max_pool_first_max(x: jax.Array) -> jax.Array:
  """2x2 max pooling whose gradient goes to each window's first maximum (torch's rule), found from four strided
  slices; the library's `models.max_pool_2x2` splits it between tied maxima (XLA's reduce-and-divide)."""
  return _max_pool_values(x)


def _max_pool_values(x):
  n, h, w, c = x.shape
  return x[:, : h // 2 * 2, : w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def _first_max_fwd(x):
  y = _max_pool_values(x)
  return y, (x, y)


def _first_max_bwd(res, g):
  x, y = res
  n, h, w, c = x.shape
  h2, w2 = h // 2, w // 2
  taken, parts = jnp.zeros(g.shape, bool), []
  for i in (0, 1):
    for j in (0, 1):
      first = (x[:, i:2 * h2:2, j:2 * w2:2] == y) & ~taken
      taken = taken | first
      parts.append(jnp.where(first, g, jnp.zeros((), g.dtype)))
  dx = jnp.stack([jnp.stack(parts[:2], axis=3), jnp.stack(parts[2:], axis=3)], axis=2).reshape(n, 2 * h2, 2 * w2, c)
  return (jnp.pad(dx, ((0, 0), (0, h - 2 * h2), (0, w - 2 * w2), (0, 0))),)


max_pool_first_max.defvjp(_first_max_fwd, _first_max_bwd)


def max_pool_before_after(pair: Pair, batch: int = 256) -> dict:
  """PGD-20 at `batch` with the library's max pooling (XLA's gradient, split between tied maxima) and with a
  custom VJP that sends it to the first maximum (`max_pool_first_max`): seconds (interleaved) and how many
  pixels and examples of the adversarial examples differ."""
  from lowrank_jax import models  # pylint: disable=g-import-not-at-top
  x, y, key = jnp.asarray(pair.x[:batch]), jnp.asarray(pair.y[:batch]), jax.random.PRNGKey(0)
  library_pool = models.max_pool_2x2
  pgds = {}
  for name, pool in (("xla", library_pool), ("first_max", max_pool_first_max)):
    models.max_pool_2x2 = pool  # read when the model is traced: a new jit per variant
    try:
      f = pair.model.logits
      pgds[name] = jax.jit(lambda z, t, f=f: attacks.pgd(f, z, t, key, eps=EPS, steps=STEPS),
                           compiler_options=conv.COMPILER_OPTIONS if jax.default_backend() == "cpu" else None)
      common.block(pgds[name](x, y))
    finally:
      models.max_pool_2x2 = library_pool
  t = common.interleaved({k: (lambda g=g: g(x, y)) for k, g in pgds.items()}, rounds=3, warmup=0)
  adv = {k: np.asarray(g(x, y)) for k, g in pgds.items()}
  diff = adv["xla"] != adv["first_max"]
  out = {"batch": batch, "xla_s": t["xla"], "first_max_s": t["first_max"], "pixels": int(diff.size),
         "pixels_different": int(diff.sum()), "examples_different": int(diff.reshape(batch, -1).any(1).sum()),
         "xla_accuracy": pair.acc_ours(adv["xla"]), "first_max_accuracy": pair.acc_ours(adv["first_max"])}
  print(f"max pool gradient, PGD-20 batch {batch}: XLA's {t['xla']:.3f} s, first maximum {t['first_max']:.3f} s; "
        f"{out['pixels_different']} of {out['pixels']} pixels differ", flush=True)
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
  ap.add_argument("--aa-only", action="store_true", help="only AutoAttack against the official implementation")
  a = ap.parse_args()
  model = trained_cnn(a.workdir)
  tx, ty = data.load_dataset(model.config.dataset).splits["test"]
  n = max(a.examples, a.aa_examples)
  x, y = data.to_unit(tx[:n]), ty[:n].astype(np.int32)
  pair = Pair(model, x[:a.examples], y[:a.examples])
  print(f"logits agree to {pair.logit_diff:.1e}")
  if not a.aa_only:
    pgd_and_deepfool(pair, examples=a.examples)
    apgd_vs(pair)
    compile_times(pair)
    utilisation(pair)
  for row in AA_SETTINGS:
    m = model if row["model"] == "vanilla" else robust_cnn()
    xs, ys = x[:row["images"]], y[:row["images"]]
    official_vs(Pair(m, xs, ys), xs, ys, row["eps"], row["model"], torchattacks_too=row.get("torchattacks", False))


if __name__ == "__main__":
  main()
