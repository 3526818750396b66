"""Training variants: SNIP's mask, SRN's projection (against numpy SVD), PGD-AT's batch, composition."""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest

from lowrank_jax import data, methods, training
from lowrank_jax.methods import snip, srn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from training_test import _batch, tiny_config  # pylint: disable=g-import-not-at-top


def _setup(**kw):
  cfg = tiny_config(**kw)
  return training.create_train_state(cfg, data.DATASETS["fashion_mnist"], (0.3,), (0.35,), num_train=512,
                                     init_batch=_batch(seed=9))


class SnipTest(absltest.TestCase):

  def test_mask_keeps_the_most_salient_fraction_and_pruned_weights_stay_zero(self):
    setup, state = _setup(**{"method": "snip", "snip.sparsity": 0.8})
    mask = jax.device_get(state["method"]["mask"])
    kernels = [m for p, m in jax.tree_util.tree_leaves_with_path(mask) if snip.is_prunable(p)]
    kept = sum(float(k.sum()) for k in kernels) / sum(k.size for k in kernels)
    self.assertAlmostEqual(kept, 0.2, delta=0.002)
    self.assertTrue(np.all(mask["fc1"]["bias"] == 1))  # biases are never pruned
    # independent recomputation of the saliency |g * w| in numpy terms: the kept ones are the largest
    x, y = _batch(seed=9)
    params0 = training.create_train_state(tiny_config(), data.DATASETS["fashion_mnist"], (0.3,), (0.35,),
                                          num_train=512)[1]["params"]["model"]
    ce = lambda p: training.optax.softmax_cross_entropy_with_integer_labels(
        setup.network.apply(p, state["batch_stats"], data.to_unit(jnp.asarray(x)), train=True)[0], y).mean()
    g = jax.jit(jax.grad(ce))(params0)  # jitted: eager, each op compiles on its own
    sal = np.concatenate([np.abs(np.asarray(g[k]["kernel"]) * np.asarray(params0[k]["kernel"])).ravel()
                          for k in sorted(g)])
    keep = np.concatenate([np.asarray(mask[k]["kernel"]).ravel() for k in sorted(g)]).astype(bool)
    self.assertGreaterEqual(sal[keep].min(), sal[~keep].max())
    steps = training.Steps(setup, state)
    for i in range(3):
      state, _ = steps.train(state, *steps.shard(*_batch(seed=i)))
    w = np.asarray(state["params"]["model"]["fc1"]["kernel"])
    np.testing.assert_array_equal(w[np.asarray(mask["fc1"]["kernel"]) == 0], 0.0)


class SrnTest(absltest.TestCase):

  def test_spectral_norm_one_and_stable_rank_at_most_the_target(self):
    rng = np.random.default_rng(0)
    for shape, ratio in (((40, 30), 0.3), ((3, 3, 8, 16), 0.5), ((20, 60), 1.0)):
      k = rng.normal(size=shape).astype(np.float32)
      out = np.asarray(srn.srn_kernel(jnp.asarray(k), ratio), np.float64)
      W = out.reshape(-1, shape[-1]).T
      s = np.linalg.svd(W, compute_uv=False)
      self.assertAlmostEqual(s[0], 1.0, places=4)
      self.assertLessEqual(np.sum(s**2) / s[0] ** 2, ratio * min(W.shape) + 1e-3)
      # the top singular direction is unchanged (only the residual is rescaled)
      u0 = np.linalg.svd(k.reshape(-1, shape[-1]).T.astype(np.float64))[0][:, 0]
      u1 = np.linalg.svd(W)[0][:, 0]
      self.assertAlmostEqual(abs(u0 @ u1), 1.0, places=4)

  def test_a_low_stable_rank_matrix_is_only_rescaled(self):
    W = np.outer(np.arange(1.0, 5.0), np.ones(6)) + 0.01 * np.eye(4, 6)
    out = np.asarray(srn.srn_matrix(jnp.asarray(W, jnp.float32), 0.9))
    np.testing.assert_allclose(out, W / np.linalg.norm(W, 2), atol=1e-5)


class PgdAtTest(absltest.TestCase):

  def test_trains_on_adversarial_inputs_within_eps(self):
    setup, state = _setup(**{"method": "pgd_at", "pgd_at.eps": 0.05, "pgd_at.steps": 3})
    x, y = _batch()
    params, stats = state["params"], state["batch_stats"]
    logits_fn = lambda z: setup.network.apply(params["model"], stats, z, train=False)[0]
    xs = data.to_unit(jnp.asarray(x))
    adv = setup.method.transform_batch(logits_fn, xs, jnp.asarray(y), jax.random.PRNGKey(0))
    d = np.abs(np.asarray(adv) - np.asarray(xs))
    self.assertLessEqual(d.max(), 0.05 + 1e-6)
    self.assertGreater(d.max(), 0.04)
    ce = lambda z: float(training.optax.softmax_cross_entropy_with_integer_labels(logits_fn(z), y).mean())
    self.assertGreater(ce(adv), ce(xs))


class ComposeTest(absltest.TestCase):

  def test_lowrank_plus_pgd_at_has_both_hooks(self):
    setup, state = _setup(**{"method": "lowrank+pgd_at", "pgd_at.steps": 1})
    self.assertEqual(setup.method.name, "lowrank+pgd_at")
    self.assertIn("penultimate", state["params"]["lowrank"])
    steps = training.Steps(setup, state)
    state, m = steps.train(state, *steps.shard(*_batch()))
    self.assertIn("penultimate/projection_loss", m)

  def test_two_methods_keeping_the_same_state_are_refused(self):
    m = methods.Method("a", init_state=lambda loss, params: ({"mask": 1}, params))
    with self.assertRaisesRegex(ValueError, r"both keep state \['mask'\]"):
      methods.compose([m, m]).init_state(None, {})


if __name__ == "__main__":
  absltest.main()
