"""The representations: singular values, effective ranks (uncentred and centred), norms, logit scale, layer cushion."""

from __future__ import annotations

import jax
import numpy as np

from lowrank_jax import conv, robustness, spectra
from lowrank_jax.evaluators import Context

_call = conv.jit(lambda fn, x: fn(x))


def evaluate(ctx: Context) -> dict:
  feats = {}
  for i in range(0, len(ctx.x), ctx.bs):
    for k, v in jax.device_get(_call(ctx.model.features, ctx.x[i:i + ctx.bs])).items():
      feats.setdefault(k, []).append(v)
  feats = {k: np.concatenate(v) for k, v in feats.items()}
  logits = ctx.batched(lambda z: _call(ctx.model.logits, z), ctx.x).astype(np.float64)
  probs = np.exp(logits - logits.max(1, keepdims=True))
  probs /= probs.sum(1, keepdims=True)
  energy = float(ctx.model.config.rank_energy)
  out = {"energy": energy, "layers": {},
         "mean_max_logit": float(logits.max(1).mean()), "mean_max_softmax": float(probs.max(1).mean())}
  for k, v in feats.items():
    s, sc = spectra.singular_values(v), spectra.singular_values(v, centred=True)
    out["layers"][k] = {
        "dim": int(np.prod(v.shape[1:])),
        "effective_rank": spectra.energy_rank(s, energy), "effective_rank_centred": spectra.energy_rank(sc, energy),
        "mean_norm": float(np.linalg.norm(v.reshape(len(v), -1), axis=1).mean()),
        "singular_values": s.tolist(), "singular_values_centred": sc.tolist()}
  if "penultimate" in feats and ctx.model.setup.model.head:
    out["layer_cushion"] = {"layer": ctx.model.setup.model.head,
                            **robustness.layer_cushion(ctx.model.head_kernel.T, feats["penultimate"])}
  return out
