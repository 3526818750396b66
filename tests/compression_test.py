"""Compression: PCA against numpy's SVD, exact reconstruction at full rank, downstream parameter counts."""

import os
import sys

import jax.numpy as jnp
import numpy as np
from absl.testing import absltest

from lowrank_jax import compression, data, loading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shared import shared_run  # pylint: disable=g-import-not-at-top


class PcaTest(absltest.TestCase):

  def test_principal_directions_match_numpy_svd(self):
    rng = np.random.default_rng(0)
    A = rng.normal(size=(200, 3)) @ rng.normal(size=(3, 12)) + 0.01 * rng.normal(size=(200, 12)) + 5.0
    mean, V = compression.principal_directions(A, 3)
    _, _, Vt = np.linalg.svd(A - A.mean(0), full_matrices=False)
    np.testing.assert_allclose(np.abs(V.T @ Vt[:3].T), np.eye(3), atol=1e-6)
    np.testing.assert_allclose(mean, A.mean(0))
    rec = np.asarray(compression.project(jnp.asarray(A, jnp.float32), jnp.asarray(mean, jnp.float32),
                                         jnp.asarray(V, jnp.float32)))
    self.assertLess(np.abs(rec - A).max(), 0.1)  # rank-3 data + small noise

  def test_linear_head_separates_separable_data(self):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 600)
    X = np.eye(3)[y] * 3 + 0.3 * rng.normal(size=(600, 3))
    r = compression.linear_head(X[:500], y[:500], X[500:], y[500:], epochs=30, batch=32)
    self.assertGreater(r["accuracy"], 0.95)
    self.assertEqual(r["correct"].shape, (100,))
    self.assertEqual(r["correct"].mean(), r["accuracy"])
    self.assertEqual(r["parameters"], 3 * 3 + 3)


@absltest.skipUnless(os.path.isdir(data.FASHION_MNIST_DIR), "Fashion-MNIST missing (make test installs it)")
class ModelCompressionTest(absltest.TestCase):

  def test_counts_and_full_rank_reconstruction(self):
    m = loading.load_model(shared_run("lowrank"))
    x = data.load_dataset(m.config.dataset).splits["test"][0][:64].astype(np.float32) / 255
    self.assertEqual(compression.params_after(m, "penultimate", x), 128 * 10 + 10)  # fc2
    self.assertEqual(compression.params_after(m, "pool2", x), 3136 * 128 + 128 + 128 * 10 + 10)  # fc1 + fc2
    y = np.argmax(np.asarray(m.logits(x)), -1)
    feats = np.asarray(m.network.apply(m.params, m.batch_stats, x,
                                           train=False)[1]["penultimate"])
    out = compression.compress_representation(m, "penultimate", feats, x, y, rates=(1, 128))
    self.assertEqual(out["uncompressed"], 1.0)  # labels are the model's own predictions
    self.assertEqual(out["1"]["accuracy"], 1.0)  # k = m: the projection is the identity
    self.assertEqual(out["128"]["k"], 1)
    np.testing.assert_array_equal(out["uncompressed_correct"], np.ones(64, bool))
    # per example: right where the 1-direction projection still predicts the model's own label
    proj = compression.project(jnp.asarray(feats), *map(jnp.asarray, compression.principal_directions(feats, 1)))
    pred = np.argmax(np.asarray(proj).reshape(64, -1) @ m.head_kernel + np.asarray(m.params["fc2"]["bias"]), -1)
    np.testing.assert_array_equal(out["128"]["correct"], pred == y)
    self.assertEqual(out["128"]["accuracy"], out["128"]["correct"].mean())


if __name__ == "__main__":
  absltest.main()
