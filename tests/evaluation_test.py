"""eval.py end to end on a tiny trained run: files, consistency of the numbers, errors."""

import collections
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from unittest import mock

import jax
import numpy as np
from absl.testing import absltest

from lowrank_jax import config as config_lib, data, default_config, evaluation, evaluators, loading, per_example
from lowrank_jax import report as report_lib
from lowrank_jax.evaluators import Attacked, WorstCase

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shared import copy_run, counted_evaluator, shared_run, tiny_config  # pylint: disable=g-import-not-at-top
import jpeg_evaluator  # pylint: disable=g-import-not-at-top

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _eval_config():
  c = tiny_config().eval
  c.num_examples, c.batch_size, c.eps, c.pgd_grid.steps = 40, 20, (0.05, 0.1, 0.3), (3,)
  c.pgd_grid.audit_restarts, c.deepfool.examples, c.deepfool.max_iter = 2, 20, 20
  c.random_pixels.probs = (0.4, 1.0)
  c.autoattack.eps = (0.3,)  # every example falls to APGD-CE: the later attacks have nothing left to do
  c.autoattack.steps = 20
  m = c.masking
  m.enabled, m.eps, m.steps, m.strong_steps, m.strong_restarts = True, (0.1,), 3, 3, 1
  m.square_queries, m.examples, m.paper_steps = 20, 20, (3,)
  # each (steps, restarts, loss) of PGD and each batch shape is a program of its own to compile: the strong probe
  # here is the margin probe's program, on one batch
  m.temperatures = (10.0,)  # each temperature is its own compiled PGD
  return c


class WorstCaseTest(absltest.TestCase):

  def test_per_example_worst_case_is_below_every_attack(self):
    """Two attacks that break disjoint examples: each alone leaves 3/6 (or 4/6) correct, together 2/6."""
    clean = np.array([True, True, True, True, True, False])  # the last is wrong on clean data
    a = Attacked(0.1, "a", np.array([False, True, True, False, True, True]))
    b = Attacked(0.1, "b", np.array([True, False, True, True, True, True]))
    wc = WorstCase(clean, [a, b, Attacked(0.2, "a", np.array([True, True, False, True, True, True]))])
    self.assertAlmostEqual(wc.accuracy(0.1), 2 / 6)
    # monotone in eps: what broke at 0.1 stays broken at 0.2, with the third example broken there too
    np.testing.assert_array_equal(wc.correct[0.2], [False, False, False, False, True, False])
    self.assertEqual(wc.to_json()["0.1"]["attacks"], ["a", "b"])
    self.assertEqual(wc.to_json()["0.2"]["attacks"], ["a @0.1", "b @0.1", "a"])
    self.assertAlmostEqual(wc.accuracy(0.1, examples=4), 1 / 4)  # of the first 4 only the third survives both
    self.assertAlmostEqual(wc.accuracy(0.1, examples=2), 0.0)
    # an attack run on the first 3 examples only leaves the others as they were
    part = WorstCase(clean, [Attacked(0.1, "subset", np.array([False, False, True]))])
    np.testing.assert_array_equal(part.correct[0.1], [False, False, True, True, True, False])

  def test_an_eps_read_back_from_json_is_the_same_eps(self):
    """A finished row's attacks come back from eval.json at 6 digits (8/255 -> 0.031373); an attack added now runs at
    8/255 exactly: one eps, both attacks in its worst case (by hand: 1/4 survives both), not two rows."""
    clean = np.ones(4, bool)
    wc = WorstCase(clean, [Attacked(0.031373, "old", np.array([0, 1, 1, 1], bool)),
                           Attacked(8 / 255, "new", np.array([1, 0, 0, 1], bool))])
    self.assertEqual(list(wc.to_json()), ["0.0313725"])
    self.assertEqual(wc.to_json()["0.0313725"], {"accuracy": 0.25, "attacks": ["old", "new"]})
    self.assertEqual((wc.accuracy(8 / 255), wc.accuracy(0.031373)), (0.25, 0.25))
    with self.assertRaisesRegex(KeyError, "no attack ran at eps 0.05"):
      wc.accuracy(0.05)


