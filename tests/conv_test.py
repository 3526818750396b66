"""conv: values and both gradients equal lax's and a float64 numpy reference; attacks unchanged on a trained CNN."""

import os
import sys

import jax
import numpy as np
from absl.testing import absltest, parameterized
from flax import nnx
from jax import lax

from lowrank_jax import attacks, conv, data, loading, models

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shared import shared_run  # pylint: disable=g-import-not-at-top

_DN = ("NHWC", "HWIO", "NHWC")


def _pad(x: np.ndarray, pads) -> np.ndarray:
  """Zero padding with possibly negative (cropping) amounts, on axes 1 and 2."""
  for axis, (lo, hi) in zip((1, 2), pads):
    x = np.pad(x, [(max(lo, 0), max(hi, 0)) if a == axis else (0, 0) for a in range(4)])
    n = x.shape[axis]
    x = np.take(x, range(max(-lo, 0), n - max(-hi, 0)), axis=axis)
  return x


def _reference(x, w, g, strides, pads):
  """Forward y, dx and dw of sum(y * g), in float64 by explicit loops over the kernel taps."""
  x, w, g = (np.asarray(a, np.float64) for a in (x, w, g))
  xp = _pad(x, pads)
  (sh, sw), (kh, kw) = strides, w.shape[:2]
  ho, wo = (xp.shape[1] - kh) // sh + 1, (xp.shape[2] - kw) // sw + 1
  y = np.zeros((x.shape[0], ho, wo, w.shape[3]))
  dxp, dw = np.zeros_like(xp), np.zeros_like(w)
  for i in range(kh):
    for j in range(kw):
      rows, cols = slice(i, i + (ho - 1) * sh + 1, sh), slice(j, j + (wo - 1) * sw + 1, sw)
      tap = xp[:, rows, cols]
      y += tap @ w[i, j]
      dw[i, j] = np.einsum("npqc,npqo->co", tap, g)
      dxp[:, rows, cols] += g @ w[i, j].T
  # undo the padding: the inverse crop/pad of _pad
  dx = _pad(dxp, [(-lo, -hi) for lo, hi in pads])
  return y, dx, dw


CASES = [  # (H, W, Cin, Cout, k, stride, padding)
    (9, 7, 3, 5, 3, 1, "SAME"), (9, 7, 3, 5, 3, 2, "SAME"), (9, 7, 3, 5, 3, 2, "VALID"), (8, 8, 4, 6, 1, 2, "SAME"),
    (8, 8, 4, 6, 1, 1, "VALID"), (11, 10, 2, 3, 3, 1, ((2, 0), (1, 3))), (10, 9, 2, 3, 3, 3, ((1, 1), (0, 2))),
    (6, 6, 3, 3, 2, 2, "SAME"), (7, 5, 1, 4, 3, 2, ((0, 0), (1, 1))),
]


