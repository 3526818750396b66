"""Evaluates a trained run: attacks, the paper's measures, the gradient-masking audit.

    evaluate(model, eval_config, x, y, source=None) -> results (JSON-able dict)
    evaluate_workdir(workdir, eval_config, transfer_from=None) -> results, and writes
        WORKDIR/eval/eval.json, report.md and PNG plots

Every attack runs through one batched, jitted call (`_attack_accuracy`);
robust accuracy per eps is the per-example worst case over every attack run
at that eps (PGD of every step count, FGSM, restarts, 2x steps, transfer,
Gaussian noise).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import tqdm

from lowrank_jax import attacks, config as config_lib, data as data_lib, metrics, robustness
from lowrank_jax.loading import LoadedModel, load_model

_pgd = jax.jit(attacks.pgd, static_argnames=attacks.PGD_STATIC)
_fgsm = jax.jit(attacks.fgsm, static_argnames=("norm", "loss", "targeted"))
_predict = jax.jit(lambda f, x: jnp.argmax(f(x), -1))
_pixels = jax.jit(robustness.perturb_random_pixels)
_call = jax.jit(lambda fn, x: fn(x))  # fn: a Partial (params are arguments, not constants)


@jax.jit
def _gaussian(key, x, eps):
  """N(0, eps^2) noise projected to the Linf eps-ball and to [0, 1]."""
  return jnp.clip(x + jnp.clip(eps * jax.random.normal(key, x.shape), -eps, eps), 0.0, 1.0)


def _batched(fn: Callable, x: np.ndarray, *rest: np.ndarray, batch_size: int) -> np.ndarray:
  outs = [np.asarray(fn(x[i:i + batch_size], *(r[i:i + batch_size] for r in rest)))
          for i in range(0, len(x), batch_size)]
  return np.concatenate(outs)


def evaluate(model: LoadedModel, ec, x: np.ndarray, y: np.ndarray, source: LoadedModel | None = None,
             progress: bool = True) -> dict:
  """All measures on (x, y): x float32 in [0, 1] (n, H, W, C), y int (n,)."""
  bs, key, norm = ec.batch_size, jax.random.PRNGKey(ec.seed), ec.norm
  f = model.logits
  predict = lambda z: _batched(functools.partial(_predict, f), z, batch_size=bs)
  correct = lambda z: predict(z) == y
  eps_list, steps_list = [float(e) for e in ec.eps], [int(s) for s in ec.steps]
  max_steps = max(steps_list)
  audit_eps = float(ec.audit_eps)
  tasks = ([("pgd", e, s) for e in eps_list for s in steps_list] + [("fgsm", e, 1) for e in eps_list]
           + [("pgd_2x", audit_eps, 2 * max_steps), ("pgd_restarts", audit_eps, max_steps),
              ("pgd_chance", float(ec.chance_eps), max_steps), ("gaussian", audit_eps, 0)]
           + ([("transfer", e, max_steps) for e in eps_list] if source is not None else [])
           + [("deepfool", 0, 0), ("pixels", 0, 0), ("stability", 0, 0)])
  bar = tqdm.tqdm(tasks, desc="eval", unit="attack", disable=not progress, file=sys.stderr)
  per_eps: dict[float, np.ndarray] = {}  # per-example worst case
  attacks_at: dict[float, list[str]] = {}
  out: dict = {"num_examples": int(len(x)), "clean_accuracy": float(correct(x).mean()), "pgd": {}, "fgsm": {},
               "transfer": {}, "config": ec.to_dict(), "step": model.step}
  adv_keep: dict[str, np.ndarray] = {}

  def record(eps: float, name: str, ok: np.ndarray) -> float:
    per_eps[eps] = per_eps.get(eps, np.ones(len(x), bool)) & ok
    attacks_at.setdefault(eps, []).append(name)
    return float(ok.mean())

  for i, (kind, eps, steps) in enumerate(bar):
    bar.set_postfix_str(f"{kind} eps={eps:g} steps={steps}")
    k = jax.random.fold_in(key, i)
    if kind in ("pgd", "pgd_2x", "pgd_restarts", "pgd_chance"):
      restarts = int(ec.audit_restarts) if kind == "pgd_restarts" else 1
      attack = lambda z, t, e=eps, s=steps, r=restarts: _pgd(f, z, t, k, eps=e, steps=s, norm=norm,
                                                             restarts=r, loss=ec.loss)
      adv = _batched(attack, x, y, batch_size=bs)
      acc = record(eps, f"{kind}-{steps}" + (f"x{restarts}" if restarts > 1 else ""), correct(adv))
      if kind == "pgd":
        out["pgd"].setdefault(f"{eps:g}", {})[str(steps)] = acc
        if eps == audit_eps and steps == max_steps:
          adv_keep["white_box"] = adv
      else:
        out[kind] = {"eps": eps, "steps": steps, "restarts": restarts, "accuracy": acc}
    elif kind == "fgsm":
      adv = _batched(lambda z, t, e=eps: _fgsm(f, z, t, eps=e, norm=norm, loss=ec.loss), x, y, batch_size=bs)
      out["fgsm"][f"{eps:g}"] = record(eps, "fgsm", correct(adv))
    elif kind == "gaussian":
      adv = np.asarray(_gaussian(k, x, eps))
      out["gaussian"] = {"eps": eps, "accuracy": record(eps, "gaussian", correct(adv))}
    elif kind == "transfer":
      attack = lambda z, t, e=eps: _pgd(source.logits, z, t, k, eps=e, steps=max_steps, norm=norm, loss=ec.loss)
      adv = _batched(attack, x, y, batch_size=bs)
      out["transfer"][f"{eps:g}"] = record(eps, "transfer", correct(adv))
      if eps == audit_eps:
        adv_keep["black_box"] = adv
    elif kind == "deepfool":
      n = min(int(ec.deepfool_examples), len(x))
      res = attacks.deepfool(f, x[:n], num_candidates=int(ec.deepfool_candidates),
                             overshoot=float(ec.deepfool_overshoot), max_iter=int(ec.deepfool_max_iter))
      out["deepfool"] = {**robustness.deepfool_summary(res.norms, x[:n], res.success), "examples": n,
                         "mean_iterations": float(res.iterations.mean()), "norms": res.norms.tolist(),
                         "rho": (res.norms / np.linalg.norm(x[:n].reshape(n, -1), axis=1)).tolist()}
    elif kind == "pixels":
      out["random_pixels"] = {"sigma": float(ec.pixel_sigma), "accuracy": {
          f"{p:g}": float(correct(np.asarray(_pixels(jax.random.fold_in(k, j), x, p, float(ec.pixel_sigma)))).mean())
          for j, p in enumerate(ec.pixel_probs)}}
    elif kind == "stability":
      feats_fn = lambda z: jax.device_get(_call(model.features, z))
      out["noise_stability"] = {}
      for box, adv in adv_keep.items():
        st = robustness.noise_stability(feats_fn, x, adv)
        out["noise_stability"][box] = {layer: {kk: vv.tolist() for kk, vv in d.items()} for layer, d in st.items()}
  bar.close()

  grid = {float(e): {int(s): a for s, a in d.items()} for e, d in out["pgd"].items()}
  white = grid[audit_eps][max_steps] if audit_eps in grid else out["pgd_restarts"]["accuracy"]
  weaker = {"Gaussian noise": (out["gaussian"]["accuracy"], white)}
  if source is not None and f"{audit_eps:g}" in out["transfer"]:
    weaker["transfer from " + os.path.basename(os.path.normpath(source.workdir))] = (
        out["transfer"][f"{audit_eps:g}"], white)
  if audit_eps in grid:
    out["audit"] = robustness.gradient_masking_audit(
        grid, more_steps=(audit_eps, 2 * max_steps, out["pgd_2x"]["accuracy"]),
        restarts=(audit_eps, int(ec.audit_restarts), out["pgd_restarts"]["accuracy"]),
        chance=(float(ec.chance_eps), out["pgd_chance"]["accuracy"], 1.0 / model.num_classes),
        weaker=weaker, tolerance=float(ec.tolerance))
  out["robust_accuracy"] = {f"{e:g}": {"accuracy": float(ok.mean()), "attacks": attacks_at[e]}
                            for e, ok in sorted(per_eps.items())}

  feats = jax.device_get(_call(model.features, x))
  out["spectra"] = {k: (metrics.singular_values(v) / max(metrics.singular_values(v)[0], 1e-12)).tolist()
                    for k, v in feats.items()}
  out["effective_rank"] = {k: metrics.effective_rank(v, model.config.rank_energy) for k, v in feats.items()}
  if "penultimate" in feats:
    kernel = np.asarray(model.state["params"]["model"][model.setup.model.head]["kernel"])
    out["layer_cushion"] = {"layer": model.setup.model.head,
                            **robustness.layer_cushion(kernel.T, feats["penultimate"])}
  return out


def evaluate_workdir(workdir: str, ec, transfer_from: str | None = None, progress: bool = True) -> dict:
  """Loads workdir (and transfer_from), evaluates, writes WORKDIR/eval/{eval.json, report.md, *.png}."""
  from lowrank_jax import report  # pylint: disable=g-import-not-at-top (matplotlib is slow to import)

  config_lib.validate_eval_config(ec)
  model = load_model(workdir)
  source = load_model(transfer_from) if transfer_from else None
  ds = data_lib.load_dataset(model.config.dataset)
  tx, ty = ds.splits["test"]
  n = min(int(ec.num_examples), len(tx))
  x = tx[:n].astype(np.float32) / 255.0
  results = evaluate(model, ec, x, ty[:n].astype(np.int32), source=source, progress=progress)
  results["workdir"], results["transfer_from"] = os.path.abspath(workdir), transfer_from
  out_dir = os.path.join(workdir, "eval")
  os.makedirs(out_dir, exist_ok=True)
  tmp = os.path.join(out_dir, "eval.json.tmp")
  with open(tmp, "w") as f:
    json.dump(results, f)
  os.replace(tmp, os.path.join(out_dir, "eval.json"))
  report.write_report(results, out_dir, compare=_load_other(transfer_from))
  return results


def _load_other(workdir: str | None) -> dict | None:
  """The other run's eval.json, if it was evaluated already (for side-by-side plots)."""
  if not workdir:
    return None
  path = os.path.join(workdir, "eval", "eval.json")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)