def _evaluation(clean, attacks, audit=(), step=100):
  """A hand-made eval.json: attacks as (eps, name, correct); one evaluator per attack name."""
  attacked = [Attacked(e, a, np.asarray(c, bool)) for e, a, c in attacks]
  return {"model": "m", "step": step, "num_examples": len(clean), "clean_accuracy": float(np.mean(clean)),
          "config": {}, "seconds": {a: 1.0 for _, a, _ in attacks}, **{a: {"ran": True} for _, a, _ in attacks},
          "audit": list(audit), "per_example": per_example.to_json(np.asarray(clean, bool), attacked)}


def _with(ec, **kw):
  ec = ec.copy_and_resolve_references()
  for k, v in kw.items():
    setattr(ec, k, v)
  return ec


class MergeTest(absltest.TestCase):

  def test_an_added_attack_joins_the_worst_case_and_a_rerun_one_replaces_its_old_self(self):
    clean = [True, True, True, False]
    old = _evaluation(clean, [(0.1, "pgd", [True, True, False, False]), (0.2, "fgsm", [True, True, True, False])],
                      audit=[{"check": "pgd ok", "passed": True, "evaluator": "pgd"},
                             {"check": "fgsm ok", "passed": True, "evaluator": "fgsm"}])
    new = _evaluation(clean, [(0.1, "autoattack", [False, True, False, False]), (0.2, "fgsm", [True, False, True,
                                                                                               False])],
                      audit=[{"check": "fgsm ok", "passed": False, "evaluator": "fgsm"}])
    m = evaluation.merge(old, new)
    # by hand: at 0.1 only example 1 survives pgd and AutoAttack; at 0.2 the new fgsm breaks it too
    self.assertEqual(m["robust_accuracy"]["0.1"]["accuracy"], 0.25)
    self.assertEqual(m["robust_accuracy"]["0.2"]["accuracy"], 0.0)
    self.assertEqual(m["robust_accuracy"]["0.1"]["accuracy_autoattack_examples"], 0.25)
    kept = per_example.from_json(m["per_example"])
    self.assertEqual(sorted((e, a) for e, a, _ in kept.attacks), [(0.1, "autoattack"), (0.1, "pgd"), (0.2, "fgsm")])
    np.testing.assert_array_equal(kept.attack("fgsm", 0.2), [True, False, True, False])  # the rerun one
    self.assertEqual([c["check"] for c in m["audit"]], ["pgd ok", "fgsm ok"])
    self.assertFalse(m["audit"][1]["passed"])
    self.assertEqual(m["added"], [{"evaluators": ["autoattack", "fgsm"], "config": {}}])
    self.assertEqual(m["pgd"], {"ran": True})

  def test_a_different_checkpoint_or_examples_is_one_error(self):
    old = _evaluation([True, False], [(0.1, "pgd", [True, False])])
    with self.assertRaisesRegex(ValueError, "differ in 'step' \\(100 vs 200\\)"):
      evaluation.merge(old, _evaluation([True, False], [(0.1, "fgsm", [False, False])], step=200))
    with self.assertRaisesRegex(ValueError, "clean per-example results differ"):
      evaluation.merge(old, _evaluation([False, True], [(0.1, "fgsm", [False, False])]))


class OrderTest(absltest.TestCase):

  def test_each_evaluator_runs_after_what_it_needs(self):
    ec = tiny_config().eval
    ec.autoattack.enabled, ec.masking.enabled, ec.compression.enabled = True, True, False
    names = evaluators.order(ec)
    for name in names:
      for need in evaluators.EVALUATORS[name].needs:
        self.assertLess(names.index(need), names.index(name), (need, name))
    self.assertNotIn("compression", names)
    self.assertEqual(names[:3], ["pgd_grid", "autoattack", "masking"])  # the attacks' order in the worst case

  def test_only_runs_the_named_evaluators_and_what_they_need(self):
    ec = tiny_config().eval
    ec.only = "autoattack, representation"
    self.assertEqual(evaluators.order(ec), ["pgd_grid", "autoattack", "representation"])
    ec.only = "autoatack"
    with self.assertRaisesRegex(config_lib.ConfigError, "config.eval.only names 'autoatack', which is not one of"):
      evaluators.validate(ec)


