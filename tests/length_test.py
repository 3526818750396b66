"""experiments/length.py: the converged epoch of hand-made learning curves."""

import glob
import json
import os

from absl.testing import absltest

from experiments.length import converged_epoch, grid_length

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def curve(accs, losses):
  return [{"epoch": i + 1, "test_accuracy": a, "train_loss": l} for i, (a, l) in enumerate(zip(accs, losses))]


class LengthTest(absltest.TestCase):

  def test_accuracy_and_loss_must_both_settle(self):
    accs = [0.85, 0.89, 0.905, 0.915, 0.918, 0.919, 0.92, 0.92]
    losses = [0.5, 0.3, 0.2, 0.12, 0.08, 0.05, 0.035, 0.03]
    # accuracy within 0.005 of 0.92 from epoch 4 (0.915); loss within 0.02 of 0.03 from epoch 6 (0.05)
    self.assertEqual(converged_epoch(curve(accs, losses)), 6)
    self.assertEqual(converged_epoch(curve(accs, losses), loss_tol=1.0), 4)
    self.assertEqual(converged_epoch(curve(accs, losses), acc_tol=0.0001, loss_tol=1.0), 7)

  def test_an_accuracy_that_leaves_the_band_later_resets_the_choice(self):
    accs = [0.92, 0.92, 0.90, 0.92, 0.92]  # epoch 3 dips out of the band: only epochs 4-5 are settled
    self.assertEqual(converged_epoch(curve(accs, [0.1] * 5)), 4)

  def test_unsorted_and_empty(self):
    h = curve([0.9, 0.92, 0.92], [0.2, 0.1, 0.1])
    self.assertEqual(converged_epoch(list(reversed(h))), 2)
    with self.assertRaisesRegex(ValueError, "empty history"):
      converged_epoch([])


def result(model, label, until, num_epochs, history):
  return {"config": {"model": model, "num_epochs": num_epochs}, "run": {"label": label, "until_epoch": until},
          "history": history}


class GridLengthTest(absltest.TestCase):

  def test_the_longest_converged_curve_of_each_model_from_its_last_checkpoint(self):
    fast = curve([0.9, 0.92, 0.92, 0.92], [0.1, 0.05, 0.05, 0.05])  # converged at 2
    slow = curve([0.8, 0.85, 0.9, 0.92], [0.5, 0.3, 0.1, 0.05])  # converged at 4
    rs = [result("cnn", "a", 2, 4, fast[:2]), result("cnn", "a", 4, 4, fast), result("cnn", "b", 4, 4, slow),
          result("resnet18", "c", 2, 4, slow[:2])]  # the ResNet's curve is unfinished: no length yet
    self.assertEqual(grid_length(rs), {"cnn": 4})
    self.assertEqual(grid_length(rs[:2]), {"cnn": 2})

  def test_the_claims_grid_trains_for_the_committed_curves_length(self):
    curves = [json.load(open(p)) for p in glob.glob(os.path.join(ROOT, "docs", "results", "curves", "*.json"))]
    if not curves:
      self.skipTest("no learning curves committed")
    spec = json.load(open(os.path.join(ROOT, "experiments", "specs", "claims.json")))
    lengths = grid_length(curves)
    self.assertEqual(spec["config"]["num_epochs"], lengths["cnn"])
    schedule = {c["config"]["model"]: c["config"]["num_epochs"] for c in curves}
    for run in spec["runs"]:  # a model with its own length trains at least its converged length, at most its curve's
      model, epochs = run.get("config", {}).get("model", "cnn"), run.get("config", {}).get("num_epochs")
      if epochs is not None and model in lengths:
        self.assertBetween(epochs, lengths[model], schedule[model], msg=run["name"])


if __name__ == "__main__":
  absltest.main()
