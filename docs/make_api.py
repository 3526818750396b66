"""The API reference: HTML from the docstrings (pdoc) into docs/api/ (git-ignored), and a check that every public
name of lowrank_jax has a docstring and that every name of `lowrank_jax.__all__` resolves.

  python docs/make_api.py [--out docs/api]     # make docs; exit status 1 listing what is missing

Needs requirements-docs.txt (pdoc). Public: modules, classes, functions and methods whose names do not start with
"_", in modules whose names do not; a dataclass's generated methods and a NamedTuple's fields are not asked for.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pathlib
import pkgutil
import re
import sys
import warnings

import pdoc
import pdoc.doc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fields(cls) -> set[str]:
  """A dataclass's or NamedTuple's fields: documented by the class, even when their defaults are functions."""
  return set(getattr(cls, "__dataclass_fields__", {})) | set(getattr(cls, "_fields", ()))


def _undocumented(doc, out: list[str]) -> None:
  fields = _fields(doc.obj) if isinstance(doc, pdoc.doc.Class) else set()
  for m in doc.own_members:
    if m.name.startswith("_") or m.name in fields or not isinstance(m, (pdoc.doc.Function, pdoc.doc.Class)):
      continue
    if m.docstring.strip() == "":
      out.append(m.fullname)
    if isinstance(m, pdoc.doc.Class):
      _undocumented(m, out)


def _namedtuple_init(message: str) -> bool:
  """pdoc cannot resolve the annotations of a NamedTuple's generated __init__ (its globals are not the module's)
  under `from __future__ import annotations`: not a fault of ours."""
  m = re.search(r"for (lowrank_jax[\w.]*)\.(\w+)\.__init__\.", message)
  if not m or "Error parsing type annotation" not in message:
    return False
  cls = getattr(importlib.import_module(m.group(1)), m.group(2), None)
  return isinstance(cls, type) and issubclass(cls, tuple)


def modules() -> list[str]:
  """lowrank_jax and every public module in it (pdoc alone would follow only the package's __all__)."""
  sys.path.insert(0, ROOT)
  import lowrank_jax  # pylint: disable=g-import-not-at-top
  return ["lowrank_jax"] + [info.name for info in pkgutil.walk_packages(lowrank_jax.__path__, "lowrank_jax.")
                            if not any(part.startswith("_") for part in info.name.split("."))]


def problems() -> list[str]:
  """Every public module, class, function or method of lowrank_jax without a docstring, and every name of
  lowrank_jax.__all__ that does not resolve."""
  sys.path.insert(0, ROOT)
  import lowrank_jax  # pylint: disable=g-import-not-at-top
  out = []
  for name in lowrank_jax.__all__:
    try:
      getattr(lowrank_jax, name)  # lazily imported names are kept in the module: pdoc sees them
    except Exception as e:  # pylint: disable=broad-except
      out.append(f"lowrank_jax.{name} does not resolve: {e}")
  for name in modules()[1:]:
    mod = pdoc.doc.Module(importlib.import_module(name))
    if not mod.docstring.strip():
      out.append(f"{name} (module)")
    _undocumented(mod, out)
  return out


def build(out_dir: str) -> list[str]:
  """Writes the HTML reference of lowrank_jax into out_dir; returns pdoc's warnings (unresolved names, broken
  references) followed by `problems()`."""
  found = problems()
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    pdoc.render.configure(docformat="google", footer_text="lowrank_jax")
    pdoc.pdoc(*modules(), output_directory=pathlib.Path(out_dir))
  repeated = lambda m: "but a module with this name has already been added" in m  # reached from its package too
  return [f"pdoc: {w.message}" for w in caught if not _namedtuple_init(str(w.message)) and not repeated(str(w.message))
          ] + found


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--out", default=os.path.join(ROOT, "docs", "api"))
  found = build(ap.parse_args().out)
  if found:
    sys.exit("error: the API reference is incomplete:\n  " + "\n  ".join(found))
  print(f"wrote {ap.parse_args().out}/index.html")


if __name__ == "__main__":
  main()
