"""Packaging: the wheel holds every module and the console scripts; it imports from outside the source tree;
every README code block runs, as written, against the installed package from outside the checkout."""

import ast
import glob
import os
import re
import subprocess
import sys
import tempfile

from absl.testing import absltest

from lowrank_jax import data

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shared import copy_run, run_scripts  # pylint: disable=g-import-not-at-top

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_blocks(lang: str) -> list[str]:
  """The README's ```lang code blocks, in order."""
  return re.findall(rf"```{lang}\n(.*?)```", open(os.path.join(ROOT, "README.md")).read(), re.S)


def readme_commands() -> list[list[str]]:
  """Every train.py / eval.py / lowrank-train / lowrank-eval command of the README's bash blocks, as argv
  (continuation lines joined, comments and [optional] parts dropped, $RANK as 0)."""
  out = []
  for block in readme_blocks("bash"):
    for line in block.replace("\\\n", " ").splitlines():
      line = re.sub(r"\[[^\]]*\]", " ", line.split("#")[0]).replace("$RANK", "0")
      words = line.split()
      for i, w in enumerate(words):
        if w in ("train.py", "eval.py", "lowrank-train", "lowrank-eval") and (i == 0 or words[i - 1].endswith("python")):
          out.append(["eval.py" if "eval" in w else "train.py", *words[i + 1:]])
          break
  return out


# Injected before the README's python blocks: the same code on a smaller config and with AutoAttack's iterations
# cut (the text is not edited).
SMALL_CONFIG = """
import lowrank_jax as _lr
from lowrank_jax.attacks import autoattack as _aa
_get_config = _lr.get_config
def _small_config():
  c = _get_config()
  c.dataset.train_size, c.dataset.test_size, c.test_batch_size = 8192, 1000, 500
  return c
_lr.get_config = _small_config
_aa.AttackSettings.__init__.__defaults__ = (10, 1, 3, 100)  # steps, restarts, targets, Square queries
_lr.attacks.apgd.__kwdefaults__["steps"] = 10  # of 100
_lr.attacks.deepfool.__kwdefaults__["max_iter"] = 10  # of 50: the tiny run leaves some examples unflipped at 50
"""


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
    code = ("import lowrank_jax as lr; print(lr.__file__); print(lr.get_config().model); "
            "print(len([getattr(lr, n) for n in lr.__all__]))")  # every public name resolves (lazily imported)
    r = subprocess.run([sys.executable, "-c", code], cwd=self.outside, env=self.env, capture_output=True, text=True,
                       check=True)
    self.assertEqual(r.stdout.splitlines()[2], "31")
    self.assertTrue(r.stdout.splitlines()[0].startswith(self.site), r.stdout)
    self.assertEqual(r.stdout.splitlines()[1], "cnn")
    r = subprocess.run([os.path.join(self.site, "bin", "lowrank-train")], cwd=self.outside,  # no --workdir
                       env=self.env, capture_output=True, text=True)
    self.assertEqual(r.returncode, 1)
    self.assertIn("--workdir", r.stderr)  # absl's one-line complaint about the required flag

  def test_readme_commands_parse(self):
    """Each command line of the README's bash blocks is accepted as written (flags, config files, overrides)."""
    commands = readme_commands()
    self.assertGreaterEqual(len(commands), 10)
    results = run_scripts([[os.path.join(ROOT, argv[0]), *argv[1:], "--only_check_args"] for argv in commands],
                          cwd=ROOT, env=self.env)
    for argv, r in zip(commands, results):
      self.assertEqual(r.returncode, 0, (argv, r.stderr[-2000:]))

  @absltest.skipUnless(os.path.isdir(data.FASHION_MNIST_DIR), "Fashion-MNIST missing (make test installs it)")
  def test_readme_python_blocks_run_as_written(self):
    """Every python block of the README, as written, from outside the checkout against the installed wheel:
    the own-model example (on 8,192 training images, injected through get_config), the flax.linen train step
    with the LR penalty (the same data), the attacks (on the session's tiny LR run as runs/lowrank)."""
    blocks = readme_blocks("python")
    self.assertLen(blocks, 3)
    copy_run("lowrank", os.path.join(self.outside, "runs", "lowrank"))
    code = "\n".join(blocks)  # one after the other in one interpreter, as pasted into a notebook
    r = subprocess.run([sys.executable, "-c", SMALL_CONFIG + code], cwd=self.outside, env=self.env,
                       capture_output=True, text=True, timeout=600)
    self.assertEqual(r.returncode, 0, r.stderr[-3000:])
    printed = [ast.literal_eval(line) for line in r.stdout.splitlines() if line.startswith("{")]
    record = next(p for p in printed if "test_accuracy" in p)  # the own-model block's print(record)
    self.assertGreater(record["test_accuracy"], 0.6)  # a user's MLP learned (chance 0.1; 0.69 when written)
    self.assertLessEqual(record["hidden/W_effective_rank"], 10)  # W is rank 10
    self.assertTrue(os.listdir(os.path.join(self.outside, "runs", "mynet", "tensorboard")))
    linen = next(p for p in printed if "linen_test_accuracy" in p)  # the linen block's own train step
    self.assertGreater(linen["linen_test_accuracy"], 0.6)  # 0.79 on the full training set when written
    self.assertLessEqual(linen["W_rank"], 10)  # thresholded at its last step: numpy's rank of W


if __name__ == "__main__":
  absltest.main()