@absltest.skipUnless(os.path.isdir(data.FASHION_MNIST_DIR), "Fashion-MNIST missing (make test installs it)")
class EvaluationTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.TemporaryDirectory()
    cls.lr = copy_run("lowrank", os.path.join(cls.tmp.name, "lr"))  # evaluate_workdir writes lr/eval
    cls.van = shared_run("vanilla")

  @classmethod
  def tearDownClass(cls):
    cls.tmp.cleanup()
    super().tearDownClass()

  def test_report_and_numbers(self):
    ref = self.van
    ec = _eval_config()
    ec.autoattack.examples = 20  # of 40: the worst case is also reported on AutoAttack's 20
    r = evaluation.evaluate_workdir(self.lr, ec, transfer_from=self.van, reference=ref, progress=False)
    out = os.path.join(self.lr, "eval")
    for f in ("eval.json", "report.md", "robust_accuracy.png", "deepfool.png", "random_pixels.png",
              "noise_stability.png", "spectrum.png"):
      self.assertTrue(os.path.getsize(os.path.join(out, f)) > 0, f)
    self.assertEqual(json.load(open(os.path.join(out, "eval.json")))["clean_accuracy"], r["clean_accuracy"])
    g = r["pgd_grid"]
    at = r["robust_accuracy"]["0.3"]["attacks"]
    self.assertEqual(at[:2], ["pgd-3 @0.05", "fgsm @0.05"])  # monotone: attacks at smaller eps count here too
    self.assertIn("pgd-3", at)
    worst = [r["robust_accuracy"][e]["accuracy"] for e in sorted(r["robust_accuracy"], key=float)]
    self.assertEqual(worst, sorted(worst, reverse=True))
    # the per-example results in eval.json give back every worst case
    kept = per_example.from_json(json.load(open(os.path.join(out, "eval.json")))["per_example"])
    for e, d in r["robust_accuracy"].items():
      self.assertAlmostEqual(kept.worst(float(e)).mean(), d["accuracy"], places=12)
    np.testing.assert_array_equal(kept.attack("autoattack", 0.3), np.zeros(20, bool))
    self.assertIn("autoattack", r["robust_accuracy"]["0.3"]["attacks"])
    self.assertEqual(r["autoattack"]["by_eps"]["0.3"]["robust_accuracy"], 0.0)  # eps 0.3 breaks a tiny CNN
    self.assertEqual(r["autoattack"]["examples"], 20)
    self.assertEqual(r["robust_accuracy"]["0.3"]["accuracy_autoattack_examples"], 0.0)  # AutoAttack broke all 20
    self.assertNotIn("accuracy_autoattack_examples", r["robust_accuracy"]["0.05"])  # no AutoAttack there
    self.assertEqual(set(r["masking"]["by_eps"]["0.1"]["paper_like"]), {"pgd-3"})
    self.assertEqual(len(r["deepfool"]["norms"]), 20)
    for p, acc in r["random_pixels"]["accuracy"].items():  # per example, kept for paired tests between models
      self.assertEqual(per_example.unpack(r["random_pixels"]["correct"][p], 40).mean(), acc, p)
    self.assertEqual(set(r["noise_stability"]), {"deepfool", "gaussian", "transfer", "reference", "reference_gaussian"})
    self.assertEqual(len(r["noise_stability"]["gaussian"]["penultimate"]["input_ratio"]), 40)
    ratios = np.asarray(r["noise_stability"]["gaussian"]["penultimate"]["input_ratio"])
    self.assertGreater(ratios.max() / ratios.min(), 30)  # a log grid 1e-3..1e-1 (clipping to [0, 1] shrinks some)
    self.assertIn("layer_cushion", r["representation"])
    self.assertLessEqual(r["representation"]["layers"]["penultimate"]["effective_rank_centred"], 128)
    self.assertLessEqual(g["pgd"]["0.05"]["3"], r["clean_accuracy"] + 1e-9)
    report = open(os.path.join(out, "report.md")).read()
    self.assertIn(f"Clean accuracy: **{r['clean_accuracy']:.4f}**", report)
    self.assertIn("## AutoAttack", report)
    for a in r["audit"]:
      self.assertIn(f"| {a['check']} | {'pass' if a['passed'] else '**FLAG**'} |", report)
    # independent evaluators: noise stability alone, given only what it declares it needs, reads as in the full run
    model, source = loading.load_model(self.lr), loading.load_model(self.van)
    tx, ty = data.load_dataset(model.config.dataset).splits["test"]
    x, y = data.to_unit(tx[:40]), ty[:40].astype(np.int32)
    inputs = evaluators.Inputs(model, ec, x, y, np.argmax(np.asarray(model.logits(x)), -1) == y,
                               jax.random.PRNGKey(ec.seed), source=source)
    ns = evaluators.EVALUATORS["noise_stability"]
    alone = ns.run(inputs, {k: evaluators.EVALUATORS[k].run(inputs, {}) for k in ns.needs}).json
    self.assertEqual(set(alone), {"deepfool", "gaussian", "transfer"})
    for k in alone:
      self.assertEqual(json.loads(json.dumps(alone[k])), r["noise_stability"][k], k)
    # an attack added to a finished evaluation gives the worst case of running both together
    run = lambda only: evaluation.evaluate(model, _with(ec, only=only), x, y, progress=False)
    both, merged = run("masking,autoattack"), evaluation.merge(run("masking"), run("autoattack"))
    for e, d in both["robust_accuracy"].items():
      self.assertEqual(merged["robust_accuracy"][e]["accuracy"], d["accuracy"], e)
      np.testing.assert_array_equal(per_example.from_json(merged["per_example"]).worst(float(e)),
                                    per_example.from_json(both["per_example"]).worst(float(e)))
    self.assertEqual(merged["autoattack"]["by_eps"]["0.3"]["robust_accuracy"],
                     both["autoattack"]["by_eps"]["0.3"]["robust_accuracy"])
    self.assertEqual(sorted(c["check"] for c in merged["audit"]), sorted(c["check"] for c in both["audit"]))

  def test_compression_keeps_per_example_results_for_paired_tests(self):
    """The compression evaluator's JSON: every accuracy (each rate, uncompressed, linear head, 2-D PCA) comes with
    its per-example correctness, and the uncompressed one is the network's own."""
    ec = _eval_config()
    ec.compression.rates, ec.compression.train_examples = (2, 128), 200
    model = loading.load_model(self.lr)
    ds = data.load_dataset(model.config.dataset)
    tx, ty = ds.splits["test"]
    x, y = data.to_unit(tx[:40]), ty[:40].astype(np.int32)
    clean = np.argmax(np.asarray(model.logits(x)), -1) == y
    inputs = evaluators.Inputs(model, ec, x, y, clean, jax.random.PRNGKey(0), train=ds.splits["train"])
    out = json.loads(json.dumps(evaluators.EVALUATORS["compression"].run(inputs, {}).json))
    rep = out["representation"]
    np.testing.assert_array_equal(per_example.unpack(rep["uncompressed_correct"], 40), clean)
    for acc, bits in [(rep[r]["accuracy"], rep[r]["correct"]) for r in ("2", "128")] + [
        (out["linear_head"]["accuracy"], out["linear_head"]["correct"]),
        (out["pca_2d"]["linear_accuracy"], out["pca_2d"]["correct"])]:
      self.assertEqual(per_example.unpack(bits, 40).mean(), acc)

  def test_a_partial_evaluation_joins_the_existing_one(self):
    """eval.py --config.eval.only=representation on an evaluated run keeps the attacks already in eval.json (and
    their worst case), adds the representation, rewrites report.md from both; a partial evaluation of other
    examples is refused in one line, and eval.json is left as it was."""
    workdir = copy_run("vanilla", os.path.join(self.tmp.name, "partial"))
    ec = _eval_config()
    ec.only = "pgd_grid"
    first = evaluation.evaluate_workdir(workdir, ec, progress=False)
    moved = os.path.join(self.tmp.name, "partial_moved")  # a run moved (or copied) after its evaluation joins it too
    shutil.move(workdir, moved)
    workdir = moved
    ec.only = "representation"
    merged = evaluation.evaluate_workdir(workdir, ec, progress=False)
    saved = json.load(open(os.path.join(workdir, "eval", "eval.json")))
    self.assertEqual(saved["pgd_grid"], json.loads(json.dumps(first["pgd_grid"])))
    self.assertEqual(saved["robust_accuracy"], json.loads(json.dumps(first["robust_accuracy"])))
    self.assertIn("representation", saved)
    self.assertEqual(saved["added"][0]["evaluators"], ["representation"])
    self.assertEqual((saved["model"], saved["workdir"]), ("partial_moved", workdir))  # the run's name now
    self.assertEqual(merged["robust_accuracy"], saved["robust_accuracy"])
    report = open(os.path.join(workdir, "eval", "report.md")).read()
    self.assertIn("## Accuracy under attack", report)
    self.assertIn("## Representations", report)
    ec.num_examples = 30
    with self.assertRaisesRegex(config_lib.ConfigError, r"eval.json holds an evaluation of step \d+ on 40 test "
                                r"examples; config.eval.only='representation' would be of step \d+ on 30"):
      evaluation.evaluate_workdir(workdir, ec, progress=False)
    self.assertEqual(json.load(open(os.path.join(workdir, "eval", "eval.json"))), saved)

  def test_an_interrupted_evaluation_resumes_after_the_evaluators_it_finished(self):
    """Ctrl-C inside noise_stability, which reads pgd_grid's transfer inputs and DeepFool's perturbations: the
    next evaluation takes those two back from eval/partial/ instead of running them again, and writes the eval.json
    an uninterrupted evaluation writes (seconds aside); eval/partial/ is gone after it. Kept Results of another
    config are not taken back."""
    workdir = copy_run("lowrank", os.path.join(self.tmp.name, "resumed"))
    partial = os.path.join(workdir, "eval", "partial")
    ec = _eval_config()
    ec.only = "noise_stability"  # and what it needs: pgd_grid, deepfool
    evaluate = lambda c: evaluation.evaluate_workdir(workdir, c, transfer_from=self.van, progress=False, fresh=True)
    straight = evaluate(ec)
    self.assertFalse(os.path.exists(partial))
    calls = []
    counted = lambda name, interrupt=False: counted_evaluator(name, calls, interrupt)
    names = ("pgd_grid", "deepfool", "noise_stability")
    with mock.patch.dict(evaluators.EVALUATORS, {n: counted(n, interrupt=n == "noise_stability") for n in names}):
      with self.assertRaises(KeyboardInterrupt):
        evaluate(ec)
    self.assertEqual(sorted(os.listdir(partial)), ["deepfool.npz", "pgd_grid.npz"])
    other = _eval_config()
    other.only, other.pgd_grid.tolerance = "pgd_grid", 0.02  # another config: run again
    with mock.patch.dict(evaluators.EVALUATORS, {n: counted(n) for n in names}):
      self.assertNotIn("resumed", evaluate(other))
      self.assertEqual(sorted(os.listdir(partial)), ["deepfool.npz"])  # pgd_grid's, of this config, is in eval.json
      with mock.patch.dict(evaluators.EVALUATORS, {"noise_stability": counted("noise_stability", interrupt=True)}):
        with self.assertRaises(KeyboardInterrupt):
          evaluate(ec)  # pgd_grid of `ec` runs and is kept again; deepfool is taken back
      resumed = evaluate(ec)
    self.assertEqual(collections.Counter(calls), {"pgd_grid": 3, "deepfool": 1, "noise_stability": 3})
    self.assertEqual(sorted(resumed["resumed"]), ["deepfool", "pgd_grid"])
    same = lambda r: {k: v for k, v in json.loads(json.dumps(r)).items() if k not in ("seconds", "resumed")}
    self.assertEqual(same(resumed), same(straight))
    self.assertEqual(same(json.load(open(os.path.join(workdir, "eval", "eval.json")))), same(straight))
    self.assertFalse(os.path.exists(partial))

  def test_a_report_left_behind_by_a_killed_eval_is_redrawn_from_eval_json(self):
    """kill -9 between writing eval.json and report.md left a report of older results: the next eval.py (under its
    lock, before anything else) redraws report.md from eval.json, which report.md names by digest."""
    workdir = copy_run("vanilla", os.path.join(self.tmp.name, "killed"))
    out = os.path.join(workdir, "eval")
    ec = _eval_config()
    ec.only = "representation"
    evaluation.evaluate_workdir(workdir, ec, progress=False)
    self.assertTrue(report_lib.is_current(out))
    results = json.load(open(os.path.join(out, "eval.json")))
    results["clean_accuracy"] = 0.123456  # what a later eval.py wrote before it was killed
    json.dump(results, open(os.path.join(out, "eval.json"), "w"))
    self.assertFalse(report_lib.is_current(out))
    ec.split = "validation"  # this run fails right after (the run has no validation split)
    with self.assertRaises(config_lib.ConfigError):
      evaluation.evaluate_workdir(workdir, ec, progress=False)
    self.assertTrue(report_lib.is_current(out))
    self.assertIn("Clean accuracy: **0.1235**", open(os.path.join(out, "report.md")).read())

  def test_an_evaluator_added_in_two_files(self):
    """tests/jpeg_evaluator.py and its one registry line give a config section with defaults, its checks, its
    eval.json entry and its section of report.md. With the DC step tiny and the others huge, the quantised image is
    each 8x8 block's mean: the accuracy is checked against the model on block means computed here."""
    np.testing.assert_allclose(jpeg_evaluator.quantise(np.linspace(0, 1, 2 * 28 * 28).reshape(2, 28, 28, 1), 1e-9, 1e-9),
                               np.linspace(0, 1, 2 * 28 * 28).reshape(2, 28, 28, 1), atol=1e-6)  # DCT roundtrip
    with mock.patch.dict(evaluators.EVALUATORS, {"jpeg": evaluators.Evaluator.of(jpeg_evaluator)}):
      ec = default_config.get_config().eval
      self.assertEqual((ec.jpeg.enabled, ec.jpeg.dc_step, ec.jpeg.ac_step), (False, 0.05, 0.2))
      ec.num_examples, ec.batch_size, ec.only = 40, 20, "jpeg"
      ec.jpeg.ac_step = 0.0
      with self.assertRaisesRegex(config_lib.ConfigError, r"^config.eval.jpeg: dc_step=0.05 and ac_step=0.0 must"):
        evaluators.validate(ec)
      ec.jpeg.dc_step, ec.jpeg.ac_step = 1e-9, 1e9
      workdir = copy_run("vanilla", os.path.join(self.tmp.name, "jpeg"))
      r = evaluation.evaluate_workdir(workdir, ec, progress=False)
      report = open(os.path.join(workdir, "eval", "report.md")).read()
    model = loading.load_model(workdir)
    tx, ty = data.load_dataset(model.config.dataset).splits["test"]
    x, y = data.to_unit(tx[:40]), ty[:40]
    padded = np.pad(x, ((0, 0), (0, 4), (0, 4), (0, 0)), mode="edge")
    means = padded.reshape(40, 4, 8, 4, 8, 1).mean(axis=(2, 4), keepdims=True)
    blocky = np.broadcast_to(means, (40, 4, 8, 4, 8, 1)).reshape(40, 32, 32, 1)[:, :28, :28]
    predict = lambda z: np.argmax(np.asarray(model.logits(z)), -1)
    expected = np.mean((predict(blocky) == y) & (predict(x) == y))
    self.assertEqual(list(r["seconds"]), ["jpeg"])
    self.assertAlmostEqual(r["jpeg"]["accuracy"], expected, places=6)
    self.assertLess(r["jpeg"]["accuracy"], r["clean_accuracy"])  # block means cost a trained CNN accuracy
    self.assertIn("## JPEG-like quantisation", report)
    self.assertIn(f"| 1e-09 | 1e+09 | {r['jpeg']['accuracy']:.4f} |", report)

  def test_a_split_the_run_lacks_is_one_error(self):
    ec = _eval_config()
    ec.split = "validation"
    with self.assertRaisesRegex(config_lib.ConfigError, "config.eval.split='validation'.*validation_size"):
      evaluation.evaluate_workdir(copy_run("vanilla", os.path.join(self.tmp.name, "van")), ec, progress=False)

  def test_another_copy_of_the_dataset_is_read_from_data_dir_and_its_digest_recorded(self):
    """data_dir (eval.py --data_dir): the same files elsewhere give the digest trained on; a copy whose first 20
    test images are black is read (clean accuracy: the labels that the model's class for a black image matches,
    computed here) and recorded with its own digest beside the one trained on, said on stderr; a partial evaluation
    on it does not join the eval.json of the first copy."""
    import gzip  # pylint: disable=g-import-not-at-top
    src, tmp = data.FASHION_MNIST_DIR, tempfile.mkdtemp()
    same, black = os.path.join(tmp, "same"), os.path.join(tmp, "black")
    shutil.copytree(src, same)
    shutil.copytree(src, black)
    raw = bytearray(gzip.open(os.path.join(src, "t10k-images-idx3-ubyte.gz")).read())
    raw[16:16 + 20 * 28 * 28] = bytes(20 * 28 * 28)  # the IDX header is 16 bytes
    with gzip.open(os.path.join(black, "t10k-images-idx3-ubyte.gz"), "wb", compresslevel=1) as f:
      f.write(raw)
    workdir = copy_run("vanilla", os.path.join(self.tmp.name, "van_data_dir"))
    trained = json.load(open(os.path.join(workdir, "model.json")))["dataset"]["digest"]
    ec = tiny_config().eval
    ec.num_examples, ec.batch_size, ec.only = 20, 20, "representation"
    r = evaluation.evaluate_workdir(workdir, ec, progress=False, data_dir=same)
    self.assertEqual((r["dataset"]["digest"], r["dataset"]["source"]), (trained, f"idx:{same}"))
    self.assertNotIn("trained_on", r["dataset"])
    with self.assertRaisesRegex(config_lib.ConfigError, "merge: the evaluations read two copies of the dataset "
                                f"\\(digest {trained} vs [0-9a-f]{{16}}\\): evaluate every evaluator on the new copy"):
      evaluation.evaluate_workdir(workdir, ec, progress=False, data_dir=black)  # joining the eval.json of the first
    ec.only = ""
    ec.pgd_grid.enabled = ec.autoattack.enabled = ec.deepfool.enabled = ec.random_pixels.enabled = False
    ec.noise_stability.enabled = ec.compression.enabled = ec.masking.enabled = False
    with mock.patch("sys.stderr", new_callable=io.StringIO) as err:
      r = evaluation.evaluate_workdir(workdir, ec, progress=False, data_dir=black)
    self.assertNotEqual(r["dataset"]["digest"], trained)
    self.assertEqual(r["dataset"]["trained_on"], trained)
    self.assertIn(f"is not the copy {workdir} was trained on (digest {trained})", err.getvalue())
    m = loading.load_model(workdir)
    on_black = int(np.argmax(np.asarray(m.logits(np.zeros((1, 28, 28, 1), np.float32)))))
    y = data.load_dataset(m.config.dataset).splits["test"][1][:20]
    self.assertAlmostEqual(r["clean_accuracy"], float(np.mean(y == on_black)))

  def test_load_model_matches_training_accuracy(self):
    m = loading.load_model(self.van)
    record = [json.loads(l) for l in open(os.path.join(self.van, "metrics.jsonl"))][-1]
    ds = data.load_dataset(m.config.dataset)
    x, y = ds.splits["test"]
    acc = np.mean(np.argmax(np.asarray(m.logits(data.to_unit(x))), -1) == y)
    self.assertAlmostEqual(acc, record["test_accuracy"], places=6)
    self.assertEqual(set(m.features(x[:2].astype(np.float32) / 255)), {"penultimate"})
    self.assertEqual(m.head_kernel.shape, (128, 10))

  def test_missing_checkpoint_is_one_line(self):
    with tempfile.TemporaryDirectory() as d:
      r = subprocess.run([sys.executable, os.path.join(ROOT, "eval.py"), f"--workdir={d}"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
      self.assertNotEqual(r.returncode, 0)
      self.assertIn(f"error: {d}/config.json not found", r.stderr)


if __name__ == "__main__":
  absltest.main()
