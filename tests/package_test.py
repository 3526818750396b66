"""Packaging: the wheel holds every module and the console scripts; it imports from outside the source tree;
the README's bring-your-own-model example runs, as written, against the installed package."""

import ast
import glob
import os
import re
import subprocess
import sys
import tempfile

from absl.testing import absltest

from lowrank_jax import data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_example() -> str:
  """The README's python block between <!-- example: own-model --> and <!-- /example -->."""
  text = open(os.path.join(ROOT, "README.md")).read()
  block = re.search(r"<!-- example: own-model -->\s*```python\n(.*?)```\s*<!-- /example -->", text, re.S)
  assert block, "README.md lost its own-model example markers"
  return block.group(1)


class PackageTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.TemporaryDirectory()
    wheels = os.path.join(cls.tmp.name, "wheels")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", wheels,
                    ROOT], check=True, capture_output=True, cwd=cls.tmp.name)
    cls.wheel = glob.glob(os.path.join(wheels, "*.whl"))[0]
    cls.site = os.path.join(cls.tmp.name, "site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", cls.site,
                    cls.wheel], check=True, capture_output=True)
    cls.env = dict(os.environ, PYTHONPATH=cls.site)  # the installed copy, and this venv's dependencies
    cls.outside = os.path.join(cls.tmp.name, "elsewhere")
    os.makedirs(cls.outside)

  @classmethod
  def tearDownClass(cls):
    cls.tmp.cleanup()
    super().tearDownClass()

  def test_wheel_holds_every_module_and_the_scripts(self):
    import zipfile  # pylint: disable=g-import-not-at-top
    names = set(zipfile.ZipFile(self.wheel).namelist())
    for path in glob.glob(os.path.join(ROOT, "lowrank_jax", "**", "*.py"), recursive=True):
      self.assertIn(os.path.relpath(path, ROOT), names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(self.wheel).read(entry).decode()
    self.assertIn("lowrank-train = lowrank_jax.cli:train_main", text)
    self.assertIn("lowrank-eval = lowrank_jax.cli:eval_main", text)

  def test_imports_from_outside_the_source_tree(self):
    r = subprocess.run([sys.executable, "-c", "import lowrank_jax as lr; print(lr.__file__); print(lr.get_config().model)"],
                       cwd=self.outside, env=self.env, capture_output=True, text=True, check=True)
    self.assertTrue(r.stdout.splitlines()[0].startswith(self.site), r.stdout)
    self.assertEqual(r.stdout.splitlines()[1], "cnn")
    r = subprocess.run([os.path.join(self.site, "bin", "lowrank-train")], cwd=self.outside,  # no --workdir
                       env=self.env, capture_output=True, text=True)
    self.assertEqual(r.returncode, 1)
    self.assertIn("--workdir", r.stderr)  # absl's one-line complaint about the required flag

  @absltest.skipUnless(os.path.isdir(data.FASHION_MNIST_DIR), "Fashion-MNIST missing (make test installs it)")
  def test_readme_own_model_example_runs_as_written(self):
    code = readme_example()
    r = subprocess.run([sys.executable, "-c", code], cwd=self.outside, env=self.env, capture_output=True, text=True,
                       timeout=600)
    self.assertEqual(r.returncode, 0, r.stderr[-3000:])
    record = ast.literal_eval(r.stdout.strip().splitlines()[-1])
    self.assertGreater(record["test_accuracy"], 0.7)  # a user's MLP learned Fashion-MNIST
    self.assertLessEqual(record["hidden/W_effective_rank"], 10)  # W is rank 10
    # >= 95% of the representation's energy lies in W's 10-d subspace (L_c = mean ||W^T a - a||^2, b ~ 0)
    self.assertLess(record["train_hidden/projection_loss"] / record["train_hidden/mean_norm"] ** 2, 0.05)
    self.assertTrue(os.listdir(os.path.join(self.outside, "runs", "mynet", "tensorboard")))


if __name__ == "__main__":
  absltest.main()
