"""Datasets as in-memory numpy arrays, and deterministic batching.

    load_dataset(cfg)  -> Dataset   # cfg: config.dataset
    DATASETS                        # name -> DatasetInfo (classes, shape, tfds name)
    train_batches(images, labels, batch_size, seed, epoch, start)  # one epoch
    to_unit(images)                 # uint8 -> float32 in [0, 1]

Fashion-MNIST (the embedded default) is read with numpy from the IDX .gz files
of Debian's `dataset-fashion-mnist`. CIFAR-10/100 and SVHN are read from what
`config.dataset.data_dir` holds (`lowrank_jax.readers`: the official python
batches, image folders as a directory or an archive, or TFDS array_record),
decoded once and cached; without a data_dir, from TFDS's default folder.
Nothing is ever downloaded or prepared at run time (a missing dataset is a
one-line DataError saying where it looked and how to prepare it elsewhere).
Every Dataset records its source and the digest of its decoded arrays.
Images stay uint8 (N, H, W, C) until the jitted step scales them to [0, 1].
"""

from __future__ import annotations

import dataclasses
import glob
import gzip
import os
from typing import Iterator

import numpy as np

from lowrank_jax import readers
from lowrank_jax.readers import DataError, channel_stats  # noqa: F401 (part of this module's API)


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What the code needs to know of a dataset: classes, input shape, and its TFDS name and label key."""
  num_classes: int
  input_shape: tuple[int, int, int]
  tfds_name: str | None = None
  label_key: str = "label"


DATASETS = {
    "fashion_mnist": DatasetInfo(10, (28, 28, 1)),
    "cifar10": DatasetInfo(10, (32, 32, 3), "cifar10"),
    "cifar100": DatasetInfo(100, (32, 32, 3), "cifar100"),
    "cifar100_coarse": DatasetInfo(20, (32, 32, 3), "cifar100", "coarse_label"),
    "svhn": DatasetInfo(10, (32, 32, 3), "svhn_cropped"),
}

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


@dataclasses.dataclass(frozen=True)
class Dataset:
  """A loaded dataset: uint8 NHWC images and int labels per split, and the training images' channel statistics."""
  name: str
  info: DatasetInfo
  splits: dict[str, tuple[np.ndarray, np.ndarray]]  # "train", "test", maybe "validation"
  mean: tuple[float, ...]  # per channel, of the training images in [0, 1]
  std: tuple[float, ...]
  source: str = ""  # "<reader>:<path>" the arrays were decoded from
  digest: str = ""  # readers.digest of the decoded train and test arrays (before any subset or hold-out)


def read_idx(path: str) -> np.ndarray:
  """Reads an IDX file (optionally .gz): big-endian dims after a 4-byte magic."""
  try:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
      raw = f.read()
  except FileNotFoundError:
    raise DataError(
        f"{path} not found: install the Fashion-MNIST files with "
        "`sudo apt-get install dataset-fashion-mnist` or set --config.dataset.data_dir"
    ) from None
  except (OSError, EOFError) as e:
    raise DataError(f"{path} cannot be read: {e}") from None
  if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
    raise DataError(f"{path} is not an unsigned-byte IDX file (bad magic {raw[:4]!r})")
  ndim = raw[3]
  dims = np.frombuffer(raw, ">u4", count=ndim, offset=4).astype(int)
  data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
  if data.size != int(np.prod(dims)):
    raise DataError(f"{path} is truncated: {data.size} bytes of data for dims {tuple(dims)}")
  return data.reshape(dims)


