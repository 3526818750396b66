"""lowrank_jax.eval_progress: a finished evaluator's Result written and read back, and what is not taken back."""

import os
import tempfile

import numpy as np
from absl.testing import absltest

from lowrank_jax import eval_progress
from lowrank_jax.evaluators import Attacked, Result


class KeptResultTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.folder = os.path.join(tempfile.mkdtemp(), "partial")
    rng = np.random.default_rng(0)
    self.result = Result({"pgd": {"0.1": {"7": 0.25}}, "note": None},
                         (Attacked(0.1, "pgd-7", rng.random(8) > 0.5), Attacked(0.3, "fgsm", np.zeros(5, bool))),
                         ({"check": "monotone", "ok": True},), {"x_adv": rng.random((8, 4, 4, 1), np.float32)})

  def test_a_result_reads_back_as_written_for_its_key_only(self):
    self.assertTrue(eval_progress.save(self.folder, "pgd_grid", "k1", self.result, 12.5))
    (back, seconds), = [eval_progress.load(self.folder, "pgd_grid", "k1")]
    self.assertEqual((back.json, back.checks, seconds), (self.result.json, self.result.checks, 12.5))
    self.assertEqual([(a.eps, a.attack) for a in back.attacked], [(0.1, "pgd-7"), (0.3, "fgsm")])
    for a, b in zip(back.attacked, self.result.attacked):
      np.testing.assert_array_equal(a.correct, b.correct)
      self.assertEqual(a.correct.dtype, np.bool_)
    np.testing.assert_array_equal(back.outputs["x_adv"], self.result.outputs["x_adv"])
    self.assertIsNone(eval_progress.load(self.folder, "pgd_grid", "k2"))  # another model, config or examples
    self.assertIsNone(eval_progress.load(self.folder, "deepfool", "k1"))  # nothing kept
    eval_progress.clear(self.folder, ["pgd_grid", "deepfool"])
    self.assertFalse(os.path.exists(self.folder))

  def test_what_cannot_be_kept_is_not_written_and_a_damaged_file_is_run_again(self):
    odd = Result({"a": 1}, (), (), {"model": object()})
    self.assertFalse(eval_progress.save(self.folder, "odd", "k", odd, 1.0))
    not_json = Result({"a": np.float32(1.0)})
    self.assertFalse(eval_progress.save(self.folder, "not_json", "k", not_json, 1.0))
    self.assertFalse(os.path.exists(self.folder))
    self.assertTrue(eval_progress.save(self.folder, "pgd_grid", "k", self.result, 1.0))
    path = os.path.join(self.folder, "pgd_grid.npz")
    with open(path, "r+b") as f:
      f.truncate(os.path.getsize(path) // 2)  # a disk full, say
    self.assertIsNone(eval_progress.load(self.folder, "pgd_grid", "k"))


if __name__ == "__main__":
  absltest.main()
