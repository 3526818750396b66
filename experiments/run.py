"""Trains and evaluates the runs of experiment specs (experiments/specs/*.json), resumably.

  python experiments/run.py curves                 # one spec; several: curves claims
  python experiments/run.py claims --only lr_s0    # some runs of a spec (and the runs they need)
  python experiments/run.py curves --quick         # the smoke version, in runs/experiments_quick
  python experiments/run.py curves --commit        # git-commit each result file (with the page) as it is written
  python experiments/run.py claims --add masking   # run evaluators on finished rows' checkpoints, merged in
                                                   # (a missing checkpoint is retrained first)
  python experiments/run.py claims --only vanilla_s0 --redo vanilla_s0   # evaluate a finished row again; its
                                                   # result is replaced when the new one is written
  python experiments/run.py cifar10 --shard 2/4   # the 2nd of 4 shares of the rows (machines sharing the folder)
  python experiments/run.py cifar10 --park --commit   # rows trained but not yet evaluated (and the reference models)
                                                   # kept in the spec's "export" folder and committed: a fresh clone
                                                   # evaluates them without training them again

On one CPU machine, one shard per core trains more steps per second in all than one process using every core
(bench/shards.py measures it; docs/results/shards.json), e.g. on 2 cores:
  XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" taskset -c 0 \
    python experiments/run.py cifar10 --commit --shard 1/2 &      # and the same with -c 1 ... --shard 2/2

Workdirs: runs/experiments/<spec>/<run>; results: the spec's "results" folder (quick: runs/experiments_quick/);
seed 0 of each row exported (parameters, config, dataset digest) to the spec's "export" folder, if it names one.
Rerunning skips finished runs and resumes an interrupted one: its training from its last checkpoint (every epoch
and at Ctrl-C), its evaluation after the evaluators it finished (kept in WORKDIR/eval/partial/). Ctrl-C stops at the
next training step or evaluator; a second Ctrl-C at once. Compiled programs are kept in runs/jax_cache.
A run whose workdir has no checkpoint (a fresh clone) but whose model is in the export folder (parked by --park, or
seed 0's export) is evaluated from that copy, not trained again.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lowrank_jax import spec_runner, stop  # pylint: disable=g-import-not-at-top

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = os.path.join(ROOT, "experiments", "specs")


def spec_path(name: str) -> str:
  return name if name.endswith(".json") else os.path.join(SPECS, f"{name}.json")


QUICK_ROOT = os.path.join(ROOT, "runs", "experiments_quick")


def dirs(spec: spec_runner.Spec, quick: bool) -> tuple[str, str]:
  """(workdir root, results folder) of a spec; quick: both under runs/experiments_quick (results/<folder name>)."""
  root = os.path.join(QUICK_ROOT if quick else os.path.join(ROOT, "runs", "experiments"), spec.name)
  return root, results_of(spec.results, quick)


def commit(path: str) -> None:
  """Commits one result file with the page and README it changes (docs/RESULTS.md, docs/figures, the README's
  claims table, rewritten first), and nothing else; a failure is reported, not raised."""
  from experiments import page  # pylint: disable=g-import-not-at-top
  try:
    page.write(os.path.join(ROOT, "docs", "RESULTS.md"), os.path.join(ROOT, "docs", "results"), cifar_spec=page.CIFAR_SPEC,
               readme=os.path.join(ROOT, "README.md"), spec=page.CLAIMS_SPEC)
  except Exception as e:  # pylint: disable=broad-except
    print(f"warning: the page was not rewritten ({type(e).__name__}: {e}); committing the row alone", file=sys.stderr)
  rel = os.path.relpath(path, ROOT)
  paths = [rel, "docs/RESULTS.md", "docs/figures", "README.md"]
  for cmd in (["add", "--", *paths], ["commit", "-q", "-m", f"experiments: {rel}", "--", *paths]):
    for wait in (1, 2, 4, 8, 16, 0):  # another shard of this folder may hold git's index lock for a moment
      p = subprocess.run(["git", "-C", ROOT, *cmd], capture_output=True, text=True)
      if not p.returncode or "index.lock" not in p.stderr or not wait:
        break
      time.sleep(wait)
    if p.returncode:
      print(f"warning: git {cmd[0]} {rel} failed: {p.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
      return


def exports_of(folder: str, quick: bool) -> str:
  """Where a spec's "export" folder (relative to the repository) is (quick: runs/experiments_quick/models/)."""
  return os.path.join(QUICK_ROOT, "models", os.path.basename(folder)) if quick else os.path.join(ROOT, folder)


