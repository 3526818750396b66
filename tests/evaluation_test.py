"""eval.py end to end on a tiny trained run: files, consistency of the numbers, errors."""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from absl.testing import absltest

from lowrank_jax import data, evaluation, loading, training

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from training_test import ROOT, tiny_config  # pylint: disable=g-import-not-at-top


def _eval_config():
  c = tiny_config().eval
  c.num_examples, c.batch_size, c.eps, c.steps = 40, 20, (0.05, 0.1, 0.3), (3,)
  c.audit_restarts, c.deepfool_examples, c.deepfool_max_iter, c.pixel_probs = 2, 20, 20, (0.4, 1.0)
  return c


@absltest.skipUnless(os.path.isdir(data.FASHION_MNIST_DIR), "Fashion-MNIST missing (make test installs it)")
class EvaluationTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.TemporaryDirectory()
    cls.lr, cls.van = os.path.join(cls.tmp.name, "lr"), os.path.join(cls.tmp.name, "vanilla")
    training.train_and_evaluate(tiny_config(**{"lowrank.warmup_steps": 32}), cls.lr, log=lambda s: None)
    training.train_and_evaluate(tiny_config(**{"lowrank.enabled": False}), cls.van, log=lambda s: None)

  @classmethod
  def tearDownClass(cls):
    cls.tmp.cleanup()
    super().tearDownClass()

  def test_report_and_consistent_numbers(self):
    r = evaluation.evaluate_workdir(self.lr, _eval_config(), transfer_from=self.van, progress=False)
    out = os.path.join(self.lr, "eval")
    for f in ("eval.json", "report.md", "robust_accuracy.png", "deepfool.png", "random_pixels.png",
              "noise_stability.png", "spectrum.png"):
      self.assertTrue(os.path.getsize(os.path.join(out, f)) > 0, f)
    self.assertEqual(json.load(open(os.path.join(out, "eval.json")))["clean_accuracy"], r["clean_accuracy"])
    for e in ("0.05", "0.1", "0.3"):
      worst = r["robust_accuracy"][e]["accuracy"]
      self.assertLessEqual(worst, r["pgd"][e]["3"])  # per-example worst case <= every attack
      self.assertLessEqual(worst, r["fgsm"][e])
      self.assertLessEqual(worst, r["transfer"][e])
      self.assertLessEqual(r["pgd"][e]["3"], r["clean_accuracy"] + 1e-9)
    self.assertLessEqual(r["robust_accuracy"]["0.1"]["accuracy"], r["gaussian"]["accuracy"])
    self.assertEqual(len(r["deepfool"]["norms"]), 20)
    self.assertIn("accuracy non-increasing in eps (PGD-3)", {a["check"] for a in r["audit"]})
    self.assertIn("white_box", r["noise_stability"])
    self.assertIn("black_box", r["noise_stability"])
    self.assertEqual(len(r["noise_stability"]["white_box"]["penultimate"]["input_ratio"]), 40)
    self.assertIn("layer_cushion", r)
    report = open(os.path.join(out, "report.md")).read()
    self.assertIn(f"Clean accuracy: **{r['clean_accuracy']:.4f}**", report)
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

  def test_missing_checkpoint_is_one_line(self):
    with tempfile.TemporaryDirectory() as d:
      r = subprocess.run([sys.executable, os.path.join(ROOT, "eval.py"), f"--workdir={d}"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
      self.assertNotEqual(r.returncode, 0)
      self.assertIn(f"error: {d}/config.json not found", r.stderr)


if __name__ == "__main__":
  absltest.main()
