"""Data: the IDX reader against hand-written files, Fashion-MNIST's known counts, TFDS via mock_data."""

import gzip
import os
import tempfile

import ml_collections
import numpy as np
import tensorflow_datasets as tfds
from absl.testing import absltest, parameterized

from lowrank_jax import data

FMNIST = data.FASHION_MNIST_DIR


def _cfg(**kw):
  c = ml_collections.ConfigDict(dict(name="fashion_mnist", data_dir=FMNIST, validation_size=0, split_seed=0,
                                     train_size=0, test_size=0))
  c.update(kw)
  return c


def _write_idx(path, array):
  header = bytes([0, 0, 8, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
  with gzip.open(path, "wb") as f:
    f.write(header + array.astype(np.uint8).tobytes())


class IdxTest(absltest.TestCase):

  def test_reads_hand_written_file(self):
    arr = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    with tempfile.TemporaryDirectory() as d:
      _write_idx(os.path.join(d, "x.gz"), arr)
      np.testing.assert_array_equal(data.read_idx(os.path.join(d, "x.gz")), arr)

  def test_errors_name_the_file(self):
    with tempfile.TemporaryDirectory() as d:
      missing = os.path.join(d, "nope.gz")
      with self.assertRaisesRegex(data.DataError, r"nope\.gz not found: install .*apt-get install dataset-fashion-mnist"):
        data.read_idx(missing)
      bad = os.path.join(d, "bad.gz")
      with gzip.open(bad, "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + np.asarray([10], ">u4").tobytes() + b"abc")
      with self.assertRaisesRegex(data.DataError, r"bad\.gz is truncated"):
        data.read_idx(bad)


@absltest.skipUnless(os.path.isdir(FMNIST), f"{FMNIST} missing (make test installs it)")
class FashionMnistTest(absltest.TestCase):

  def test_known_sizes_and_balanced_classes(self):
    ds = data.load_dataset(_cfg())
    (xtr, ytr), (xte, yte) = ds.splits["train"], ds.splits["test"]
    self.assertEqual((xtr.shape, xte.shape), ((60000, 28, 28, 1), (10000, 28, 28, 1)))
    np.testing.assert_array_equal(np.bincount(ytr), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(yte), [1000] * 10)
    self.assertAlmostEqual(ds.mean[0], 0.2860, places=3)  # published Fashion-MNIST statistics
    self.assertAlmostEqual(ds.std[0], 0.3530, places=3)

  def test_validation_split_is_disjoint_and_seeded(self):
    ds = data.load_dataset(_cfg(validation_size=5000, train_size=0))
    (xtr, _), (xva, _) = ds.splits["train"], ds.splits["validation"]
    self.assertEqual((len(xtr), len(xva)), (55000, 5000))
    full = data.load_dataset(_cfg()).splits["train"][0]
    key = lambda a: sorted(r.tobytes() for r in a.reshape(len(a), -1))
    self.assertEqual(key(np.concatenate([xtr, xva])), key(full))  # a partition of train
    again = data.load_dataset(_cfg(validation_size=5000)).splits["validation"][0]
    np.testing.assert_array_equal(again, xva)


class TfdsTest(parameterized.TestCase):

  @parameterized.parameters(("cifar10", 10), ("cifar100", 100), ("cifar100_coarse", 20), ("svhn", 10))
  def test_data_source_path(self, name, classes):
    with tfds.testing.mock_data(num_examples=12):
      ds = data.load_dataset(_cfg(name=name, data_dir="/nonexistent/tfds"))
    x, y = ds.splits["train"]
    self.assertEqual(x.shape, (12, 32, 32, 3))
    self.assertEqual(x.dtype, np.uint8)
    self.assertTrue(np.all((y >= 0) & (y < classes)))
    self.assertEqual(ds.info.num_classes, classes)
    self.assertEqual(len(ds.mean), 3)

  def test_missing_tfds_dataset_is_one_line(self):
    with self.assertRaises(data.DataError) as e:
      data.load_dataset(_cfg(name="cifar10", data_dir=tempfile.mkdtemp()))
    self.assertNotIn("\n", str(e.exception))
    self.assertIn("cifar10", str(e.exception))


class BatchingTest(absltest.TestCase):

  def test_epochs_are_permutations_fixed_by_seed(self):
    x = np.arange(100)[:, None]
    y = np.arange(100)
    epoch0 = [b[1] for b in data.train_batches(x, y, 16, seed=3, epoch=0)]
    self.assertLen(epoch0, 6)  # remainder dropped
    seen = np.concatenate(epoch0)
    self.assertLen(set(seen.tolist()), 96)
    again = np.concatenate([b[1] for b in data.train_batches(x, y, 16, seed=3, epoch=0)])
    np.testing.assert_array_equal(seen, again)
    other = np.concatenate([b[1] for b in data.train_batches(x, y, 16, seed=3, epoch=1)])
    self.assertFalse(np.array_equal(seen, other))
    resumed = np.concatenate([b[1] for b in data.train_batches(x, y, 16, seed=3, epoch=0, start=2)])
    np.testing.assert_array_equal(resumed, seen[32:])

  def test_eval_batches_pad_and_mask(self):
    x, y = np.arange(10)[:, None], np.arange(10)
    batches = list(data.eval_batches(x, y, 4))
    self.assertLen(batches, 3)
    self.assertEqual(batches[-1][2].tolist(), [True, True, False, False])
    np.testing.assert_array_equal(np.concatenate([b[1][b[2]] for b in batches]), y)


if __name__ == "__main__":
  absltest.main()
