"""The API reference (make docs): pdoc builds it from the docstrings, and the check fails on a public name without
a docstring."""

import os
import sys
import tempfile
import types

from absl.testing import absltest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from docs import make_api  # pylint: disable=g-import-not-at-top


class ApiDocsTest(absltest.TestCase):

  def test_the_reference_builds_with_every_public_name_documented(self):
    with tempfile.TemporaryDirectory() as out:
      self.assertEqual(make_api.build(out), [])
      self.assertTrue(os.path.exists(os.path.join(out, "lowrank_jax", "regularizer.html")))
      page = open(os.path.join(out, "lowrank_jax", "regularizer.html")).read()
      self.assertIn("Projection loss", page)  # projection_loss's docstring, rendered

  def test_an_undocumented_public_function_is_reported(self):
    from lowrank_jax import regularizer  # pylint: disable=g-import-not-at-top
    regularizer.undocumented_helper = types.FunctionType((lambda: None).__code__, {}, "undocumented_helper")
    regularizer.undocumented_helper.__module__ = "lowrank_jax.regularizer"
    try:
      self.assertIn("lowrank_jax.regularizer.undocumented_helper", make_api.problems())
    finally:
      del regularizer.undocumented_helper


if __name__ == "__main__":
  absltest.main()
