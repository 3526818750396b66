"""lowrank_jax.spec_runner: specs as data (seeds, learning-curve epochs, quick versions), run selection, and a learning
curve trained in stages that matches one uninterrupted run."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from unittest import mock

from absl.testing import absltest

from lowrank_jax import default_config, evaluators, export, runfiles, spec_runner
from tests.shared import RUNS, copy_run, counted_evaluator, shared_run, tiny_config

SPEC = {
    "about": "a test", "results": "docs/results/test",
    "config": {"num_epochs": 40}, "eval": {"eps": ["8/255"], "num_examples": 200},
    "quick": {"config": {"num_epochs": 2}, "eval": {"num_examples": 50}, "epochs": [1]},
    "runs": [
        {"name": "ref", "config": {"method": "vanilla", "seed": 100}, "evaluate": False},
        {"name": "lr", "label": "LR", "seeds": [0, 1], "epochs": [5, 10], "transfer_from": "ref"},
        {"name": "big", "config": {"model": "resnet18"}, "seeds": [0], "quick": False},
        {"name": "res", "seeds": [0], "eval": {"num_examples": 100}, "quick": {"eval": {"num_examples": 10}}},
    ]}

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_spec(d: dict) -> str:
  path = os.path.join(tempfile.mkdtemp(), "spec.json")
  with open(path, "w") as f:
    json.dump(d, f)
  return path


class SpecTest(absltest.TestCase):

  def test_expansion(self):
    spec = spec_runner.load_spec(write_spec(SPEC))
    self.assertEqual([r.name for r in spec.runs],
                     ["ref", "lr_s0_e05", "lr_s0_e10", "lr_s1_e05", "lr_s1_e10", "big_s0", "res_s0"])
    r = spec.runs[3]
    self.assertEqual((r.dir, r.until_epoch, r.label, r.transfer_from), ("lr_s1", 5, "LR", "ref"))
    self.assertEqual(r.overrides, {"seed": 1})
    self.assertFalse(spec.runs[0].evaluate)
    self.assertEqual(spec.runs[-1].eval_overrides, {"num_examples": 100})
    config = spec_runner.apply_overrides(spec.base_config(), spec.runs[5].overrides)
    self.assertEqual((config.num_epochs, config.model), (40, "resnet18"))
    ec = spec_runner.apply_overrides(config, {f"eval.{k}": v for k, v in spec.eval.items()}).eval
    self.assertEqual(ec.eps, (8 / 255,))  # "8/255" in a spec is the float, a list a tuple

  def test_seed_major_order(self):
    spec = spec_runner.load_spec(write_spec({**SPEC, "order": "seeds"}))
    self.assertEqual([r.name for r in spec.runs],
                     ["ref", "lr_s0_e05", "lr_s0_e10", "big_s0", "res_s0", "lr_s1_e05", "lr_s1_e10"])

  def test_an_explicit_order_puts_those_runs_first(self):
    """A list of run (or workdir) names: those first, in that order, the rest after in the spec's order, and ahead
    of all a run that others need (the transfer source "ref"); an unknown name is one error naming the spec file."""
    spec = spec_runner.load_spec(write_spec({**SPEC, "order": ["res_s0", "lr_s1", "big_s0"]}))
    self.assertEqual([r.name for r in spec.runs],
                     ["ref", "res_s0", "lr_s1_e05", "lr_s1_e10", "big_s0", "lr_s0_e05", "lr_s0_e10"])
    with self.assertRaisesRegex(ValueError, r"spec.json: ValueError: order names unknown run\(s\) nope"):
      spec_runner.load_spec(write_spec({**SPEC, "order": ["res_s0", "nope"]}))

  def test_reuse_names_runs_of_the_spec(self):
    spec = spec_runner.load_spec(write_spec({**SPEC, "reuse": {"res_s0": "curves/res_s0"}}))
    self.assertEqual({r.name: r.reuse for r in spec.runs if r.reuse}, {"res_s0": "curves/res_s0"})
    quick = spec_runner.load_spec(write_spec({**SPEC, "reuse": {"res_s0": "curves/res_s0"}}), quick=True)
    self.assertEqual([r.name for r in quick.runs if r.reuse], [])  # a quick run is shorter than what it would reuse
    with self.assertRaisesRegex(ValueError, r"spec\.json: ValueError: reuse names unknown run\(s\) nope$"):
      spec_runner.load_spec(write_spec({**SPEC, "reuse": {"nope": "curves/x"}}))

  def test_quick_version(self):
    spec = spec_runner.load_spec(write_spec(SPEC), quick=True)
    self.assertEqual([r.name for r in spec.runs], ["ref", "lr_s0_e01", "res_s0"])
    self.assertEqual(spec.config, {"num_epochs": 2})
    self.assertEqual(spec.eval, {"eps": ["8/255"], "num_examples": 50})
    self.assertEqual(spec.runs[-1].eval_overrides, {"num_examples": 10})

  def test_a_bad_spec_is_one_error_naming_the_file(self):
    path = write_spec({**SPEC, "runs": [{"name": "x", "seed": 3}]})
    with self.assertRaisesRegex(ValueError, f"{path}: .*unknown field\\(s\\) seed"):
      spec_runner.load_spec(path)
    path = write_spec({k: v for k, v in SPEC.items() if k != "results"})
    with self.assertRaisesRegex(ValueError, f"{path}: KeyError"):
      spec_runner.load_spec(path)

  def test_config_from_takes_the_best_result_of_another_experiment(self):
    sweep = tempfile.mkdtemp()
    for name, rank, acc in (("a", 5, 0.2), ("b", 20, 0.4), ("c", 50, 0.3)):
      with open(os.path.join(sweep, f"{name}.json"), "w") as f:
        json.dump({"run": {"overrides": {"lowrank.rank": rank, "seed": 0}}, "eval": {"pgd": {"0.03": acc}}}, f)
    entry = {"name": "fav", "config": {"num_epochs": 7}, "seeds": [1],
             "config_from": {"results": "SWEEP", "maximise": ["eval", "pgd", "0.03"]}}
    spec = spec_runner.load_spec(write_spec({**SPEC, "runs": [entry]}), results_of=lambda f: sweep if f == "SWEEP" else f)
    run = spec.runs[0]
    self.assertEqual(run.overrides, {"num_epochs": 7, "seed": 1})
    self.assertEqual(run.config_from, (sweep, ("eval", "pgd", "0.03")))
    self.assertEqual(spec_runner.best_config(*run.config_from[:1], list(run.config_from[1])), {"lowrank.rank": 20})
    with self.assertRaisesRegex(ValueError, "no results in .* run that experiment first"):
      spec_runner.best_config(tempfile.mkdtemp(), ["eval"])

  def test_a_run_whose_config_source_has_no_results_waits(self):
    lines = []
    run = spec_runner.Run("fav_s0", overrides={"seed": 0}, config_from=(tempfile.mkdtemp(), ("eval",)))
    out = tempfile.mkdtemp()
    results = spec_runner.run_experiment([run], tempfile.mkdtemp(), out, base_config=default_config.get_config(),
                                        log=lines.append)
    self.assertEqual(results, {})
    self.assertEqual(os.listdir(out), [])
    self.assertRegex(lines[-1], r"fav_s0: skipped: it takes its config from .*, which has no results yet")

  def test_select_puts_what_a_run_needs_first(self):
    runs = list(spec_runner.load_spec(write_spec(SPEC)).runs)
    self.assertEqual([r.name for r in spec_runner.select(runs, ["lr_s1_e10", "res_s0"])], ["ref", "lr_s1_e10", "res_s0"])
    with self.assertRaisesRegex(ValueError, "unknown run\\(s\\) nope; known: ref, "):
      spec_runner.select(runs, ["nope"])


  def test_shards_partition_the_runs_keeping_curves_and_needs(self):
    """Every run in exactly one of N shards (N = 1..5), a workdir's runs (a curve's epochs) in one shard and in
    order, and each shard holding, first, the runs it needs; the claims spec and the CIFAR-10 curves alike."""
    for spec in (write_spec(SPEC), os.path.join(ROOT, "experiments", "specs", "claims.json"),
                 os.path.join(ROOT, "experiments", "specs", "cifar10_curves.json"),
                 os.path.join(ROOT, "experiments", "specs", "cifar10.json")):
      runs = list(spec_runner.load_spec(spec).runs)
      for n in range(1, 6):
        shards = [spec_runner.shard(runs, k, n) for k in range(1, n + 1)]  # by hand: groups dealt round-robin
        groups = list(dict.fromkeys(r.dir for r in runs))
        mine = [[r for r in runs if groups.index(r.dir) % n == k] for k in range(n)]
        self.assertEqual(sorted(r.name for m in mine for r in m), sorted(r.name for r in runs))  # a partition
        for k, s in enumerate(shards):
          self.assertEqual([r.name for r in s][len(s) - len(mine[k]):], [r.name for r in mine[k]])  # in order
          names = [r.name for r in s]
          for i, r in enumerate(s):
            for dep in (r.transfer_from, r.reference):
              if dep:
                self.assertIn(dep, names[:i], (spec, n, k, r.name))
    with self.assertRaisesRegex(ValueError, "--shard 3/2: K must be in 1..N"):
      spec_runner.shard(runs, 3, 2)


class RunnerTest(absltest.TestCase):

  def test_an_unknown_run_is_one_line_naming_the_known_ones(self):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = subprocess.run([sys.executable, os.path.join(root, "experiments", "run.py"), "curves", "--only", "nope"],
                       capture_output=True, text=True, timeout=120)
    self.assertEqual(p.returncode, 1, p.stderr)
    self.assertRegex(p.stderr.strip(), r"^error: .*curves.json: .*unknown run\(s\) nope; known: vanilla_s0_e01, ")
    self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)


  def test_a_row_is_committed_once_another_shard_releases_gits_index_lock(self):
    """run.py --commit in a git repository whose index another shard holds locked for a moment (its
    .git/index.lock): the row is committed once the lock goes, with the page files, and nothing else."""
    from experiments import page, run  # pylint: disable=g-import-not-at-top
    repo = tempfile.mkdtemp()
    git = lambda *a: subprocess.run(["git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@t", *a],
                                    capture_output=True, text=True, check=True).stdout
    git("init", "-q")
    os.makedirs(os.path.join(repo, "docs", "results"))
    os.makedirs(os.path.join(repo, "docs", "figures"))
    for f in ("README.md", "docs/RESULTS.md", "docs/figures/a.png", "other.txt"):
      with open(os.path.join(repo, f), "w") as fh:
        fh.write("x\n")
    git("add", "-A")
    git("commit", "-qm", "start")
    row = os.path.join(repo, "docs", "results", "row.json")
    with open(row, "w") as fh:
      fh.write("{}\n")
    with open(os.path.join(repo, "other.txt"), "w") as fh:
      fh.write("changed, not committed\n")
    lock = os.path.join(repo, ".git", "index.lock")
    open(lock, "w").close()
    threading.Timer(1.5, os.remove, [lock]).start()
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    with mock.patch.object(run, "ROOT", repo), mock.patch.object(page, "write", lambda *a, **k: None), \
         mock.patch.dict(os.environ, env):
      run.commit(row)
    self.assertEqual(git("log", "-1", "--format=%s").strip(), "experiments: docs/results/row.json")
    self.assertEqual(git("show", "--name-only", "--format=").split(), ["docs/results/row.json"])
    self.assertIn("other.txt", git("status", "--short"))


class CurveTest(absltest.TestCase):

  def test_seed_0_of_each_row_is_exported_beside_its_result(self):
    """A finished seed-0 row: its model is exported to export_dir/<name>, naming its result file, and classifies
    the result's examples as the result says; a row whose export is missing gets it on the next run; neither
    another seed nor a learning curve's checkpoint is exported."""
    root, out, models = tempfile.mkdtemp(), tempfile.mkdtemp(), tempfile.mkdtemp()
    copy_run("lowrank", os.path.join(root, "lr_s0"))
    runs = [spec_runner.Run("lr_s0", overrides={"seed": 0})]
    base = tiny_config(**RUNS["lowrank"])
    ev = {"num_examples": 20, "batch_size": 20, "only": "representation"}
    written = []
    results = spec_runner.run_experiment(runs, root, out, base_config=base, eval_overrides=ev, log=lambda s: None,
                                         export_dir=models, on_result=written.append)
    folder = os.path.join(models, "lr_s0")
    self.assertEqual(written, [os.path.join(out, "lr_s0.json"), folder])
    meta = runfiles.read_json(os.path.join(folder, "model.json"))
    self.assertEqual(runfiles.read_json(os.path.join(folder, meta["exported_from"]["result"])), results["lr_s0"])
    self.assertEqual(export.mismatches(folder, results["lr_s0"]), (0, 20))
    shutil.rmtree(folder)
    spec_runner.run_experiment(runs, root, out, base_config=base, eval_overrides=ev, log=lambda s: None,
                               export_dir=models)
    self.assertTrue(os.path.exists(os.path.join(folder, "model.json")))
    self.assertFalse(spec_runner._exported(spec_runner.Run("lr_s1", overrides={"seed": 1}), models))
    self.assertFalse(spec_runner._exported(spec_runner.Run("lr_s0_e05", overrides={"seed": 0}, until_epoch=5), models))

  def test_a_row_whose_evaluation_was_interrupted_goes_on_after_its_finished_evaluators(self):
    """Ctrl-C during the row's second evaluator: no result is written; the rerun takes the first evaluator back
    (not run again), the result names it under "resumed" and counts its seconds in the row's eval seconds."""
    root, out = tempfile.mkdtemp(), tempfile.mkdtemp()
    copy_run("lowrank", os.path.join(root, "lr_s0"))
    runs = [spec_runner.Run("lr_s0", overrides={"seed": 0})]
    base = tiny_config(**RUNS["lowrank"])
    ev = {"num_examples": 20, "batch_size": 20, "only": "random_pixels,representation"}
    calls = []
    counted = lambda name, interrupt=False: counted_evaluator(name, calls, interrupt)
    go = lambda: spec_runner.run_experiment(runs, root, out, base_config=base, eval_overrides=ev, log=lambda s: None)
    with mock.patch.dict(evaluators.EVALUATORS, {"random_pixels": counted("random_pixels"),
                                                 "representation": counted("representation", interrupt=True)}):
      with self.assertRaises(KeyboardInterrupt):
        go()
    self.assertFalse(os.path.exists(os.path.join(out, "lr_s0.json")))
    with mock.patch.dict(evaluators.EVALUATORS, {n: counted(n) for n in ("random_pixels", "representation")}):
      result = go()["lr_s0"]
    self.assertEqual(calls, ["random_pixels", "representation", "representation"])
    self.assertEqual(result["eval"]["resumed"], ["random_pixels"])
    self.assertGreaterEqual(result["seconds"]["eval"], result["eval"]["seconds"]["random_pixels"])
    self.assertIn("representation", result["eval"])
    self.assertFalse(os.path.exists(os.path.join(root, "lr_s0", "eval", "partial")))
    self.assertEqual((result["seconds"]["platform"], result["seconds"]["cores"]),
                     ("cpu", len(os.sched_getaffinity(0))))

  def test_a_row_records_the_cores_it_may_run_on(self):
    """Pinned to one core, as a shard is with taskset, a row records 1 core; unpinned, every core it may use."""
    allowed = os.sched_getaffinity(0)
    try:
      os.sched_setaffinity(0, {min(allowed)})
      self.assertEqual(spec_runner.where_it_ran(), {"platform": "cpu", "cores": 1})
    finally:
      os.sched_setaffinity(0, allowed)
    self.assertEqual(spec_runner.where_it_ran()["cores"], len(allowed))

  def test_a_reused_run_is_copied_and_evaluated_not_trained(self):
    """"reuse": another experiment's finished run of the same config is copied (not its evaluation) and
    evaluated; the result names it; an unfinished one makes the run wait; another config is one line."""
    parent, out = tempfile.mkdtemp(), tempfile.mkdtemp()
    source = copy_run("lowrank", os.path.join(parent, "curves", "lr_s0"))
    os.makedirs(os.path.join(source, "eval"))
    open(os.path.join(source, "eval", "marker"), "w").close()  # the source's evaluation is not copied
    base = tiny_config(**RUNS["lowrank"])
    ev = {"num_examples": 20, "batch_size": 20, "only": "representation"}
    root = os.path.join(parent, "grid")
    run = spec_runner.Run("lr_s0", reuse="curves/lr_s0")
    history = runfiles.read_jsonl(os.path.join(source, "metrics.jsonl"))
    # unfinished: the source's last record is epoch 1 of 2 -> skipped with a line, nothing copied
    with open(os.path.join(source, "metrics.jsonl"), "w") as f:
      f.write(json.dumps(history[0]) + "\n")
    logged = []
    self.assertEqual(spec_runner.run_experiment([run], root, out, base_config=base, eval_overrides=ev,
                                                log=logged.append), {})
    self.assertRegex(logged[-1], r"lr_s0: skipped: it reuses .*curves/lr_s0, which is at epoch 1 of 2: finish")
    self.assertFalse(os.path.exists(os.path.join(root, "lr_s0")))
    with open(os.path.join(source, "metrics.jsonl"), "w") as f:
      f.writelines(json.dumps(h) + "\n" for h in history)
    # another config: one line naming the difference
    with self.assertRaisesRegex(ValueError, r"^reuse: .*curves/lr_s0 was trained with another config "
                                r"\(config\.seed differs\)"):
      spec_runner.run_experiment([dataclasses.replace(run, overrides={"seed": 1})], root, out, base_config=base,
                                 eval_overrides=ev, log=lambda s: None)
    os.makedirs(os.path.join(root, "lr_s0"))  # a start here that never saved a checkpoint: replaced by the copy
    open(os.path.join(root, "lr_s0", "config.json"), "w").close()
    logged = []
    result = spec_runner.run_experiment([run], root, out, base_config=base, eval_overrides=ev,
                                        log=logged.append)["lr_s0"]
    self.assertIn("[1/1] lr_s0: reuses curves/lr_s0 (the same config, trained to the end): not trained again", logged)
    self.assertEqual(result["trained_by"], "curves/lr_s0")
    self.assertEqual(result["history"], spec_runner.round_floats(history))  # the source's training, not a new one
    self.assertEqual(result["eval"]["step"], 32)
    self.assertEqual(sorted(os.listdir(os.path.join(root, "lr_s0", "checkpoints"))),
                     sorted(os.listdir(os.path.join(source, "checkpoints"))))
    self.assertNotIn("marker", os.listdir(os.path.join(root, "lr_s0", "eval")))
    self.assertEqual(os.listdir(root), ["lr_s0"])  # no temporary copy left

  def test_a_parked_run_is_evaluated_in_a_fresh_clone_without_training(self):
    """park: a finished run without a result (lr_s1) and a model others attack with (ref) are exported with their
    epoch records; an unfinished run is left, said in one line; parking again writes nothing. A fresh root (a new
    clone) then evaluates lr_s1 from the parked copy, never calling training, to the same numbers and per-example
    results as its original; ref's copy is the model the row names; the copy then names the result and reproduces
    it. A parked copy of another config is one line naming the difference."""
    root, models, out0, out = (tempfile.mkdtemp() for _ in range(4))
    copy_run("vanilla", os.path.join(root, "ref"))
    copy_run("lowrank", os.path.join(root, "lr_s1"))
    unfinished = copy_run("lowrank", os.path.join(root, "lr_s2"))
    with open(os.path.join(unfinished, "metrics.jsonl")) as f:
      first = f.readline()
    with open(os.path.join(unfinished, "metrics.jsonl"), "w") as f:
      f.write(first)  # epoch 1 of 2
    base = tiny_config(**RUNS["lowrank"])
    runs = [spec_runner.Run("ref", overrides={"method": "vanilla", "lowrank.warmup_steps": 16}, evaluate=False),
            spec_runner.Run("lr_s1", reference="ref"), spec_runner.Run("lr_s2", reference="ref")]  # the shared run
    ev = {"num_examples": 20, "batch_size": 20, "only": "representation"}
    logged, written = [], []
    self.assertEqual(spec_runner.park(runs, root, out, models, log=logged.append, on_result=written.append),
                     [os.path.join(models, "ref"), os.path.join(models, "lr_s1")])
    self.assertEqual(written, [os.path.join(models, "ref"), os.path.join(models, "lr_s1")])
    self.assertRegex(logged[2], r"^lr_s2: not parked: in training \(epoch 1 of 2\)")
    for name in ("ref", "lr_s1"):
      note = runfiles.read_json(os.path.join(models, name, "model.json"))["exported_from"]
      self.assertEqual((note["step"], note["awaits"].split(":")[0]), (32, "nothing" if name == "ref" else "evaluation"))
      self.assertEqual(runfiles.read_jsonl(os.path.join(models, name, "metrics.jsonl")),
                       runfiles.read_jsonl(os.path.join(root, name, "metrics.jsonl")))
    self.assertEqual(spec_runner.park(runs, root, out, models, log=lambda s: None), [])  # parked already
    # the original, evaluated where it was trained
    original = spec_runner.run_experiment(runs[:2], root, out0, base_config=base, eval_overrides=ev,
                                          log=lambda s: None)["lr_s1"]
    fresh, logged, written = tempfile.mkdtemp(), [], []
    with mock.patch.object(spec_runner.training, "train_and_evaluate", side_effect=AssertionError("trained")):
      result = spec_runner.run_experiment(runs[:2], fresh, out, base_config=base, eval_overrides=ev,
                                          log=logged.append, export_dir=models, on_result=written.append)["lr_s1"]
    self.assertTrue(any(f"lr_s1: trained to step 32 before, taken from {models}/lr_s1: not trained again" in s
                        for s in logged), logged)
    self.assertEqual(result["eval"]["representation"], original["eval"]["representation"])
    self.assertEqual(result["eval"]["per_example"], original["eval"]["per_example"])
    self.assertEqual(result["eval"]["reference"], os.path.join(fresh, "ref"))
    self.assertEqual(result["history"], original["history"])
    self.assertEqual(result["parked"]["awaits"], "evaluation")
    self.assertEqual(written, [os.path.join(out, "lr_s1.json"), os.path.join(models, "lr_s1")])
    note = runfiles.read_json(os.path.join(models, "lr_s1", "model.json"))["exported_from"]
    self.assertNotIn("awaits", note)
    self.assertEqual(runfiles.read_json(os.path.join(models, "lr_s1", note["result"])), result)
    self.assertEqual(export.mismatches(os.path.join(models, "lr_s1"), result), (0, 20))
    with self.assertRaisesRegex(ValueError, r"^.*/ref was trained with another config \(config\.seed differs\)"):
      spec_runner.run_experiment([dataclasses.replace(runs[0], overrides={**runs[0].overrides, "seed": 7})],
                                 tempfile.mkdtemp(), out, base_config=base, log=lambda s: None, export_dir=models)

  def test_a_curve_trained_in_stages_matches_one_run(self):
    """Epoch 1 evaluated, then epoch 2: the same records as the shared run trained in one go, each point evaluated
    at its own step, and a rerun skips what is done."""
    root, out = tempfile.mkdtemp(), tempfile.mkdtemp()
    runs = [spec_runner.Run(f"lr_e{e:02d}", workdir="lr", until_epoch=e) for e in (1, 2)]
    base = tiny_config(**RUNS["lowrank"])
    ev = {"num_examples": 20, "batch_size": 20, "only": "representation"}
    results = spec_runner.run_experiment(runs, root, out, base_config=base, eval_overrides=ev, log=lambda s: None)
    one_go = runfiles.read_jsonl(os.path.join(shared_run("lowrank"), "metrics.jsonl"))
    self.assertEqual([r["epoch"] for r in results["lr_e02"]["history"]], [1, 2])
    for a, b in zip(results["lr_e02"]["history"], one_go):
      self.assertAlmostEqual(a["train_loss"], b["train_loss"], places=4)
      self.assertAlmostEqual(a["test_accuracy"], b["test_accuracy"], places=4)
    self.assertEqual([results[f"lr_e0{e}"]["eval"]["step"] for e in (1, 2)], [16, 32])
    self.assertEqual([results[f"lr_e0{e}"]["seconds"]["resumed"] for e in (1, 2)], [False, True])
    self.assertEqual(set(results["lr_e01"]["eval"]) & {"pgd_grid", "deepfool", "representation"}, {"representation"})
    again = spec_runner.run_experiment(runs, root, out, base_config=base, eval_overrides=ev,
                                      log=lambda s: self.fail(f"reran: {s}"))
    self.assertEqual(again, results)
    # evaluated again on request: the same checkpoint gives the same evaluation, and the old result is named
    logged = []
    redone = spec_runner.run_experiment(runs[1:], root, out, base_config=base, eval_overrides=ev, log=logged.append,
                                       redo=["lr_e02"])["lr_e02"]
    self.assertEqual(redone["eval"]["representation"], results["lr_e02"]["eval"]["representation"])
    self.assertTrue(redone["seconds"]["resumed"])
    self.assertTrue(any(line.startswith("[1/1] lr_e02: replaced; it was: ") for line in logged), logged)
    with self.assertRaisesRegex(ValueError, r"^--redo: run\(s\) lr_e01 not selected; selected: lr_e02$"):
      spec_runner.run_experiment(runs[1:], root, out, base_config=base, eval_overrides=ev, redo=["lr_e01"])
    # an evaluator added to the finished last point; the first point's checkpoint is gone (one workdir): one error
    added = spec_runner.add_evaluators(runs[1:], root, out, "random_pixels", base_config=base, eval_overrides=ev,
                                      log=lambda s: None)["lr_e02"]
    self.assertEqual(added["eval"]["representation"], results["lr_e02"]["eval"]["representation"])
    self.assertIn("random_pixels", added["eval"])
    self.assertEqual(added["eval"]["added"][0]["evaluators"], ["random_pixels"])
    self.assertEqual(runfiles.read_json(os.path.join(out, "lr_e02.json")), added)
    with self.assertRaisesRegex(ValueError, "differ in 'step' \\(16 vs 32\\)"):
      spec_runner.add_evaluators(runs[:1], root, out, "random_pixels", base_config=base, eval_overrides=ev,
                                log=lambda s: None)
    # on a machine without the checkpoints: the run is retrained from its spec, and merged only if it classifies
    # every evaluated example as before; a different training (another seed) is refused
    shutil.rmtree(os.path.join(root, "lr"))
    logs = []
    again = spec_runner.add_evaluators(runs[1:], root, out, "random_pixels", base_config=base, eval_overrides=ev,
                                      log=logs.append)["lr_e02"]
    self.assertIn("lr_e02: no checkpoint in", logs[0])
    self.assertEqual(again["eval"]["random_pixels"], added["eval"]["random_pixels"])  # the same model
    self.assertGreater(again["seconds"]["retrained"], 0)
    shutil.rmtree(os.path.join(root, "lr"))
    other = spec_runner.apply_overrides(base, {"seed": 1})
    with self.assertRaisesRegex(ValueError, "^lr_e02: retrained in .*, it is not the model of .*lr_e02.json "
                                            "\\(merge: the evaluations('| differ in 'clean_accuracy')"):
      spec_runner.add_evaluators(runs[1:], root, out, "random_pixels", base_config=other, eval_overrides=ev,
                                log=lambda s: None)


if __name__ == "__main__":
  absltest.main()
