"""experiments/page.py on the committed JSON: every claim's section and verdict, the verdicts equal to those
experiments/claims.py computes from the same JSON, every figure it links written."""

import copy
import json
import os
import re
import shutil
import tempfile
from unittest import mock

from absl.testing import absltest
import numpy as np

from experiments import claims, length, page, page_cifar
from lowrank_jax import spec_runner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "docs", "results")


class PageTest(absltest.TestCase):

  def test_page_and_readme_table_from_committed_json(self):
    """One write of the page (figures included) from the committed JSON, with a copy of the README: every claim's
    section and verdict is there, every linked figure is written, and the README's claims table (rewritten from
    the JSON by make page and run.py --commit) is unchanged: a stale table fails here."""
    out = tempfile.mkdtemp()
    path, readme = os.path.join(out, "RESULTS.md"), os.path.join(out, "README.md")
    shutil.copy(os.path.join(ROOT, "README.md"), readme)
    page.write(path, RESULTS, os.path.join(out, "figures"), readme=readme, spec=page.CLAIMS_SPEC,
               cifar_spec=page.CIFAR_SPEC)
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
    self.assertEqual(open(readme).read(), open(os.path.join(ROOT, "README.md")).read(),
                     "README.md's claims table is stale: run `make page`")
    self.assertIn("| 1. LR models resist PGD far better than vanilla, SNIP and SRN |", open(readme).read())

  def test_the_rows_not_yet_run_are_listed_by_label_and_seed(self):
    """Counted against the spec by hand: a grid of vanilla seeds 0 and 2 lacks vanilla seed 1 and every other row."""
    spec = json.load(open(page.CLAIMS_SPEC))
    evaluated = [r for r in spec["runs"] if r.get("evaluate", True)]
    total = sum(len(r.get("seeds", [0])) for r in evaluated)
    line = page.not_yet_run(page.CLAIMS_SPEC, {"vanilla_s0": {}, "vanilla_s2": {}})
    self.assertTrue(line.startswith(f"Not yet run: {total - 2} of the {total} rows of `experiments/specs/claims.json`: "
                                    "vanilla (seed 1); LR (seeds 0, 1, 2); "), line)
    self.assertIn("; SNIP (seed 0); ", line)
    self.assertEqual(page.not_yet_run(page.CLAIMS_SPEC, {f"{r['name']}_s{s}": {} for r in evaluated
                                                         for s in r.get("seeds", [0])}), "")

  def test_the_cost_line_counts_each_row_on_the_cores_it_ran_on(self):
    """Hand-computed: a row pinned to 1 core (1 h training, 0.5 h evaluation) costs half of that on the 2-core
    machine; one that predates the record (0.5 h training) counts as 2 cores; a row trained by the curves adds only its
    evaluation (0.25 h on 2 cores): 1.0 h training + 0.5 h evaluation."""
    line = page._compute({
        "a": {"seconds": {"train": 3600.0, "eval": 1800.0, "resumed": False, "platform": "cpu", "cores": 1}},
        "b": {"seconds": {"train": 1800.0, "eval": 0.0, "resumed": True}},
        "c": {"trained_by": "curves", "seconds": {"train": 0.5, "eval": 900.0, "platform": "cpu", "cores": 2}}})
    self.assertTrue(line.startswith("1.50 h on 2 CPU cores (1.00 h training, 0.50 h evaluation; the sum of the "
                                    "JSON's `seconds`, each row's times the CPU cores it ran on over 2; 1 row(s) that "
                                    "predate that record count as 2 cores: an upper bound;"), line)
    old = page._compute({"b": {"seconds": {"train": 1800.0, "eval": 1800.0, "resumed": False}}})
    self.assertEqual(old, "1.00 h on 2 CPU cores (0.50 h training, 0.50 h evaluation; the sum of the JSON's `seconds`)")
    gpu = page._compute({"g": {"seconds": {"train": 3600.0, "eval": 0.0, "platform": "gpu", "cores": 16}}})
    self.assertTrue(gpu.startswith("1.00 h on 2 CPU cores (1.00 h training,") and "1 row(s) ran on gpu" in gpu, gpu)
    parked = page._compute({"p": {"parked": {"step": 32, "awaits": "evaluation"},
                                  "seconds": {"train": 0.2, "eval": 1800.0, "resumed": True, "cores": 2}}})
    self.assertIn("(0.00 h training, 0.50 h evaluation;", parked)
    self.assertIn("1 row(s) trained elsewhere and parked under models/", parked)
    self.assertNotIn("resumed", parked)  # its training is not "counted after a resume": it is not here at all

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
    # the first pass's claim 1: the ResNet's +3.0 points (one seed, no per-example results) is not told from chance
    self.assertIn("| 1. LR models resist PGD far better than vanilla, SNIP and SRN | **not measured** | "
                  "undecided | not yet known |", text)
    self.assertIn("| 2. LR needs an order of magnitude more DeepFool perturbation | **not measured** | not reproduced "
                  "| not yet known |", text)

  def test_curves_summary_says_when_the_grid_trains_longer_than_the_curve_converged(self):
    """A ResNet curve converged at epoch 2 of 4 (hand-made) whose grid rows train all 4 epochs: the length line
    names both; a CNN grid row at its converged length adds nothing."""
    def point(model, label, until, n, history):
      ev = {"num_examples": 10, "config": {"eps": [8 / 255]},
            "robust_accuracy": {"0.0313725": {"accuracy": 0.5}}}
      return {"config": {"model": model, "num_epochs": n}, "run": {"label": label, "until_epoch": until},
              "history": history, "eval": ev, "seconds": {"train": 1.0}}
    hist = [{"epoch": e, "test_accuracy": a, "train_loss": l} for e, a, l in
            [(1, 0.8, 0.5), (2, 0.9, 0.1), (3, 0.9, 0.1), (4, 0.9, 0.1)]]
    curves = {"r": point("resnet18", "ResNet", 4, 4, hist), "c": point("cnn", "CNN", 4, 4, hist)}
    grid = {"a": {"config": {"model": "resnet18", "num_epochs": 4}}, "b": {"config": {"model": "cnn", "num_epochs": 2}}}
    line = page.curves_summary(curves, grid)[-1]
    self.assertIn("resnet18: 2 epochs (its grid rows train 4, the curves' full schedule)", line)
    self.assertIn("cnn: 2 epochs.", line)
    self.assertNotIn("grid rows", page.curves_summary(curves)[-1])
    self.assertIn("Training length the CIFAR-10 grid needs (", page.curves_summary(curves, grid, "the CIFAR-10 grid")[-1])

  def test_curves_are_compared_with_vanilla_checkpoint_by_checkpoint_on_the_same_examples(self):
    """The committed curves: LR's gap at each epoch is its table's worst case minus vanilla's at that epoch."""
    curves = page.load_dir(os.path.join(RESULTS, "curves"))
    if not {"lr_s0_e10", "vanilla_s0_e10"} <= set(curves):
      self.skipTest("no LR and vanilla curves committed")
    line = next(l for l in page.curves_paired(curves) if l.startswith("LR - vanilla"))
    worst = lambda n: curves[n]["eval"]["robust_accuracy"]["0.0313725"]["accuracy"]
    self.assertIn(f"10: {100 * (worst('lr_s0_e10') - worst('vanilla_s0_e10')):+.1f} (p ", line)

  def test_a_baseline_far_below_vanillas_clean_accuracy_is_called_under_fitted(self):
    """By hand: vanilla 92% clean; SRN 76% (16 points below) is flagged with its train accuracy, LR at 91% and PGD-AT
    (its price) are not, and a ResNet row is compared with the ResNet vanilla (absent here), not with the CNN's."""
    row = lambda clean, train=None: {"eval": {"clean_accuracy": clean}, "train": {"train_accuracy": train} if train
                                     else {}}
    groups = {"vanilla": [row(0.92)], "LR": [row(0.91)], "SRN": [row(0.76, 0.75), row(0.76, 0.77)], "PGD-AT": [row(0.80)],
              "ResNet-18/4 LR": [row(0.5)]}
    self.assertEqual(page.underfitted(groups), ["SRN's clean accuracy, 76.0%, is 16.0 points below vanilla's (train "
                                                "accuracy 76.0 ± 1.4%): under-fitted, so its robust accuracy says "
                                                "little about the method."])

  def test_the_verdict_table_says_what_changed_from_the_first_pass(self):
    """By hand: undecided then decided is a change; the same verdict is not; a claim not measured now is unknown."""
    v = lambda c, verdict: claims.Verdict(c, f"claim {c}", verdict, "", "", {})
    new = [v(1, claims.NOT), v(2, claims.NOT), v(3, claims.PARTLY), v(4, claims.MISSING)]
    old = [v(1, claims.UNDECIDED), v(2, claims.NOT), v(3, claims.NOT), v(4, claims.NOT)]
    table = page.section_summary(new, old)[6:]  # after the heading, the words' definitions and the table head
    self.assertEqual([row.rsplit("|", 2)[1].strip() for row in table if row],
                     ["**yes**: decided", "no", "**yes**", "not yet known"])

  def test_seed_by_seed_reads_each_seed_on_the_examples_both_models_cover(self):
    """By hand: vanilla kept 4 examples, LR 2 (the first two); the sentence compares the first 2 only, seed by seed,
    and its mean and exact paired p are claims.worst_gap's and claims.paired's; the seed t-test of gaps +50 and -100
    has 1 degree of freedom (a Cauchy distribution): t = -25 / (106.07 / sqrt 2) = -1/3, p = 1 - 2 atan(1/3) / pi
    = 0.795."""
    mk = lambda seed, clean, worst: claims.Row(
        seed=seed, clean=float(np.mean(clean)), worst={claims.EPS: float(np.mean(worst))},
        worst_correct={claims.EPS: np.array(worst, bool)}, clean_correct=np.array(clean, bool))
    rows = {"vanilla": [mk(0, [1, 1, 0, 0], [1, 0, 0, 0]), mk(1, [1, 1, 1, 1], [1, 1, 1, 1])],
            "LR": [mk(1, [1, 0], [0, 0]), mk(0, [1, 1], [1, 1])]}
    line, = page.seed_by_seed(rows)
    self.assertEqual(line, "LR against vanilla, seeds 0, 1 on the first 2 test examples: clean 1.000, 0.500 against "
                     "1.000, 1.000; worst case at 8/255 1.000, 0.000 against 0.500, 1.000 (gap +50.0, -100.0 points; "
                     "mean -25.0 ± seed SE 75.0; paired exact p 1; seed t-test p 0.8 (df 1)).")

  def test_sweep_marks_the_config_the_runner_chooses_and_reads_the_trend(self):
    """The bold row is the config spec_runner.best_config gives "LR (most favourable)" (claims.json's rule); the
    sentence under the table follows the numbers: a jump at one rank is no longer "rises with every step"."""
    sweep_dir = os.path.join(RESULTS, "sweep")
    results = page.load_dir(sweep_dir)
    spec = json.load(open(os.path.join(ROOT, "experiments", "specs", "claims.json")))
    key = next(r["config_from"]["maximise"] for r in spec["runs"] if "config_from" in r)
    chosen = spec_runner.best_config(sweep_dir, key)
    lines = page.section_sweep(results, lambda p: p, tempfile.mkdtemp())
    bold = [l for l in lines if l.startswith("| **")]
    self.assertLen(bold, 1)
    self.assertTrue(bold[0].startswith(f"| **{chosen['lowrank.rank']}** | **{chosen['lowrank.norm_target']:g}** |"))
    changed = copy.deepcopy(results)
    low = min((r for r in changed.values() if r["run"]["overrides"]["lowrank.rank"] == 20),
              key=lambda r: r["run"]["overrides"]["lowrank.norm_target"])
    low["eval"]["pgd_grid"]["pgd"]["0.0313725"]["20"] = 0.99  # rank 20 at the lower target now jumps above all
    read = next(l for l in page.section_sweep(changed, lambda p: p, tempfile.mkdtemp()) if l.startswith("Read:"))
    target = low["run"]["overrides"]["lowrank.norm_target"]
    self.assertIn(f"at norm target {target:g}, PGD-20 robust accuracy does not rise steadily with W's rank", read)
    self.assertNotIn("beats", read)  # the higher target no longer wins at every rank
    van = copy.deepcopy(next(iter(results.values())))  # vanilla at the sweep's setting, PGD-20 set to 0.400
    van["run"]["overrides"] = {"method": "vanilla", "seed": 0}
    van["eval"]["pgd_grid"]["pgd"]["0.0313725"]["20"] = 0.4
    lines = page.section_sweep(results, lambda p: p, tempfile.mkdtemp(), anchor={"vanilla_s0": van})
    self.assertTrue(next(l for l in lines if l.startswith("| vanilla |")).startswith("| vanilla | - |"))
    pgd = sorted(r["eval"]["pgd_grid"]["pgd"]["0.0313725"]["20"] for r in results.values())
    above = [v for v in pgd if v > 0.4]  # counted by hand from the committed sweep
    self.assertIn(f"vanilla at the same setting: 0.400; {len(above)} of {len(pgd)} configurations above it (by at most "
                  f"{100 * (max(pgd) - 0.4):.1f} points", next(l for l in lines if l.startswith("Read:")))

  def test_sweep_check_reads_autoattack_and_the_paired_gap(self):
    """The check's table: each model's AutoAttack and worst case with the sweep's first-training numbers beside it;
    its paired gap equals the difference of the two worst-case accuracies (the same examples)."""
    sweep = page.load_dir(os.path.join(RESULTS, "sweep"))
    anchor = page.load_dir(os.path.join(RESULTS, "sweep_anchor"))
    best = max(sweep.values(), key=lambda r: r["eval"]["pgd_grid"]["pgd"]["0.0313725"]["20"])
    van = next(iter(anchor.values()))
    check = {}
    for name, label, r, aa in (("vanilla_s0", "vanilla", van, 0.333), ("lr_favourable_s0", "LR (most favourable)",
                                                                         best, 0.444)):
      r = copy.deepcopy(r)
      r["run"].update(name=name, label=label)
      r["eval"]["autoattack"] = {"by_eps": {"0.0313725": {"robust_accuracy": aa}}}
      check[name] = r
    lines = page.section_sweep(sweep, lambda p: p, tempfile.mkdtemp(), anchor, check)
    row = next(l for l in lines if l.startswith("| LR (most favourable) |"))
    pgd, worst = (best["eval"]["pgd_grid"]["pgd"]["0.0313725"]["20"],
                  best["eval"]["robust_accuracy"]["0.0313725"]["accuracy"])
    self.assertEqual(row, f"| LR (most favourable) | {best['eval']['clean_accuracy']:.3f} | {pgd:.3f} | 0.444 | "
                          f"{worst:.3f} | {pgd:.3f} | {worst:.3f} |")
    self.assertIn("| vanilla | ", next(l for l in lines if l.startswith("| vanilla |") and "0.333" in l))
    van_worst = van["eval"]["robust_accuracy"]["0.0313725"]["accuracy"]
    read = [l for l in lines if l.startswith("Read: the chosen configuration against vanilla on the same 1,000 "
                                             "validation examples")]
    self.assertLen(read, 1)
    self.assertIn(f"worst case: {100 * (worst - van_worst):+.1f} points", read[0])

  def test_why_the_sweeps_gain_fades_reads_the_check_the_grid_and_the_curve(self):
    """The paragraph's numbers from the committed JSON: the check's gap (mean worst case of the two runs), claim 1's
    converged gap, and the curve's best epoch and last epoch for the same configuration, computed here directly."""
    check, curves = (page.load_dir(os.path.join(RESULTS, d)) for d in ("sweep_check", "curves"))
    rows = page.rows_of(page.groups_of(page.load_dir(os.path.join(RESULTS, "claims"))))
    text = " ".join(page.gain_fades(check, curves, rows))
    worst = lambda r: r["eval"]["robust_accuracy"]["0.0313725"]["accuracy"]
    by = {r["run"]["name"]: r for r in check.values()}
    self.assertIn(f"leads vanilla by {100 * (worst(by['lr_favourable_s0']) - worst(by['vanilla_s0'])):+.1f} points",
                  text)
    grid = claims.worst_gap(rows["LR (most favourable)"], rows["vanilla"], claims.EPS)["gap"]
    self.assertIn(f"there the gap is {100 * grid:+.1f} points", text)
    lr = {r["run"]["until_epoch"]: worst(r) for r in curves.values() if r["run"]["name"].startswith("lr_favourable")}
    van = {r["run"]["until_epoch"]: worst(r) for r in curves.values() if r["run"]["name"].startswith("vanilla")}
    peak = max(lr, key=lambda ep: lr[ep] - van[ep])
    self.assertIn(f"worst case is {lr[peak]:.3f} at epoch {peak} ", text)
    self.assertIn(f"falls to {lr[max(lr)]:.3f} at epoch {max(lr)} ", text)
    self.assertEqual(page.gain_fades({}, curves, rows), [])

  def test_the_cifar_model_is_the_largest_whose_grid_fits(self):
    """bench/cifar_recipe.py's JSON (hand-made): each candidate's step times and grid hours, and the choice: the
    costliest model whose 6 rows train within the budget; none when none does."""
    row = lambda model, width, s: {"model": model, "width": width, "vanilla_s_per_step": s, "lowrank_s_per_step": s,
                                   "grid_hours_6_rows": s * 20}
    recipe = {"batch": 128, "epochs": 30, "machine": {"cores": "2"},
              "rows": [row("resnet18", 0.25, 0.4), row("resnet18", 0.5, 0.45), row("resnet18", 1.0, 4.0)]}
    line = page.recipe_line(recipe)
    self.assertIn("ResNet-18/4 0.400 s vanilla, 0.400 s LR (8 h for 6 rows); ResNet-18/2 0.450 s vanilla", line)
    self.assertIn("ResNet-18 4.000 s vanilla", line)
    self.assertTrue(line.endswith("train in 10 hours or less (the rest of the grid's 15 hours goes to its other rows "
                                  "and the evaluation): ResNet-18/2."), line)
    self.assertTrue(page.recipe_line(recipe, budget_h=5).endswith(": none does."))

  def test_whether_the_papers_number_comes_back(self):
    """Known answers: the CIFAR-10 rows' first numbers against the paper's PGD-20 at 8/255 (31.0 and 78.5)."""
    self.assertEqual(page_cifar.comes_back(22.5, 31.0), "comes back (ours 22.5%, within 10 points)")
    self.assertEqual(page_cifar.comes_back(23.2, 78.5), "does not (ours 55.3 points lower)")
    self.assertEqual(page_cifar.comes_back(45.0, 31.0), "does not (ours 14.0 points higher)")
    self.assertEqual(page_cifar.comes_back(None, 31.0), "is not measured")

  def test_what_the_adversarially_trained_control_shows(self):
    """Known answers: a control 10 points or more above vanilla after every attack shows that the attacks leave
    robustness where training put some; one less than 10 above does not; no control or no vanilla: no sentence."""
    row = lambda worst, clean, method="pgd_at": {"config": {"method": method}, "eval": {
        "clean_accuracy": clean, "robust_accuracy": {"0.0313725": {"accuracy": worst}}}}
    groups = {"vanilla": [row(0.0, 0.87, "vanilla"), row(0.02, 0.88, "vanilla")],
              "PGD-AT (3 steps)": [row(0.30, 0.70), row(0.36, 0.72)]}
    self.assertEqual(page_cifar._control({**groups, "PGD-AT (3 steps)": [row(0.3, 0.7, "lowrank")]}, 8 / 255), "")
    self.assertEqual(page_cifar._control(groups, 8 / 255),
                     "The adversarially trained control, PGD-AT (3 steps), keeps 33.0 ± 4.2% after every attack at "
                     "8/255 (clean 71.0 ± 1.4%), 10 points or more above vanilla: the same attacks leave robustness "
                     "where training put some, so the low numbers above are the models', not an attack that breaks "
                     "every model.")
    groups["PGD-AT (3 steps)"] = [row(0.08, 0.70)]  # 8.0 - 1.0 = 7 points above vanilla
    self.assertIn("keeps 8.0% after every attack at 8/255 (clean 70.0%), less than 10 points above vanilla: the "
                  "control does not show", page_cifar._control(groups, 8 / 255))
    self.assertIn("The adversarially trained control, Madry, keeps 8.0%",  # found by its method, whatever its label
                  page_cifar._control({"vanilla": groups["vanilla"], "Madry": groups["PGD-AT (3 steps)"]}, 8 / 255))
    self.assertEqual(page_cifar._control({"vanilla": groups["vanilla"]}, 8 / 255), "")
    self.assertEqual(page_cifar._control({"PGD-AT (3 steps)": groups["PGD-AT (3 steps)"]}, 8 / 255), "")

  def test_what_changed_from_fashion_mnist_names_the_claims_measured_on_both(self):
    """Hand-made verdicts: claim 3 is not measured on CIFAR-10, so only 1 and 2 are compared; 2 changed."""
    v = lambda n, verdict: claims.Verdict(n, f"t{n}", verdict, "", "", {})
    fm = [v(1, "not reproduced"), v(2, "partly reproduced"), v(3, "not reproduced")]
    c10 = [v(1, "not reproduced"), v(2, "not reproduced"), v(3, "not measured")]
    self.assertEqual(page_cifar.changed(c10, fm), "Of the claims measured on both datasets (1 and 2), changed from "
                     "Fashion-MNIST: claim 2 (partly reproduced on Fashion-MNIST, not reproduced here).")
    self.assertEqual(page_cifar.changed(c10[:1] + fm[1:], fm),
                     "Each claim measured on both datasets (1, 2 and 3) has the verdict it has on Fashion-MNIST.")
    self.assertEqual(page_cifar.changed([v(1, "not measured")], fm[:1]), "")

  def test_cifar_section_sets_the_papers_table_beside_ours_and_gives_the_verdicts(self):
    """Rows labelled as the CIFAR-10 grid labels them (here: the Fashion-MNIST claims rows, relabelled): each cell
    of the table is the paper's number or the mean over seeds of the JSON's own, and the verdicts are the claims'
    functions on those rows; with no row, the section lists what is not yet run."""
    grid = page.load_dir(os.path.join(RESULTS, "claims"))
    label = {"vanilla": "vanilla", "lr": "LR", "lr2": "LR (layer3 + penultimate)", "snip": "SNIP", "srn": "SRN",
             "pgd_at": "PGD-AT (3 steps)"}
    cifar = {}
    for name, r in grid.items():
      lab = label.get(name.rsplit("_s", 1)[0])
      if lab:
        r = copy.deepcopy(r)
        r["run"]["label"] = lab
        cifar[name] = r
    self.assertNotIn("Trained once, evaluated here", "\n".join(page.section_cifar(cifar)))
    cifar["vanilla_s0"]["trained_by"] = "cifar10_curves/vanilla_s0"
    text = "\n".join(page.section_cifar(cifar, "Not yet run: x."))
    self.assertIn("Trained once, evaluated here: vanilla_s0 is `runs/experiments/cifar10_curves/vanilla_s0` (", text)
    vans = [r for n, r in cifar.items() if n.startswith("vanilla_")]
    like = np.mean([r["eval"]["pgd_grid"]["paper_like"]["0.0313725"]["20"] for r in vans]) * 100
    worst = np.mean([r["eval"]["robust_accuracy"]["0.0313725"]["accuracy"] for r in vans]) * 100
    row = next(l for l in text.splitlines() if l.startswith("| vanilla | 8/255 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    self.assertEqual(cells[2:4], ["43.1", "31.0"])  # the paper's PGD-7, PGD-20 at 8/255
    self.assertEqual(float(cells[5].split(" ± ")[0]), round(like, 1))
    self.assertEqual(float(cells[8].split(" ± ")[0]), round(worst, 1))
    self.assertIn("| LR (layer3 + penultimate) | 8/255 | - | - |", text)  # not a row of the paper's table
    pct = r"[0-9.]+( ± [0-9.]+)?%"
    self.assertRegex(text, r"Plainly: under PGD-20 as the paper ran it, the paper's vanilla number (comes back|does "
                     r"not) .*; the paper's SNIP number (comes back|does not) .*; the paper's SRN number .*; the "
                     rf"paper's LR number (comes back|does not) .*; every attack together, AutoAttack included, leaves "
                     rf"{pct} of vanilla, {pct} of SNIP, {pct} of SRN and {pct} of LR\. The adversarially trained "
                     r"control, PGD-AT \(3 steps\), keeps ")
    rows = page.rows_of(page.groups_of(cifar))
    for v in claims.verdicts(rows):
      self.assertIn(f"| {v.claim}. {v.title} | **{v.verdict}** |", text)
      self.assertIn(f"Verdict: **{v.verdict}**. {v.reason}.", text)
    self.assertIn("LR (layer3 + penultimate)", claims.claim5_compression(rows).numbers)  # the compressed-layer LR
    figs = []
    with mock.patch.object(page_cifar.markdown, "save", lambda fig, path: figs.append((fig, path))):
      text = "\n".join(page.section_cifar(cifar, figures_dir="figs", rel=lambda p: p))
    (fig, path), = figs
    self.assertIn(f"![the paper's table beside ours]({path})", text)
    lines = {(ax.get_title().split(" (")[0], l.get_label()): l.get_ydata() for ax in fig.axes for l in ax.get_lines()}
    np.testing.assert_allclose(lines["vanilla", "paper PGD-20"], [31.0, 21.8, 7.8, 4.5])  # the paper's Table
    self.assertAlmostEqual(lines["vanilla", "ours, worst case"][0], worst)  # the mean over seeds, at 8/255
    self.assertAlmostEqual(lines["vanilla", "ours, paper-like PGD-20"][0], like)
    self.assertNotIn(("PGD-AT", "paper PGD-20"), lines)  # not a row of the paper's table
    empty = page.section_cifar({}, "Not yet run: 10 of the 10 rows.")
    self.assertIn("has no row yet: the learning curves below choose its length. Not yet run: 10 of the 10 rows.",
                  "\n".join(empty))
    # the committed CIFAR-10 curves, finished: the grid trains their full schedule, and the page says where they
    # converged (a curve cut before its schedule's end gives no length yet)
    curves = page.load_dir(os.path.join(RESULTS, "cifar10_curves"))
    n = max(r["config"]["num_epochs"] for r in curves.values())
    text = "\n".join(page.section_cifar({}, "x", curves=curves, rel=lambda p: p, figures_dir=tempfile.mkdtemp()))
    self.assertIn(f"its rows train the curves' full {n}-epoch schedule (the curves below converge at epoch "
                  f"{max(length.grid_length(list(curves.values())).values())}, ", text)
    self.assertIn("Training length the CIFAR-10 grid needs (", text)
    cut = {k: r for k, r in curves.items() if r["run"]["until_epoch"] < n}
    text = "\n".join(page.section_cifar({}, "x", curves=cut, rel=lambda p: p, figures_dir=tempfile.mkdtemp()))
    self.assertIn("has no row yet: the learning curves below choose its length.", text)


if __name__ == "__main__":
  absltest.main()
