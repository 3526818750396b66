"""What several test files share: the tiny config, and tiny runs trained once per test session.

`shared_run("lowrank" | "vanilla")` trains a run the first time any test (on any xdist worker) asks
for it and returns its workdir; later calls reuse it. conftest.py gives the session one folder
(LOWRANK_TEST_RUNS) and removes it at the end. Tests that change a run work on a copy (`copy_run`).
"""

import dataclasses
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile

from configs import default
from lowrank_jax import evaluators, spec_runner

RUNS = {  # the tiny runs: 2 epochs of 16 steps of batch 32
    "lowrank": {"lowrank.warmup_steps": 32},
    "vanilla": {"method": "vanilla"},
}

# train.py flags that give shared_run("lowrank")'s config
LOWRANK_FLAGS = ("--config.dataset.train_size=512", "--config.dataset.test_size=200", "--config.batch_size=32",
                 "--config.test_batch_size=100", "--config.rank_batch_size=100", "--config.num_epochs=2",
                 "--config.log_every_steps=4", "--config.checkpoint_every_steps=8",
                 "--config.lowrank.warmup_steps=32", "--config.lowrank.threshold_every=5")


def tiny_config(**kw):
  c = default.get_config()
  c.dataset.train_size, c.dataset.test_size = 512, 200
  c.batch_size, c.test_batch_size, c.rank_batch_size = 32, 100, 100
  c.num_epochs, c.log_every_steps, c.checkpoint_every_steps = 2, 4, 8
  c.lowrank.warmup_steps = 16
  c.lowrank.threshold_every = 5
  return spec_runner.apply_overrides(c, kw)


def counted_evaluator(name: str, calls: list, interrupt: bool = False) -> evaluators.Evaluator:
  """Evaluator `name` that appends its name to `calls` each time it runs; interrupt: it raises what stop.check()
  raises on Ctrl-C instead of running."""
  original = evaluators.EVALUATORS[name]

  def run(inputs, needed):
    calls.append(name)
    if interrupt:
      raise KeyboardInterrupt("SIGINT")
    return original.run(inputs, needed)
  return dataclasses.replace(original, run=run)


def shared_run(kind: str) -> str:
  """The workdir of the session's tiny `kind` run, trained on first use (a file lock makes other workers
  wait for it rather than train it twice). Read it; copy it (copy_run) to change it."""
  from lowrank_jax import training  # pylint: disable=g-import-not-at-top

  root = os.environ.get("LOWRANK_TEST_RUNS") or os.environ.setdefault(  # outside pytest: a folder left behind
      "LOWRANK_TEST_RUNS", tempfile.mkdtemp(prefix="lowrank_jax_test_runs_"))
  workdir = os.path.join(root, kind)
  with open(os.path.join(root, f".{kind}.lock"), "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not os.path.exists(os.path.join(root, f".{kind}.done")):
      shutil.rmtree(workdir, ignore_errors=True)
      training.train_and_evaluate(tiny_config(**RUNS[kind]), workdir, log=lambda s: None)
      open(os.path.join(root, f".{kind}.done"), "w").close()
  return workdir


def copy_run(kind: str, to: str) -> str:
  """A private copy of the shared `kind` run at `to` (without its eval/ folder)."""
  shutil.copytree(shared_run(kind), to, ignore=shutil.ignore_patterns("eval", ".*.lock"), dirs_exist_ok=True)
  return to


def run_scripts(commands: list[list[str]], cwd: str, env: dict | None = None,
                timeout: float = 300) -> list[subprocess.CompletedProcess]:
  """Each command ([script, arg, ...]) as `python script arg ...` would run it, in one interpreter that imports
  the package once and forks a child per command (tests/forked_scripts.py): for many short command lines (flag
  checks, --help, config errors), each a fresh process, without paying the 1.5 s import each time."""
  with tempfile.TemporaryDirectory() as d:
    out = os.path.join(d, "results.json")
    r = subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "forked_scripts.py"),
                        out], input=json.dumps(commands), cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode:
      raise RuntimeError(f"tests/forked_scripts.py failed: {r.stderr[-3000:]}")
    return [subprocess.CompletedProcess([sys.executable, *c], **r) for c, r in zip(commands, json.load(open(out)))]
