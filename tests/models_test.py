"""Models: shapes, named representation layers read with nnx.capture, BN train/eval modes."""

import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized
from flax import nnx

from lowrank_jax import models


def _numpy_values(state):
  """Any parameters of the right shapes, from numpy (He-scaled kernels; BatchNorm scale and variance 1): the
  flax initialisers, run eagerly, take seconds per deep model for values these tests do not depend on."""
  rng = np.random.default_rng(0)
  def fill(path, leaf):
    name = str(getattr(path[-2], "key", path[-2]))  # the variable's name (path[-1] is its .value)
    if name in ("scale", "var"):
      return np.ones(leaf.shape, leaf.dtype)
    if len(leaf.shape) < 2:
      return np.zeros(leaf.shape, leaf.dtype)
    return (rng.normal(size=leaf.shape) * np.sqrt(2 / np.prod(leaf.shape[:-1]))).astype(leaf.dtype)
  return jax.tree.map(jnp.asarray, jax.tree_util.tree_map_with_path(fill, state))  # jax arrays, as the model's


def _build(name, shape, classes=10, init="flax", **kwargs):
  """(functional model, params, batch_stats). init: "flax" (the model's initialisers), "numpy" (_numpy_values) or
  "abstract" (shapes only)."""
  make = lambda: models.create_model(name, classes, shape, [0.5] * shape[-1], [0.25] * shape[-1], rngs=nnx.Rngs(0),
                                     **kwargs)
  if init == "flax":
    return models.FunctionalModel.from_module(make())
  graphdef, state = nnx.split(nnx.eval_shape(make))
  return models.FunctionalModel.from_module(nnx.merge(graphdef, state if init == "abstract" else _numpy_values(state)))


class ModelsTest(parameterized.TestCase):

  @parameterized.parameters(("cnn", (28, 28, 1), {"penultimate": 128, "conv2": 14 * 14 * 64, "pool2": 7 * 7 * 64}),
                            ("resnet18", (32, 32, 3), {"penultimate": 512, "layer4": 4 * 4 * 512}),
                            ("resnet50", (32, 32, 3), {"penultimate": 2048, "layer3": 8 * 8 * 1024}),
                            ("vgg19", (32, 32, 3), {"penultimate": 512, "block3": 4 * 4 * 256}))
  def test_named_layers_and_shapes(self, name, shape, some_dims):
    fm, params, stats = _build(name, shape, classes=7, init="abstract")
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
    fm, params, stats = _build(name, shape, **({} if name == "cnn" else {"width": 0.25, "init": "numpy"}))  # any width
    x = jax.random.uniform(jax.random.PRNGKey(0), (5, *shape))
    logits, feats, _ = jax.jit(lambda p, s, z: fm.apply(p, s, z, train=False))(params, stats, x)
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

  def test_max_pool_gradient_equals_xla_without_ties(self):
    x = jax.random.normal(jax.random.PRNGKey(2), (3, 7, 9, 4))  # continuous values: no ties; odd sizes
    g = jax.random.normal(jax.random.PRNGKey(5), (3, 3, 4, 4))
    ours = jax.vjp(models.max_pool_2x2, x)[1](g)[0]  # reduce-and-divide: a tie would split the cotangent
    xla = jax.vjp(lambda z: nnx.max_pool(z, (2, 2), (2, 2)), x)[1](g)[0]  # select-and-scatter
    np.testing.assert_array_equal(ours, xla)
    self.assertTrue(np.all(np.asarray(ours)[:, 6] == 0) and np.all(np.asarray(ours)[:, :, 8] == 0))

  def test_width_multiplier(self):
    fm, params, stats = _build("resnet18", (28, 28, 1), init="abstract", width=0.25)
    dims = fm.feature_dims(params, stats, (28, 28, 1))
    self.assertEqual((dims["penultimate"], dims["layer3"]), (128, 7 * 7 * 64))

  def test_normalisation_is_inside_the_model(self):
    m = models._Normalize([0.5], [0.25])
    np.testing.assert_allclose(m(jnp.array([[0.0], [1.0]])), [[-2.0], [2.0]])

  def test_batchnorm_uses_batch_stats_in_train_and_running_stats_in_eval(self):
    fm, params, stats = _build("resnet18", (8, 8, 3), width=0.25, init="numpy")
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