def _load_fashion_mnist(data_dir: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  splits = {}
  for split, (img_file, lbl_file) in _FASHION_FILES.items():
    images = read_idx(os.path.join(data_dir, img_file))[..., None]
    labels = read_idx(os.path.join(data_dir, lbl_file)).astype(np.int32)
    if len(images) != len(labels):
      raise DataError(f"{data_dir}: {split} has {len(images)} images but {len(labels)} labels")
    splits[split] = (images, labels)
  return splits


def tfds_data_dir(data_dir: str | None) -> str:
  """config.dataset.data_dir, else $TFDS_DATA_DIR, else ~/tensorflow_datasets (TFDS's own default)."""
  return os.path.expanduser(data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets")


def _load_tfds(info: DatasetInfo, data_dir: str | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  root = tfds_data_dir(data_dir)
  prepared = glob.glob(os.path.join(root, info.tfds_name, "*", "dataset_info.json")) + glob.glob(
      os.path.join(root, info.tfds_name, "*", "*", "dataset_info.json"))
  if not prepared:
    raise DataError(
        f"tfds dataset {info.tfds_name!r} is not prepared under {root} (looked for "
        f"{os.path.join(root, info.tfds_name, '<version>', 'dataset_info.json')}); nothing is downloaded at run "
        f"time: on a machine with internet run `pip install tensorflow tensorflow-datasets && tfds build "
        f"{info.tfds_name} --data_dir DIR --file_format array_record`, copy DIR here and pass "
        f"--config.dataset.data_dir=DIR")
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  splits = {}
  for split in ("train", "test"):
    try:
      source = tfds.data_source(info.tfds_name, split=split, data_dir=root, download=False)
    except Exception as e:  # tfds raises many types for an unreadable dataset
      hint = (" (prepared as TFRecord? rebuild with --file_format array_record)"
              if "FileFormat.TFRECORD" in str(e) else "")
      raise DataError(
          f"tfds dataset {info.tfds_name!r} split {split!r} under {root} is not readable{hint}: "
          f"{type(e).__name__}: {e}".splitlines()[0]
      ) from None
    examples = [source[i] for i in range(len(source))]
    images = np.stack([np.asarray(ex["image"], np.uint8) for ex in examples])
    labels = np.asarray([ex[info.label_key] for ex in examples], np.int32)
    splits[split] = (images, labels)
  return splits


def load_dataset(cfg) -> Dataset:
  """Loads config.dataset: name, data_dir, train_size, test_size, validation_size, seed.

  `validation_size` examples are held out of train by a permutation seeded with
  `cfg.split_seed`; `train_size`/`test_size` > 0 keep only the first examples.
  """
  if cfg.name not in DATASETS:
    raise DataError(f"config.dataset.name={cfg.name!r} is unknown; valid: {sorted(DATASETS)}")
  info = DATASETS[cfg.name]
  if cfg.name == "fashion_mnist":
    root = cfg.data_dir or FASHION_MNIST_DIR
    found = readers.found(_load_fashion_mnist(root), f"idx:{os.path.abspath(root)}")
  elif cfg.data_dir:
    found = readers.read_splits(info, cfg.name, cfg.data_dir, tfds_reader=lambda: _load_tfds(info, cfg.data_dir))
  else:
    found = readers.found(_load_tfds(info, None), f"tfds:{tfds_data_dir(None)}")
  splits = dict(found.splits)
  images, labels = splits["train"]
  if cfg.validation_size > 0:
    if cfg.validation_size >= len(images):
      raise DataError(f"config.dataset.validation_size={cfg.validation_size} >= {len(images)} training examples")
    perm = np.random.default_rng(cfg.split_seed).permutation(len(images))
    val, train = perm[: cfg.validation_size], np.sort(perm[cfg.validation_size :])
    splits["validation"] = (images[val], labels[val])
    splits["train"] = (images[train], labels[train])
  if cfg.train_size > 0:
    splits["train"] = tuple(a[: cfg.train_size] for a in splits["train"])
  if cfg.test_size > 0:
    splits["test"] = tuple(a[: cfg.test_size] for a in splits["test"])
  whole = cfg.validation_size <= 0 and (cfg.train_size <= 0 or cfg.train_size >= len(images))
  mean, std = found.train_stats if whole else channel_stats(splits["train"][0])
  return Dataset(cfg.name, info, splits, mean, std, found.source, found.digest)


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
  """The example order of one epoch: a function of (seed, epoch) only."""
  return np.random.default_rng([seed, epoch]).permutation(n)


def train_batch_indices(n: int, batch_size: int, seed: int, epoch: int, start: int = 0) -> Iterator[np.ndarray]:
  """The example indices (sorted) of each shuffled full batch of one epoch from batch index `start` (drops the
  remainder)."""
  perm = epoch_permutation(n, seed, epoch)
  for i in range(start, n // batch_size):
    yield np.sort(perm[i * batch_size : (i + 1) * batch_size])


def train_batches(
    images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int, epoch: int, start: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
  """Yields the shuffled full batches of one epoch from batch index `start` (drops the remainder)."""
  for idx in train_batch_indices(len(images), batch_size, seed, epoch, start):
    yield images[idx], labels[idx]


def to_unit(images):
  """uint8 pixels (numpy or jax) -> float32 in [0, 1]: the one place pixel units are converted."""
  return images.astype(np.float32) / 255.0
