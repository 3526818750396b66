"""PGD over eps x steps, FGSM, the audit's attacks (2x steps, restarts, a large eps), Gaussian noise, transfer;
and the gradient-masking checks they decide (`robustness.gradient_masking_audit`).

Outputs for other evaluators: "transfer_adv", the transfer attack's inputs at config.eval.pgd_grid.audit_eps.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lowrank_jax import attacks, conv, markdown, robustness
from lowrank_jax.evaluators.base import (Attacked, Inputs, Report, Result, check, check_positive, eps_key, paper_like,
                                         run_pgd, section)

LOSSES = ("ce", "margin", "dlr")


def config():
  """config.eval.pgd_grid: PGD at every config.eval.eps x steps, and the audit's settings."""
  return section(
      steps=(7, 20),
      loss="ce",  # ce | margin | dlr
      audit_eps=0.1,  # where 2x steps, restarts, transfer and Gaussian noise are compared (one of config.eval.eps)
      audit_restarts=3,
      chance_eps=0.5,  # a budget at which PGD must reach chance
      tolerance=0.01,  # slack on accuracies in the audit
      paper_like=False,  # also the grid paper-like (eps in normalised space, fixed step eps/4, no random start)
      paper_steps=(7, 20))


def validate(ec) -> None:
  """Checks config.eval.pgd_grid (one-line ConfigError naming the field)."""
  g = ec.pgd_grid
  for field in ("steps", "paper_steps"):
    check(len(g[field]) > 0 and all(s >= 1 for s in g[field]),
          f"config.eval.pgd_grid.{field}={tuple(g[field])} must be non-empty, >= 1")
  check(g.loss in LOSSES, f"config.eval.pgd_grid.loss={g.loss!r} is not one of {', '.join(LOSSES)}")
  check(g.audit_eps in tuple(ec.eps), f"config.eval.pgd_grid.audit_eps={g.audit_eps} must be one of config.eval.eps")
  check_positive(g, "pgd_grid", "audit_restarts")
  check(g.chance_eps > 0, f"config.eval.pgd_grid.chance_eps={g.chance_eps} must be > 0")
  check(g.tolerance >= 0, f"config.eval.pgd_grid.tolerance={g.tolerance} must be >= 0")

_fgsm = conv.jit(attacks.fgsm, static_argnames=("norm", "loss", "targeted"))


@conv.jit
def _linf_gaussian_noise(key, x, eps):
  """N(0, eps^2) noise projected to the Linf eps-ball and to [0, 1]."""
  return jnp.clip(x + jnp.clip(eps * jax.random.normal(key, x.shape), -eps, eps), 0.0, 1.0)


def evaluate(inputs: Inputs, needed: dict) -> Result:
  """Runs the PGD grid and the audit attacks on inputs (see the module docstring); its eval.json entry, attacks and checks."""
  del needed
  ec, g, logits = inputs.ec, inputs.ec.pgd_grid, inputs.model.logits
  eps_list, steps_list = [float(e) for e in ec.eps], [int(s) for s in g.steps]
  max_steps, audit_eps = max(steps_list), float(g.audit_eps)
  out, attacked, outputs = {"pgd": {}, "fgsm": {}}, [], {}

  def attack(eps: float, name: str, x_adv: np.ndarray) -> float:
    attacked.append(Attacked(eps, name, inputs.correct(x_adv)))
    return attacked[-1].accuracy

  for e in eps_list:
    for s in steps_list:
      out["pgd"].setdefault(eps_key(e), {})[str(s)] = attack(
          e, f"pgd-{s}", run_pgd(inputs, logits, f"pgd-{s}@{eps_key(e)}", eps=e, steps=s, loss=g.loss))
    adv = inputs.batched(lambda x, y: _fgsm(logits, x, y, eps=e, norm=ec.norm, loss=g.loss), inputs.x, inputs.y)
    out["fgsm"][eps_key(e)] = attack(e, "fgsm", adv)
    inputs.log(f"pgd grid eps {e:g}: " + ", ".join(f"PGD-{s} {a:.3f}" for s, a in out["pgd"][eps_key(e)].items()))
  for name, e, s, r in (("pgd_2x", audit_eps, 2 * max_steps, 1),
                        ("pgd_restarts", audit_eps, max_steps, int(g.audit_restarts)),
                        ("pgd_chance", float(g.chance_eps), max_steps, 1)):
    label = f"pgd-{s}" + (f"x{r}" if r > 1 else "")
    acc = attack(e, label, run_pgd(inputs, logits, name, eps=e, steps=s, restarts=r, loss=g.loss))
    out[name] = {"eps": e, "steps": s, "restarts": r, "accuracy": acc}
  adv = np.asarray(_linf_gaussian_noise(inputs.subkey("gaussian"), inputs.x, audit_eps))
  out["gaussian"] = {"eps": audit_eps, "accuracy": attack(audit_eps, "gaussian", adv)}
  if inputs.source is not None:
    out["transfer"] = {"from": inputs.source.name}
    for e in eps_list:
      adv = run_pgd(inputs, inputs.source.logits, f"transfer@{eps_key(e)}", eps=e, steps=max_steps, keep="loss",
                    loss=g.loss)
      out["transfer"][eps_key(e)] = attack(e, "transfer", adv)
      if e == audit_eps:
        outputs["transfer_adv"] = adv
  if g.paper_like:  # a smaller budget in pixels: reported apart, not in the worst case
    out["paper_like"] = {eps_key(e): {str(s): float(paper_like(inputs, e, s, g.loss).mean()) for s in g.paper_steps}
                         for e in eps_list}
  return Result(out, tuple(attacked), tuple(_checks(out, g, inputs.model.num_classes)), outputs)


