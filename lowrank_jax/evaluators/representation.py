"""The representations: singular values, effective ranks (uncentred and centred), norms, logit scale, layer cushion."""

from __future__ import annotations

import numpy as np

from lowrank_jax import batching, markdown, robustness, spectra
from lowrank_jax.evaluators.base import Inputs, Report, Result, section


def config():
  """config.eval.representation (its energy is the run's config.rank_energy)."""
  return section()


def evaluate(inputs: Inputs, needed: dict) -> Result:
  """Runs the representation measures on inputs (see the module docstring); its eval.json entry, attacks and checks."""
  del needed
  model = inputs.model
  feats = batching.outputs(model.features, inputs.x, inputs.batch_size, inputs.mesh)
  logits = batching.outputs(model.logits, inputs.x, inputs.batch_size, inputs.mesh).astype(np.float64)
  probs = np.exp(logits - logits.max(1, keepdims=True))
  probs /= probs.sum(1, keepdims=True)
  energy = float(model.config.rank_energy)
  out = {"energy": energy, "layers": {},
         "mean_max_logit": float(logits.max(1).mean()), "mean_max_softmax": float(probs.max(1).mean())}
  for k, v in feats.items():
    s, sc = spectra.singular_values(v), spectra.singular_values(v, centred=True)
    out["layers"][k] = {
        "dim": int(np.prod(v.shape[1:])),
        "effective_rank": spectra.energy_rank(s, energy), "effective_rank_centred": spectra.energy_rank(sc, energy),
        "mean_norm": float(np.linalg.norm(v.reshape(len(v), -1), axis=1).mean()),
        "singular_values": s.tolist(), "singular_values_centred": sc.tolist()}
  if "penultimate" in feats and model.network.head:
    out["layer_cushion"] = {"layer": model.network.head,
                            **robustness.layer_cushion(model.head_kernel.T, feats["penultimate"])}
  return Result(out)


def _plot(rep: Report, path: str) -> None:
  fig, ax = markdown.subplots(figsize=(5.5, 4))
  for name, r, ls in rep.having("representation"):
    for layer, d in r["representation"]["layers"].items():
      s = np.asarray(d["singular_values"])
      ax.semilogy(np.arange(1, len(s) + 1), np.maximum(s / max(s[0], 1e-12), 1e-8), ls,
                  label=f"{name} {layer} (eff. rank {d['effective_rank']}, centred {d['effective_rank_centred']})")
  ax.set(xlabel="index", ylabel="singular value / largest", title="Spectrum of the representations", ylim=(1e-6, 1.5))
  ax.legend(fontsize=7)
  markdown.save(fig, path)


def report(rep: Report) -> list[str]:
  """## Representations: effective ranks, norms, logit scale, layer cushion; spectrum.png."""
  _plot(rep, rep.path("spectrum.png"))
  r = rep.results["representation"]
  L = ["## Representations", "",
       f"Mean max logit {r['mean_max_logit']:.3f}; mean max softmax probability {r['mean_max_softmax']:.4f}.", ""]
  L += markdown.table(["layer", "m", f"effective rank ({r['energy']:.0%} energy)", "centred", "mean ||a||"],
                      [[k, v["dim"], v["effective_rank"], v["effective_rank_centred"], f"{v['mean_norm']:.4g}"]
                       for k, v in r["layers"].items()])
  if "layer_cushion" in r:
    lc = r["layer_cushion"]
    L += ["", f"Layer cushion of `{lc['layer']}` (Arora et al. 2018): min {lc['cushion']:.4f}, "
          f"median {lc['median']:.4f}, mean {lc['mean']:.4f}"]
  return L + ["", "![spectrum](spectrum.png)", ""]
