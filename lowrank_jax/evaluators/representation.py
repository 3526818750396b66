"""The representations: singular values, effective ranks (uncentred and centred), norms, logit scale, layer cushion."""

from __future__ import annotations

import numpy as np

from lowrank_jax import batching, robustness, spectra
from lowrank_jax.evaluators.base import Inputs, Result


def evaluate(inputs: Inputs, needed: dict) -> Result:
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
