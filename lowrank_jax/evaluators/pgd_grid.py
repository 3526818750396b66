"""PGD over eps x steps, FGSM, the audit's attacks (2x steps, restarts, a large eps), Gaussian noise, transfer."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lowrank_jax import attacks, conv
from lowrank_jax.evaluators import Context

_pgd = conv.jit(attacks.pgd, static_argnames=attacks.PGD_STATIC)
_fgsm = conv.jit(attacks.fgsm, static_argnames=("norm", "loss", "targeted"))


@conv.jit
def _gaussian(key, x, eps):
  """N(0, eps^2) noise projected to the Linf eps-ball and to [0, 1]."""
  return jnp.clip(x + jnp.clip(eps * jax.random.normal(key, x.shape), -eps, eps), 0.0, 1.0)


def run_pgd(ctx: Context, logits_fn, name: str, *, eps, steps: int, restarts: int = 1, loss=None,
            first: int | None = None, **kw) -> np.ndarray:
  """Adversarial inputs of PGD on ctx.x (or its `first` examples; per-example keys); `name` seeds it."""
  key, loss = ctx.subkey(name), loss or ctx.ec.loss
  fn = lambda x, y, i: _pgd(logits_fn, x, y, key, eps=eps, steps=steps, norm=ctx.ec.norm, restarts=restarts,
                            loss=loss, indices=i, **kw)
  n = len(ctx.x) if first is None else first
  return ctx.batched(fn, ctx.x[:n], ctx.y[:n], ctx.indices[:n])


def paper_like(ctx: Context, eps: float, steps: int) -> np.ndarray:
  """PGD as the paper likely ran it: eps in the normalised input space (pixel eps = eps * std per channel),
  a fixed step of eps / 4, no random start; returns per-example correctness."""
  pixel_eps = eps * np.asarray(ctx.model.std, np.float32)
  adv = run_pgd(ctx, ctx.model.logits, f"paper-{steps}@{eps:g}", eps=pixel_eps, steps=int(steps),
                step_size=pixel_eps / 4, random_start=False)
  return ctx.correct(adv)


def evaluate(ctx: Context) -> dict:
  ec = ctx.ec
  eps_list, steps_list = [float(e) for e in ec.eps], [int(s) for s in ec.steps]
  max_steps, audit_eps = max(steps_list), float(ec.audit_eps)
  out = {"pgd": {}, "fgsm": {}}
  for e in eps_list:
    for s in steps_list:
      adv = run_pgd(ctx, ctx.model.logits, f"pgd-{s}@{e:g}", eps=e, steps=s)
      out["pgd"].setdefault(f"{e:g}", {})[str(s)] = ctx.worst.record(e, f"pgd-{s}", ctx.correct(adv))
      if e == audit_eps and s == max_steps:
        ctx.artifacts["pgd_white_box"] = adv
    adv = ctx.batched(lambda x, y: _fgsm(ctx.model.logits, x, y, eps=e, norm=ec.norm, loss=ec.loss), ctx.x, ctx.y)
    out["fgsm"][f"{e:g}"] = ctx.worst.record(e, "fgsm", ctx.correct(adv))
    ctx.log(f"pgd grid eps {e:g}: " + ", ".join(f"PGD-{s} {a:.3f}" for s, a in out["pgd"][f"{e:g}"].items()))
  for name, e, s, r in (("pgd_2x", audit_eps, 2 * max_steps, 1), ("pgd_restarts", audit_eps, max_steps,
                                                                   int(ec.audit_restarts)),
                        ("pgd_chance", float(ec.chance_eps), max_steps, 1)):
    adv = run_pgd(ctx, ctx.model.logits, name, eps=e, steps=s, restarts=r)
    label = f"pgd-{s}" + (f"x{r}" if r > 1 else "")
    out[name] = {"eps": e, "steps": s, "restarts": r, "accuracy": ctx.worst.record(e, label, ctx.correct(adv))}
  adv = np.asarray(_gaussian(ctx.subkey("gaussian"), ctx.x, audit_eps))
  out["gaussian"] = {"eps": audit_eps, "accuracy": ctx.worst.record(audit_eps, "gaussian", ctx.correct(adv))}
  if ctx.source is not None:
    out["transfer"] = {"from": ctx.source.name}
    for e in eps_list:
      adv = run_pgd(ctx, ctx.source.logits, f"transfer@{e:g}", eps=e, steps=max_steps, keep="loss")
      out["transfer"][f"{e:g}"] = ctx.worst.record(e, "transfer", ctx.correct(adv))
      if e == audit_eps:
        ctx.artifacts["pgd_transfer"] = adv
  if ec.paper_like_grid:  # a smaller budget in pixels: reported apart, not in the worst case
    out["paper_like"] = {f"{e:g}": {str(s): float(paper_like(ctx, e, s).mean()) for s in ec.paper_steps}
                         for e in eps_list}
  return out