def _checks(out: dict, g, num_classes: int) -> list[dict]:
  """The gradient-masking audit of these attacks: monotone in eps, more steps and restarts not weaker, chance
  at a large eps, transfer and noise not stronger than white-box PGD."""
  grid = {float(e): {int(s): a for s, a in d.items()} for e, d in out["pgd"].items()}
  audit_eps, max_steps = float(eps_key(g.audit_eps)), max(int(s) for s in g.steps)
  white = grid[audit_eps][max_steps]
  weaker = {"Gaussian noise": (out["gaussian"]["accuracy"], white)}
  if "transfer" in out:
    weaker[f"transfer from {out['transfer']['from']}"] = (out["transfer"][eps_key(audit_eps)], white)
  return robustness.gradient_masking_audit(
      grid, more_steps=(audit_eps, out["pgd_2x"]["steps"], out["pgd_2x"]["accuracy"]),
      restarts=(audit_eps, out["pgd_restarts"]["restarts"], out["pgd_restarts"]["accuracy"]),
      chance=(float(eps_key(g.chance_eps)), out["pgd_chance"]["accuracy"], 1.0 / num_classes), weaker=weaker,
      tolerance=float(g.tolerance))


def _plot(rep: Report, path: str) -> None:
  fig, ax = markdown.subplots(figsize=(6, 4.2))
  for name, r, ls in rep.having("pgd_grid"):
    g = r["pgd_grid"]
    eps = markdown.eps_sorted(g["pgd"])
    for steps in sorted({int(s) for d in g["pgd"].values() for s in d}):
      ax.plot([0] + eps, [r["clean_accuracy"]] + [g["pgd"][eps_key(e)][str(steps)] for e in eps], ls, marker="o",
              ms=3, label=f"{name} PGD-{steps}")
    we = markdown.eps_sorted(r["robust_accuracy"])
    ax.plot([0] + we, [r["clean_accuracy"]] + [r["robust_accuracy"][eps_key(e)]["accuracy"] for e in we], ls, lw=2.5,
            alpha=0.5, label=f"{name} worst case (all attacks)")
    if "transfer" in g:
      te = markdown.eps_sorted(g["transfer"])
      ax.plot([0] + te, [r["clean_accuracy"]] + [g["transfer"][eps_key(e)] for e in te], ls, marker="x",
              label=f"{name} transfer from {g['transfer']['from']}")
  ax.set(xlabel=f"eps ({rep.results['config']['norm']}, pixels in [0, 1])", ylabel="accuracy", ylim=(0, 1),
         title="Robust accuracy")
  ax.legend(fontsize=6)
  markdown.save(fig, path)


def report(rep: Report) -> list[str]:
  """## Accuracy under attack: PGD x steps, FGSM, transfer, the audit attacks; robust_accuracy.png."""
  r = rep.results
  g, loss = r["pgd_grid"], r["config"].get("pgd_grid", {}).get("loss", r["config"].get("loss", "ce"))
  eps = markdown.eps_sorted(g["pgd"])
  steps = sorted({int(s) for d in g["pgd"].values() for s in d})
  f = lambda v: f"{v:.4f}"
  _plot(rep, rep.path("robust_accuracy.png"))
  compare = f" Dashed lines in plots: {rep.runs[1][0]}." if len(rep.runs) > 1 else ""
  rows = [[f"PGD-{s}"] + [f(g["pgd"][eps_key(e)][str(s)]) for e in eps] for s in steps]
  rows.append(["FGSM"] + [f(g["fgsm"][eps_key(e)]) for e in eps])
  if "transfer" in g:
    rows.append([f"transfer PGD-{max(steps)} from {g['transfer']['from']}"]
                + [f(g["transfer"].get(eps_key(e), float("nan"))) for e in eps])
  if "paper_like" in g:
    rows += [[f"paper-like PGD-{s} (eps in normalised space)"] + [f(g["paper_like"][eps_key(e)][str(s)]) for e in eps]
             for s in sorted({int(s) for d in g["paper_like"].values() for s in d})]
  a2, ar, ac, ga = g["pgd_2x"], g["pgd_restarts"], g["pgd_chance"], g["gaussian"]
  return (["## Accuracy under attack", "",
           f"{r['config']['norm']} attacks in pixel space [0, 1]; PGD loss {loss}, step 2.5 eps/steps, random start."
           + compare, ""]
          + markdown.table(["attack"] + [f"eps {e:g}" for e in eps], rows)
          + ["", f"Audit attacks: PGD-{a2['steps']} at eps {a2['eps']:g}: {a2['accuracy']:.4f}; PGD-{ar['steps']} "
             f"x{ar['restarts']} restarts: {ar['accuracy']:.4f}; PGD at eps {ac['eps']:g}: {ac['accuracy']:.4f}; "
             f"Gaussian noise (sigma = eps {ga['eps']:g}): {ga['accuracy']:.4f}.", "",
             "![robust accuracy](robust_accuracy.png)", ""])
