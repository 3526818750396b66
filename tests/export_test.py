"""lowrank_jax.export: an exported run loads as the original (the same logits), holds no optimizer state, and
classifies its result's evaluated examples exactly as the result says; and the models committed under models/ do
(where their dataset is on this machine)."""

import glob
import json
import os
import tempfile

from absl.testing import absltest, parameterized
import numpy as np

from shared import copy_run, tiny_config
from lowrank_jax import data as data_lib
from lowrank_jax import evaluation, export, loading, per_example, runfiles

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _size(folder: str) -> int:
  return sum(os.path.getsize(f) for f in glob.glob(os.path.join(folder, "**"), recursive=True) if os.path.isfile(f))


class ExportTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.TemporaryDirectory()
    cls.workdir = copy_run("lowrank", os.path.join(cls.tmp.name, "run"))
    cls.out = export.export_model(cls.workdir, os.path.join(cls.tmp.name, "models", "lr_s0"), {"result": "x.json"})

  def test_the_copy_loads_as_the_original(self):
    a, b = loading.load_model(self.workdir), loading.load_model(self.out)
    x = data_lib.to_unit(data_lib.load_dataset(a.config.dataset).splits["test"][0][:64])
    np.testing.assert_array_equal(np.asarray(a.logits(x)), np.asarray(b.logits(x)))
    self.assertEqual(a.step, b.step)
    meta = json.load(open(os.path.join(self.out, "model.json")))
    self.assertEqual(meta["exported_from"], {"step": a.step, "result": "x.json"})
    self.assertEqual(meta["dataset"], json.load(open(os.path.join(self.workdir, "model.json")))["dataset"])
    # parameters and batch statistics only: Adam's two moments and the LR layers' W, b stay behind
    step = str(a.step)
    self.assertLess(_size(os.path.join(self.out, "checkpoints", step)),
                    0.5 * _size(os.path.join(self.workdir, "checkpoints", step)))
    self.assertEqual(os.listdir(os.path.join(self.out, "checkpoints")), [step])
    self.assertEqual(export.export_model(self.workdir, self.out), self.out)  # again: replaced, nothing left beside it
    self.assertEqual(sorted(os.listdir(os.path.dirname(self.out))), ["lr_s0"])

  def test_mismatches_against_the_evaluation_of_the_original(self):
    """The original's evaluation (per-example clean correctness of 100 examples): the copy agrees on all 100; a
    result with one example's bit flipped is caught; a result of another dataset is refused."""
    ec = tiny_config().eval
    ec.num_examples, ec.batch_size, ec.only = 100, 50, "representation"
    result = {"eval": evaluation.evaluate_workdir(self.workdir, ec, progress=False)}
    self.assertEqual(export.mismatches(self.out, result), (0, 100))
    kept = per_example.from_json(result["eval"]["per_example"])
    flipped = kept.clean.copy()
    flipped[7] = ~flipped[7]
    bad = {"eval": {**result["eval"], "per_example": per_example.to_json(flipped, [])}}
    self.assertEqual(export.mismatches(self.out, bad), (1, 100))
    other = {"eval": {**result["eval"], "dataset": {"digest": "0123456789abcdef"}}}
    with self.assertRaisesRegex(ValueError, "is not the one evaluated"):
      export.mismatches(self.out, other)


COMMITTED = sorted(os.path.dirname(f) for f in glob.glob(os.path.join(ROOT, "models", "*", "*", "model.json")))


class CommittedModelsTest(parameterized.TestCase):
  """One test per committed model (xdist spreads them over the workers)."""

  def test_each_names_its_result_and_all_fit_in_25_mb(self):
    if not COMMITTED:
      self.skipTest("no model is committed under models/ yet")
    for out in COMMITTED:
      note = runfiles.read_json(os.path.join(out, "model.json"))["exported_from"]
      if "awaits" in note:  # parked (experiments/run.py --park): trained to the end, no result yet
        config, history = runfiles.read_json(os.path.join(out, "config.json")), runfiles.read_jsonl(
            os.path.join(out, "metrics.jsonl"))
        self.assertEqual((history[-1]["epoch"], history[-1]["step"]), (config["num_epochs"], note["step"]), out)
        continue
      # the row it was exported for
      result = os.path.join(out, note["result"])
      self.assertEqual(runfiles.read_json(result)["run"]["name"], os.path.basename(out), out)
    self.assertLessEqual(sum(map(_size, COMMITTED)), 25 * 2**20)  # the repository's budget for models/

  @parameterized.named_parameters((os.path.relpath(out, ROOT).replace(os.sep, "_"), out) for out in COMMITTED)
  def test_classifies_its_rows_examples_as_its_json_says(self, out):
    meta = runfiles.read_json(os.path.join(out, "model.json"))
    config = runfiles.read_json(os.path.join(out, "config.json"))
    data_dir = config["dataset"].get("data_dir", "")
    if data_dir and not os.path.exists(os.path.join(ROOT, data_dir)):
      self.skipTest(f"its dataset {data_dir} is not on this machine (CI clones see no ../shared)")
    if "awaits" in meta["exported_from"]:
      self.skipTest(f"parked: no result names it yet ({meta['exported_from']['awaits']})")
    result = runfiles.read_json(os.path.join(out, meta["exported_from"]["result"]))
    cwd = os.getcwd()
    os.chdir(ROOT)  # data_dir is relative to the repository
    try:
      self.assertEqual(export.mismatches(out, result), (0, result["eval"]["num_examples"]), out)
    finally:
      os.chdir(cwd)


if __name__ == "__main__":
  absltest.main()
