"""Compressing representations and models (Sec. 5 of the paper), as functions of a model and arrays.

    principal_directions(train_feats, k) -> (mean, V_k)      # PCA of a layer's features
    compress_representation(model, layer, train_feats, x, y, rates) -> {rate: accuracy, correct}
        the layer's activations replaced by their projection on the top-k principal
        directions (k = m / rate) and fed to the unchanged rest of the network
    params_after(model, layer, x) -> number of parameters downstream of the layer
    linear_head(train_feats, train_y, test_feats, test_y) -> accuracy, correct and parameter
        count of a linear classifier that replaces everything after the layer

"correct" is, per test example, whether the prediction is right (a bool array): two models
are then compared on the same examples with a paired test (lowrank_jax.per_example).

`model` is a `loading.LoadedModel` (its FunctionalModel must accept `intervene`,
as the models of lowrank_jax.models do).

References:
  Sanyal et al. arXiv:1804.07090, Sec. 5 ("compressing representations", "compressing models").
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lowrank_jax import batching, conv


def principal_directions(train_feats: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
  """(mean (m,), V (m, k)): the top-k eigenvectors of the features' covariance (float64)."""
  A = np.asarray(train_feats, np.float64).reshape(len(train_feats), -1)
  mean = A.mean(0)
  cov = (A - mean).T @ (A - mean) / max(len(A) - 1, 1)
  _, vecs = np.linalg.eigh(cov)  # ascending
  return mean, vecs[:, ::-1][:, :k]


def project(acts: jax.Array, mean: jax.Array, V: jax.Array) -> jax.Array:
  """mean + (a - mean) V V^T per example, in the activations' shape (a rank-k affine reconstruction)."""
  flat = acts.reshape(acts.shape[0], -1)
  return (mean + ((flat - mean) @ V) @ V.T).reshape(acts.shape).astype(acts.dtype)


@dataclasses.dataclass(frozen=True)
class LayerFn:
  """(params, batch_stats, x) -> the activations of `layer` (any sown layer). Compared by value: one
  compilation per network, layer and shape."""

  network: object  # models.FunctionalModel
  layer: str

  def __call__(self, params, stats, x):
    return self.network.apply(params, stats, x, train=False)[1][self.layer]


def _correct_with(model, layer: str, fn, x: np.ndarray, y: np.ndarray, batch: int = 500) -> np.ndarray:
  """Per test example, whether the network is right with `layer`'s activations replaced by fn(activations)."""
  net, params, stats = model.network, model.params, model.batch_stats
  predict = conv.jit(lambda p, s, z: jnp.argmax(net.apply(p, s, z, train=False, intervene={layer: fn})[0], -1))
  return np.asarray(batching.map_batches(lambda z: predict(params, stats, z), (x,), batch) == y)


def compress_representation(model, layer: str, train_feats: np.ndarray, x: np.ndarray, y: np.ndarray,
                            rates=(10, 25, 50, 100, 200, 400)) -> dict[str, Any]:
  """Test accuracy when `layer` is compressed `rate` times (k = max(1, round(m / rate)) principal directions):
  {"m", "uncompressed", "uncompressed_correct", "<rate>": {"k", "accuracy", "correct"}}, "correct" per example
  (bool arrays, for paired tests between models)."""
  m = int(np.prod(train_feats.shape[1:]))
  mean, V = principal_directions(train_feats, min(m, max(max(1, round(m / r)) for r in rates)))
  full = _correct_with(model, layer, lambda u: u, x, y)
  out = {"m": m, "uncompressed": float(full.mean()), "uncompressed_correct": full}
  for r in rates:
    k = max(1, round(m / r))
    mu, v = jnp.asarray(mean, jnp.float32), jnp.asarray(V[:, :k], jnp.float32)
    c = _correct_with(model, layer, lambda u: project(u, mu, v), x, y)
    out[f"{r}"] = {"k": k, "accuracy": float(c.mean()), "correct": c}
  return out


def params_after(model, layer: str, x: np.ndarray) -> int:
  """Parameters that influence the logits once `layer`'s activations are fixed (those after it)."""
  net, params, stats = model.network, model.params, model.batch_stats
  fixed = net.apply(params, stats, x, train=False)[1][layer]
  grads = jax.grad(lambda p: jnp.sum(net.apply(p, stats, x, train=False,
                                                 intervene={layer: lambda u: fixed})[0] ** 2))(params)
  return int(sum(np.size(g) for g in jax.tree.leaves(grads) if np.any(np.asarray(g) != 0)))


def linear_head(train_feats: np.ndarray, train_y: np.ndarray, test_feats: np.ndarray, test_y: np.ndarray, *,
                epochs: int = 20, batch: int = 256, learning_rate: float = 1e-3, seed: int = 0) -> dict:
  """Softmax regression on the flattened features (Adam): test accuracy, whether each test example is right
  ("correct") and the head's parameter count."""
  flat = lambda a: np.asarray(a, np.float32).reshape(len(a), -1)
  Xtr, Xte = flat(train_feats), flat(test_feats)
  scale = float(np.mean(np.linalg.norm(Xtr, axis=1))) or 1.0  # inputs of unit average norm
  Xtr, Xte = Xtr / scale, Xte / scale
  classes = int(max(train_y.max(), test_y.max()) + 1)
  params = {"w": jnp.zeros((Xtr.shape[1], classes)), "b": jnp.zeros(classes)}
  tx = optax.adam(learning_rate)
  opt = tx.init(params)

  @conv.jit
  def step(params, opt, xb, yb):
    loss = lambda p: optax.softmax_cross_entropy_with_integer_labels(xb @ p["w"] + p["b"], yb).mean()
    g = jax.grad(loss)(params)
    u, opt = tx.update(g, opt)
    return optax.apply_updates(params, u), opt

  rng = np.random.default_rng(seed)
  for _ in range(epochs):
    perm = rng.permutation(len(Xtr))
    for i in range(0, len(perm) - batch + 1, batch):
      idx = perm[i:i + batch]
      params, opt = step(params, opt, Xtr[idx], train_y[idx])
  right = np.argmax(Xte @ np.asarray(params["w"]) + np.asarray(params["b"]), -1) == test_y
  return {"accuracy": float(right.mean()), "correct": right, "parameters": int(Xtr.shape[1] * classes + classes),
          "inputs": int(Xtr.shape[1])}
