import os
import shutil
import sys
import tempfile

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pytest_configure(config):
  """One folder for the session's shared tiny runs (tests/shared.py), made by the controller; xdist workers
  inherit it through the environment."""
  if not hasattr(config, "workerinput") and "LOWRANK_TEST_RUNS" not in os.environ:
    os.environ["LOWRANK_TEST_RUNS"] = tempfile.mkdtemp(prefix="lowrank_jax_test_runs_")
    config.lowrank_test_runs = os.environ["LOWRANK_TEST_RUNS"]


def pytest_unconfigure(config):
  folder = getattr(config, "lowrank_test_runs", None)
  if folder:
    shutil.rmtree(folder, ignore_errors=True)
