"""The evaluators an interrupted evaluation finished, kept so that the next one resumes after them.

    key = fingerprint(model, ec, x, y, source, reference)   # what an evaluator's Result depends on
    save(folder, name, key, result, seconds)                # WORKDIR/eval/partial/<name>.npz, atomically
    load(folder, name, key) -> (Result, seconds) | None     # None: none kept, or kept for another key
    clear(folder, names)                                    # once eval.json holds them

An evaluation is minutes to hours of attacks (AutoAttack on a robust CIFAR-10 model: an hour on one core), run
as a sequence of evaluators. Ctrl-C, SIGTERM or a kill used to throw away every finished one; now each is written
as it ends and the next evaluation of the same run takes it back instead of running it again. Each evaluator draws
its randomness from its own name (`Inputs.subkey`), so the resumed evaluation is the one an uninterrupted run
gives (tested). The key covers the parameters, the step, the evaluation config (less `only`), the examples and
the transfer/reference models: anything else and the kept Result is ignored, then overwritten.

A Result is kept only where its outputs are arrays and its entry JSON (an evaluator with others simply runs again).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile

import jax
import numpy as np

from lowrank_jax import runfiles
from lowrank_jax.evaluators.base import Attacked, Result

FORMAT = 1


def _digest_arrays(h, tree) -> None:
  for leaf in jax.tree.leaves(tree):
    a = np.asarray(leaf)
    h.update(f"{a.dtype}{a.shape}".encode())
    h.update(np.ascontiguousarray(a).tobytes())


def fingerprint(model, ec, x: np.ndarray, y: np.ndarray, source=None, reference=None) -> str:
  """A digest of what an evaluator's Result depends on: the model's parameters and step, config.eval (its `only`
  aside: which evaluators run does not change what each gives), the examples, and the other two models."""
  h = hashlib.sha256(f"format {FORMAT}".encode())
  settings = {k: v for k, v in ec.to_dict().items() if k != "only"}
  h.update(json.dumps(settings, sort_keys=True, default=str).encode())
  for m in (model, source, reference):
    if m is None:
      h.update(b"none")
    else:
      h.update(f"step {m.step}".encode())
      _digest_arrays(h, (m.params, m.batch_stats))
  _digest_arrays(h, (x, y))
  return h.hexdigest()


def _file(folder: str, name: str) -> str:
  return os.path.join(folder, f"{name}.npz")


def save(folder: str, name: str, key: str, result: Result, seconds: float) -> bool:
  """Writes evaluator `name`'s Result; False (nothing written) where its outputs are not all arrays or its entry
  and checks are not JSON."""
  arrays = {f"correct_{i}": np.asarray(a.correct) for i, a in enumerate(result.attacked)}
  try:
    for k, v in result.outputs.items():
      arrays[f"output_{k}"] = np.asarray(v)
      if arrays[f"output_{k}"].dtype == object:
        return False
  except (TypeError, ValueError):
    return False
  meta = {"key": key, "seconds": seconds, "json": result.json, "checks": list(result.checks),
          "attacked": [[a.eps, a.attack] for a in result.attacked], "outputs": list(result.outputs)}
  try:
    text = json.dumps(meta)
  except (TypeError, ValueError):  # not JSON (numpy scalars, say): eval.json will say so when it is written
    return False
  os.makedirs(folder, exist_ok=True)
  with runfiles.atomic_file(_file(folder, name)) as tmp, open(tmp, "wb") as f:
    np.savez(f, meta=np.array(text), **arrays)
  return True


def load(folder: str, name: str, key: str) -> tuple[Result, float] | None:
  """Evaluator `name`'s kept Result and the seconds it took; None where none is kept for this key (or the file
  is damaged: it is then run again and overwritten)."""
  path = _file(folder, name)
  if not os.path.exists(path):
    return None
  try:
    with np.load(path, allow_pickle=False) as z:
      meta = json.loads(str(z["meta"]))
      if meta.get("key") != key:
        return None
      attacked = tuple(Attacked(float(e), str(a), z[f"correct_{i}"]) for i, (e, a) in enumerate(meta["attacked"]))
      outputs = {k: z[f"output_{k}"] for k in meta["outputs"]}
  except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
    return None
  return Result(meta["json"], attacked, tuple(meta["checks"]), outputs), float(meta["seconds"])


def clear(folder: str, names) -> None:
  """Removes the kept Results of `names` (eval.json now holds them), and the folder once it is empty."""
  for name in names:
    if os.path.exists(_file(folder, name)):
      os.remove(_file(folder, name))
  if os.path.isdir(folder) and not os.listdir(folder):
    os.rmdir(folder)
