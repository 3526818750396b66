"""Compression of the representation at config.eval.compression_layer (Sec. 5 of the paper).

  representation  test accuracy of the unchanged network when the layer is replaced by its projection
                  on the top-k principal directions of the training features (rates m/k = 10 .. 400)
  linear_head     a linear classifier on the layer's features replacing everything after it:
                  accuracy, and parameters before (downstream of the layer) and after
  pca_2d          the test features on the top-2 principal directions (for the figure) and the
                  test accuracy of a linear classifier on those 2 coordinates

Uses the first config.eval.compression_train_examples training examples (PCA and the
linear head are fitted on them) and the evaluated test examples.
"""

from __future__ import annotations

import jax
import numpy as np

from lowrank_jax import compression, conv
from lowrank_jax.evaluators import Context

_apply = conv.jit(lambda fm, p, s, x: fm.apply(p, s, x, train=False)[1], static_argnums=0)


def features(ctx: Context, x: np.ndarray, layer: str) -> np.ndarray:
  m = ctx.model
  p, s = m.state["params"]["model"], m.state["batch_stats"]
  return np.concatenate([np.asarray(_apply(m.setup.model, p, s, x[i:i + ctx.bs])[layer])
                         for i in range(0, len(x), ctx.bs)])


def evaluate(ctx: Context) -> dict:
  ec, layer = ctx.ec, ctx.ec.compression_layer
  train_x, train_y = ctx.train
  n = min(int(ec.compression_train_examples), len(train_x))
  train_x, train_y = train_x[:n].astype(np.float32) / 255.0, train_y[:n]
  ftr, fte = features(ctx, train_x, layer), features(ctx, ctx.x, layer)
  rep = compression.compress_representation(ctx.model, layer, ftr, ctx.x, ctx.y, tuple(ec.compression_rates))
  head = compression.linear_head(ftr, train_y, fte, ctx.y)
  head["parameters_replaced"] = compression.params_after(ctx.model, layer, ctx.x[:64])
  mean, V = compression.principal_directions(ftr, 2)
  flat = lambda f: f.reshape(len(f), -1).astype(np.float64)
  p2tr, p2te = (flat(ftr) - mean) @ V, (flat(fte) - mean) @ V
  pca = compression.linear_head(p2tr, train_y, p2te, ctx.y)
  ctx.log(f"compression of {layer}: " + ", ".join(f"{r}x {v['accuracy']:.3f}" for r, v in rep.items()
                                                  if isinstance(v, dict))
          + f"; linear head {head['accuracy']:.3f} ({head['parameters']} vs {head['parameters_replaced']} "
          f"parameters); 2-D PCA linear accuracy {pca['accuracy']:.3f}")
  return {"layer": layer, "train_examples": n, "representation": rep, "linear_head": head,
          "pca_2d": {"linear_accuracy": pca["accuracy"], "points": np.round(p2te[:1000], 4).tolist(),
                     "labels": ctx.y[:1000].tolist()}}
