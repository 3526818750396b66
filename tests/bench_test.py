"""bench/gpu.sh runs on a CPU at small sizes and writes the JSON the GPU section of BENCHMARKS.md is made from."""

import json
import os
import subprocess
import sys
import tempfile

from absl.testing import absltest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from bench import report  # pylint: disable=g-import-not-at-top
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import TEST_XLA_FLAGS  # pylint: disable=g-import-not-at-top


class MaxPoolFirstMaxTest(absltest.TestCase):
  """The bench's alternative max-pool gradient (to each window's first maximum, as torch) against XLA's own."""

  def test_equals_xla_without_ties(self):
    import jax  # pylint: disable=g-import-not-at-top
    import numpy as np  # pylint: disable=g-import-not-at-top
    from flax import nnx  # pylint: disable=g-import-not-at-top
    from bench import attacks  # pylint: disable=g-import-not-at-top
    x = jax.random.normal(jax.random.PRNGKey(2), (3, 7, 9, 4))  # continuous values: no ties; odd sizes dropped
    g = jax.random.normal(jax.random.PRNGKey(5), (3, 3, 4, 4))
    ours = jax.vjp(attacks.max_pool_first_max, x)[1](g)[0]
    xla = jax.vjp(lambda z: nnx.max_pool(z, (2, 2), (2, 2)), x)[1](g)[0]
    np.testing.assert_array_equal(attacks.max_pool_first_max(x), nnx.max_pool(x, (2, 2), (2, 2)))
    np.testing.assert_array_equal(ours, xla)

  def test_a_tie_goes_to_the_first_maximum(self):
    import jax  # pylint: disable=g-import-not-at-top
    import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
    import numpy as np  # pylint: disable=g-import-not-at-top
    from bench import attacks  # pylint: disable=g-import-not-at-top
    x = jnp.asarray([[1.0, 3.0], [3.0, 3.0]]).reshape(1, 2, 2, 1)  # torch's max_pool2d: all to (0, 1)
    dx = jax.grad(lambda z: 2.0 * attacks.max_pool_first_max(z).sum())(x)
    np.testing.assert_array_equal(np.asarray(dx).reshape(2, 2), [[0.0, 2.0], [0.0, 0.0]])


class GpuBenchTest(absltest.TestCase):

  def test_small_run_on_cpu_writes_every_part(self):
    with tempfile.TemporaryDirectory() as tmp:
      out = os.path.join(tmp, "gpu.json")
      env = {**os.environ, "PYTHON": sys.executable, "XLA_FLAGS": TEST_XLA_FLAGS}  # one CPU device
      proc = subprocess.run(["bash", os.path.join(ROOT, "bench", "gpu.sh"), "--small", out], env=env,
                            capture_output=True, text=True, timeout=600)
      self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
      with open(out) as f:
        r = json.load(f)
    self.assertTrue(r["small"])
    variants = {(row["model"], row["variant"]) for row in r["training"]}
    self.assertEqual(variants, {("cnn", "vanilla"), ("cnn", "LR penultimate"),
                                ("cnn", "LR pool2 (factored) + penultimate")})
    for row in r["training"]:
      self.assertGreater(row["ms_per_step"], 0)
      if row["variant"] == "vanilla":
        self.assertEqual(row["over_vanilla"], 1.0)
    self.assertEqual(r["nystrom"]["m"], 256)
    page = "\n".join(report.gpu_section(r))  # the page's GPU section reads this JSON
    self.assertIn("| cnn | 8 | LR pool2 (factored) + penultimate |", page)
    self.assertIn("Nyström rank thresholding at m = 256", page)


if __name__ == "__main__":
  absltest.main()
