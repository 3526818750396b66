"""Natural-image datasets from the formats users have, decoded once and cached as uint8 arrays.

    read_splits(info, name, data_dir) -> Splits   # {"train", "test"}: (uint8 NHWC, int32), source, digest

What `data_dir` holds picks the reader (the first that matches):
    pickle   the official python batches: `cifar-10-batches-py/` (data_batch_1..5, test_batch) or
             `cifar-100-python/` (train, test), the folder itself, or its archive `cifar-10-python.tar.gz` /
             `cifar-100-python.tar.gz` (the file, or a folder holding it)
    folders  image folders `train/<class>/*` and `test/<class>/*` (any format Pillow reads), as a directory or
             one archive (.tar.gz, .tgz, .tar, .zip; the file, or a folder holding exactly one), with or without
             one top-level folder inside; classes sorted by name are labels 0..K-1; folders have no global order,
             so each split is put in a fixed random order (`folder_order`): its first N examples are a random,
             class-mixed sample, as in the official files (evaluations read the first N)
    tfds     a TFDS dataset prepared in the array_record format (`<name>/<version>/dataset_info.json`)
A folder that matches none is one DataError line naming what was looked for.

Decoded arrays are cached under $LOWRANK_JAX_CACHE (default ~/.cache/lowrank_jax), keyed by the reader, the
dataset and the path, size and modification time of every source file: a changed source is decoded again. The
digest (sha256 of the decoded arrays, 16 hex digits) names exactly the pixels a result rests on.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import io
import json
import os
import pickle
import re
import tarfile
import zipfile
from typing import Callable

import numpy as np

from PIL import Image

from lowrank_jax import runfiles

ARCHIVES = (".tar.gz", ".tgz", ".tar", ".zip")
FORMAT = 2  # of the decoded arrays; part of the cache key (2: image folders in `folder_order`)
PICKLE_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python", "cifar100_coarse": "cifar-100-python"}
PICKLE_FILES = {"cifar10": ({"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}, b"labels"),
                "cifar100": ({"train": ["train"], "test": ["test"]}, b"fine_labels"),
                "cifar100_coarse": ({"train": ["train"], "test": ["test"]}, b"coarse_labels")}


class DataError(ValueError):
  """A dataset cannot be found or read; the message names the file and the fix (also `data.DataError`)."""


@dataclasses.dataclass(frozen=True)
class Splits:
  """Decoded splits, where they came from ("<reader>:<path>"), the digest of the arrays, and the per-channel
  mean and std of the whole training split in [0, 1] (kept in the cache: a second load does not recompute them)."""

  splits: dict[str, tuple[np.ndarray, np.ndarray]]
  source: str
  digest: str
  train_stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None


def channel_stats(images: np.ndarray, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
  """Per-channel mean and std of uint8 NHWC images scaled to [0, 1] (sums over whole image rows, float64)."""
  c, row = images.shape[-1], images.shape[-2] * images.shape[-1]
  s, s2, n = np.zeros(row), np.zeros(row), 0
  for i in range(0, len(images), chunk):
    x = images[i : i + chunk].reshape(-1, row).astype(np.float32)  # integers up to 255**2: exact in float32
    s, s2, n = s + x.sum(0, dtype=np.float64), s2 + (x * x).sum(0, dtype=np.float64), n + len(x)
  mean = s.reshape(-1, c).sum(0) / (n * (row // c) * 255.0)
  var = s2.reshape(-1, c).sum(0) / (n * (row // c) * 255.0**2) - mean**2
  return tuple(mean.tolist()), tuple(np.sqrt(np.maximum(var, 1e-12)).tolist())


def found(splits: dict[str, tuple[np.ndarray, np.ndarray]], source: str) -> Splits:
  """Splits with their digest and training statistics computed."""
  return Splits(splits, source, digest(splits), channel_stats(splits["train"][0]))


def digest(splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> str:
  """sha256 (16 hex digits) of every split's images and labels, in split-name order."""
  h = hashlib.sha256()
  for name in sorted(splits):
    images, labels = splits[name]
    h.update(name.encode())
    h.update(np.ascontiguousarray(images, np.uint8).tobytes())
    h.update(np.ascontiguousarray(labels, np.int32).tobytes())
  return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- files of a folder or an archive


