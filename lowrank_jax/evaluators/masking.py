"""Gradient-masking probes: does a stronger or differently scaled attack find what PGD misses?

  zero_gradients   fraction of examples whose CE input gradient is exactly 0 in float32
  pgd_losses       PGD-<steps> with CE, margin, and CE on logits / T (T in temperatures)
  pgd_strong       PGD-<strong_steps> with <strong_restarts> restarts (margin loss)
  square           gradient-free Square (Linf, square_queries queries)
                   (these two on the first `examples` examples, compared with PGD-<steps> CE on them)
  paper_like       PGD-7/20 as the paper likely ran it: fixed step eps/4, no random start,
                   eps in the model's normalised input space (pixel eps * std per channel)

Every probe but the paper-like attack (a smaller budget in pixels) joins the worst case at its eps; each is
checked against the PGD baseline (within config.eval.masking.tolerance). Fields: config.eval.masking.

References:
  Athalye, Carlini, Wagner. Obfuscated gradients give a false sense of security. ICML 2018.
  Carlini et al. On evaluating adversarial robustness. arXiv:1902.06705, 2019.
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from lowrank_jax import attacks, conv
from lowrank_jax.evaluators.base import (Attacked, Inputs, Report, Result, check, check_pixel_eps, check_positive,
                                         eps_key, paper_like, run_pgd, section)


def config():
  """config.eval.masking (off by default: it roughly doubles an evaluation)."""
  return section(
      enabled=False,
      eps=(0.05, 0.1),
      steps=20,  # the PGD baseline and the loss probes
      temperatures=(10.0, 100.0),
      tolerance=0.05,  # a probe beating the PGD-CE baseline by more than this is flagged (some gain is normal)
      strong_steps=100,
      strong_restarts=5,
      square_queries=1000,
      examples=200,  # strong PGD and Square run on the first N
      paper_steps=(7, 20))  # paper-like PGD: fixed step eps/4, no random start, eps in normalised space


def validate(ec) -> None:
  """Checks config.eval.masking (one-line ConfigError naming the field)."""
  m = ec.masking
  check(all(e > 0 for e in m.eps), f"config.eval.masking.eps={tuple(m.eps)} must be > 0")
  check_pixel_eps(ec, "masking.eps", m.eps)
  check(all(t > 0 for t in m.temperatures), f"config.eval.masking.temperatures={tuple(m.temperatures)} must be > 0")
  check(m.tolerance >= 0, f"config.eval.masking.tolerance={m.tolerance} must be >= 0")
  check_positive(m, "masking", "steps", "strong_steps", "strong_restarts", "square_queries", "examples")
  check(len(m.paper_steps) > 0 and all(s >= 1 for s in m.paper_steps),
        f"config.eval.masking.paper_steps={tuple(m.paper_steps)} must be non-empty, >= 1")


def scaled_ce(logits: jax.Array, labels: jax.Array, temperature: float) -> jax.Array:
  """CE on logits / T: a large T undoes a saturated softmax (vanishing CE gradients)."""
  return attacks.ce_loss(logits / temperature, labels)


@functools.lru_cache(maxsize=None)
def _scaled_ce(temperature: float):
  return functools.partial(scaled_ce, temperature=temperature)  # one object per T: jit compiles once


_grad_ce = conv.jit(lambda f, x, y: jax.grad(lambda z: attacks.ce_loss(f(z), y).sum())(x))
_square = conv.jit(attacks.square, static_argnames=("norm", "queries", "p_init", "rescale_schedule"))


def evaluate(inputs: Inputs, needed: dict) -> Result:
  """Runs the gradient-masking probes on inputs (see the module docstring); its eval.json entry, attacks and checks."""
  del needed
  m, logits = inputs.ec.masking, inputs.model.logits
  g = inputs.batched(lambda x, y: _grad_ce(logits, x, y), inputs.x, inputs.y)
  zero = np.all(g.reshape(len(g), -1) == 0, axis=1)
  zero_correct = float(zero[inputs.clean].mean()) if inputs.clean.any() else 0.0
  out = {"zero_gradient_fraction": float(zero.mean()), "zero_gradient_fraction_correct": zero_correct, "by_eps": {}}
  checks = [{"check": "no zero CE input gradients", "passed": zero_correct == 0,
             "detail": f"{zero_correct:.4f} of correctly classified examples"}]
  attacked = []
  steps = int(m.steps)
  losses = [("ce", "ce"), ("margin", "margin")] + [(f"ce/T{t:g}", _scaled_ce(float(t))) for t in m.temperatures]
  nsq = min(int(m.examples), len(inputs.x))
  base = f"pgd-{steps} ce"
  tol = float(m.tolerance)
  for e in [float(v) for v in m.eps]:
    accuracy = {}
    for label, loss in losses:
      adv = run_pgd(inputs, logits, f"probe-{label}@{eps_key(e)}", eps=e, steps=steps, loss=loss)
      attacked.append(Attacked(e, f"pgd-{steps} {label}", inputs.correct(adv)))
      accuracy[f"pgd-{steps} {label}"] = attacked[-1].accuracy
    ce_first = float(attacked[-len(losses)].correct[:nsq].mean()) if nsq else 1.0  # PGD-CE on the first nsq
    s, r = int(m.strong_steps), int(m.strong_restarts)
    adv = run_pgd(inputs, logits, f"probe-strong@{eps_key(e)}", eps=e, steps=s, restarts=r, loss="margin",
                  examples=nsq)
    attacked.append(Attacked(e, f"pgd-{s}x{r}", inputs.correct(adv)))
    key = inputs.subkey(f"probe-square@{eps_key(e)}")
    adv = inputs.batched(lambda x, y, i: _square(logits, x, y, key, eps=e, queries=int(m.square_queries),
                                                 indices=i), inputs.x[:nsq], inputs.y[:nsq], inputs.indices[:nsq])
    attacked.append(Attacked(e, "square", inputs.correct(adv)))
    probes = {k: {"accuracy": v, "baseline": accuracy[base]} for k, v in accuracy.items() if k != base}
    probes[f"pgd-{s}x{r} margin"] = {"accuracy": attacked[-2].accuracy, "baseline": ce_first, "examples": nsq}
    probes[f"square-{int(m.square_queries)}"] = {"accuracy": attacked[-1].accuracy, "baseline": ce_first,
                                                       "examples": nsq}
    res = {"baseline": base, "probes": probes,
           "accuracy": {base: accuracy[base], **{k: v["accuracy"] for k, v in probes.items()}},
           "paper_like": {f"pgd-{ps}": float(paper_like(inputs, e, ps).mean()) for ps in m.paper_steps}}
    out["by_eps"][eps_key(e)] = res
    checks += [{"check": f"{name} within {tol:g} of {base} at eps {eps_key(e)}",
                "passed": p["accuracy"] >= p["baseline"] - tol, "detail": f"{p['accuracy']:.3f} vs {p['baseline']:.3f}"}
               for name, p in probes.items()]
    inputs.log(f"masking probes eps {e:g}: " + ", ".join(f"{k} {v:.3f}" for k, v in res["accuracy"].items())
               + "; paper-like " + ", ".join(f"{k} {v:.3f}" for k, v in res["paper_like"].items()))
  out["paper_like"] = {"eps_space": "normalised (pixel eps = eps * std)",
                       "std": np.asarray(inputs.model.std, np.float32).tolist(), "step_size": "eps / 4",
                       "random_start": False}
  return Result(out, tuple(attacked), tuple(checks))


def report(rep: Report) -> list[str]:
  """## Gradient-masking probes: zero gradients, and each probe's accuracy per eps."""
  m = rep.results["masking"]
  L = ["## Gradient-masking probes", "",
       f"Zero CE input gradients: {m['zero_gradient_fraction']:.4f} of all examples, "
       f"{m['zero_gradient_fraction_correct']:.4f} of the correctly classified.", ""]
  for e, d in m["by_eps"].items():
    L += [f"eps {e}: " + "; ".join(f"{k} {v:.3f}" for k, v in d["accuracy"].items())
          + "; paper-like (normalised eps, fixed step, no random start) "
          + ", ".join(f"{k} {v:.3f}" for k, v in d["paper_like"].items()), ""]
  return L
