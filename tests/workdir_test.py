"""Every fault of a command line or a workdir ends in one line on stderr and a non-zero exit, with nothing
lost: --help, config-file errors, a second writer, read-only and full disks, a refused rerun, a missing
checkpoint or manifest."""

import contextlib
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from unittest import mock

from absl.testing import absltest

from lowrank_jax import checkpoint, config as config_lib, data, loading, runfiles, training

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shared import LOWRANK_FLAGS, RUNS, copy_run, run_scripts, shared_run, tiny_config  # pylint: disable=g-import-not-at-top

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN, EVAL = os.path.join(ROOT, "train.py"), os.path.join(ROOT, "eval.py")
FMNIST_OK = os.path.isdir(data.FASHION_MNIST_DIR)
TINY_FLAGS = LOWRANK_FLAGS

def run(script, *args, timeout=300, cwd=ROOT):
  return subprocess.run([sys.executable, script, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def error_line(test: absltest.TestCase, r: subprocess.CompletedProcess) -> str:
  """Asserts a failure that printed exactly one line (starting 'error: ') on stderr besides the progress bar,
  and returns it."""
  lines = [l for l in r.stderr.replace("\r", "\n").splitlines() if l.strip() and not re.search(r"\d+/\d+ \[", l)]
  test.assertNotEqual(r.returncode, 0, r.stderr[-3000:])
  test.assertLen(lines, 1, r.stderr[-3000:])
  test.assertTrue(lines[0].startswith("error: "), lines[0])
  return lines[0]


@contextlib.contextmanager
def read_only(folder: str):
  """`folder` read-only: a read-only bind mount as root (root ignores permission bits), else chmod."""
  if os.geteuid() == 0:
    if subprocess.run(["mount", "--bind", folder, folder], capture_output=True).returncode:
      raise absltest.SkipTest("cannot bind-mount here (no CAP_SYS_ADMIN)")
    try:
      subprocess.run(["mount", "-o", "remount,bind,ro", folder], check=True, capture_output=True)
      yield
    finally:
      subprocess.run(["umount", folder], check=True)
  else:
    modes = {p: os.stat(p).st_mode for p in [folder, *glob.glob(os.path.join(folder, "**"), recursive=True)]}
    for p in modes:
      os.chmod(p, modes[p] & ~0o222)
    try:
      yield
    finally:
      for p, m in modes.items():
        os.chmod(p, m)


class CommandLineTest(absltest.TestCase):

  def test_help_lists_every_flag_and_exits_0(self):
    helps = run_scripts([[TRAIN, "--help"], [EVAL, "--help"]], cwd=ROOT)
    for r, extra in zip(helps, ((), ("--transfer_from", "--reference", "--model", "--data_dir"))):
      self.assertEqual(r.returncode, 0, r.stderr)
      flags = {l.split()[0] for l in r.stdout.splitlines() if l.startswith("  --")}
      self.assertEqual(flags, {"--workdir", "--config", "--config.FIELD=VALUE", "--distributed",
                               "--coordinator_address", "--num_processes", "--process_id", *extra})

  def test_config_file_errors_are_one_line(self):
    with tempfile.TemporaryDirectory() as d:
      syntax = os.path.join(d, "syntax.py")
      open(syntax, "w").write("import ml_collections\n\ndef get_config(:\n  pass\n")
      raises = os.path.join(d, "raises.py")
      open(raises, "w").write("def get_config():\n  return {}['model']\n")
      missing = os.path.join(d, "missing.py")
      cases = {
          (f"--config={missing}",): f"error: --config: config file {missing} not found",
          ("--config", syntax): f"error: {syntax}:3: syntax error in the config file: invalid syntax",
          (f"--config={raises}",): f"error: {raises}:2: the config file raised KeyError: 'model'",
          ("--config.lowrank.rnak=5",): "error: --config.lowrank.rnak: the config has no field 'rnak'; did you "
                                        "mean 'rank'?",
          ("--config.lowrank.rank=five",): "error: flag --config.lowrank.rank=five: invalid literal for int()",
          ("--config.bogus.depth=1",): "error: --config.bogus.depth: the config has no field 'bogus'",
          ("--config.lowrank.method=exact",): "error: --config.lowrank.method: the field was renamed; use "
                                              "--config.lowrank.svd",
      }
      results = run_scripts([[TRAIN, f"--workdir={d}/w", *args] for args in cases] + [[TRAIN]], cwd=ROOT)
      for (args, message), r in zip(cases.items(), results):
        line = error_line(self, r)
        self.assertTrue(line.startswith(message), (args, line))
      self.assertIn("--workdir", error_line(self, results[-1]))
      self.assertFalse(os.path.exists(os.path.join(d, "w")))  # nothing written


class CheckpointerTest(absltest.TestCase):

  def test_disk_full_on_save_cleans_up_and_keeps_the_previous_checkpoint(self):
    """A simulated ENOSPC in the middle of orbax's save: one line naming the checkpoint and the intact
    previous one, no temporary folder left, the previous checkpoint restores."""
    import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
    with tempfile.TemporaryDirectory() as d:
      ck = checkpoint.Checkpointer(d, keep=2)
      ck.save(1, {"w": jnp.arange(4.0)})
      real_save = ck._manager.save

      def full(step, *a, **k):
        os.makedirs(os.path.join(d, f"{step}.orbax-checkpoint-tmp-1234", "default"))
        raise ValueError("RESOURCE_EXHAUSTED: Error writing file: No space left on device [OSError errno=28]")

      ck._manager.save = full
      with self.assertRaises(checkpoint.CheckpointError) as e:
        ck.save(2, {"w": jnp.ones(4)})
      self.assertEqual(str(e.exception), f"cannot save checkpoint {d}/2: the disk is full (No space left on "
                       f"device); the previous checkpoint {d}/1 is intact; rerun the same command to resume once "
                       f"fixed")
      self.assertEqual(os.listdir(d), ["1"])
      ck._manager.save = real_save
      self.assertEqual(ck.restore(1, {"w": jnp.zeros(4)})["w"].tolist(), [0.0, 1.0, 2.0, 3.0])
      ck.close()


  def test_an_array_changed_on_disk_is_refused_on_restore(self):
    """Digests written with each save are checked on restore: one array's bytes changed in the saved files (here
    the stored value itself, as a flipped byte that still decodes would do) is one line naming the checkpoint and
    the previous one, which restores."""
    import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
    with tempfile.TemporaryDirectory() as d:
      ck = checkpoint.Checkpointer(d, keep=3)
      state = {"params": {"w": jnp.arange(64.0).reshape(8, 8)}, "opt": {"mu": jnp.ones(8)}}
      ck.save(1, state)
      ck.save(2, state)
      self.assertEqual(ck.restore(2, state)["opt"]["mu"].tolist(), [1.0] * 8)
      self.assertEqual(json.load(open(os.path.join(d, "2", checkpoint.DIGESTS))), checkpoint.digests(state))
      tampered = {"params": {"w": state["params"]["w"]}, "opt": {"mu": jnp.ones(8).at[3].set(1.0000001)}}
      digests = json.load(open(os.path.join(d, "2", checkpoint.DIGESTS)))
      digests["['opt']['mu']"] = checkpoint.digests(tampered)["['opt']['mu']"]  # what the files no longer hold
      json.dump(digests, open(os.path.join(d, "2", checkpoint.DIGESTS), "w"))
      with self.assertRaises(checkpoint.CheckpointError) as e:
        ck.restore(2, state)
      self.assertEqual(str(e.exception), f"checkpoint {d}/2 is corrupt: 1 of 2 arrays differ from the digests written "
                       f"with them (e.g. ['opt']['mu']); the previous checkpoint is {d}/1: move {d}/2 away to resume "
                       "from it")
      self.assertEqual(ck.restore(1, state)["params"]["w"].shape, (8, 8))  # the previous one is intact
      ck.close()

  def test_overwritten_bytes_in_a_real_checkpoint_are_one_line(self):
    """4 bytes ZZZZ at 3 offsets of the largest file of a trained run's newest checkpoint (the probe that once
    loaded silently with 5,676 changed weights): load_model and a training resume each fail in one line naming it."""
    with tempfile.TemporaryDirectory() as d:
      workdir = copy_run("lowrank", os.path.join(d, "run"))
      step = max(int(s) for s in os.listdir(os.path.join(workdir, "checkpoints")) if s.isdigit())
      files = [f for f in glob.glob(os.path.join(workdir, "checkpoints", str(step), "**", "*"), recursive=True)
               if os.path.isfile(f) and not f.endswith(checkpoint.DIGESTS)]
      largest = max(files, key=os.path.getsize)
      size = os.path.getsize(largest)
      with open(largest, "r+b") as f:
        for offset in (size // 4, size // 2, 3 * size // 4):
          f.seek(offset)
          f.write(b"ZZZZ")
      pattern = rf"^checkpoint {re.escape(workdir)}/checkpoints/{step} is corrupt"
      saved = json.load(open(os.path.join(workdir, "checkpoints", str(step), checkpoint.DIGESTS)))
      try:  # what the damaged files now hold, read by orbax alone (no digest check)
        import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
        raw = ocp.StandardCheckpointer().restore(os.path.join(workdir, "checkpoints", str(step), "default"))
        changed = {k for k, v in checkpoint.digests(raw).items() if k in saved and saved[k] != v}
      except Exception:  # pylint: disable=broad-except (unreadable: every array counts as changed)
        changed = set(saved)
      if any(k.startswith("['params']['model']") or k.startswith("['batch_stats']") for k in changed):
        with self.assertRaisesRegex(checkpoint.CheckpointError, pattern):
          loading.load_model(workdir)  # it reads only these: refused when one of them changed
      if changed:  # the bytes hit an array (not slack): never read silently
        with self.assertRaisesRegex(checkpoint.CheckpointError, pattern):
          training.train_and_evaluate(tiny_config(**RUNS["lowrank"]), workdir, log=lambda s: None)


class DamagedFilesTest(absltest.TestCase):

  def test_a_killed_writers_temporary_files_are_removed_by_the_next_run(self):
    """kill -9 while a plot or JSON was being written leaves <file>.tmp<pid>: the next eval.py (holding the lock)
    removes it, and only files of that pattern."""
    with tempfile.TemporaryDirectory() as d:
      os.makedirs(os.path.join(d, "eval"))
      left = [os.path.join(d, "eval", "deepfool.png.tmp4242"), os.path.join(d, "metrics.jsonl.tmp17")]
      kept = [os.path.join(d, "eval", "report.md"), os.path.join(d, "notes.tmp"), os.path.join(d, "a.tmp12.png")]
      for f in left + kept:
        open(f, "w").close()
      self.assertEqual(sorted(runfiles.remove_stale_temporaries(d)), sorted(left))
      self.assertEqual([os.path.exists(f) for f in left + kept], [False, False, True, True, True])

  def test_cut_short_json_is_one_line_naming_the_file(self):
    """config.json, model.json, partial_epoch/*.json and metrics.jsonl cut short by an interrupted write: one
    WorkdirError line with the file and where (before: a 34-39-line JSONDecodeError naming no file)."""
    with tempfile.TemporaryDirectory() as d:
      whole, lines = os.path.join(d, "config.json"), os.path.join(d, "metrics.jsonl")
      open(whole, "w").write('{"seed": 0, "model": "cn')
      open(lines, "w").write('{"epoch": 1}\n{"epoch": 2, "test_acc')
      with self.assertRaisesRegex(runfiles.WorkdirError, rf"^{re.escape(whole)} is not valid JSON at line 1 column "
                                  r"\d+ \(.*\): cut short by an interrupted write\? move it away"):
        runfiles.read_json(whole)
      with self.assertRaisesRegex(runfiles.WorkdirError, rf"^{re.escape(lines)} is not valid JSON at line 2 "):
        runfiles.read_jsonl(lines)
      with self.assertRaisesRegex(runfiles.WorkdirError, "config.json is not valid JSON"):
        runfiles.load_run(d)


@absltest.skipUnless(FMNIST_OK, "Fashion-MNIST files missing (make test installs them)")
class EvalInputsTest(absltest.TestCase):
  """eval.py's other runs and models, checked before any attack."""

  def test_a_checkpoint_rotated_away_while_listed_is_not_called_corrupt(self):
    """A run in training with keep_checkpoints=1 deletes the checkpoint eval.py has just listed: the newest that
    exists is read (before: "corrupt ... move it away", advice that would move the live run's checkpoint)."""
    with tempfile.TemporaryDirectory() as d:
      workdir = copy_run("vanilla", os.path.join(d, "run"))
      real = checkpoint.Checkpointer.latest_step
      calls = []

      def listed_before_rotation(ck):
        calls.append(1)
        return 999 if len(calls) == 1 else real(ck)  # the first listing names a checkpoint gone since

      with mock.patch.object(checkpoint.Checkpointer, "latest_step", listed_before_rotation):
        m = loading.load_model(workdir)
      self.assertEqual(m.step, real(checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"), 2, read_only=True)))
      self.assertEqual(len(calls), 2)

  def test_other_runs_of_another_dataset_and_an_unreadable_comparison(self):
    from lowrank_jax import evaluation  # pylint: disable=g-import-not-at-top
    van = loading.load_model(shared_run("vanilla"))
    other = mock.Mock(workdir="runs/c10", num_classes=100, config=mock.Mock())
    other.config.dataset.name = "cifar100"
    with self.assertRaisesRegex(config_lib.ConfigError, r"^--transfer_from runs/c10 is a run on cifar100 \(100 "
                                r"classes\); .* is on fashion_mnist \(10\): give a run on the same dataset$"):
      evaluation._check_others(van, {"transfer_from": other, "reference": None})
    with tempfile.TemporaryDirectory() as d:
      os.makedirs(os.path.join(d, "eval"))
      open(os.path.join(d, "eval", "eval.json"), "w").write('{"model": "x", "pgd_gr')
      lines = []
      self.assertIsNone(evaluation._compared(d, lines.append))  # the evaluation goes on without the comparison
      self.assertRegex(lines[0], rf"^report: no comparison with {d}: {d}/eval/eval.json is not valid JSON at line 1")

  def test_a_user_model_run_is_evaluated_with_model_factory(self):
    """eval.py on a run of the user's own NNX module: without --model, one line saying how; with --model
    MODULE:FACTORY, evaluated."""
    with tempfile.TemporaryDirectory() as d:
      open(os.path.join(d, "mynet.py"), "w").write(
          "from flax import nnx\n\nclass MyNet(nnx.Module):\n  def __init__(self, rngs):\n"
          "    self.fc1, self.fc2 = nnx.Linear(784, 64, rngs=rngs), nnx.Linear(64, 10, rngs=rngs)\n\n"
          "  def __call__(self, x):\n    h = nnx.relu(self.fc1(x.reshape(x.shape[0], -1)))\n"
          "    self.sow(nnx.Intermediate, 'hidden', h)\n    return self.fc2(h)\n\n"
          "def make():\n  return MyNet(nnx.Rngs(0))\n")
      sys.path.insert(0, d)
      try:
        import mynet  # pylint: disable=g-import-not-at-top
        workdir = os.path.join(d, "run")
        training.train_and_evaluate(tiny_config(**{"lowrank.layers": "hidden", "num_train_steps": 4}), workdir,
                                    model=mynet.make(), log=lambda s: None)
      finally:
        sys.path.remove(d)
      args = [sys.executable, os.path.join(ROOT, "eval.py"), f"--workdir={workdir}", "--config.eval.num_examples=20",
              "--config.eval.only=representation"]
      r = subprocess.run(args, cwd=d, capture_output=True, text=True, timeout=300)
      self.assertEqual(r.returncode, 1)
      self.assertRegex(r.stderr.strip(), r"^error: .* trained a user-defined model \(MyNet\): pass a fresh instance, "
                       r"load_model\(.*, model=...\), or to eval.py --model MODULE:FACTORY")
      r = subprocess.run(args + ["--model=mynet:make"], cwd=d, capture_output=True, text=True, timeout=300)
      self.assertEqual(r.returncode, 0, r.stderr[-2000:])
      self.assertIn("representation", json.load(open(os.path.join(workdir, "eval", "eval.json"))))
      r = subprocess.run(args + ["--model=mynet:nope"], cwd=d, capture_output=True, text=True, timeout=300)
      self.assertRegex(r.stderr.strip(), r"^error: --model mynet:nope: AttributeError: ")


@absltest.skipUnless(FMNIST_OK, "Fashion-MNIST files missing (make test installs them)")
class WorkdirTest(absltest.TestCase):

  def test_second_writer_is_refused_naming_the_holder(self):
    with tempfile.TemporaryDirectory() as d:
      with runfiles.locked(d, "train"):
        line = error_line(self, run(TRAIN, f"--workdir={d}", *TINY_FLAGS))
        with self.assertRaises(runfiles.WorkdirError):  # flock is per open file: the same process is refused too
          with runfiles.locked(d, "train"):
            pass
      self.assertIn(f"is in use by train pid {os.getpid()} on host {socket.gethostname()}", line)
      self.assertEqual(sorted(os.listdir(d)), [".train.lock"])  # the refused run wrote nothing
      with runfiles.locked(d, "train"):  # released with its holder
        pass

  def test_read_only_workdirs_fail_before_any_compute(self):
    with tempfile.TemporaryDirectory() as d:
      run_dir = copy_run("lowrank", os.path.join(d, "run"))
      empty = os.path.join(d, "empty")
      os.makedirs(empty)
      with read_only(d):
        line = error_line(self, run(TRAIN, f"--workdir={empty}/new", *TINY_FLAGS))
        self.assertRegex(line, f"^error: cannot write to {empty}/new: (Read-only file system|Permission denied)$")
        r = run(EVAL, f"--workdir={run_dir}")  # the default evaluation would take minutes
        line = error_line(self, r)
        self.assertRegex(line, f"^error: cannot write to {run_dir}/eval: (Read-only file system|Permission denied)$")
      self.assertFalse(os.path.exists(os.path.join(run_dir, "eval")))

  def test_disk_full_is_one_line_and_the_resume_works(self):
    """Training into an 8 MiB tmpfs: the step-8 checkpoint (4.7 MB) fits, the step-16 one does not. One line,
    no orbax temporary folder left, and once the disk is larger the same command resumes from step 8."""
    if os.geteuid() != 0:
      self.skipTest("mounting a tmpfs needs root (CheckpointerTest simulates ENOSPC everywhere)")
    with tempfile.TemporaryDirectory() as d:
      if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", d], capture_output=True).returncode:
        self.skipTest("cannot mount a tmpfs here")
      try:
        w = os.path.join(d, "run")
        line = error_line(self, run(TRAIN, f"--workdir={w}", *TINY_FLAGS))
        self.assertEqual(line, f"error: cannot save checkpoint {w}/checkpoints/16: the disk is full (No space left "
                         f"on device); the previous checkpoint {w}/checkpoints/8 is intact; rerun the same command "
                         f"to resume once fixed")
        self.assertEqual(os.listdir(os.path.join(w, "checkpoints")), ["8"])
        self.assertEqual([f for f in glob.glob(f"{w}/**", recursive=True) if "tmp" in os.path.basename(f)], [])
        subprocess.run(["mount", "-o", "remount,size=64m", d], check=True)
        r = run(TRAIN, f"--workdir={w}", *TINY_FLAGS)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertIn(f"resumed from {w}/checkpoints/8", r.stdout)
        self.assertEqual(sorted(os.listdir(os.path.join(w, "checkpoints"))), ["24", "32"])
      finally:
        subprocess.run(["umount", d], check=True)

  def test_refused_rerun_leaves_the_run_as_it_was(self):
    """A rerun that would change the model or the loss is refused in one line naming the fields; config.json
    and every other file stay as they were, and the run still loads. Logging fields may change."""
    with tempfile.TemporaryDirectory() as d:
      w = copy_run("lowrank", os.path.join(d, "run"))
      files = lambda: {f: open(f, "rb").read() for f in glob.glob(os.path.join(w, "**"), recursive=True)
                       if os.path.isfile(f) and "tensorboard" not in f}
      before = files()
      for change, fields in (({"lowrank.layers": "pool2"}, "config.lowrank.layers='penultimate' -> 'pool2'"),
                             ({"optimizer.learning_rate": 1e9, "seed": 3},
                              "config.optimizer.learning_rate=0.001 -> 1000000000.0, config.seed=0 -> 3")):
        with self.assertRaises(config_lib.ConfigError) as e:
          training.train_and_evaluate(tiny_config(**RUNS["lowrank"], **change), w, log=lambda s: None)
        self.assertIn(f"{w} holds a run with a different config ({fields}): use a new --workdir", str(e.exception))
        self.assertEqual(files(), before)
      line = error_line(self, run(TRAIN, f"--workdir={w}", *TINY_FLAGS, "--config.lowrank.rank=4"))
      self.assertIn("config.lowrank.rank=10 -> 4", line)
      self.assertEqual(files(), before)
      loading.load_model(w)
      record = training.train_and_evaluate(tiny_config(**RUNS["lowrank"], log_every_steps=3), w, log=lambda s: None)
      self.assertEqual(record, json.loads(before[os.path.join(w, "metrics.jsonl")].splitlines()[-1]))
      self.assertEqual(json.load(open(os.path.join(w, "config.json")))["log_every_steps"], 3)

  def test_no_checkpoint_and_missing_manifest_are_one_line(self):
    with tempfile.TemporaryDirectory() as d:
      line = error_line(self, run(EVAL, f"--workdir={d}"))
      self.assertEqual(line, f"error: {d}/config.json not found: {d} holds no run of train.py")
      w = copy_run("lowrank", os.path.join(d, "run"))
      shutil.rmtree(os.path.join(w, "checkpoints"))
      line = error_line(self, run(EVAL, f"--workdir={w}"))
      self.assertEqual(line, f"error: {w}/checkpoints holds no checkpoint: train into {w} first")
      w = copy_run("lowrank", os.path.join(d, "run2"))
      manifests = glob.glob(os.path.join(w, "checkpoints", "32", "**", "manifest.ocdbt"), recursive=True)
      self.assertTrue(manifests)
      for m in manifests:
        os.remove(m)
      line = error_line(self, run(EVAL, f"--workdir={w}"))
      self.assertIn(f"error: checkpoint {w}/checkpoints/32 is corrupt or incompatible with this config", line)


if __name__ == "__main__":
  absltest.main()
