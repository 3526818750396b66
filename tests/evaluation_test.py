"""eval.py end to end on a tiny trained run: files, consistency of the numbers, errors."""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from absl.testing import absltest

from lowrank_jax import data, evaluation, loading, training
from lowrank_jax.evaluators import WorstCase

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shared import copy_run, shared_run, tiny_config  # pylint: disable=g-import-not-at-top

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _eval_config():
  c = tiny_config().eval
  c.num_examples, c.batch_size, c.eps, c.steps = 40, 20, (0.05, 0.1, 0.3), (3,)
  c.audit_restarts, c.deepfool_examples, c.deepfool_max_iter, c.pixel_probs = 2, 20, 20, (0.4, 1.0)
  c.autoattack_eps = (0.3,)  # every example falls to APGD-CE: the later attacks have nothing left to do
  c.autoattack_steps = 20
  c.masking_probes, c.probe_eps, c.probe_strong_steps, c.probe_strong_restarts = True, (0.1,), 4, 2
  c.probe_square_queries, c.probe_examples, c.paper_steps = 20, 10, (3,)
  return c


class WorstCaseTest(absltest.TestCase):

  def test_per_example_worst_case_is_below_every_attack(self):
    """Two attacks that break disjoint examples: each alone leaves 3/5 (or 4/5) correct, together 2/5."""
    wc = WorstCase(np.array([True, True, True, True, True, False]))  # the last is wrong on clean data
    self.assertAlmostEqual(wc.record(0.1, "a", np.array([False, True, True, False, True, True])), 3 / 6)
    self.assertAlmostEqual(wc.record(0.1, "b", np.array([True, False, True, True, True, True])), 4 / 6)
    self.assertAlmostEqual(wc.accuracy(0.1), 2 / 6)
    wc.record(0.2, "a", np.ones(6, bool))
    self.assertAlmostEqual(wc.accuracy(0.2), 5 / 6)  # a clean error stays an error
    self.assertEqual(wc.to_json()["0.1"]["attacks"], ["a", "b"])
    self.assertAlmostEqual(wc.accuracy(0.1, first=4), 1 / 4)  # of the first 4 only the third survives both
    self.assertAlmostEqual(wc.accuracy(0.1, first=2), 0.0)


@absltest.skipUnless(os.path.isdir(data.FASHION_MNIST_DIR), "Fashion-MNIST missing (make test installs it)")
class EvaluationTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.TemporaryDirectory()
    cls.lr = copy_run("lowrank", os.path.join(cls.tmp.name, "lr"))  # evaluate_workdir writes lr/eval
    cls.van = shared_run("vanilla")

  @classmethod
  def tearDownClass(cls):
    cls.tmp.cleanup()
    super().tearDownClass()

  def test_report_and_numbers(self):
    ref = self.van
    ec = _eval_config()
    ec.autoattack_examples = 30  # of 40: the worst case is also reported on AutoAttack's 30
    r = evaluation.evaluate_workdir(self.lr, ec, transfer_from=self.van, reference=ref, progress=False)
    out = os.path.join(self.lr, "eval")
    for f in ("eval.json", "report.md", "robust_accuracy.png", "deepfool.png", "random_pixels.png",
              "noise_stability.png", "spectrum.png"):
      self.assertTrue(os.path.getsize(os.path.join(out, f)) > 0, f)
    self.assertEqual(json.load(open(os.path.join(out, "eval.json")))["clean_accuracy"], r["clean_accuracy"])
    g = r["pgd_grid"]
    self.assertEqual(r["robust_accuracy"]["0.3"]["attacks"][:2], ["pgd-3", "fgsm"])
    self.assertIn("autoattack", r["robust_accuracy"]["0.3"]["attacks"])
    self.assertEqual(r["autoattack"]["by_eps"]["0.3"]["robust_accuracy"], 0.0)  # eps 0.3 breaks a tiny CNN
    self.assertEqual(r["autoattack"]["examples"], 30)
    self.assertEqual(r["robust_accuracy"]["0.3"]["accuracy_autoattack_examples"], 0.0)  # AutoAttack broke all 30
    self.assertNotIn("accuracy_autoattack_examples", r["robust_accuracy"]["0.05"])  # no AutoAttack there
    self.assertEqual(set(r["masking"]["by_eps"]["0.1"]["paper_like"]), {"pgd-3"})
    self.assertEqual(len(r["deepfool"]["norms"]), 20)
    self.assertEqual(set(r["noise_stability"]), {"deepfool", "gaussian", "transfer", "reference", "reference_gaussian"})
    self.assertEqual(len(r["noise_stability"]["gaussian"]["penultimate"]["input_ratio"]), 40)
    ratios = np.asarray(r["noise_stability"]["gaussian"]["penultimate"]["input_ratio"])
    self.assertGreater(ratios.max() / ratios.min(), 30)  # a log grid 1e-3..1e-1 (clipping to [0, 1] shrinks some)
    self.assertIn("layer_cushion", r["representation"])
    self.assertLessEqual(r["representation"]["layers"]["penultimate"]["effective_rank_centred"], 128)
    self.assertLessEqual(g["pgd"]["0.05"]["3"], r["clean_accuracy"] + 1e-9)
    report = open(os.path.join(out, "report.md")).read()
    self.assertIn(f"Clean accuracy: **{r['clean_accuracy']:.4f}**", report)
    self.assertIn("## AutoAttack", report)
    for a in r["audit"]:
      self.assertIn(f"| {a['check']} | {'pass' if a['passed'] else '**FLAG**'} |", report)

  def test_load_model_matches_training_accuracy(self):
    m = loading.load_model(self.van)
    record = [json.loads(l) for l in open(os.path.join(self.van, "metrics.jsonl"))][-1]
    ds = data.load_dataset(m.config.dataset)
    x, y = ds.splits["test"]
    acc = np.mean(np.argmax(np.asarray(m.logits(x.astype(np.float32) / 255)), -1) == y)
    self.assertAlmostEqual(acc, record["test_accuracy"], places=6)
    self.assertEqual(set(m.features(x[:2].astype(np.float32) / 255)), {"penultimate"})
    self.assertEqual(m.head_kernel.shape, (128, 10))

  def test_missing_checkpoint_is_one_line(self):
    with tempfile.TemporaryDirectory() as d:
      r = subprocess.run([sys.executable, os.path.join(ROOT, "eval.py"), f"--workdir={d}"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
      self.assertNotEqual(r.returncode, 0)
      self.assertIn(f"error: {d}/config.json not found", r.stderr)


if __name__ == "__main__":
  absltest.main()
