"""Compression of the representation at config.eval.compression.layer (Sec. 5 of the paper).

  representation  test accuracy of the unchanged network when the layer is replaced by its projection
                  on the top-k principal directions of the training features (rates m/k = 10 .. 400)
  linear_head     a linear classifier on the layer's features replacing everything after it:
                  accuracy, and parameters before (downstream of the layer) and after
  pca_2d          the test features on the top-2 principal directions (for the figure) and the
                  test accuracy of a linear classifier on those 2 coordinates

Uses the first config.eval.compression.train_examples training examples (PCA and the
linear head are fitted on them) and the evaluated test examples. Each accuracy comes with
"correct", per example (per_example.pack), for paired tests between models.
"""

from __future__ import annotations

import jax
import numpy as np

from lowrank_jax import batching, compression, data, markdown, per_example
from lowrank_jax.evaluators.base import Inputs, Report, Result, check, check_positive, section


def config():
  """config.eval.compression (off by default; needs the training split)."""
  return section(enabled=False, layer="penultimate", rates=(10, 25, 50, 100, 200, 400), train_examples=10000)


def validate(ec) -> None:
  """Checks config.eval.compression (one-line ConfigError naming the field)."""
  c = ec.compression
  check(len(c.rates) > 0 and all(r >= 1 for r in c.rates),
        f"config.eval.compression.rates={tuple(c.rates)} must be non-empty, >= 1")
  check_positive(c, "compression", "train_examples")


def features(inputs: Inputs, x: np.ndarray, layer: str) -> np.ndarray:
  """Activations of any layer of the network (not only the monitored ones), over batches."""
  m = inputs.model
  fn = jax.tree_util.Partial(compression.LayerFn(m.network, layer), m.params, m.batch_stats)
  return batching.outputs(fn, x, inputs.batch_size, inputs.mesh)


def _packed(d: dict) -> dict:
  """d with its per-example bool arrays (keys "correct", "*_correct") packed for JSON."""
  return {k: per_example.pack(v) if isinstance(v, np.ndarray) else _packed(v) if isinstance(v, dict) else v
          for k, v in d.items()}


def evaluate(inputs: Inputs, needed: dict) -> Result:
  """Runs the compression measures on inputs (see the module docstring); its eval.json entry, attacks and checks."""
  del needed
  c, model = inputs.ec.compression, inputs.model
  layer = c.layer
  train_x, train_y = inputs.train
  n = min(int(c.train_examples), len(train_x))
  train_x, train_y = data.to_unit(train_x[:n]), train_y[:n]
  ftr, fte = features(inputs, train_x, layer), features(inputs, inputs.x, layer)
  rep = compression.compress_representation(model, layer, ftr, inputs.x, inputs.y, tuple(c.rates))
  head = compression.linear_head(ftr, train_y, fte, inputs.y)
  head["parameters_replaced"] = compression.params_after(model, layer, inputs.x[:64])
  mean, V = compression.principal_directions(ftr, 2)
  flat = lambda f: f.reshape(len(f), -1).astype(np.float64)
  p2tr, p2te = (flat(ftr) - mean) @ V, (flat(fte) - mean) @ V
  pca = compression.linear_head(p2tr, train_y, p2te, inputs.y)
  inputs.log(f"compression of {layer}: " + ", ".join(f"{r}x {v['accuracy']:.3f}" for r, v in rep.items()
                                                     if isinstance(v, dict))
             + f"; linear head {head['accuracy']:.3f} ({head['parameters']} vs {head['parameters_replaced']} "
             f"parameters); 2-D PCA linear accuracy {pca['accuracy']:.3f}")
  return Result({"layer": layer, "train_examples": n, "representation": _packed(rep), "linear_head": _packed(head),
                 "pca_2d": {"linear_accuracy": pca["accuracy"], "correct": per_example.pack(pca["correct"]),
                            "points": np.round(p2te[:1000], 4).tolist(), "labels": inputs.y[:1000].tolist()}})


def report(rep: Report) -> list[str]:
  """## Compression: accuracy with the layer compressed, the linear head, the 2-D PCA."""
  c = rep.results["compression"]
  rates = {k: v for k, v in c["representation"].items() if isinstance(v, dict)}
  head, pca = c["linear_head"], c["pca_2d"]
  return (["## Compression of the representation", "",
           f"`{c['layer']}` projected on its top principal directions of {c['train_examples']} training examples "
           f"(rate m/k), the rest of the network unchanged:", ""]
          + markdown.table(["rate", "uncompressed"] + [f"{k}x" for k in rates],
                           [["accuracy", f"{c['representation']['uncompressed']:.4f}"]
                            + [f"{v['accuracy']:.4f}" for v in rates.values()]])
          + ["", f"A linear head on `{c['layer']}`: accuracy {head['accuracy']:.4f} with {head['parameters']} "
             f"parameters (replacing {head['parameters_replaced']}); a linear classifier on its 2-D PCA: "
             f"{pca['linear_accuracy']:.4f}.", ""])
