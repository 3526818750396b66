"""Gradient-masking probes: does a stronger or differently scaled attack find what PGD misses?

  zero_gradients   fraction of examples whose CE input gradient is exactly 0 in float32
  pgd_losses       PGD-<max steps> with CE, margin, and CE on logits / T (T in probe_temperatures)
  pgd_strong       PGD-<probe_strong_steps> with <probe_strong_restarts> restarts (margin loss)
  square           gradient-free Square (Linf, probe_square_queries queries)
                   (these two on the first probe_examples examples, compared with PGD-<steps> CE on them)
  paper_like       PGD-7/20 as the paper likely ran it: fixed step eps/4, no random start,
                   eps in the model's normalised input space (pixel eps * std per channel)

Every probe but the paper-like attack (a smaller budget in pixels) joins the worst case at its eps.

References:
  Athalye, Carlini, Wagner. Obfuscated gradients give a false sense of security. ICML 2018.
  Carlini et al. On evaluating adversarial robustness. arXiv:1902.06705, 2019.
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from lowrank_jax import attacks, autoattack, conv
from lowrank_jax.evaluators import Context
from lowrank_jax.evaluators.pgd_grid import paper_like, run_pgd


def scaled_ce(logits: jax.Array, labels: jax.Array, temperature: float) -> jax.Array:
  """CE on logits / T: a large T undoes a saturated softmax (vanishing CE gradients)."""
  return attacks.ce_loss(logits / temperature, labels)


@functools.lru_cache(maxsize=None)
def _scaled_ce(temperature: float):
  return functools.partial(scaled_ce, temperature=temperature)  # one object per T: jit compiles once


_grad_ce = conv.jit(lambda f, x, y: jax.grad(lambda z: attacks.ce_loss(f(z), y).sum())(x))
_square = conv.jit(autoattack.square, static_argnames=("norm", "queries", "p_init", "rescale_schedule"))


def evaluate(ctx: Context) -> dict:
  ec = ctx.ec
  g = ctx.batched(lambda x, y: _grad_ce(ctx.model.logits, x, y), ctx.x, ctx.y)
  zero = np.all(g.reshape(len(g), -1) == 0, axis=1)
  out = {"zero_gradient_fraction": float(zero.mean()),
         "zero_gradient_fraction_correct": float(zero[ctx.worst.clean].mean()) if ctx.worst.clean.any() else 0.0,
         "by_eps": {}}
  steps = max(int(s) for s in ec.steps)
  losses = [("ce", "ce"), ("margin", "margin")] + [(f"ce/T{t:g}", _scaled_ce(float(t))) for t in ec.probe_temperatures]
  nsq = min(int(ec.probe_examples), len(ctx.x))
  std = np.asarray(ctx.model.std, np.float32)  # for the record
  for e in [float(v) for v in ec.probe_eps]:
    probes, ce_ok = {}, None
    base = f"pgd-{steps} ce"
    for label, loss in losses:
      ok = ctx.correct(run_pgd(ctx, ctx.model.logits, f"probe-{label}@{e:g}", eps=e, steps=steps, loss=loss))
      probes[f"pgd-{steps} {label}"] = ctx.worst.record(e, f"pgd-{steps} {label}", ok)
      ce_ok = ok if label == "ce" else ce_ok
    s, r = int(ec.probe_strong_steps), int(ec.probe_strong_restarts)
    adv = run_pgd(ctx, ctx.model.logits, f"probe-strong@{e:g}", eps=e, steps=s, restarts=r, loss="margin",
                  first=nsq)
    strong_ok = np.ones(len(ctx.x), bool)
    strong_ok[:nsq] = ctx.correct(adv)
    ctx.worst.record(e, f"pgd-{s}x{r}", strong_ok)
    key = ctx.subkey(f"probe-square@{e:g}")
    adv = ctx.batched(lambda x, y, i: _square(ctx.model.logits, x, y, key, eps=e, queries=int(ec.probe_square_queries),
                                              indices=i), ctx.x[:nsq], ctx.y[:nsq], ctx.indices[:nsq])
    square_ok = np.ones(len(ctx.x), bool)
    square_ok[:nsq] = ctx.correct(adv)
    ctx.worst.record(e, "square", square_ok)
    res = {"baseline": base, "probes": {k: {"accuracy": v, "baseline": probes[base]} for k, v in probes.items()
                                        if k != base}}
    first_base = float(ce_ok[:nsq].mean()) if nsq else 1.0
    res["probes"][f"pgd-{s}x{r} margin"] = {"accuracy": float(strong_ok[:nsq].mean()) if nsq else 1.0,
                                           "baseline": first_base, "examples": nsq}
    res["probes"][f"square-{int(ec.probe_square_queries)}"] = {
        "accuracy": float(square_ok[:nsq].mean()) if nsq else 1.0, "baseline": first_base, "examples": nsq}
    res["accuracy"] = {base: probes[base], **{k: v["accuracy"] for k, v in res["probes"].items()}}
    res["paper_like"] = {f"pgd-{ps}": float(paper_like(ctx, e, ps).mean()) for ps in ec.paper_steps}
    out["by_eps"][f"{e:g}"] = res
    ctx.log(f"masking probes eps {e:g}: " + ", ".join(f"{k} {v:.3f}" for k, v in res["accuracy"].items())
            + "; paper-like " + ", ".join(f"{k} {v:.3f}" for k, v in res["paper_like"].items()))
  out["paper_like"] = {"eps_space": "normalised (pixel eps = eps * std)", "std": std.tolist(),
                       "step_size": "eps / 4", "random_start": False}
  return out
