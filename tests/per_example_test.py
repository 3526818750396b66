"""lowrank_jax.per_example: packing, the monotone worst case, McNemar and the paired bootstrap against hand-computed
answers."""

import math

import numpy as np
from absl.testing import absltest

from lowrank_jax import per_example, robustness


class PerExampleTest(absltest.TestCase):

  def test_pack_round_trip(self):
    rng = np.random.default_rng(0)
    for n in (1, 7, 8, 9, 1000):
      c = rng.random(n) < 0.5
      text = per_example.pack(c)
      self.assertLen(text, 2 * math.ceil(n / 8))
      np.testing.assert_array_equal(per_example.unpack(text, n), c)

  def test_worst_is_monotone_and_keeps_the_unattacked_examples(self):
    kept = per_example.PerExample(np.array([1, 1, 1, 1, 0], bool), (
        (0.1, "pgd", np.array([0, 1, 1, 1, 0], bool)),
        (0.2, "aa", np.array([1, 0, 1], bool)),  # ran on the first 3 only
        (0.3, "pgd", np.array([1, 1, 1, 1, 0], bool))))
    np.testing.assert_array_equal(kept.worst(0.1), [0, 1, 1, 1, 0])
    np.testing.assert_array_equal(kept.worst(0.2), [0, 0, 1, 1, 0])
    np.testing.assert_array_equal(kept.worst(0.3), [0, 0, 1, 1, 0])  # what broke at 0.1 and 0.2 stays broken
    np.testing.assert_array_equal(kept.worst(0.3, examples=3), [0, 0, 1])
    np.testing.assert_array_equal(kept.worst(0.3, attacks=["pgd"]), [0, 1, 1, 1, 0])
    self.assertEqual((kept.coverage("aa"), kept.coverage("nope")), (3, 0))
    np.testing.assert_array_equal(kept.attack("aa", 0.2), [1, 0, 1])
    with self.assertRaisesRegex(KeyError, "no attack 'aa' at eps 0.3"):
      kept.attack("aa", 0.3)

  def test_eps_as_stored_in_json_matches_the_exact_fraction(self):
    """eval.json keeps 6 significant digits (8/255 -> 0.031373, just above 8/255): asking for 8/255 must still count
    the attacks run there, not fall back to clean accuracy."""
    stored = per_example.from_json(per_example.to_json(np.ones(4, bool), []))
    stored = per_example.PerExample(stored.clean, ((0.031373, "pgd-20", np.array([0, 1, 0, 1], bool)),))
    np.testing.assert_array_equal(stored.worst(8 / 255), [0, 1, 0, 1])
    np.testing.assert_array_equal(stored.attack("pgd-20", 8 / 255), [0, 1, 0, 1])
    self.assertEqual(stored.names(8 / 255), ["pgd-20"])
    np.testing.assert_array_equal(stored.worst(7 / 255), [1, 1, 1, 1])  # a smaller eps still excludes it

  def test_mcnemar_known_answers(self):
    a = np.array([1] * 5 + [0] * 0 + [1] * 10, bool)
    b = np.array([0] * 5 + [1] * 0 + [1] * 10, bool)
    r = per_example.mcnemar(a, b)
    self.assertEqual((r["a_only"], r["b_only"], r["n"]), (5, 0, 15))
    self.assertAlmostEqual(r["p"], 2 * 0.5 ** 5)  # two-sided exact binomial: 2 x P(X >= 5 | 5, 1/2)
    # 6 vs 2 discordant: p = 2 x P(X <= 2 | 8, 1/2) = 2 x (1 + 8 + 28) / 256
    a = np.array([1] * 6 + [0] * 2, bool)
    self.assertAlmostEqual(per_example.mcnemar(a, ~a)["p"], 2 * 37 / 256)
    self.assertEqual(per_example.mcnemar(a, a)["p"], 1.0)
    with self.assertRaisesRegex(ValueError, "same examples"):
      per_example.mcnemar(a, a[:3])

  def test_stratified_exact_known_answers(self):
    """One seed: McNemar's exact test itself. Two seeds, hand-computed: example 0 right for a only in both seeds
    (d = +2), example 1 in one (d = +1), example 2 for b only in one (d = -1), the rest tied: the sign-flip
    distribution of e0 2 + e1 + e2 is uniform over 8 sign patterns with sums {4, 2, 2, 0, 0, -2, -2, -4}; the
    observed 2 + 1 - 1 = 2 gives p = P(|T| >= 2) = 6/8."""
    rng = np.random.default_rng(5)
    for _ in range(5):
      a, b = rng.random(60) < 0.6, rng.random(60) < 0.5
      self.assertAlmostEqual(per_example.stratified_exact(a[None], b[None])["p"], per_example.mcnemar(a, b)["p"])
    a = np.zeros((2, 6), bool)
    b = np.zeros((2, 6), bool)
    a[:, 0] = True
    a[0, 1] = True
    b[1, 2] = True
    a[:, 5] = b[:, 5] = True  # right for both: no part in the test
    r = per_example.stratified_exact(a, b)
    self.assertAlmostEqual(r["p"], 6 / 8)
    self.assertEqual((r["n"], r["seeds"], r["a_only"], r["b_only"]), (6, 2, 3, 1))
    self.assertEqual(r["per_seed"], [per_example.mcnemar(a[0], b[0])["p"], per_example.mcnemar(a[1], b[1])["p"]])
    self.assertEqual(per_example.stratified_exact(a, a)["p"], 1.0)
    with self.assertRaisesRegex(ValueError, "same examples"):
      per_example.stratified_exact(a, b[:1])

  def test_paired_t_known_answers(self):
    """Gaps 1, 2, 3: mean 2, sd 1, t = 2 sqrt(3) with 2 degrees of freedom, whose two-sided p has the closed form
    1 - t / sqrt(2 + t^2); identical gaps: p 0; one seed: no test."""
    r = per_example.paired_t([2, 3, 4], [1, 1, 1])
    self.assertEqual(r["df"], 2)
    self.assertAlmostEqual(r["t"], 2 * math.sqrt(3))
    self.assertAlmostEqual(r["p"], 1 - 2 * math.sqrt(3) / math.sqrt(14))
    self.assertEqual(per_example.paired_t([2, 2], [1, 1])["p"], 0.0)
    self.assertEqual(per_example.paired_t([1, 1], [1, 1])["p"], 1.0)
    self.assertIsNone(per_example.paired_t([2], [1]))

  def test_holm_known_answers(self):
    """p = (0.01, 0.04, 0.03): sorted 0.01, 0.03, 0.04 become 3 x 0.01 = 0.03, 2 x 0.03 = 0.06, then max(0.06,
    1 x 0.04) = 0.06 (step-down stays monotone); returned in the input's order; capped at 1."""
    np.testing.assert_allclose(per_example.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(per_example.holm([0.5, 0.6]), [1.0, 1.0])
    np.testing.assert_allclose(per_example.holm([0.02]), [0.02])

  def test_paired_bootstrap_interval_covers_the_gap(self):
    rng = np.random.default_rng(1)
    b = rng.random(2000) < 0.5
    a = b | (rng.random(2000) < 0.1)  # a gains about 5 points, never loses
    r = per_example.paired_bootstrap(a, b)
    self.assertAlmostEqual(r["gap"], a.mean() - b.mean())
    self.assertLess(r["low"], r["gap"])
    self.assertGreater(r["high"], r["gap"])
    self.assertGreater(r["low"], 0)  # a paired gain this consistent is well away from 0
    d = a.astype(float) - b
    se = d.std(ddof=1) / math.sqrt(len(d))
    self.assertAlmostEqual(r["high"] - r["low"], 2 * 1.96 * se, delta=0.2 * 2 * 1.96 * se)  # ~ the normal interval

  def test_paired_ratio_bootstrap_known_answers(self):
    """a = 2 b on every example: the ratio is 2 in every resample; a noisy 1.5x: the interval holds 1.5 and a
    ratio from one outlier example is not told from 1."""
    b = np.random.default_rng(2).random(500) + 0.1
    r = per_example.paired_ratio_bootstrap(2 * b, b)
    self.assertAlmostEqual(r["ratio"], 2.0)
    self.assertAlmostEqual(r["low"], 2.0)
    self.assertAlmostEqual(r["high"], 2.0)
    a = 1.5 * b * np.random.default_rng(3).lognormal(0, 0.1, 500)
    r = per_example.paired_ratio_bootstrap(a, b)
    self.assertAlmostEqual(r["ratio"], a.mean() / b.mean())
    self.assertLess(r["low"], 1.5 * 1.02)
    self.assertGreater(r["high"], 1.5 * 0.98)
    one = np.full(100, 0.05)
    one[0] = 2.0  # mean 1.39x vanilla's, all of it from one example: absent from ~37% of resamples
    r = per_example.paired_ratio_bootstrap(one, np.full(100, 0.05))
    self.assertAlmostEqual(r["ratio"], 1.39)
    self.assertAlmostEqual(r["low"], 1.0)
    with self.assertRaisesRegex(ValueError, "same examples"):
      per_example.paired_ratio_bootstrap(one, one[:5])

  def test_paired_slope_ratio_bootstrap_known_answers(self):
    """Slopes from robustness.stability_slope: v = 3 u exactly against v = u gives 3 in every resample; the
    examples a model gets wrong (v = nan) leave its slope only; two noisy slopes of 2 and 1: the interval holds 2."""
    rng = np.random.default_rng(4)
    u = rng.random(400) * 1e-2
    r = per_example.paired_slope_ratio_bootstrap((u, 3 * u), (u, u))
    self.assertAlmostEqual(r["ratio"], 3.0)
    self.assertAlmostEqual(r["low"], 3.0)
    self.assertAlmostEqual(r["high"], 3.0)
    va, vb = 2 * u * rng.lognormal(0, 0.3, 400), u * rng.lognormal(0, 0.3, 400)
    wrong = rng.random(400) < 0.2
    va_kept = np.where(wrong, np.nan, va)
    r = per_example.paired_slope_ratio_bootstrap((u, va_kept), (u, vb))
    expected = robustness.stability_slope(u[~wrong], va[~wrong]) / robustness.stability_slope(u, vb)
    self.assertAlmostEqual(r["ratio"], expected)
    self.assertLess(r["low"], expected)
    self.assertGreater(r["high"], expected)
    self.assertGreater(r["low"], 1.5)  # 400 examples tell a 2x slope from 1
    with self.assertRaisesRegex(ValueError, "same examples"):
      per_example.paired_slope_ratio_bootstrap((u, u), (u[:5], u[:5]))


if __name__ == "__main__":
  absltest.main()
