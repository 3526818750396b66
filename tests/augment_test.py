"""Augmentation for natural images: a flip is a flip, a crop is a shifted window of the zero-padded image, the
offsets cover their range, and an example's augmentation depends on (seed, epoch, its index) only."""

import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized

from lowrank_jax import augment

_augment = jax.jit(augment.augment, static_argnums=0)


def _batch(n: int = 8, seed: int = 0) -> np.ndarray:
  return np.random.default_rng(seed).integers(1, 256, (n, 32, 32, 3), dtype=np.uint8)


class AugmentTest(parameterized.TestCase):

  def test_crop_and_flip_against_numpy(self):
    x = _batch(1)[0]
    np.testing.assert_array_equal(augment.crop_flip(x, 4, 4, False), x)  # offset (pad, pad): the image itself
    np.testing.assert_array_equal(augment.crop_flip(x, 4, 4, True), x[:, ::-1])  # a flip is a mirror
    padded = np.pad(x, ((4, 4), (4, 4), (0, 0)))
    for dy, dx in ((0, 0), (8, 8), (1, 7), (6, 2)):
      np.testing.assert_array_equal(augment.crop_flip(x, dy, dx, False), padded[dy:dy + 32, dx:dx + 32])
      np.testing.assert_array_equal(augment.crop_flip(x, dy, dx, True), padded[dy:dy + 32, dx:dx + 32][:, ::-1])
    self.assertEqual(int((np.asarray(augment.crop_flip(x, 0, 0, False))[:4] == 0).all()), 1)  # zero padding

  @staticmethod
  def _offsets(out: np.ndarray) -> tuple[list[int], list[int], list[bool]]:
    """(dy, dx, flipped) of each output of the image whose pixel (r, c) holds r * 32 + c + 1 (0: padding)."""
    dys, dxs, flips = [], [], []
    for o in out[:, :, :, 0]:
      r, c = next((r, c) for r, c in np.argwhere(o > 0) if c + 1 < 32 and o[r, c + 1] > 0)
      sr, sc = divmod(int(o[r, c]) - 1, 32)
      flipped = o[r, c + 1] < o[r, c]
      dys.append(sr - r + 4)
      dxs.append(sc + c - 27 if flipped else sc - c + 4)
      flips.append(bool(flipped))
    return dys, dxs, flips

  def test_offsets_cover_the_range_and_half_the_images_flip(self):
    n = 4000
    img = np.arange(32 * 32, dtype=np.int32).reshape(1, 32, 32, 1) + 1
    out = np.asarray(_augment("crop_flip", jnp.broadcast_to(img, (n, 32, 32, 1)),
                              augment.example_keys(0, 0, jnp.arange(n))))
    dys, dxs, flips = self._offsets(out)
    for offsets in (dys, dxs):
      self.assertEqual(sorted(set(offsets)), list(range(9)))  # 0..2 pad
      self.assertGreater(np.bincount(offsets).min(), n / 9 * 0.7)  # roughly uniform
    self.assertBetween(np.mean(flips), 0.45, 0.55)
    for o, dy, dx, f in list(zip(out, dys, dxs, flips))[:50]:  # each output is exactly that crop (and flip)
      np.testing.assert_array_equal(o, augment.crop_flip(img[0], dy, dx, f))

  def test_crop_only_never_flips(self):
    img = np.arange(32 * 32, dtype=np.int32).reshape(1, 32, 32, 1) + 1
    out = np.asarray(_augment("crop", jnp.broadcast_to(img, (500, 32, 32, 1)),
                              augment.example_keys(0, 3, jnp.arange(500))))
    self.assertFalse(any(self._offsets(out)[2]))

  def test_the_same_seed_epoch_and_index_give_the_same_image_whatever_the_batch(self):
    x = _batch(8)
    idx = jnp.arange(100, 108)
    whole = np.asarray(_augment("crop_flip", x, augment.example_keys(0, 2, idx)))
    halves = [np.asarray(_augment("crop_flip", x[i:i + 4], augment.example_keys(0, 2, idx[i:i + 4]))) for i in (0, 4)]
    np.testing.assert_array_equal(whole, np.concatenate(halves))
    np.testing.assert_array_equal(whole, np.asarray(_augment("crop_flip", x, augment.example_keys(0, 2, idx))))
    other_epoch = np.asarray(_augment("crop_flip", x, augment.example_keys(0, 3, idx)))
    self.assertFalse(np.array_equal(whole, other_epoch))
    np.testing.assert_array_equal(_augment("none", x, augment.example_keys(0, 2, idx)), x)

  @parameterized.parameters(("auto", "cifar10", "crop_flip"), ("auto", "svhn", "crop"),
                            ("auto", "fashion_mnist", "none"), ("none", "cifar10", "none"),
                            ("crop_flip", "fashion_mnist", "crop_flip"))
  def test_resolve(self, kind, dataset, expected):
    self.assertEqual(augment.resolve(kind, dataset), expected)


if __name__ == "__main__":
  absltest.main()
