"""PGD over eps x steps, FGSM, the audit's attacks (2x steps, restarts, a large eps), Gaussian noise, transfer;
and the gradient-masking checks they decide (`robustness.gradient_masking_audit`).

Outputs for other evaluators: "transfer_adv", the transfer attack's inputs at config.eval.audit_eps.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lowrank_jax import attacks, conv, robustness
from lowrank_jax.evaluators.base import Attacked, Inputs, Result, eps_key, paper_like, run_pgd

_fgsm = conv.jit(attacks.fgsm, static_argnames=("norm", "loss", "targeted"))


@conv.jit
def _gaussian(key, x, eps):
  """N(0, eps^2) noise projected to the Linf eps-ball and to [0, 1]."""
  return jnp.clip(x + jnp.clip(eps * jax.random.normal(key, x.shape), -eps, eps), 0.0, 1.0)


def evaluate(inputs: Inputs, needed: dict) -> Result:
  del needed
  ec, logits = inputs.ec, inputs.model.logits
  eps_list, steps_list = [float(e) for e in ec.eps], [int(s) for s in ec.steps]
  max_steps, audit_eps = max(steps_list), float(ec.audit_eps)
  out, attacked, outputs = {"pgd": {}, "fgsm": {}}, [], {}

  def attack(eps: float, name: str, x_adv: np.ndarray) -> float:
    attacked.append(Attacked(eps, name, inputs.correct(x_adv)))
    return attacked[-1].accuracy

  for e in eps_list:
    for s in steps_list:
      out["pgd"].setdefault(eps_key(e), {})[str(s)] = attack(
          e, f"pgd-{s}", run_pgd(inputs, logits, f"pgd-{s}@{eps_key(e)}", eps=e, steps=s))
    adv = inputs.batched(lambda x, y: _fgsm(logits, x, y, eps=e, norm=ec.norm, loss=ec.loss), inputs.x, inputs.y)
    out["fgsm"][eps_key(e)] = attack(e, "fgsm", adv)
    inputs.log(f"pgd grid eps {e:g}: " + ", ".join(f"PGD-{s} {a:.3f}" for s, a in out["pgd"][eps_key(e)].items()))
  for name, e, s, r in (("pgd_2x", audit_eps, 2 * max_steps, 1),
                        ("pgd_restarts", audit_eps, max_steps, int(ec.audit_restarts)),
                        ("pgd_chance", float(ec.chance_eps), max_steps, 1)):
    label = f"pgd-{s}" + (f"x{r}" if r > 1 else "")
    acc = attack(e, label, run_pgd(inputs, logits, name, eps=e, steps=s, restarts=r))
    out[name] = {"eps": e, "steps": s, "restarts": r, "accuracy": acc}
  adv = np.asarray(_gaussian(inputs.subkey("gaussian"), inputs.x, audit_eps))
  out["gaussian"] = {"eps": audit_eps, "accuracy": attack(audit_eps, "gaussian", adv)}
  if inputs.source is not None:
    out["transfer"] = {"from": inputs.source.name}
    for e in eps_list:
      adv = run_pgd(inputs, inputs.source.logits, f"transfer@{eps_key(e)}", eps=e, steps=max_steps, keep="loss")
      out["transfer"][eps_key(e)] = attack(e, "transfer", adv)
      if e == audit_eps:
        outputs["transfer_adv"] = adv
  if ec.paper_like_grid:  # a smaller budget in pixels: reported apart, not in the worst case
    out["paper_like"] = {eps_key(e): {str(s): float(paper_like(inputs, e, s).mean()) for s in ec.paper_steps}
                         for e in eps_list}
  return Result(out, tuple(attacked), tuple(_checks(out, ec, inputs.model.num_classes)), outputs)


def _checks(out: dict, ec, num_classes: int) -> list[dict]:
  """The gradient-masking audit of these attacks: monotone in eps, more steps and restarts not weaker, chance
  at a large eps, transfer and noise not stronger than white-box PGD."""
  grid = {float(e): {int(s): a for s, a in d.items()} for e, d in out["pgd"].items()}
  audit_eps, max_steps = float(eps_key(ec.audit_eps)), max(int(s) for s in ec.steps)
  white = grid[audit_eps][max_steps]
  weaker = {"Gaussian noise": (out["gaussian"]["accuracy"], white)}
  if "transfer" in out:
    weaker[f"transfer from {out['transfer']['from']}"] = (out["transfer"][eps_key(audit_eps)], white)
  return robustness.gradient_masking_audit(
      grid, more_steps=(audit_eps, out["pgd_2x"]["steps"], out["pgd_2x"]["accuracy"]),
      restarts=(audit_eps, out["pgd_restarts"]["restarts"], out["pgd_restarts"]["accuracy"]),
      chance=(float(eps_key(ec.chance_eps)), out["pgd_chance"]["accuracy"], 1.0 / num_classes), weaker=weaker,
      tolerance=float(ec.tolerance))
