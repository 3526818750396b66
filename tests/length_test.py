"""experiments/length.py: the converged epoch of hand-made learning curves."""

from absl.testing import absltest

from experiments.length import converged_epoch


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


if __name__ == "__main__":
  absltest.main()
