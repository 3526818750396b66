"""CIFAR-10 from the formats users have: the official python batches (folder or tar.gz), image folders (directory,
tar.gz, zip), the cache and its invalidation, and the project's real JPEG copy when it is present."""

import os
import pickle
import shutil
import tarfile
import tempfile
import zipfile
from unittest import mock

import numpy as np
from absl.testing import absltest
from PIL import Image

from lowrank_jax import data, default_config, readers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_CIFAR10 = os.path.join(ROOT, "..", "shared", "data", "cifar10")
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _cfg(data_dir: str, name: str = "cifar10"):
  c = default_config.get_config().dataset
  c.name, c.data_dir = name, data_dir
  return c


def _images(n: int, seed: int) -> np.ndarray:
  return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def write_pickle_batches(folder: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """The official layout: data_batch_1..5 and test_batch, each a py2-era pickle of {b"data": (n, 3072) uint8 rows
  in channel-major order, b"labels": list}; returns the NHWC arrays they hold."""
  os.makedirs(folder)
  expected = {"train": ([], []), "test": ([], [])}
  for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
    x, y = _images(4, i), [int(v) for v in np.random.default_rng(100 + i).integers(0, 10, 4)]
    batch = {b"batch_label": f"batch {i}".encode(), b"labels": y, b"data": x.transpose(0, 3, 1, 2).reshape(4, -1),
             b"filenames": [f"{i}_{k}.png".encode() for k in range(4)]}
    with open(os.path.join(folder, name), "wb") as f:
      pickle.dump(batch, f, protocol=2)
    split = "test" if name == "test_batch" else "train"
    expected[split][0].append(x)
    expected[split][1].append(np.asarray(y, np.int32))
  with open(os.path.join(folder, "batches.meta"), "wb") as f:
    pickle.dump({b"label_names": [c.encode() for c in CLASSES]}, f, protocol=2)
  return {s: (np.concatenate(x), np.concatenate(y)) for s, (x, y) in expected.items()}


def write_image_folders(folder: str, fmt: str = "png") -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """train/<class>/<n>.<fmt> (n = 2, 10, 7: read in the order 2, 7, 10) and test/<class>/2.<fmt>; returns the
  arrays in the order a reader must give them (classes in name order, files in natural order, then
  `readers.folder_order`)."""
  expected = {}
  for split, numbers in (("train", (2, 10, 7)), ("test", (2,))):
    xs, ys = [], []
    for label, cls in enumerate(CLASSES):
      os.makedirs(os.path.join(folder, split, cls))
      written = {}
      for number in numbers:
        written[number] = _images(1, 1000 * label + number + (0 if split == "train" else 500))[0]
        Image.fromarray(written[number]).save(os.path.join(folder, split, cls, f"{number}.{fmt}"))
      xs += [written[n] for n in sorted(written)]
      ys += [label] * len(numbers)
    order = readers.folder_order(len(xs))  # class by class, then the reader's fixed shuffle
    expected[split] = (np.stack(xs)[order], np.asarray(ys, np.int32)[order])
  return expected


def _assert_splits(test, ds, expected):
  for split, (x, y) in expected.items():
    np.testing.assert_array_equal(ds.splits[split][0], x, err_msg=split)
    np.testing.assert_array_equal(ds.splits[split][1], y, err_msg=split)


class ReadersTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
    self.enter_context(mock.patch.dict(os.environ, {"LOWRANK_JAX_CACHE": os.path.join(self.tmp, "cache")}))

  def test_official_pickle_batches_as_a_folder_and_as_the_tar_gz(self):
    src = os.path.join(self.tmp, "src")
    expected = write_pickle_batches(os.path.join(src, "cifar-10-batches-py"))
    for data_dir in (src, os.path.join(src, "cifar-10-batches-py")):  # the parent or the folder itself
      ds = data.load_dataset(_cfg(data_dir))
      _assert_splits(self, ds, expected)
      self.assertTrue(ds.source.startswith("pickle:"), ds.source)
    archive = os.path.join(self.tmp, "dl", "cifar-10-python.tar.gz")
    os.makedirs(os.path.dirname(archive))
    with tarfile.open(archive, "w:gz") as tf:
      tf.add(os.path.join(src, "cifar-10-batches-py"), arcname="cifar-10-batches-py")
    for data_dir in (archive, os.path.dirname(archive)):  # the file, or the folder holding it
      from_archive = data.load_dataset(_cfg(data_dir))
      _assert_splits(self, from_archive, expected)
      self.assertEqual(from_archive.digest, ds.digest)
    self.assertEqual(ds.digest, readers.digest(expected))

  def test_image_folders_as_a_directory_a_tar_gz_and_a_zip(self):
    src = os.path.join(self.tmp, "folders")
    expected = write_image_folders(src)
    ds = data.load_dataset(_cfg(src))
    _assert_splits(self, ds, expected)  # PNG is lossless; classes sorted by name are labels 0..9
    tgz, zp = os.path.join(self.tmp, "a", "c10.tar.gz"), os.path.join(self.tmp, "b", "c10.zip")
    os.makedirs(os.path.dirname(tgz))
    os.makedirs(os.path.dirname(zp))
    with tarfile.open(tgz, "w:gz") as tf:
      tf.add(os.path.join(src, "train"), arcname="train")
      tf.add(os.path.join(src, "test"), arcname="test")
    with zipfile.ZipFile(zp, "w") as zf:  # with one top-level folder inside, as zips made by hand often have
      for dirpath, _, files in os.walk(src):
        for f in files:
          zf.write(os.path.join(dirpath, f), os.path.join("cifar10", os.path.relpath(os.path.join(dirpath, f), src)))
    for data_dir in (tgz, os.path.dirname(zp)):
      other = data.load_dataset(_cfg(data_dir))
      _assert_splits(self, other, expected)
      self.assertEqual(other.digest, ds.digest)

  def test_jpeg_folders_decode_close_to_the_original(self):
    src = os.path.join(self.tmp, "jpeg")
    expected = write_image_folders(src, fmt="jpg")
    ds = data.load_dataset(_cfg(src))
    self.assertEqual(ds.splits["train"][0].shape, (30, 32, 32, 3))
    np.testing.assert_array_equal(ds.splits["train"][1], expected["train"][1])
    # random noise is JPEG's worst case; a constant image would come back nearly exact
    err = np.abs(ds.splits["train"][0].astype(int) - expected["train"][0].astype(int)).mean()
    self.assertLess(err, 60)

  def test_the_second_load_is_from_the_cache_and_a_changed_source_is_decoded_again(self):
    src = os.path.join(self.tmp, "folders")
    write_image_folders(src)
    first = data.load_dataset(_cfg(src))
    with mock.patch.object(readers, "_decode_source", side_effect=AssertionError("decoded again")):
      again = data.load_dataset(_cfg(src))
    self.assertEqual(again.digest, first.digest)
    self.assertEqual((again.mean, again.std), (first.mean, first.std))
    path = os.path.join(src, "test", "cat", "2.png")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(path)
    os.utime(path, ns=(1, 1))  # a different modification time, whatever the clock's resolution
    changed = data.load_dataset(_cfg(src))
    self.assertNotEqual(changed.digest, first.digest)
    cat = int(np.flatnonzero(readers.folder_order(10) == 3)[0])  # test/cat/2.png: class 3, read 4th, then shuffled
    np.testing.assert_array_equal(changed.splits["test"][0][cat], np.zeros((32, 32, 3), np.uint8))

  def test_a_folder_in_no_known_format_is_one_line(self):
    os.makedirs(os.path.join(self.tmp, "empty", "misc"))
    with self.assertRaises(data.DataError) as e:
      data.load_dataset(_cfg(os.path.join(self.tmp, "empty")))
    message = str(e.exception)
    self.assertNotIn("\n", message)
    for part in ("cifar-10-batches-py/", "train/<class>/*", ".zip", "cifar10/<version>/"):
      self.assertIn(part, message)

  def test_wrong_image_size_and_class_count_name_the_file(self):
    src = os.path.join(self.tmp, "bad")
    write_image_folders(src)
    Image.fromarray(np.zeros((28, 28, 3), np.uint8)).save(os.path.join(src, "train", "dog", "2.png"))
    with self.assertRaisesRegex(data.DataError, r"train/dog/2.png: an image of shape \(28, 28, 3\)"):
      data.load_dataset(_cfg(src))
    with self.assertRaisesRegex(data.DataError, "has 10 class folders .* the dataset has 100"):
      data.load_dataset(_cfg(src, "cifar100"))


@absltest.skipUnless(os.path.isdir(SHARED_CIFAR10), "the project's CIFAR-10 copy (../shared/data/cifar10) is absent")
class SharedCifar10Test(absltest.TestCase):

  def test_the_jpeg_copy_holds_the_official_split(self):
    """50,000 / 10,000 images, 5,000 / 1,000 per class, and the digest every result on it records."""
    ds = data.load_dataset(_cfg(SHARED_CIFAR10))
    (tx, ty), (vx, vy) = ds.splits["train"], ds.splits["test"]
    self.assertEqual((tx.shape, vx.shape), ((50000, 32, 32, 3), (10000, 32, 32, 3)))
    np.testing.assert_array_equal(np.bincount(ty), [5000] * 10)
    np.testing.assert_array_equal(np.bincount(vy), [1000] * 10)
    self.assertEqual(ds.source, "folders:" + os.path.abspath(os.path.join(SHARED_CIFAR10, "cifar10-jpeg.tar.gz")))
    self.assertEqual(ds.digest, "4be6f8979bfe0a45")
    self.assertAlmostEqual(ds.mean[0], 0.4913, places=3)  # the official images: 0.4914, 0.4822, 0.4465
    self.assertGreaterEqual(np.bincount(vy[:500], minlength=10).min(), 30)  # the first 500 mix every class


if __name__ == "__main__":
  absltest.main()
