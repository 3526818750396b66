"""Attacks against closed forms on linear models, properties (hypothesis), and a trained model."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl.testing import absltest, parameterized
from hypothesis import given, settings, strategies as st

from lowrank_jax import attacks, data
from lowrank_jax.attacks import autoattack

D = 12


def _linear_binary(w, c):
  """Two-class logits [0, w.x + c]: class 1 iff w.x + c > 0."""
  return lambda x: jnp.stack([jnp.zeros(x.shape[0]), x.reshape(x.shape[0], -1) @ w + c], -1)


def _affine_logits(A, c, x):
  return x.reshape(x.shape[0], -1) @ A.T + c


def _affine(A, c):
  """Logits A x + c as a Partial with A, c as leaves: one compilation per shape, whatever A and c are."""
  return jax.tree_util.Partial(_affine_logits, jnp.asarray(A), jnp.asarray(c))


_W = jnp.asarray(np.random.default_rng(0).normal(size=D), jnp.float32)
_FN = jax.tree_util.Partial(_linear_binary(_W, 0.1))
_fgsm = jax.jit(attacks.fgsm, static_argnames=("norm", "loss", "targeted"))
_pgd = jax.jit(attacks.pgd, static_argnames=attacks.PGD_STATIC + ("step_size",))
_apgd = jax.jit(attacks.apgd, static_argnames=attacks.APGD_STATIC + ("target_class",))
_square = jax.jit(attacks.square, static_argnames=("norm", "queries"))
_fab = jax.jit(attacks.fab, static_argnames=("norm", "steps", "targeted", "target_class", "restarts"))


class InputCheckTest(absltest.TestCase):
  """Raw 0..255 pixels, integer images, a missing batch axis or bad labels are one InputError line, from every
  attack, called directly or under jit."""

  def test_bad_inputs_are_one_line_errors(self):
    rng = np.random.default_rng(0)
    A, c = rng.normal(size=(3, 36)).astype(np.float32), np.zeros(3, np.float32)
    fn, key = _affine(A, c), jax.random.PRNGKey(0)
    x, y = rng.uniform(size=(4, 6, 6, 1)).astype(np.float32), np.array([0, 1, 2, 0])
    calls = {
        "fgsm": lambda x, y: attacks.fgsm(fn, x, y, eps=0.1),
        "pgd": lambda x, y: attacks.pgd(fn, x, y, key, eps=0.1, steps=2),
        "apgd": lambda x, y: attacks.apgd(fn, x, y, key, eps=0.1, steps=2),
        "deepfool": lambda x, y: attacks.deepfool(fn, x, max_iter=2),
        "square": lambda x, y: attacks.square(fn, x, y, key, eps=0.1, queries=2),
        "fab": lambda x, y: attacks.fab(fn, x, y, key, eps=0.1, steps=2),
        "autoattack": lambda x, y: autoattack.autoattack(fn, x, y, key, eps=0.1,
                                                         settings=autoattack.AttackSettings(steps=2, queries=2)),
    }
    for name, call in calls.items():
      for bad_x, message in ((x * 255, r"x must be pixels in \[0, 1\]; got values in \[[\d.]+, 2[\d.]+\]"),
                             ((x * 255).astype(np.uint8), "x must be float pixels in \\[0, 1\\]; got dtype uint8"),
                             (x.reshape(-1), "x must be (a batch|images of shape)")):
        with self.assertRaisesRegex(attacks.InputError, f"^{name}: {message}", msg=name):
          call(bad_x, y)
      if name != "deepfool":
        with self.assertRaisesRegex(attacks.InputError, f"^{name}: y must be integer labels of shape \\(4,\\)"):
          call(x, y[:3])
    with self.assertRaisesRegex(attacks.InputError, r"^autoattack: labels must be in \[0, 2\]; got values in "
                                                    r"\[0, 3\]"):
      calls["autoattack"](x, np.array([0, 1, 2, 3]))
    with self.assertRaisesRegex(attacks.InputError, "^pgd: x must be float pixels"):  # dtypes are checked under jit
      _pgd(fn, (x * 255).astype(np.uint8), y, key, eps=0.1, steps=2)
    self.assertEqual(np.shape(attacks.pgd(fn, x, y, key, eps=0.1, steps=2)), x.shape)  # good inputs pass

  def test_eps_labels_layout_and_nan_are_checked_where_users_call(self):
    """eps in 0..255 units or negative, labels outside the logits' classes (read from the logits' shape), NCHW
    images and NaN pixels: one InputError line from each attack; attacks.jit checks the concrete inputs that a
    bare jax.jit sees only as tracers (raw 0..255 floats returned garbage clipped to [0, 1] before)."""
    rng = np.random.default_rng(0)
    fn, key = _affine(rng.normal(size=(3, 36)).astype(np.float32), np.zeros(3, np.float32)), jax.random.PRNGKey(0)
    x, y = rng.uniform(size=(4, 6, 6, 1)).astype(np.float32), np.array([0, 1, 2, 0])
    attacks_eps = {"fgsm": lambda e, yy: attacks.fgsm(fn, x, yy, eps=e),
                   "pgd": lambda e, yy: attacks.pgd(fn, x, yy, key, eps=e, steps=2),
                   "apgd": lambda e, yy: attacks.apgd(fn, x, yy, key, eps=e, steps=2),
                   "autoattack": lambda e, yy: autoattack.autoattack(
                       fn, x, yy, key, eps=e, settings=autoattack.AttackSettings(steps=2, queries=2))}
    for name, call in attacks_eps.items():
      with self.assertRaisesRegex(attacks.InputError, rf"^{name}: eps=8 exceeds 1, .* \(8/255 = 0.0314\)"):
        call(8.0, y)
      with self.assertRaisesRegex(attacks.InputError, rf"^{name}: eps must be finite and >= 0; got -0.1"):
        call(-0.1, y)
      for bad in (np.array([0, 1, 3, 0]), np.array([0, -1, 2, 0])):
        with self.assertRaisesRegex(attacks.InputError, rf"^{name}: labels must be in \[0, 2\]"):
          call(0.1, bad)
    checked = attacks.jit(attacks.apgd, static_argnames=attacks.APGD_STATIC)
    with self.assertRaisesRegex(attacks.InputError, r"^apgd: x must be pixels in \[0, 1\]; got values in"):
      checked(fn, x * 255, y, key, eps=0.1, steps=2)
    with self.assertRaisesRegex(attacks.InputError, r"^apgd: labels must be in \[0, 2\]"):
      checked(fn, x, np.array([0, 1, 3, 0]), key, eps=0.1, steps=2)
    with self.assertRaisesRegex(attacks.InputError, r"^apgd: eps=8 exceeds 1"):
      checked(fn, x, y, key, eps=8.0, steps=2)
    np.testing.assert_allclose(checked(fn, x, y, key, eps=0.1, steps=2),
                               attacks.apgd(fn, x, y, key, eps=0.1, steps=2), atol=1e-6)  # the same attack
    nchw = rng.uniform(size=(4, 3, 8, 8)).astype(np.float32)
    with self.assertRaisesRegex(attacks.InputError, r"^square: x must be NHWC .* looks like NCHW: pass "
                                                    r"x.transpose\(0, 2, 3, 1\)"):
      attacks.square(fn, nchw, y, key, eps=0.1, queries=2)
    def conv_model(v):  # a convolution over NHWC images with one channel, then a linear head
      h = jax.lax.conv_general_dilated(v, jnp.ones((3, 3, 1, 2)), (1, 1), "SAME",
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))
      return h.mean((1, 2)) @ jnp.ones((2, 3))
    with self.assertRaisesRegex(attacks.InputError, r"^pgd: the model does not take x of shape \(4, 1, 8, 8\) \(.*\); "
                                                    r"it looks like NCHW: pass x.transpose\(0, 2, 3, 1\)$"):
      attacks.pgd(conv_model, rng.uniform(size=(4, 1, 8, 8)).astype(np.float32), y, key, eps=0.1, steps=2)
    with self.assertRaisesRegex(attacks.InputError, r"^pgd: x must be finite pixels in \[0, 1\]; it holds NaN"):
      attacks.pgd(fn, np.where(x > 0.5, np.nan, x).astype(np.float32), y, key, eps=0.1, steps=2)

  def test_an_unknown_norm_or_version_is_one_line(self):
    rng = np.random.default_rng(0)
    fn, key = _affine(rng.normal(size=(3, 36)).astype(np.float32), np.zeros(3, np.float32)), jax.random.PRNGKey(0)
    x, y = rng.uniform(size=(4, 6, 6, 1)).astype(np.float32), np.array([0, 1, 2, 0])
    with self.assertRaisesRegex(attacks.InputError, r"^pgd: norm='l1' is not one of linf, l2$"):
      attacks.pgd(fn, x, y, key, eps=0.1, steps=2, norm="l1")
    with self.assertRaisesRegex(attacks.InputError, r"^deepfool: norm='l1' is not one of linf, l2$"):
      attacks.deepfool(fn, x, norm="l1")
    with self.assertRaisesRegex(attacks.InputError, r"^autoattack: version='fast' is not one of standard, plus, rand"):
      autoattack.autoattack(fn, x, y, key, eps=0.1, version="fast")

  def test_an_empty_batch_gives_empty_results(self):
    rng = np.random.default_rng(0)
    fn, key = _affine(rng.normal(size=(3, 36)).astype(np.float32), np.zeros(3, np.float32)), jax.random.PRNGKey(0)
    x, y = np.zeros((0, 6, 6, 1), np.float32), np.zeros(0, np.int32)
    self.assertEqual(np.shape(attacks.pgd(fn, x, y, key, eps=0.1, steps=2)), (0, 6, 6, 1))
    r = autoattack.autoattack(fn, x, y, key, eps=0.1)
    self.assertEqual((r.x_adv.shape, r.robust.shape), ((0, 6, 6, 1), (0,)))
    df = attacks.deepfool(fn, x)
    self.assertEqual((df.x_adv.shape, df.norms.shape), ((0, 6, 6, 1), (0,)))


class PropertyTest(absltest.TestCase):

  @settings(max_examples=30, deadline=None)
  @given(seed=st.integers(0, 2**16), eps=st.floats(0.001, 0.6), norm=st.sampled_from(["linf", "l2"]),
         edge=st.booleans())
  def test_outputs_stay_in_ball_and_box(self, seed, eps, norm, edge):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(6, D)).astype(np.float32)
    if edge:  # pixels at the box's faces
      x = np.round(x)
    y = rng.integers(0, 2, 6).astype(np.int32)
    for adv in (_fgsm(_FN, x, y, eps=eps, norm=norm),
                _pgd(_FN, x, y, jax.random.PRNGKey(seed), eps=eps, steps=5, norm=norm, restarts=2)):
      adv = np.asarray(adv)
      self.assertTrue(np.all((adv >= 0) & (adv <= 1)))
      d = (adv - x).reshape(6, -1)
      n = np.abs(d).max(1) if norm == "linf" else np.linalg.norm(d, axis=1)
      self.assertTrue(np.all(n <= eps * (1 + 1e-5) + 1e-6), (n, eps))

  @settings(max_examples=10, deadline=None)
  @given(seed=st.integers(0, 2**16), norm=st.sampled_from(["linf", "l2"]), edge=st.booleans())
  def test_deepfool_reports_what_it_returns(self, seed, norm, edge):
    """success is exactly 'the prediction on x_adv differs from the clean one', and norms are ||x_adv - x||,
    also when the box clips the step (pixels at 0 or 1)."""
    rng = np.random.default_rng(seed)
    A, c = rng.normal(size=(5, D)).astype(np.float32), rng.normal(size=5).astype(np.float32)
    x = rng.uniform(size=(7, D)).astype(np.float32)
    if edge:
      x = np.round(x)
    fn = _affine(A, c)
    res = attacks.deepfool(fn, x, norm=norm, max_iter=3)
    flipped = np.argmax(fn(res.x_adv), -1) != np.argmax(fn(x), -1)
    np.testing.assert_array_equal(res.success, flipped)
    d = (res.x_adv - x).reshape(7, -1)
    np.testing.assert_allclose(res.norms, np.abs(d).max(1) if norm == "linf" else np.linalg.norm(d, axis=1),
                               rtol=1e-5, atol=1e-7)

  @settings(max_examples=8, deadline=None)
  @given(seed=st.integers(0, 2**16), eps=st.floats(0.01, 0.5), norm=st.sampled_from(["linf", "l2"]),
         edge=st.booleans())
  def test_apgd_square_fab_stay_in_box_and_ball(self, seed, eps, norm, edge):
    rng = np.random.default_rng(seed)
    A, c = rng.normal(size=(5, 36)).astype(np.float32), rng.normal(size=5).astype(np.float32)
    fn = _affine(A, c)
    x = rng.uniform(size=(4, 6, 6, 1)).astype(np.float32)
    if edge:
      x = np.round(x)
    y = rng.integers(0, 5, 4).astype(np.int32)
    key = jax.random.PRNGKey(seed)
    outs = [_apgd(fn, x, y, key, eps=eps, steps=10, norm=norm),
            _apgd(fn, x, y, key, eps=eps, steps=10, norm=norm, loss="dlr_targeted", target_class=2),
            _square(fn, x, y, key, eps=eps, norm=norm, queries=30)]
    for adv in outs:
      adv = np.asarray(adv)
      self.assertTrue(np.all((adv >= 0) & (adv <= 1)))
      d = (adv - x).reshape(4, -1)
      n = np.abs(d).max(1) if norm == "linf" else np.linalg.norm(d, axis=1)
      self.assertTrue(np.all(n <= eps * (1 + 1e-5) + 1e-6), (n, eps))
    fab_x, fab_n = _fab(fn, x, y, key, eps=eps, norm=norm, steps=10)
    self.assertTrue(np.all((np.asarray(fab_x) >= 0) & (np.asarray(fab_x) <= 1)))
    d = (np.asarray(fab_x) - x).reshape(4, -1)
    found = np.isfinite(np.asarray(fab_n))
    size = np.abs(d).max(1) if norm == "linf" else np.linalg.norm(d, axis=1)
    np.testing.assert_allclose(size[found], np.asarray(fab_n)[found], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.argmax(fn(fab_x), -1)[found] != y[found], True)


class ClosedFormTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    rng = np.random.default_rng(1)
    self.x = rng.uniform(0.3, 0.7, size=(8, D)).astype(np.float32)
    self.y = rng.integers(0, 2, 8).astype(np.int32)
    self.ypm = 2 * self.y - 1  # labels as +-1

  def test_fgsm_linf_is_the_sign_step(self):
    want = np.clip(self.x - 0.1 * self.ypm[:, None] * np.sign(np.asarray(_W)), 0, 1)
    np.testing.assert_allclose(_fgsm(_FN, self.x, self.y, eps=0.1), want, atol=1e-6)

  @parameterized.parameters(0.05, 0.4)  # 0.4 makes the box [0, 1] bind
  def test_pgd_linf_reaches_the_clipped_corner(self, eps):
    want = np.clip(self.x - eps * self.ypm[:, None] * np.sign(np.asarray(_W)), 0, 1)
    got = _pgd(_FN, self.x, self.y, jax.random.PRNGKey(3), eps=eps, steps=10, keep="loss")
    np.testing.assert_allclose(got, want, atol=1e-5)

  def test_pgd_l2_reaches_the_ball_along_w(self):
    u = np.asarray(_W) / np.linalg.norm(_W)
    want = self.x - 0.2 * self.ypm[:, None] * u
    got = _pgd(_FN, self.x, self.y, jax.random.PRNGKey(4), eps=0.2, steps=10, norm="l2", random_start=False,
               keep="loss")
    np.testing.assert_allclose(got, want, atol=1e-5)
    # From a random start the orthogonal part only shrinks: the gain along w still beats the start's.
    rand = np.asarray(_pgd(_FN, self.x, self.y, jax.random.PRNGKey(4), eps=0.2, steps=50, norm="l2", keep="loss"))
    along = -self.ypm * ((rand - self.x) @ u)
    self.assertTrue(np.all(along > 0.19), along)
    np.testing.assert_allclose(np.asarray(_fgsm(_FN, self.x, self.y, eps=0.2, norm="l2")), want, atol=1e-5)

  def test_targeted_moves_towards_the_target(self):
    target = 1 - self.y
    got = _pgd(_FN, self.x, target, jax.random.PRNGKey(5), eps=0.05, steps=10, targeted=True, keep="loss")
    want = np.clip(self.x - 0.05 * self.ypm[:, None] * np.sign(np.asarray(_W)), 0, 1)  # same corner
    np.testing.assert_allclose(got, want, atol=1e-5)

  def test_margin_loss(self):
    z = jnp.array([[1.0, 3.0, 2.0], [5.0, 0.0, 1.0]])
    np.testing.assert_allclose(attacks.margin_loss(z, jnp.array([1, 2])), [2.0 - 3.0, 5.0 - 1.0])

  @parameterized.parameters(0.05, 0.4)  # 0.4 makes the box [0, 1] bind
  def test_apgd_linf_reaches_the_clipped_corner(self, eps):
    """On the linear binary classifier the CE maximiser over the Linf ball and the box is the clipped corner."""
    corner = np.clip(self.x - eps * self.ypm[:, None] * np.sign(np.asarray(_W)), 0, 1)
    res = attacks.apgd_run(_FN, self.x, self.y, jax.random.PRNGKey(3), eps=eps, steps=30)
    np.testing.assert_allclose(res.x_loss, corner, atol=1e-5)
    np.testing.assert_allclose(res.value, attacks.ce_loss(_FN(corner), self.y), rtol=1e-5)
    np.testing.assert_array_equal(res.success, np.argmax(_FN(corner), -1) != self.y)

  def test_apgd_l2_reaches_the_closed_form_optimum(self):
    """The best CE found equals CE at x - eps y u (u = w/||w||), the maximiser over the L2 ball (box not binding)."""
    u = np.asarray(_W) / np.linalg.norm(_W)
    res = attacks.apgd_run(_FN, self.x, self.y, jax.random.PRNGKey(4), eps=0.2, steps=100, norm="l2")
    optimum = attacks.ce_loss(_FN(self.x - 0.2 * self.ypm[:, None] * u), self.y)
    np.testing.assert_allclose(res.value, optimum, rtol=1e-3)
    np.testing.assert_array_equal(res.success, np.argmax(_FN(self.x - 0.2 * self.ypm[:, None] * u), -1) != self.y)

  def test_dlr_is_invariant_to_shift_and_positive_scale(self):
    z = jax.random.normal(jax.random.PRNGKey(0), (6, 10))
    y = jnp.arange(6) % 10
    for a, b in ((3.0, 0.0), (0.2, -5.0), (1.0, 100.0)):
      np.testing.assert_allclose(attacks.dlr_loss(a * z + b, y), attacks.dlr_loss(z, y), rtol=1e-4, atol=1e-5)
      np.testing.assert_allclose(attacks.dlr_targeted_loss(a * z + b, y, (y + 1) % 10),
                                 attacks.dlr_targeted_loss(z, y, (y + 1) % 10), rtol=1e-4, atol=1e-5)
    # known value: z = [3, 1, 0, -1], y = 1: -(1 - 3) / (3 - 0) = 2/3
    np.testing.assert_allclose(attacks.dlr_loss(jnp.array([[3.0, 1.0, 0.0, -1.0]]), jnp.array([1])), [2 / 3],
                               rtol=1e-6)

  @parameterized.parameters("linf", "l2")
  def test_hyperplane_box_projection_matches_bisection(self, norm):
    """The sort-and-cumsum projection equals a bisection on the multiplier, done independently in numpy."""
    rng = np.random.default_rng(7)
    t = rng.uniform(size=(20, 15))
    t[:, :3] = np.round(t[:, :3])  # some coordinates at the box's faces
    w = rng.normal(size=(20, 15))
    w[:, 5] = 0.0
    b = np.sum(w * t, 1) + rng.normal(size=20) * 0.5
    got = np.asarray(attacks.hyperplane_box_projection(jnp.asarray(t), jnp.asarray(w), jnp.asarray(b), norm))
    for i in range(20):
      c = w[i] @ t[i] - b[i]
      s = -np.sign(c)
      a = np.abs(w[i])
      room = np.where(w[i] * s > 0, 1 - t[i], t[i]) * (a > 0)
      v = np.ones(15) if norm == "linf" else a
      change = lambda mu: np.sum(a * np.minimum(mu * v, room))
      if change(1e9) < abs(c):
        continue  # infeasible: the box cannot reach the plane
      lo, hi = 0.0, 1e3
      for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if change(mid) < abs(c) else (lo, mid)
      want = np.sign(w[i] * s) * np.minimum(hi * v, room)
      np.testing.assert_allclose(got[i], want, atol=1e-5)
      np.testing.assert_allclose(w[i] @ (t[i] + got[i]), b[i], atol=1e-4)  # on the plane
      self.assertTrue(np.all((t[i] + got[i] >= -1e-6) & (t[i] + got[i] <= 1 + 1e-6)))  # in the box

  @parameterized.parameters("l2", "linf")
  def test_deepfool_on_affine_is_the_exact_minimal_step(self, norm):
    rng = np.random.default_rng(2)
    K = 5
    A = rng.normal(size=(K, D)).astype(np.float32)
    c = rng.normal(size=K).astype(np.float32) * 0.1
    x = rng.uniform(0.45, 0.55, size=(6, D)).astype(np.float32)
    res = attacks.deepfool(_affine(A, c), x, overshoot=0.02, norm=norm)
    np.testing.assert_array_equal(res.iterations, 1)
    self.assertTrue(res.success.all())
    for i in range(len(x)):
      f = A.astype(np.float64) @ x[i] + c
      k0 = int(np.argmax(f))
      best = None
      for k in range(K):
        if k == k0:
          continue
        w = A[k] - A[k0]
        dual = np.abs(w).sum() if norm == "linf" else np.linalg.norm(w)
        dist = (f[k0] - f[k]) / dual
        if best is None or dist < best[0]:
          best = (dist, w, dual)
      dist, w, dual = best
      step = np.sign(w) if norm == "linf" else w / dual
      want = x[i] + 1.02 * (dist + 1e-4) * step
      np.testing.assert_allclose(res.x_adv[i], want, atol=2e-5)
      np.testing.assert_allclose(res.norms[i], 1.02 * (dist + 1e-4), rtol=1e-4)

  def test_deepfool_crosses_a_boundary_it_lands_on(self):
    # x exactly on the boundary of classes 0/1 (tie): it must still flip, in one step.
    A = jnp.asarray([[1.0] + [0.0] * (D - 1), [0.0] * D], jnp.float32)
    x = np.full((1, D), 0.5, np.float32)
    c = jnp.asarray([-0.5 + 1e-7, 0.0])
    res = attacks.deepfool(_affine(A, c), x, overshoot=0.0)
    self.assertTrue(res.success[0])
    self.assertEqual(res.iterations[0], 1)


@absltest.skipUnless(os.path.isdir(data.FASHION_MNIST_DIR), "Fashion-MNIST missing (make test installs it)")
class TrainedModelTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    images, labels = data._load_fashion_mnist(data.FASHION_MNIST_DIR)["train"]
    x = data.to_unit(images[:6000].reshape(6000, -1))
    y = labels[:6000]

    def apply(p, z):
      h = jax.nn.relu(z.reshape(z.shape[0], -1) @ p["w1"] + p["b1"])
      return h @ p["w2"] + p["b2"]

    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    p = {"w1": jax.random.normal(k1, (784, 128)) * 0.05, "b1": jnp.zeros(128),
         "w2": jax.random.normal(k2, (128, 10)) * 0.05, "b2": jnp.zeros(10)}
    tx = optax.adam(2e-3)
    opt = tx.init(p)

    @jax.jit
    def step(p, opt, xb, yb):
      g = jax.grad(lambda p: attacks.ce_loss(apply(p, xb), yb).mean())(p)
      u, opt = tx.update(g, opt)
      return optax.apply_updates(p, u), opt

    for i in range(300):
      j = (i * 100) % 6000
      p, opt = step(p, opt, x[j:j + 100], y[j:j + 100])
    test_x, test_y = data._load_fashion_mnist(data.FASHION_MNIST_DIR)["test"]
    cls.x = data.to_unit(test_x[:200])
    cls.y = test_y[:200]
    cls.fn = jax.tree_util.Partial(apply, p)

  def _acc(self, z):
    return float(np.mean(np.argmax(self.fn(z), -1) == self.y))

  def test_pgd_drives_an_undefended_model_to_zero(self):
    self.assertGreater(self._acc(self.x), 0.7)
    adv = _pgd(self.fn, self.x, self.y, jax.random.PRNGKey(0), eps=0.3, steps=20)
    self.assertLessEqual(self._acc(adv), 0.01)
    self.assertLess(self._acc(_pgd(self.fn, self.x, self.y, jax.random.PRNGKey(0), eps=0.05, steps=20)),
                    self._acc(self.x))

  def test_batched_equals_per_example(self):
    x, y = self.x[:10], self.y[:10]
    batched = _pgd(self.fn, x, y, jax.random.PRNGKey(0), eps=0.1, steps=10, random_start=False)
    single = np.concatenate([_pgd(self.fn, x[i:i + 1], y[i:i + 1], jax.random.PRNGKey(0), eps=0.1, steps=10,
                                  random_start=False) for i in range(10)])
    np.testing.assert_allclose(batched, single, atol=1e-6)
    df = attacks.deepfool(self.fn, x)
    df1 = [attacks.deepfool(self.fn, x[i:i + 1]) for i in range(10)]
    np.testing.assert_allclose(df.norms, [r.norms[0] for r in df1], rtol=1e-4)
    np.testing.assert_array_equal(df.iterations, [r.iterations[0] for r in df1])

  def test_restarts_never_lose_a_success(self):
    one = _pgd(self.fn, self.x, self.y, jax.random.PRNGKey(1), eps=0.03, steps=5, restarts=1)
    three = _pgd(self.fn, self.x, self.y, jax.random.PRNGKey(1), eps=0.03, steps=5, restarts=3)
    fooled1 = np.argmax(self.fn(one), -1) != self.y
    fooled3 = np.argmax(self.fn(three), -1) != self.y
    self.assertTrue(np.all(fooled3[fooled1]))
    self.assertGreaterEqual(fooled3.sum(), fooled1.sum())

  def test_apgd_is_not_weaker_than_pgd_with_the_same_steps(self):
    for eps in (0.03, 0.06):
      pgd = self._acc(_pgd(self.fn, self.x, self.y, jax.random.PRNGKey(0), eps=eps, steps=20))
      apgd = self._acc(_apgd(self.fn, self.x, self.y, jax.random.PRNGKey(0), eps=eps, steps=20))
      self.assertLessEqual(apgd, pgd + 0.005, eps)

  def test_square_breaks_a_gradient_masked_model_that_pgd_cannot(self):
    masked = jax.tree_util.Partial(lambda p, z: self.fn.func(p, jax.lax.stop_gradient(z)), *self.fn.args)
    eps = 0.1
    pgd = self._acc(_pgd(masked, self.x, self.y, jax.random.PRNGKey(0), eps=eps, steps=20, random_start=False))
    self.assertAlmostEqual(pgd, self._acc(self.x))  # zero gradients: PGD does not move
    square = self._acc(_square(masked, self.x, self.y, jax.random.PRNGKey(0), eps=eps, queries=500))
    self.assertLess(square, pgd - 0.3)  # gradient-free: the masking does not stop it

  def test_autoattack_does_not_depend_on_batch_size(self):
    x, y = self.x[:32], self.y[:32].astype(np.int32)
    settings = autoattack.AttackSettings(steps=10, num_targets=3, queries=60)
    run = lambda bs: autoattack.autoattack(self.fn, x, y, jax.random.PRNGKey(3), eps=0.04, settings=settings,
                                           batch_size=bs)
    whole = run(32)
    self.assertGreater(whole.clean_accuracy - whole.robust_accuracy, 0.1)  # it does break examples
    for bs in (1,):  # every example alone: the most different batching (7 was checked too when written)
      other = run(bs)
      np.testing.assert_array_equal(other.robust, whole.robust)
      np.testing.assert_array_equal(other.broken_by, whole.broken_by)
      np.testing.assert_allclose(other.x_adv, whole.x_adv, atol=1e-6)

  def test_targeted_attacks_batched_equal_one_run_per_target(self):
    """APGD-T and FAB-T run every (example, target) pair in one batch; per example the result must be the
    sequential loop's: target t's run alone (key fold_in(key, t)), the first target that breaks it within eps."""
    x, y, idx = self.x[:48], self.y[:48].astype(np.int32), np.arange(100, 148)
    key, eps, targets = jax.random.PRNGKey(4), 0.05, 9
    run = jax.jit(attacks.apgd_run, static_argnames=("steps", "norm", "loss", "restarts", "rho"))
    alone = {
        "apgd-t": lambda t: run(self.fn, x, y, jax.random.fold_in(key, t), eps=eps, steps=10, loss="dlr_targeted",
                                target_class=t + 2, indices=idx).x,
        "fab-t": lambda t: _fab(self.fn, x, y, jax.random.fold_in(key, t), eps=eps, steps=10, targeted=True,
                                target_class=t + 2, indices=idx)[0]}
    batched = {"apgd-t": autoattack.apgd_targets, "fab-t": attacks.fab_targets}
    for name, one in alone.items():
      want, first = np.array(x), np.full(len(x), -1)
      for t in range(targets):
        a = np.asarray(one(t))
        ok = ((np.argmax(np.asarray(self.fn(a)), -1) != y) & (np.abs(a - x).reshape(len(x), -1).max(1) <= eps * (1 + 1e-5))
              & (first < 0))
        want[ok], first[ok] = a[ok], t
      self.assertGreater((first > 0).sum(), 0, name)  # some examples fall only to a later target
      self.assertGreater((first == -1).sum(), 0, name)  # and some to none
      got = jax.jit(batched[name], static_argnames=("norm", "steps", "num_targets"))(
          self.fn, x, y, key, eps=eps, indices=idx, steps=10, num_targets=targets)
      np.testing.assert_allclose(np.asarray(got), want, atol=1e-6, err_msg=name)

  def test_square_in_spans_equals_one_call_and_drops_the_broken(self):
    """AutoAttack runs Square in spans of queries, each on the examples not yet broken: per example the same
    point as one call of `square` (whose queries stop at the break too)."""
    x, y, idx = self.x[:24], self.y[:24].astype(np.int32), np.arange(50, 74)
    key, queries = jax.random.PRNGKey(2), 300
    whole = np.asarray(_square(self.fn, x, y, key, eps=0.05, queries=queries, indices=idx))
    spans = autoattack.square_in_spans(self.fn, x, y, key, idx, eps=0.05, norm="linf", queries=queries, batch_size=8)
    broken = np.argmax(np.asarray(self.fn(whole)), -1) != y
    self.assertTrue(0 < broken.sum() < len(y))  # some break on the way, so later spans run on fewer examples
    self.assertEqual(autoattack.square_spans(queries), [10, 50, 200, 300])
    np.testing.assert_allclose(spans, whole, atol=1e-6)

  def test_autoattack_takes_any_callable_and_compiles_once_per_function(self):
    """A plain function, a Partial, a bound nnx.Module and a linen apply closure give the same result, and a
    second call with the same function compiles nothing."""
    import flax.linen as nn  # pylint: disable=g-import-not-at-top
    from flax import nnx  # pylint: disable=g-import-not-at-top
    p = self.fn.args[0]
    x, y = self.x[:16], self.y[:16].astype(np.int32)

    class Mlp(nnx.Module):
      def __init__(self):
        self.w1, self.b1 = nnx.Param(p["w1"]), nnx.Param(p["b1"])
        self.w2, self.b2 = nnx.Param(p["w2"]), nnx.Param(p["b2"])

      def __call__(self, z):
        return jax.nn.relu(z.reshape(z.shape[0], -1) @ self.w1 + self.b1) @ self.w2 + self.b2

    class LinenMlp(nn.Module):
      @nn.compact
      def __call__(self, z):
        h = jax.nn.relu(z.reshape(z.shape[0], -1) @ self.param("w1", nn.initializers.zeros, (784, 128))
                        + self.param("b1", nn.initializers.zeros, (128,)))
        return h @ self.param("w2", nn.initializers.zeros, (128, 10)) + self.param("b2", nn.initializers.zeros, (10,))

    variables = {"params": {k: p[k] for k in ("w1", "b1", "w2", "b2")}}
    forms = {"plain function": lambda z: self.fn(z), "Partial": self.fn, "nnx.Module": Mlp(),
             "linen apply closure": lambda z: LinenMlp().apply(variables, z)}
    settings = autoattack.AttackSettings(steps=5, num_targets=2, queries=20)
    compiles = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, *a, **kw: compiles.append(event) if event == "/jax/core/compile/backend_compile_duration"
        else None)
    results = {}
    for name, f in forms.items():
      run = lambda f=f: autoattack.autoattack(f, x, y, jax.random.PRNGKey(0), eps=0.05, settings=settings)
      results[name] = run()
      before = len(compiles)
      again = run()
      self.assertEqual(len(compiles), before, f"{name}: the second call compiled again")
      np.testing.assert_array_equal(again.robust, results[name].robust)
    for name, r in results.items():
      np.testing.assert_array_equal(r.robust, results["Partial"].robust, err_msg=name)
      np.testing.assert_allclose(r.x_adv, results["Partial"].x_adv, atol=1e-5, err_msg=name)

  def test_autoattack_skips_the_known_broken_and_attacks_the_rest_as_before(self):
    """Nested eps: attacking only what 0.02 left robust gives, at 0.04, every example's result of a full run."""
    x, y = self.x[:32], self.y[:32].astype(np.int32)
    settings = autoattack.AttackSettings(steps=10, num_targets=3, queries=60)
    run = lambda eps, known=None: autoattack.autoattack(self.fn, x, y, jax.random.PRNGKey(3), eps=eps,
                                                        settings=settings, batch_size=32, known_broken=known)
    small, full = run(0.02), run(0.04)
    nested = run(0.04, ~small.robust)
    given = (small.broken_by >= 0)  # broken at 0.02 (not merely wrong on x)
    self.assertGreater(given.sum(), 0)
    np.testing.assert_array_equal(nested.robust, full.robust & small.robust)
    np.testing.assert_array_equal(nested.broken_by[given], -3)
    np.testing.assert_array_equal(nested.broken_by[small.robust], full.broken_by[small.robust])
    self.assertEqual(nested.clean_accuracy, full.clean_accuracy)

  def test_deepfool_one_example_at_a_time_equals_the_batch(self):
    """Padding (a batch of 1 is its own bucket, a batch of 12 pads to 32) must not change any example's result."""
    x = self.x[:12]
    whole = attacks.deepfool(self.fn, x)
    for i in (0, 5, 11):
      one = attacks.deepfool(self.fn, x[i:i + 1])
      np.testing.assert_allclose(one.x_adv[0], whole.x_adv[i], atol=1e-5)
      self.assertEqual(one.iterations[0], whole.iterations[i])
      self.assertEqual(one.success[0], whole.success[i])

  def test_autoattack_functions_are_built_once(self):
    settings = autoattack.AttackSettings(steps=5)
    self.assertIs(autoattack.attack_fn("apgd-ce", "linf", settings, 10),
                  autoattack.attack_fn("apgd-ce", "linf", settings, 10))

  def test_deepfool_is_minimal_along_its_direction(self):
    """A fine line search along each DeepFool direction crosses the boundary at >= 1/1.1 of DeepFool's norm."""
    x = self.x[:30]
    res = attacks.deepfool(self.fn, x, overshoot=0.02)
    pred = np.argmax(self.fn(x), -1)
    checked = 0
    for i in np.flatnonzero(res.success):
      r = (res.x_adv[i] - x[i]).ravel()
      ts = np.linspace(0, 1, 401)[1:]
      pts = np.clip(x[i].ravel()[None] + ts[:, None] * r[None], 0, 1).reshape(-1, *x.shape[1:])
      crossed = np.argmax(np.asarray(self.fn(pts)), -1) != pred[i]
      t_star = ts[np.argmax(crossed)]
      self.assertGreaterEqual(t_star, 1 / 1.1, i)  # no point much closer on its own ray
      checked += 1
    self.assertGreater(checked, 20)

  def test_deepfool_flips_labels_with_small_perturbations(self):
    res = attacks.deepfool(self.fn, self.x[:50])
    pred = np.argmax(self.fn(self.x[:50]), -1)
    adv_pred = np.argmax(self.fn(res.x_adv), -1)
    np.testing.assert_array_equal(adv_pred[res.success] != pred[res.success], True)
    self.assertGreater(res.success.mean(), 0.95)
    rho = np.mean(res.norms / np.linalg.norm(self.x[:50].reshape(50, -1), axis=1))
    self.assertLess(rho, 0.2)


if __name__ == "__main__":
  absltest.main()
