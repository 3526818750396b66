"""Markdown and figure helpers shared by every report (report.md, the evaluators' sections, docs/RESULTS.md).

    table(header, rows) -> lines        # a markdown table, "|" in cells escaped
    subplots(...) -> fig, axes          # matplotlib (Agg backend) figures
    save(fig, path)                     # PNG written atomically (110 dpi), figure closed
    e255(eps) -> "8/255"                # an eps in pixels of 255
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

from lowrank_jax import runfiles


def table(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> list[str]:
  """A markdown table as lines; each cell str()-ed, with "|" escaped."""
  esc = lambda s: str(s).replace("|", "\\|")
  return (["| " + " | ".join(map(esc, header)) + " |", "|" + "---|" * len(header)]
          + ["| " + " | ".join(map(esc, r)) + " |" for r in rows])


@functools.cache
def pyplot():
  """matplotlib.pyplot with the Agg backend, imported on first use (it takes ~0.5 s; eval.py's one-line errors
  and the library's users who never plot do not wait for it)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def subplots(*args, **kwargs):
  """pyplot.subplots (Agg backend)."""
  return pyplot().subplots(*args, **kwargs)


def save(fig, path: str) -> None:
  """The figure as a PNG at path (written atomically, 110 dpi, laid out tight unless it has a layout engine),
  then closed."""
  if fig.get_layout_engine() is None:
    fig.tight_layout()
  with runfiles.atomic_file(path) as tmp:
    fig.savefig(tmp, dpi=110, format="png")
  pyplot().close(fig)


def e255(eps: float) -> str:
  """An eps in pixels of 255: 8/255 -> "8/255"."""
  return f"{round(float(eps) * 255)}/255"


def eps_sorted(by_eps: dict) -> list[float]:
  """The eps keys of an eval.json mapping (eps text -> value) as sorted floats (a "from" key skipped)."""
  return sorted(float(e) for e in by_eps if e != "from")