def _natural(name: str) -> list:
  """Sort key: digit runs as numbers (img2 before img10)."""
  return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


class _Files:
  """The files of a directory, a tar archive (read in one pass: a gzip stream cannot seek back cheaply) or a zip
  archive, by relative path."""

  def __init__(self, path: str):
    self.path = path
    if os.path.isdir(path):
      self.names = sorted(os.path.relpath(p, path) for p in glob.glob(os.path.join(path, "**", "*"), recursive=True)
                          if os.path.isfile(p))
      self.read = lambda name: open(os.path.join(path, name), "rb").read()
      return
    try:
      if path.endswith(".zip"):
        zf = zipfile.ZipFile(path)
        self.names = sorted(i.filename for i in zf.infolist() if not i.is_dir())
        self.read = zf.read
      else:
        with tarfile.open(path) as tf:
          data = {m.name.removeprefix("./"): tf.extractfile(m).read() for m in tf if m.isfile()}
        self.names = sorted(data)
        self.read = data.__getitem__
    except (OSError, EOFError, tarfile.TarError, zipfile.BadZipFile) as e:
      raise DataError(f"{path}: cannot read the archive ({type(e).__name__}: {e})") from None


def _archive_in(path: str) -> str | None:
  """path itself if it is an archive, else the one archive in the folder."""
  if os.path.isfile(path) and path.endswith(ARCHIVES):
    return path
  if not os.path.isdir(path):
    return None
  found = sorted(p for p in glob.glob(os.path.join(path, "*")) if os.path.isfile(p) and p.endswith(ARCHIVES))
  return found[0] if len(found) == 1 else None


def _locate(name: str, path: str) -> tuple[str, str] | None:
  """(kind, source) of what path holds, from names alone: ("pickle" | "folders", a directory), ("archive", a file)."""
  if name in PICKLE_FILES:
    test_files = PICKLE_FILES[name][0]["test"]
    for base in (path, os.path.join(path, PICKLE_FOLDERS[name])):
      if os.path.isdir(base) and all(os.path.isfile(os.path.join(base, f)) for f in test_files):
        return "pickle", base
  if os.path.isdir(os.path.join(path, "train")) and os.path.isdir(os.path.join(path, "test")):
    return "folders", path
  archive = _archive_in(path)
  return ("archive", archive) if archive else None


# ----------------------------------------------------------------------------- pickle batches


def _pickle_prefix(name: str, files: list[str]) -> str | None:
  """The folder inside an archive that holds the official batches of `name` ("" at the top), if any."""
  if name not in PICKLE_FILES:
    return None
  test = PICKLE_FILES[name][0]["test"][0]
  for f in files:
    if f == test or f.endswith("/" + test):
      prefix = f[: -len(test)]
      if all(prefix + b in files for bs in PICKLE_FILES[name][0].values() for b in bs):
        return prefix
  return None