class ConvTest(parameterized.TestCase):

  @parameterized.parameters(*CASES)
  def test_values_and_gradients(self, h, w_, cin, cout, k, s, padding):
    rng = np.random.default_rng(h * 100 + k * 10 + s)
    x = rng.standard_normal((2, h, w_, cin)).astype(np.float32)
    w = rng.standard_normal((k, k, cin, cout)).astype(np.float32)
    xla = lambda x, w: lax.conv_general_dilated(x, w, (s, s), padding, dimension_numbers=_DN)
    ours = lambda x, w: conv.conv_general_dilated(x, w, (s, s), padding, dimension_numbers=_DN)
    y = xla(x, w)
    g = rng.standard_normal(y.shape).astype(np.float32)
    pads = conv._explicit_padding(padding, (h, w_), (k, k), (s, s))
    y64, dx64, dw64 = _reference(x, w, g, (s, s), pads)
    np.testing.assert_allclose(y64, y, rtol=1e-5, atol=1e-5)  # the reference is right
    for run in (lambda f: f, conv.jit):
      grads = run(lambda x, w, g: (ours(x, w), *jax.vjp(ours, x, w)[1](g)))
      y1, dx, dw = grads(x, w, g)
      np.testing.assert_array_equal(y1, y)  # the forward is lax's own
      dx0, dw0 = jax.vjp(xla, x, w)[1](g)
      for got, want, want64 in ((dx, dx0, dx64), (dw, dw0, dw64)):
        scale = np.abs(want64).max()
        np.testing.assert_allclose(got, want, atol=2e-6 * scale)
        np.testing.assert_allclose(got, want64, atol=2e-6 * scale)

  def test_vmapped_vjp_as_deepfool_uses_it(self):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 9, 9, 2)).astype(np.float32)
    w = rng.standard_normal((3, 3, 2, 4)).astype(np.float32)
    cots = rng.standard_normal((5, 3, 5, 5, 4)).astype(np.float32)  # 5 cotangents, stride 2

    def grads(f):
      _, vjp = jax.vjp(lambda x: f(x, w, (2, 2), "SAME", dimension_numbers=_DN), x)
      return jax.jit(jax.vmap(lambda c: vjp(c)[0]))(cots)

    np.testing.assert_allclose(grads(conv.conv_general_dilated), grads(lax.conv_general_dilated), atol=1e-5)

  @parameterized.parameters({"feature_group_count": 2}, {"rhs_dilation": (2, 2)}, {"lhs_dilation": (2, 1)})
  def test_other_cases_are_lax_itself(self, **kwargs):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 8, 8, 4)).astype(np.float32)
    w = rng.standard_normal((3, 3, 4 // kwargs.get("feature_group_count", 1), 6)).astype(np.float32)
    f = lambda conv_fn: lambda x, w: conv_fn(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=_DN, **kwargs).sum()
    np.testing.assert_array_equal(f(conv.conv_general_dilated)(x, w), f(lax.conv_general_dilated)(x, w))
    for a, b in zip(jax.grad(f(conv.conv_general_dilated), (0, 1))(x, w),
                    jax.grad(f(lax.conv_general_dilated), (0, 1))(x, w)):
      np.testing.assert_array_equal(a, b)

  def test_jit_sends_convolutions_to_eigen_on_cpu(self):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 28, 28, 64)).astype(np.float32)  # YNNPACK takes convolutions of this size by default
    w = rng.standard_normal((3, 3, 64, 64)).astype(np.float32)
    kernel_grad = jax.grad(lambda w, x: (lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=_DN) ** 2
                                         ).sum())
    default = jax.jit(kernel_grad).lower(w, x).compile().as_text()
    ours = conv.jit(kernel_grad).lower(w, x).compile().as_text()
    self.assertIn("__ynn_fusion", default)  # jaxlib's default: the convolution is a YNNPACK fusion
    self.assertNotIn("__ynn_fusion", ours)  # with conv.COMPILER_OPTIONS: left to XLA's own (Eigen) convolution
    want = np.asarray(jax.jit(kernel_grad)(w, x))
    np.testing.assert_allclose(conv.jit(kernel_grad)(w, x), want, atol=1e-5 * np.abs(want).max())


@absltest.skipUnless(os.path.isdir(data.FASHION_MNIST_DIR), "Fashion-MNIST missing (make test installs it)")
class TrainedCNNTest(absltest.TestCase):
  """PGD, APGD and DeepFool give the same results with conv.Conv as with nnx.Conv on a trained CNN."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    m = loading.load_model(shared_run("lowrank"))  # the default CNN (conv.Conv), trained 32 steps
    fm, params, stats = m.network, m.params, m.batch_stats
    test_x, test_y = data._load_fashion_mnist(data.FASHION_MNIST_DIR)["test"]
    cls.x, cls.y = test_x[:48].astype(np.float32) / 255, test_y[:48]
    original = models.CNN.__init__

    def with_nnx_conv(self, *a, **k):  # the same CNN with flax's own convolution
      saved, models.Conv = models.Conv, nnx.Conv
      try:
        original(self, *a, **k)
      finally:
        models.Conv = saved

    models.CNN.__init__ = with_nnx_conv
    try:
      theirs = models.create_model("cnn", 10, (28, 28, 1), m.mean, m.std, rngs=nnx.Rngs(0))
    finally:
      models.CNN.__init__ = original
    assert theirs.conv1.conv_general_dilated is lax.conv_general_dilated
    fm_xla = models.FunctionalModel.from_module(theirs)[0]
    cls.fns = {name: jax.tree_util.Partial(lambda p, z, f=f: f.apply(p, stats, z, train=False)[0], params)
               for name, f in (("ours", fm), ("xla", fm_xla))}

  def test_attacks_unchanged(self):
    key = jax.random.PRNGKey(0)
    pgd = jax.jit(attacks.pgd, static_argnames=attacks.PGD_STATIC)
    apgd = jax.jit(attacks.apgd, static_argnames=attacks.APGD_STATIC)
    out = {}
    for name, fn in self.fns.items():
      out[name] = (pgd(fn, self.x, self.y, key, eps=0.1, steps=10), apgd(fn, self.x, self.y, key, eps=0.05, steps=10),
                   attacks.deepfool(fn, self.x, max_iter=20))
    fooled = np.mean(np.argmax(self.fns["ours"](out["ours"][0]), -1) != self.y)
    self.assertGreater(fooled, 0.5)  # a real attack on a trained model
    np.testing.assert_allclose(out["ours"][0], out["xla"][0], atol=1e-6)
    np.testing.assert_allclose(out["ours"][1], out["xla"][1], atol=1e-6)
    np.testing.assert_allclose(out["ours"][2].norms, out["xla"][2].norms, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(out["ours"][2].success, out["xla"][2].success)


if __name__ == "__main__":
  absltest.main()
