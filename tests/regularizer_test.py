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

  def test_penalty_known_answer(self):
    """Activations in span(Q) with unit norm cost 0; doubling them costs norm_weight * 1 per layer; an
    orthogonal component of norm c costs projection_weight * c^2 (hand-computed, per layer and summed)."""
    rng = np.random.default_rng(4)
    m, r, n = 9, 3, 6
    Q, _ = np.linalg.qr(rng.normal(size=(m, m)))
    inside = rng.normal(size=(n, r)) @ Q[:, :r].T
    inside /= np.linalg.norm(inside, axis=1, keepdims=True)  # unit rows in span(Q_r)
    params = {"a": {"W": jnp.asarray(Q[:, :r] @ Q[:, :r].T, jnp.float32), "b": jnp.zeros(m)},
              "b": {"U": jnp.asarray(Q[:, :r], jnp.float32), "V": jnp.asarray(Q[:, :r], jnp.float32),
                    "b": jnp.zeros(m)}}
    pen = lambda feats, **kw: float(regularizer.lowrank_penalty(
        {k: jnp.asarray(v, jnp.float32) for k, v in feats.items()}, params, projection_weight=0.3,
        norm_weight=2.0, **kw)[0])
    self.assertAlmostEqual(pen({"a": inside, "b": inside}), 0.0, places=5)
    self.assertAlmostEqual(pen({"a": 2 * inside, "b": inside}), 2.0 * 1.0, places=4)
    c = 0.5
    out = inside * np.sqrt(1 - c**2) + c * Q[:, r]  # unit norm, c along a direction outside span(Q_r)
    self.assertAlmostEqual(pen({"a": out, "b": inside}), 0.3 * c**2, places=5)
    self.assertAlmostEqual(pen({"a": out, "b": out}), 2 * 0.3 * c**2, places=5)
    self.assertAlmostEqual(pen({"a": 2 * out, "b": inside}, scale_free=True), 0.3 * c**2 + 2.0, places=4)
    self.assertAlmostEqual(pen({"a": 3 * inside, "b": 3 * inside}, norm_target=3.0), 0.0, places=4)

  def test_factored_loss_equals_dense_with_w_u_vt(self):
    rng = np.random.default_rng(5)
    A, U, V, b = (rng.normal(size=s).astype(np.float32) for s in ((7, 2, 5), (10, 3), (10, 3), (10,)))
    got = regularizer.factored_projection_loss(A, U, V, b)
    np.testing.assert_allclose(got, _np_projection_loss(A, U.astype(np.float64) @ V.T, b), rtol=1e-5)

  def test_norm_loss_target_and_unit_rows(self):
    A = np.array([[3.0, 4.0], [0.0, 0.5]], np.float32)  # norms 5, 0.5
    np.testing.assert_allclose(regularizer.norm_loss(A, target=2.0), (3 + 1.5) / 2, rtol=1e-6)
    np.testing.assert_allclose(regularizer.unit_rows(A), [[0.6, 0.8], [0.0, 1.0]], rtol=1e-6)

  def test_offrank_distance(self):
    W = np.diag([3.0, 4.0, 0.0]).astype(np.float32)
    Wr = np.diag([0.0, 4.0, 0.0]).astype(np.float32)
    self.assertAlmostEqual(float(regularizer.offrank_distance(W, Wr)), 3 / 5, places=6)

  def test_factored_init_is_the_same_projection(self):
    dense = regularizer.init_lowrank_params(jax.random.PRNGKey(2), {"x": 12}, {"x": 4})["x"]
    fac = regularizer.init_lowrank_params(jax.random.PRNGKey(2), {"x": 12}, {"x": 4}, "factored")["x"]
    np.testing.assert_allclose(fac["U"] @ fac["V"].T, dense["W"], atol=1e-6)
    self.assertEqual(fac["U"].shape, (12, 4))

  def test_init_is_a_rank_r_orthogonal_projection(self):
    p = regularizer.init_lowrank_params(jax.random.PRNGKey(1), {"x": 12}, {"x": 4})["x"]
    W = np.asarray(p["W"], np.float64)
    self.assertEqual(np.linalg.matrix_rank(W, tol=1e-5), 4)
    np.testing.assert_allclose(W @ W, W, atol=1e-5)
    np.testing.assert_allclose(W, W.T, atol=1e-6)
    np.testing.assert_array_equal(p["b"], np.zeros(12))


if __name__ == "__main__":
  absltest.main()
