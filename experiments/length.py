"""The training length of the claims grid, read off a learning curve.

    converged_epoch(history, acc_tol, loss_tol) -> int

`history` is a run's per-epoch records (metrics.jsonl; a result JSON's "history").
The chosen length is the first epoch after which the test accuracy stays within
`acc_tol` of its final value and the training loss is within `loss_tol` of its
final value: training longer changes neither by more than that.
"""

from __future__ import annotations

ACC_TOL = 0.005  # test accuracy: half a point
LOSS_TOL = 0.02  # training loss (cross-entropy plus any penalty)


def converged_epoch(history: list[dict], acc_tol: float = ACC_TOL, loss_tol: float = LOSS_TOL) -> int:
  """The first epoch E with |test_accuracy(e) - final| <= acc_tol for every e >= E and
  train_loss(E) - final train_loss <= loss_tol (a loss that still falls by more is not converged)."""
  if not history:
    raise ValueError("an empty history has no converged epoch")
  records = sorted(history, key=lambda h: h["epoch"])
  acc, loss = records[-1]["test_accuracy"], records[-1]["train_loss"]
  chosen = records[-1]["epoch"]
  for h in reversed(records):
    if abs(h["test_accuracy"] - acc) > acc_tol + 1e-9:
      break
    if h["train_loss"] - loss <= loss_tol + 1e-9:
      chosen = h["epoch"]
  return chosen


def grid_length(curves: list[dict]) -> dict[str, int]:
  """{model: training length} from learning-curve results (result JSONs with "run", "config", "history"): the
  largest converged epoch over that model's curves, each read from its last checkpoint; a model with an
  unfinished curve (its last checkpoint before the schedule's end) has no length yet."""
  last: dict[tuple[str, str], dict] = {}
  for r in curves:
    key = (r["config"]["model"], r["run"]["label"])
    if key not in last or r["run"]["until_epoch"] > last[key]["run"]["until_epoch"]:
      last[key] = r
  lengths: dict[str, int] = {}
  unfinished = {m for (m, _), r in last.items() if r["run"]["until_epoch"] != r["config"]["num_epochs"]}
  for (model, _), r in last.items():
    if model not in unfinished:
      lengths[model] = max(lengths.get(model, 0), converged_epoch(r["history"]))
  return lengths
