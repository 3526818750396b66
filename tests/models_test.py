"""Models: shapes, named representation layers read with nnx.capture, BN train/eval modes."""

import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized
from flax import nnx

from lowrank_jax import models


def _build(name, shape, classes=10, abstract=False, **kwargs):
  """(functional model, params, batch_stats); abstract: shapes only (nnx.eval_shape), skipping the eager
  initialisation that costs seconds for the deep models."""
  make = lambda: models.create_model(name, classes, shape, [0.5] * shape[-1], [0.25] * shape[-1], rngs=nnx.Rngs(0),
                                     **kwargs)
  return models.FunctionalModel.from_module(nnx.eval_shape(make) if abstract else make())


class ModelsTest(parameterized.TestCase):

  @parameterized.parameters(("cnn", (28, 28, 1), {"penultimate": 128, "conv2": 14 * 14 * 64, "pool2": 7 * 7 * 64}),
                            ("resnet18", (32, 32, 3), {"penultimate": 512, "layer4": 4 * 4 * 512}),
                            ("resnet50", (32, 32, 3), {"penultimate": 2048, "layer3": 8 * 8 * 1024}),
                            ("vgg19", (32, 32, 3), {"penultimate": 512, "block3": 4 * 4 * 256}))
  def test_named_layers_and_shapes(self, name, shape, some_dims):
    fm, params, stats = _build(name, shape, classes=7, abstract=True)
    dims = fm.feature_dims(params, stats, shape)
    self.assertEqual(set(dims), set(fm.representation_layers))
    for k, v in some_dims.items():
      self.assertEqual(dims[k], v)
    out = jax.eval_shape(lambda p, s, x: fm.apply(p, s, x, train=True), params, stats,
                         jax.ShapeDtypeStruct((3, *shape), jnp.float32))
    self.assertEqual(out[0].shape, (3, 7))

  @parameterized.parameters(("cnn", (28, 28, 1)), ("resnet18", (32, 32, 3)), ("resnet50", (28, 28, 1)),
                            ("vgg19", (28, 28, 1)), ("vgg19", (32, 32, 3)))
  def test_features_are_the_activations_feeding_the_head(self, name, shape):
    fm, params, stats = _build(name, shape, **({} if name == "cnn" else {"width": 0.25}))  # any width
    x = jax.random.uniform(jax.random.PRNGKey(0), (5, *shape))
    logits, feats, _ = fm.apply(params, stats, x, train=False)
    head = params[fm.head]
    np.testing.assert_allclose(feats["penultimate"].reshape(5, -1) @ head["kernel"] + head["bias"], logits,
                               rtol=1e-4, atol=1e-4)
    self.assertTrue(np.all(np.asarray(feats["penultimate"]) >= 0))  # after ReLU

  def test_cnn_pool2_feeds_fc1(self):
    fm, params, stats = _build("cnn", (28, 28, 1))
    x = jax.random.uniform(jax.random.PRNGKey(3), (4, 28, 28, 1))
    _, feats, _ = fm.apply(params, stats, x, train=False)
    fc1 = params["fc1"]
    want = np.maximum(np.asarray(feats["pool2"]).reshape(4, -1) @ fc1["kernel"] + fc1["bias"], 0)
    np.testing.assert_allclose(feats["penultimate"], want, rtol=1e-4, atol=1e-5)

  def test_max_pool_2x2_equals_flax_max_pool(self):
    x = jax.random.normal(jax.random.PRNGKey(2), (3, 7, 6, 4))  # odd height: VALID pooling drops the last row
    np.testing.assert_array_equal(models.max_pool_2x2(x), nnx.max_pool(x, (2, 2), (2, 2)))

  def test_width_multiplier(self):
    fm, params, stats = models.FunctionalModel.from_module(models.create_model(
        "resnet18", 10, (28, 28, 1), [0.5], [0.25], rngs=nnx.Rngs(0), width=0.25))
    dims = fm.feature_dims(params, stats, (28, 28, 1))
    self.assertEqual((dims["penultimate"], dims["layer3"]), (128, 7 * 7 * 64))

  def test_normalisation_is_inside_the_model(self):
    m = models._Normalize([0.5], [0.25])
    np.testing.assert_allclose(m(jnp.array([[0.0], [1.0]])), [[-2.0], [2.0]])

  def test_batchnorm_uses_batch_stats_in_train_and_running_stats_in_eval(self):
    fm, params, stats = _build("resnet18", (8, 8, 3), width=0.25)
    x = jax.random.uniform(jax.random.PRNGKey(1), (4, 8, 8, 3))
    _, _, new_stats = fm.apply(params, stats, x, train=True)
    moved = jax.tree.leaves(jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), stats, new_stats))
    self.assertGreater(max(moved), 0.0)
    _, _, same = fm.apply(params, stats, x, train=False)
    self.assertIs(same, stats)

  def test_unknown_model(self):
    with self.assertRaisesRegex(ValueError, r"config.model='resnet7' is unknown; valid: \['cnn'"):
      models.create_model("resnet7", 10, (32, 32, 3), [0.5] * 3, [0.2] * 3, rngs=nnx.Rngs(0))


if __name__ == "__main__":
  absltest.main()
