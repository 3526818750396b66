"""Rank thresholding against numpy's SVD on matrices with known spectra."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized

from lowrank_jax import svd


def _matrix(m, spectrum, seed=0, n=None):
  rng = np.random.default_rng(seed)
  U, _ = np.linalg.qr(rng.normal(size=(n or m, len(spectrum))))
  V, _ = np.linalg.qr(rng.normal(size=(m, len(spectrum))))
  return ((U * spectrum) @ V.T).astype(np.float32)


def _optimal_error(W, r):
  s = np.linalg.svd(W.astype(np.float64), compute_uv=False)
  return np.sqrt(np.sum(s[r:] ** 2))


class NystromTest(chex.TestCase, parameterized.TestCase):

  def test_ensemble_beats_a_single_expert_on_a_full_rank_w(self):
    """Full rank, decaying spectrum, l * p < m: averaging experts lowers the error towards the optimum."""
    m, r, l = 200, 8, 12
    W = _matrix(m, 0.9 ** np.arange(m), seed=11)
    opt = _optimal_error(W, r)
    err = lambda p, k: np.linalg.norm(W - np.asarray(svd.rank_threshold(
        jnp.asarray(W), r, jax.random.PRNGKey(k), num_columns=l, num_experts=p)))
    single = np.mean([err(1, k) for k in range(8)])
    ensemble = np.mean([err(4, k) for k in range(8)])
    self.assertLess(ensemble, single)
    self.assertLess(ensemble, 1.05 * opt)
    self.assertGreater(single, 1.001 * opt)  # one expert of 12 columns is measurably suboptimal here

  def test_rank_of_the_output_never_exceeds_r(self):
    W = _matrix(150, 1.0 / (1 + np.arange(150)), seed=12)
    for key in range(3):
      out = np.asarray(svd.rank_threshold(jnp.asarray(W), 5, jax.random.PRNGKey(key), num_columns=7, num_experts=3))
      s = np.linalg.svd(out.astype(np.float64), compute_uv=False)
      self.assertLess(s[5] / s[0], 1e-5)

  @parameterized.parameters((128, 10, "exp"), (256, 16, "poly"), (300, 20, "exp"))
  def test_error_within_5_percent_of_optimal_at_defaults(self, m, r, decay):
    k = np.arange(m)
    spectrum = np.exp(-k / (r / 2)) if decay == "exp" else 1.0 / (1 + k)
    W = _matrix(m, spectrum, seed=m)
    opt = _optimal_error(W, r)
    for key in range(4):
      out = np.asarray(svd.rank_threshold(jnp.asarray(W), r, jax.random.PRNGKey(key)))
      self.assertLessEqual(np.linalg.norm(W - out), 1.05 * opt)
      self.assertLessEqual(np.linalg.matrix_rank(out.astype(np.float64), tol=1e-4 * spectrum[0]), r)

  def test_matches_the_literal_gram_matrix_ensemble(self):
    """Top-r subspace equals that of 1/p sum_j C_j M_j^+ C_j^T built in float64 with the same columns."""
    m, r, l, p = 60, 5, 12, 3
    W = _matrix(m, 0.7 ** np.arange(m), seed=5)
    key = jax.random.PRNGKey(7)
    idx = list(np.asarray(svd.sample_columns(key, m, l, p)))
    self.assertTrue(all(len(set(I.tolist())) == l for I in idx))  # without replacement
    K = W.astype(np.float64).T @ W.astype(np.float64)
    K_ens = sum(K[:, I] @ np.linalg.pinv(K[np.ix_(I, I)]) @ K[I, :] for I in idx) / p
    evals, evecs = np.linalg.eigh(K_ens)
    V = evecs[:, ::-1][:, :r]
    want = W @ V @ V.T
    _, _, Vt = svd.nystrom_svd(jnp.asarray(W), r, key, num_columns=l, num_experts=p)
    np.testing.assert_allclose(W @ np.asarray(Vt).T @ np.asarray(Vt), want, atol=1e-4)

  @chex.variants(with_jit=True, without_jit=True)
  def test_triplets_are_an_svd_and_deterministic(self):
    W = _matrix(64, 0.8 ** np.arange(40), seed=3, n=40)  # non-square (40 x 64)
    fn = self.variant(lambda w, k: svd.nystrom_svd(w, 6, k, num_columns=24, num_experts=2))
    U, S, Vt = fn(jnp.asarray(W), jax.random.PRNGKey(0))
    chex.assert_shape((U, S, Vt), ((40, 6), (6,), (6, 64)))
    np.testing.assert_allclose(U.T @ U, np.eye(6), atol=1e-5)
    np.testing.assert_allclose(Vt @ Vt.T, np.eye(6), atol=1e-5)
    self.assertTrue(np.all(np.diff(np.asarray(S)) <= 1e-6))
    np.testing.assert_allclose(S, np.linalg.svd(W, compute_uv=False)[:6], rtol=1e-3)
    U2, S2, Vt2 = fn(jnp.asarray(W), jax.random.PRNGKey(0))
    np.testing.assert_array_equal(S, S2)
    np.testing.assert_array_equal(Vt, Vt2)

  @parameterized.parameters("exact", "randomized")
  def test_other_algorithms(self, method):
    W = _matrix(100, 0.85 ** np.arange(100), seed=9)
    out = np.asarray(jax.jit(lambda w: svd.rank_threshold(w, 7, jax.random.PRNGKey(0), algorithm=method))(W))
    self.assertLessEqual(np.linalg.norm(W - out), 1.01 * _optimal_error(W, 7))

  def test_bad_arguments(self):
    W = jnp.ones((10, 10))
    with self.assertRaisesRegex(ValueError, "num_columns"):
      svd.nystrom_svd(W, 2, jax.random.PRNGKey(0), num_columns=11, num_experts=1)
    with self.assertRaisesRegex(ValueError, "algorithm"):
      svd.rank_threshold(W, 2, jax.random.PRNGKey(0), algorithm="qr")


if __name__ == "__main__":
  absltest.main()