def results_of(folder: str, quick: bool) -> str:
  """Where a spec's "results" folder (relative to the repository) is."""
  return os.path.join(QUICK_ROOT, "results", os.path.basename(folder)) if quick else os.path.join(ROOT, folder)


def run(name: str, quick: bool, only: str = "", on_result=None, add: str = "", redo: str = "",
        shard: tuple[int, int] | None = None, park: bool = False) -> dict[str, dict]:
  spec = spec_runner.load_spec(spec_path(name), quick=quick, results_of=lambda f: results_of(f, quick))
  runs = list(spec.runs)
  if shard is not None:
    runs = spec_runner.shard(runs, *shard)
  if only:
    try:
      runs = spec_runner.select(runs, only.split(","))
    except ValueError as e:
      raise ValueError(f"{spec_path(name)}: --only: {e}") from None
  root, results = dirs(spec, quick)
  export_dir = exports_of(spec.export, quick) if spec.export else None
  if park:
    if not export_dir:
      raise ValueError("--park: the spec names no \"export\" folder to park the trained runs in")
    spec_runner.park(runs, root, results, export_dir, on_result=on_result)
    return {}
  if add:
    return spec_runner.add_evaluators(runs, root, results, add, base_config=spec.base_config(), eval_overrides=spec.eval,
                                     on_result=on_result, export_dir=export_dir)
  try:
    return spec_runner.run_experiment(runs, root, results, base_config=spec.base_config(), eval_overrides=spec.eval,
                                     on_result=on_result, redo=[n for n in redo.split(",") if n],
                                     export_dir=export_dir)
  except ValueError as e:
    raise ValueError(f"{spec_path(name)}: {e}") from None


def use_compilation_cache(folder: str = os.path.join(ROOT, "runs", "jax_cache")) -> None:
  """Compiled programs kept on disk (JAX's persistent cache), so that rows run by separate processes (one call per
  row, or a rerun after an interruption) compile each attack once; JAX_COMPILATION_CACHE_DIR, if set, wins."""
  if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
    import jax  # pylint: disable=g-import-not-at-top
    jax.config.update("jax_compilation_cache_dir", folder)


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("specs", nargs="+", help="spec names (experiments/specs/NAME.json) or paths")
  ap.add_argument("--quick", action="store_true", help="the smoke version (also QUICK=1)")
  ap.add_argument("--only", default="", help="comma-separated run names of the spec")
  ap.add_argument("--commit", action="store_true", help="git-commit each result file as it is written")
  ap.add_argument("--add", default="", help="comma-separated evaluators to run on the finished runs' checkpoints "
                  "and merge into their results (what they need is rerun; the others are kept)")
  ap.add_argument("--redo", default="", help="comma-separated finished runs to evaluate again (trained only if "
                  "their checkpoint is missing); each result is replaced when its new one is written")
  ap.add_argument("--shard", default="", help="K/N: only the K-th of N shares of the runs (machines sharing this "
                  "folder, e.g. a job array: --shard $((SLURM_ARRAY_TASK_ID + 1))/N)")
  ap.add_argument("--park", action="store_true", help="keep the runs trained to the end but not evaluated (and the "
                  "runs others attack with) in the spec's export folder, committed with --commit, instead of running "
                  "anything: a fresh clone evaluates them without training them again")
  a = ap.parse_args()
  quick = a.quick or os.environ.get("QUICK") == "1"
  shard = None
  if a.shard:
    try:
      shard = tuple(int(v) for v in a.shard.split("/"))
      spec_runner.shard([], *shard)
    except (ValueError, TypeError):
      sys.exit(f"error: --shard {a.shard}: expected K/N with 1 <= K <= N, e.g. --shard 2/4")
  use_compilation_cache()
  if a.add and a.redo:
    sys.exit("error: --add and --redo: give one (--add merges evaluators into a result, --redo replaces it)")
  if a.park and (a.add or a.redo):
    sys.exit("error: --park runs nothing: give it without --add and --redo")
  with stop.requests():  # Ctrl-C / SIGTERM: at the next training step or evaluator, nothing finished is lost
    for name in a.specs:
      try:
        run(name, quick, a.only, on_result=commit if a.commit and not quick else None, add=a.add, redo=a.redo,
            shard=shard, park=a.park)
      except ValueError as e:
        sys.exit(f"error: {e}")
      except KeyboardInterrupt:  # the run in training saved its checkpoint, the evaluation its finished evaluators
        print(f"{name}: interrupted; rerun the same command to resume", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
  main()
