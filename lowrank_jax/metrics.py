"""Per-step training metrics summed on the device without a sync, averaged per epoch on the host.

    acc = MetricAccumulator(); acc.add(step_metrics); acc.flush(); acc.epoch_means()

A `methods.Sparse` metric (measured only at some steps: LR's W off-rank distance) is averaged over the steps
where it is present, and its largest value kept as "<name>_max". The sums are saved beside each checkpoint
(`to_json` / `load`) so that a resumed epoch reports the same means as an uninterrupted one.
"""

from __future__ import annotations

import jax
import numpy as np

from lowrank_jax.methods.base import Sparse


class MetricAccumulator:
  """Sums a step's device metrics without syncing; host means on demand.

  A `methods.Sparse` metric (measured only at some steps) is averaged over the steps where it is
  present, and its largest value is kept as "<name>_max".
  """

  def __init__(self):
    self.pending: list[dict] = []
    self.sums: dict[str, float] = {}
    self.counts: dict[str, int] = {}  # of the sparse metrics
    self.maxes: dict[str, float] = {}
    self.count = 0

  def add(self, metrics: dict) -> None:
    """Queues one step's metrics (device arrays: read on the next flush, without a sync now)."""
    self.pending.append(metrics)

  def _accumulate(self, host: list[dict], sums: dict, counts: dict) -> None:
    for h in host:
      for k, v in h.items():
        if isinstance(v, Sparse):
          sums.setdefault(k, 0.0)
          counts.setdefault(k, 0)
          if v.present:
            sums[k] += float(v.value)
            counts[k] = counts.get(k, 0) + 1
            self.maxes[k + "_max"] = max(self.maxes.get(k + "_max", 0.0), float(v.value))
        else:
          sums[k] = sums.get(k, 0.0) + float(v)

  def flush(self) -> dict[str, float]:
    """Fetches pending metrics; returns their means (raises on NaN/inf)."""
    if not self.pending:
      return {}
    host = jax.device_get(self.pending)
    self.pending = []
    sums, counts = {}, {}
    self._accumulate(host, sums, counts)
    for k, v in sums.items():
      self.sums[k] = self.sums.get(k, 0.0) + v
    for k, v in counts.items():
      self.counts[k] = self.counts.get(k, 0) + v
    self.count += len(host)
    means = _means(sums, counts, len(host))
    bad = {k: v for k, v in means.items() if not np.isfinite(v)}
    if bad:
      raise FloatingPointError(", ".join(f"{k}={v}" for k, v in bad.items()))
    return means

  def epoch_means(self) -> dict[str, float]:
    """Means over everything flushed since the last call, then resets."""
    out = {**_means(self.sums, self.counts, self.count), **self.maxes}
    self.sums, self.counts, self.maxes, self.count = {}, {}, {}, 0
    return out

  def to_json(self) -> dict:
    """The epoch so far (pending metrics flushed first), saved beside each checkpoint."""
    assert not self.pending, "flush() first"
    return {"sums": self.sums, "counts": self.counts, "maxes": self.maxes, "count": self.count}

  def load(self, saved: dict) -> None:
    """The sums saved beside a checkpoint (a resumed epoch continues them)."""
    self.sums, self.maxes, self.count = dict(saved["sums"]), dict(saved["maxes"]), int(saved["count"])
    self.counts = dict(saved.get("counts", {}))


def _means(sums: dict[str, float], counts: dict[str, int], count: int) -> dict[str, float]:
  """Dense metrics over `count` steps; sparse ones (those in `counts`) over their own steps, absent if none."""
  return {k: v / counts.get(k) if k in counts else v / max(count, 1) for k, v in sums.items()
          if counts.get(k, 1) > 0}
