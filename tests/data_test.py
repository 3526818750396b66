"""Data: the IDX reader against hand-written files, Fashion-MNIST's known counts, TFDS via mock_data."""

import gzip
import io
import os
import tempfile

import PIL.Image

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


def prepare_tfds(data_dir: str, name: str, classes: int, coarse: bool = False, n=(12, 5)) -> dict:
  """Writes a tiny prepared dataset `name` with TFDS's own writer (array_record, no TensorFlow: the images
  are given as PNG bytes encoded with PIL); returns the written arrays by split."""
  written, builder_name = {}, name

  class Builder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    name = builder_name
    VERSION = tfds.builder_cls(builder_name).VERSION  # where tfds.data_source(name) will look

    def _info(self):
      feats = {"image": tfds.features.Image(shape=(32, 32, 3)), "label": tfds.features.ClassLabel(num_classes=classes)}
      if coarse:
        feats["coarse_label"] = tfds.features.ClassLabel(num_classes=20)
      return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(feats))

    def _split_generators(self, dl_manager):
      return {split: self._generate_examples(split, size) for split, size in zip(("train", "test"), n)}

    def _generate_examples(self, split, size):
      rng = np.random.default_rng(len(split))
      images, labels = rng.integers(0, 256, (size, 32, 32, 3), dtype=np.uint8), rng.integers(0, classes, size)
      written[split] = (images, labels)
      for i in range(size):
        buf = io.BytesIO()
        PIL.Image.fromarray(images[i]).save(buf, format="PNG")
        ex = {"image": buf.getvalue(), "label": int(labels[i])}
        if coarse:
          ex["coarse_label"] = int(labels[i]) % 20
        yield i, ex

  Builder(data_dir=data_dir, file_format="array_record").download_and_prepare()
  return written


class TfdsTest(parameterized.TestCase):

  @parameterized.parameters(("cifar10", "cifar10", 10, False), ("cifar100", "cifar100", 100, True),
                            ("cifar100_coarse", "cifar100", 20, True), ("svhn", "svhn_cropped", 10, False))
  def test_reads_a_dataset_prepared_by_tfds_writer(self, name, tfds_name, classes, coarse):
    with tempfile.TemporaryDirectory() as d:
      written = prepare_tfds(d, tfds_name, 100 if tfds_name == "cifar100" else classes, coarse)
      ds = data.load_dataset(_cfg(name=name, data_dir=d))
      for split in ("train", "test"):
        x, y = ds.splits[split]
        images, labels = written[split]
        order = np.argsort([im.tobytes() for im in images])  # tfds may shuffle: compare as sets of pairs
        got = np.argsort([im.tobytes() for im in x])
        np.testing.assert_array_equal(x[got], images[order])
        want = labels % 20 if name == "cifar100_coarse" else labels
        np.testing.assert_array_equal(y[got], want[order])
        self.assertEqual(x.dtype, np.uint8)
      self.assertEqual(ds.info.num_classes, classes)
      self.assertEqual(len(ds.mean), 3)

  def test_missing_tfds_dataset_is_one_line_naming_where_and_how(self):
    with tempfile.TemporaryDirectory() as d:
      with self.assertRaises(data.DataError) as e:
        data.load_dataset(_cfg(name="cifar10", data_dir=d))
      msg = str(e.exception)
      self.assertNotIn("\n", msg)
      self.assertIn(f"config.dataset.data_dir={d} holds no cifar10 in a known format: looked for", msg)
      self.assertIn("tfds build cifar10 --data_dir DIR --file_format array_record", msg)
      self.assertFalse(os.listdir(d))  # nothing downloaded or written

  def test_default_tfds_dir_is_tfds_own(self):
    self.assertEqual(data.tfds_data_dir(""), os.path.expanduser(os.environ.get("TFDS_DATA_DIR",
                                                                               "~/tensorflow_datasets")))


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

  def test_to_unit_scales_uint8_to_float32(self):
    x = np.array([0, 51, 255], np.uint8)
    out = data.to_unit(x)
    self.assertEqual(out.dtype, np.float32)
    np.testing.assert_allclose(out, [0.0, 0.2, 1.0], rtol=1e-7)


if __name__ == "__main__":
  absltest.main()