def _read_pickles(name: str, files: _Files, prefix: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  batches, label_key = PICKLE_FILES[name]
  splits = {}
  for split, names in batches.items():
    images, labels = [], []
    for f in names:
      if prefix + f not in files.names:
        raise DataError(f"{files.path}: {prefix + f} is missing (the official batches: {', '.join(names)})")
      try:
        batch = pickle.loads(files.read(prefix + f), encoding="bytes")
        data, lab = batch[b"data"], batch[label_key]
      except Exception as e:  # pylint: disable=broad-except (pickle raises anything on a damaged file)
        raise DataError(f"{files.path}: {prefix + f} is not a CIFAR python batch ({type(e).__name__}: {e})") from None
      images.append(np.asarray(data, np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
      labels.append(np.asarray(lab, np.int32))
    splits[split] = (np.concatenate(images), np.concatenate(labels))
  return splits


# ----------------------------------------------------------------------------- image folders


def _folder_prefix(files: list[str]) -> str | None:
  """The prefix ("" or "<top>/") under which the files hold train/<class>/<file> and test/<class>/<file>."""
  for prefix in sorted({""} | {f.split("/", 1)[0] + "/" for f in files if "/" in f}):
    rest = [f[len(prefix):] for f in files if f.startswith(prefix)]
    if any(re.fullmatch(r"train/[^/]+/[^/]+", r) for r in rest) and any(
        re.fullmatch(r"test/[^/]+/[^/]+", r) for r in rest):
      return prefix
  return None


def _decode(data: bytes, where: str, shape: tuple[int, int, int]) -> np.ndarray:
  try:
    img = Image.open(io.BytesIO(data))
    img = img.convert("L" if shape[-1] == 1 else "RGB")
  except Exception as e:  # pylint: disable=broad-except (Pillow raises many types)
    raise DataError(f"{where}: not an image Pillow can read ({type(e).__name__}: {e})") from None
  arr = np.asarray(img, np.uint8).reshape(img.size[1], img.size[0], shape[-1])
  if arr.shape != tuple(shape):
    raise DataError(f"{where}: an image of shape {arr.shape}; the dataset's is {tuple(shape)}")
  return arr


def _read_folders(files: _Files, prefix: str, shape: tuple[int, int, int], num_classes: int,
                  progress: Callable[[str], None]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  splits, classes = {}, None
  for split in ("train", "test"):
    members: dict[str, list[str]] = {}
    for f in files.names:
      m = re.fullmatch(rf"{re.escape(prefix)}{split}/([^/]+)/([^/]+)", f)
      if m and not m.group(2).startswith("."):
        members.setdefault(m.group(1), []).append(f)
    names = sorted(members)
    if classes is None:
      classes = names
      if len(classes) != num_classes:
        raise DataError(f"{files.path}: {prefix}{split}/ has {len(classes)} class folders "
                        f"({', '.join(classes[:12])}); the dataset has {num_classes}")
    elif names != classes:
      raise DataError(f"{files.path}: {prefix}{split}/ has class folders {names}; {prefix}train/ has {classes}")
    progress(f"decoding {sum(map(len, members.values()))} {split} images of {files.path}")
    images, labels = [], []
    for label, cls in enumerate(classes):
      for f in sorted(members[cls], key=_natural):
        images.append(_decode(files.read(f), f"{files.path}: {f}", shape))
        labels.append(label)
    order = folder_order(len(images))
    splits[split] = (np.stack(images)[order], np.asarray(labels, np.int32)[order])
  return splits


def folder_order(n: int) -> np.ndarray:
  """The fixed order of a split read from image folders: a permutation of its n examples (class by class, files
  in natural order) by numpy's generator seeded with 0."""
  return np.random.default_rng(0).permutation(n)


# ----------------------------------------------------------------------------- the cache


def cache_dir() -> str:
  """Where decoded arrays are kept: $LOWRANK_JAX_CACHE, else ~/.cache/lowrank_jax."""
  return os.path.expanduser(os.environ.get("LOWRANK_JAX_CACHE") or "~/.cache/lowrank_jax")


def _stamp(path: str) -> list:
  """Every source file's relative path, size and modification time (a changed one changes the key)."""
  files = [path] if os.path.isfile(path) else sorted(
      p for p in glob.glob(os.path.join(path, "**", "*"), recursive=True) if os.path.isfile(p))
  return [[os.path.relpath(f, path) if f != path else "", os.path.getsize(f), os.stat(f).st_mtime_ns] for f in files]


def _cache_path(key: dict) -> str:
  name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
  return os.path.join(cache_dir(), f"{key['dataset']}-{name}.npz")


def _load_cached(path: str) -> Splits | None:
  try:
    with np.load(path) as z:
      splits = {s: (z[f"{s}_images"], z[f"{s}_labels"]) for s in ("train", "test")}
      stats = (tuple(z["train_mean"].tolist()), tuple(z["train_std"].tolist()))
      return Splits(splits, str(z["source"]), str(z["digest"]), stats)
  except Exception:  # pylint: disable=broad-except (missing or damaged: decoded again)
    return None


def _store(path: str, found: Splits) -> None:  # pylint: disable=redefined-outer-name
  try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    arrays = {f"{s}_{k}": a for s, (im, lb) in found.splits.items() for k, a in (("images", im), ("labels", lb))}
    with runfiles.atomic_file(path) as tmp, open(tmp, "wb") as f:
      np.savez(f, source=np.asarray(found.source), digest=np.asarray(found.digest),
               train_mean=np.asarray(found.train_stats[0]), train_std=np.asarray(found.train_stats[1]), **arrays)
  except OSError:
    pass  # a read-only home: decoded every time


# ----------------------------------------------------------------------------- entry point


def _decode_source(name: str, info, kind: str, source: str, progress) -> Splits:
  files = _Files(source)
  if kind == "pickle":
    splits, reader = _read_pickles(name, files, ""), "pickle"
  elif kind == "folders":
    splits, reader = _read_folders(files, "", info.input_shape, info.num_classes, progress), "folders"
  else:
    pickle_prefix = _pickle_prefix(name, files.names)
    folder_prefix = None if pickle_prefix is not None else _folder_prefix(files.names)
    if pickle_prefix is not None:
      splits, reader = _read_pickles(name, files, pickle_prefix), "pickle"
    elif folder_prefix is not None:
      splits, reader = _read_folders(files, folder_prefix, info.input_shape, info.num_classes, progress), "folders"
    else:
      raise DataError(f"{source}: the archive holds neither {name}'s python batches nor image folders "
                      "train/<class>/* and test/<class>/*")
  return found(splits, f"{reader}:{os.path.abspath(source)}")


def read_splits(info, name: str, path: str, tfds_reader: Callable[[], dict] | None = None,
                progress: Callable[[str], None] = lambda s: None) -> Splits:
  """The train and test splits of dataset `name` (its DatasetInfo `info`) from what `path` holds (see the
  module docstring), from the cache when the source has not changed; tfds_reader reads a TFDS copy."""
  path = os.path.expanduser(path)
  if not os.path.exists(path):
    raise DataError(f"config.dataset.data_dir={path} does not exist")
  located = _locate(name, path)
  if located is None:
    if info.tfds_name and tfds_reader is not None and glob.glob(
        os.path.join(path, info.tfds_name, "**", "dataset_info.json"), recursive=True):
      return found(tfds_reader(), f"tfds:{os.path.join(os.path.abspath(path), info.tfds_name)}")
    pickles = f"{PICKLE_FOLDERS[name]}/ or its .tar.gz, " if name in PICKLE_FILES else ""
    tfds = (f", or TFDS's {info.tfds_name}/<version>/ (array_record: `tfds build {info.tfds_name} --data_dir DIR "
            "--file_format array_record` on a machine with internet)") if info.tfds_name else ""
    raise DataError(f"config.dataset.data_dir={path} holds no {name} in a known format: looked for {pickles}image "
                    f"folders train/<class>/* and test/<class>/* (a directory, or one .tar.gz/.tgz/.tar/.zip){tfds}")
  kind, source = located
  key = {"format": FORMAT, "dataset": name, "kind": kind, "path": os.path.abspath(source), "files": _stamp(source),
         "shape": list(info.input_shape)}
  cache = _cache_path(key)
  cached = _load_cached(cache)
  if cached is not None:
    return cached
  decoded = _decode_source(name, info, kind, source, progress)
  _store(cache, decoded)
  return decoded
