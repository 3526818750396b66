"""experiments/page.py on the committed JSON: every claim's section and verdict, the verdicts equal to those
experiments/claims.py computes from the same JSON, every figure it links written."""

import os
import re
import shutil
import tempfile

from absl.testing import absltest

from experiments import claims, page

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "docs", "results")


class PageTest(absltest.TestCase):

  def test_page_from_committed_json(self):
    out = tempfile.mkdtemp()
    path = os.path.join(out, "RESULTS.md")
    page.write(path, RESULTS, os.path.join(out, "figures"))
    text = open(path).read()
    grid = page.load_dir(os.path.join(RESULTS, "claims")) or page.load_dir(os.path.join(RESULTS, "paper"))
    verdicts = claims.verdicts(page.rows_of(page.groups_of(grid)))
    for v in verdicts:
      self.assertIn(f"## Claim {v.claim}: {v.title}", text)
      self.assertIn(f"Verdict: **{v.verdict}**. {v.reason}.", text)
      self.assertIn(f"| {v.claim}. {v.title} | **{v.verdict}** |", text)
    for link in re.findall(r"\]\((figures/[^)]+)\)", text):
      self.assertGreater(os.path.getsize(os.path.join(out, link)), 1000, link)
    self.assertNotIn("WARMUP", text)

  def test_readme_claims_table_is_the_one_the_committed_json_gives(self):
    """README's claims table is rewritten from the JSON (make page, run.py --commit): a stale table fails here."""
    out = tempfile.mkdtemp()
    readme = os.path.join(out, "README.md")
    shutil.copy(os.path.join(ROOT, "README.md"), readme)
    page.write(os.path.join(out, "RESULTS.md"), RESULTS, os.path.join(out, "figures"), readme=readme)
    self.assertEqual(open(readme).read(), open(os.path.join(ROOT, "README.md")).read(),
                     "README.md's claims table is stale: run `make page`")
    self.assertIn("| 1. LR models resist PGD far better than vanilla, SNIP and SRN |", open(readme).read())

  def test_a_grid_with_one_row_says_what_is_not_yet_known(self):
    """The grid's first row landing must not crash the page (run.py --commit writes it) nor call a claim changed."""
    out = tempfile.mkdtemp()
    results = os.path.join(out, "results")
    shutil.copytree(os.path.join(RESULTS, "paper"), os.path.join(results, "paper"))
    os.makedirs(os.path.join(results, "claims"))
    shutil.copy(os.path.join(RESULTS, "paper", "vanilla_s0.json"), os.path.join(results, "claims"))
    page.write(os.path.join(out, "RESULTS.md"), results, os.path.join(out, "figures"))
    text = open(os.path.join(out, "RESULTS.md")).read()
    self.assertIn("Claims read the claims grid (`docs/results/claims/`): 1 row,", text)
    self.assertIn("| 1. LR models resist PGD far better than vanilla, SNIP and SRN | **not measured** | "
                  "not reproduced | not yet known |", text)


if __name__ == "__main__":
  absltest.main()
