"""The LR penalties against hand-computed numpy, and their gradients against closed forms."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized

from lowrank_jax import regularizer


def _np_projection_loss(A, W, b):
  A = A.reshape(len(A), -1).astype(np.float64)
  return np.mean([np.sum((W.T @ (a + b) - (a + b)) ** 2) for a in A])


def _np_norm_loss(A):
  A = A.reshape(len(A), -1).astype(np.float64)
  return np.mean([abs(1 - np.linalg.norm(a)) for a in A])


class RegularizerTest(chex.TestCase, parameterized.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(((7, 5),), ((4, 2, 3, 2),))
  def test_projection_loss_matches_per_example_sum(self, shape):
    rng = np.random.default_rng(0)
    A = rng.normal(size=shape).astype(np.float32)
    m = int(np.prod(shape[1:]))
    W, b = rng.normal(size=(m, m)).astype(np.float32), rng.normal(size=m).astype(np.float32)
    got = self.variant(regularizer.projection_loss)(A, W, b)
    np.testing.assert_allclose(got, _np_projection_loss(A, W, b), rtol=1e-5)

  @chex.variants(with_jit=True, without_jit=True)
  def test_norm_loss_matches_hand_computation(self):
    A = np.array([[3.0, 4.0], [0.0, 0.5], [0.6, 0.8]], np.float32)  # norms 5, 0.5, 1
    np.testing.assert_allclose(self.variant(regularizer.norm_loss)(A), (4 + 0.5 + 0) / 3, rtol=1e-6)
    rng = np.random.default_rng(1)
    B = rng.normal(size=(6, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(self.variant(regularizer.norm_loss)(B), _np_norm_loss(B), rtol=1e-5)

  def test_projection_loss_is_zero_in_the_subspace(self):
    rng = np.random.default_rng(2)
    Q, _ = np.linalg.qr(rng.normal(size=(8, 3)))
    W = (Q @ Q.T).astype(np.float32)
    b = rng.normal(size=8).astype(np.float32)
    A = (rng.normal(size=(10, 3)) @ Q.T - b).astype(np.float32)  # a_i + b in span(Q)
    self.assertLess(float(regularizer.projection_loss(A, W, b)), 1e-9)

  def test_gradients_match_closed_forms(self):
    rng = np.random.default_rng(3)
    n, m = 9, 6
    A = rng.normal(size=(n, m))
    W, b = rng.normal(size=(m, m)), rng.normal(size=m)
    V = A + b
    R = V @ W - V  # residuals as rows
    # d/dW (1/n sum ||V W - V||^2) = 2/n V^T R ; d/dA = 2/n R (W^T - I) ; d/db = column sums of d/dA
    gA, gW, gb = jax.grad(regularizer.projection_loss, argnums=(0, 1, 2))(
        *(jnp.asarray(z, jnp.float32) for z in (A, W, b)))
    dA = 2 / n * R @ (W.T - np.eye(m))
    np.testing.assert_allclose(gW, 2 / n * V.T @ R, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gA, dA, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gb, dA.sum(0), rtol=1e-4, atol=1e-4)
    gN = jax.grad(regularizer.norm_loss)(jnp.asarray(A, jnp.float32))
    norms = np.linalg.norm(A, axis=1, keepdims=True)
    np.testing.assert_allclose(gN, -np.sign(1 - norms) * A / norms / n, rtol=1e-4, atol=1e-6)

  def test_penalty_sums_weighted_layers(self):
    rng = np.random.default_rng(4)
    feats = {"a": rng.normal(size=(5, 4)).astype(np.float32), "b": rng.normal(size=(5, 2, 3)).astype(np.float32)}
    params = regularizer.init_lowrank_params(jax.random.PRNGKey(0), {"a": 4, "b": 6}, {"a": 2, "b": 3})
    total, metrics = regularizer.lowrank_penalty(feats, params, projection_weight=0.3, norm_weight=2.0)
    want = sum(0.3 * _np_projection_loss(feats[k], np.asarray(params[k]["W"]), np.asarray(params[k]["b"]))
               + 2.0 * _np_norm_loss(feats[k]) for k in feats)
    np.testing.assert_allclose(total, want, rtol=1e-5)
    self.assertEqual(set(metrics), {"a/projection_loss", "a/norm_loss", "b/projection_loss", "b/norm_loss"})

  def test_init_is_a_rank_r_orthogonal_projection(self):
    p = regularizer.init_lowrank_params(jax.random.PRNGKey(1), {"x": 12}, {"x": 4})["x"]
    W = np.asarray(p["W"], np.float64)
    self.assertEqual(np.linalg.matrix_rank(W, tol=1e-5), 4)
    np.testing.assert_allclose(W @ W, W, atol=1e-5)
    np.testing.assert_allclose(W, W.T, atol=1e-6)
    np.testing.assert_array_equal(p["b"], np.zeros(12))


if __name__ == "__main__":
  absltest.main()
