import os
import shutil
import sys
import tempfile

# XLA's CPU backend at optimisation level 1 (default 3) for the whole session and the processes it launches: the
# suite is mostly compilation of small programs, which this makes faster (an attack test on a tiny model: 28 s ->
# 24 s), while the tests that run long (training a tiny model for hundreds of steps) run as fast as at the default
# (level 0 doubled those, and cut the evaluation test's compile-bound run only from 85 s to 73 s). Results are the
# library's own either
# way: level 1 changes how XLA emits code, not what it computes. Tests that set XLA_FLAGS keep this in front.
TEST_XLA_FLAGS = "--xla_backend_optimization_level=1"
os.environ.setdefault("XLA_FLAGS", f"{TEST_XLA_FLAGS} --xla_force_host_platform_device_count=1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pytest_configure(config):
  """One folder for the session's shared tiny runs (tests/shared.py) and its JAX compilation cache, made by the
  controller; xdist workers and the train.py / eval.py processes that tests launch inherit both through the
  environment. The cache starts empty each session: it only spares the many launches of the same tiny
  configs recompiling the same programs (a train.py launch: 17 s cold, 7 s warm)."""
  if not hasattr(config, "workerinput") and "LOWRANK_TEST_RUNS" not in os.environ:
    os.environ["LOWRANK_TEST_RUNS"] = tempfile.mkdtemp(prefix="lowrank_jax_test_runs_")
    config.lowrank_test_runs = os.environ["LOWRANK_TEST_RUNS"]
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(os.environ["LOWRANK_TEST_RUNS"], "jax_cache"))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


def pytest_unconfigure(config):
  folder = getattr(config, "lowrank_test_runs", None)
  if folder:
    shutil.rmtree(folder, ignore_errors=True)
