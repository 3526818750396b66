"""The robustness measures against hand-computed values."""

import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest

from lowrank_jax import robustness


class MeasuresTest(absltest.TestCase):

  def test_random_pixels_rate_and_locations(self):
    x = jnp.full((50, 20, 20, 3), 0.5)
    same = robustness.perturb_random_pixels(jax.random.PRNGKey(0), x, 0.0, 0.3)
    np.testing.assert_array_equal(same, x)
    out = np.asarray(robustness.perturb_random_pixels(jax.random.PRNGKey(1), x, 0.4, 0.3))
    changed = np.any(out != 0.5, axis=-1)  # per pixel location
    n = changed.size
    self.assertLess(abs(changed.mean() - 0.4), 4 * np.sqrt(0.4 * 0.6 / n))
    np.testing.assert_array_equal(np.all(out != 0.5, axis=-1), changed)  # channels move together
    self.assertTrue(np.all((out >= 0) & (out <= 1)))
    big = np.asarray(robustness.perturb_random_pixels(jax.random.PRNGKey(2), x, 1.0, 100.0))
    self.assertGreater(np.mean((big == 0) | (big == 1)), 0.99)  # clipped to the box

  def test_deepfool_summary_counts_failures_as_specified(self):
    x = np.array([[3.0, 4.0], [0.0, 1.0], [1.0, 0.0]])  # norms 5, 1, 1
    s = robustness.deepfool_summary(np.array([0.5, 0.2, 9.0]), x, np.array([True, True, False]))
    self.assertAlmostEqual(s["rho_adv"], (0.1 + 0.2 + 9.0) / 3)  # Eq. 15: every example, failures with their r
    self.assertAlmostEqual(s["rho_adv_median"], 0.2)
    self.assertAlmostEqual(s["rho_adv_fooled"], (0.1 + 0.2) / 2)
    self.assertAlmostEqual(s["rho_adv_fooled_median"], 0.15)
    self.assertAlmostEqual(s["success_rate"], 2 / 3)

  def test_stability_slope_and_common_gaussian(self):
    u = np.array([1e-3, 1e-2, 1e-1, np.nan])
    self.assertAlmostEqual(robustness.stability_slope(u, 7.0 * u), 7.0)
    self.assertAlmostEqual(robustness.stability_slope(np.array([1.0, 2.0]), np.array([1.0, 5.0])), 11 / 5)
    x = jax.random.uniform(jax.random.PRNGKey(0), (4, 5, 5, 2))
    q = jnp.array([1e-3, 1e-2, 1e-1, 0.5])
    d = robustness.gaussian_perturbation(jax.random.PRNGKey(1), x, q) - x
    ratio = np.sum(np.asarray(d).reshape(4, -1) ** 2, 1) / np.sum(np.asarray(x).reshape(4, -1) ** 2, 1)
    np.testing.assert_allclose(ratio, q, rtol=1e-4)
    again = robustness.gaussian_perturbation(jax.random.PRNGKey(1), x, q) - x
    np.testing.assert_array_equal(d, again)  # the same key: the same perturbation for every model

  def test_noise_stability_of_linear_maps(self):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(5, 4)).astype(np.float32)
    d = 0.1 * rng.normal(size=(5, 4)).astype(np.float32)
    out = robustness.noise_stability(lambda z: {"id": z, "twice": 2 * z}, x, x + d)
    want = np.sum(d.astype(np.float64) ** 2, 1) / np.sum(x.astype(np.float64) ** 2, 1)
    np.testing.assert_allclose(out["id"]["input_ratio"], want, rtol=1e-5)
    np.testing.assert_allclose(out["id"]["feature_ratio"], want, rtol=1e-4)
    np.testing.assert_allclose(out["twice"]["feature_ratio"], want, rtol=1e-4)  # scale-invariant

  def test_layer_cushion(self):
    h = 16
    phi = np.random.default_rng(1).normal(size=(7, h))
    c = robustness.layer_cushion(np.eye(h), phi)
    self.assertAlmostEqual(c["cushion"], 1 / np.sqrt(h))
    u = np.zeros(h)
    u[3] = 1
    c = robustness.layer_cushion(np.outer(u, u), np.stack([u, u + 0.0]))
    self.assertAlmostEqual(c["cushion"], 1.0)
    c = robustness.layer_cushion(np.outer(u, u), np.stack([u, np.roll(u, 1)]))  # one input in A's null space
    self.assertAlmostEqual(c["cushion"], 0.0)
    self.assertAlmostEqual(c["mean"], 0.5)

  def test_audit_flags(self):
    grid = {0.1: {7: 0.5, 20: 0.4}, 0.2: {7: 0.3, 20: 0.2}}
    ok = robustness.gradient_masking_audit(grid, more_steps=(0.1, 40, 0.39), restarts=(0.1, 5, 0.38),
                                           chance=(0.5, 0.0, 0.1), weaker={"transfer": (0.6, 0.4)}, tolerance=0.01)
    self.assertTrue(all(a["passed"] for a in ok), ok)
    bad_grid = {0.1: {7: 0.5, 20: 0.4}, 0.2: {7: 0.6, 20: 0.2}}
    bad = robustness.gradient_masking_audit(bad_grid, more_steps=(0.1, 40, 0.5), restarts=(0.1, 5, 0.45),
                                            chance=(0.5, 0.3, 0.1), weaker={"transfer": (0.2, 0.4)}, tolerance=0.01)
    failed = {a["check"] for a in bad if not a["passed"]}
    self.assertEqual(failed, {"accuracy non-increasing in eps (PGD-7)", "PGD-40 not weaker than PGD-20",
                              "PGD with 5 restarts not weaker than 1", "accuracy at most chance at eps 0.5",
                              "transfer not stronger than white-box PGD"})


if __name__ == "__main__":
  absltest.main()
