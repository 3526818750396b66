"""Config validation: each bad field gives one line naming it."""

import json
import os

from absl.testing import absltest, parameterized

from configs import default
from lowrank_jax import augment, config as config_lib, default_config, evaluators, spec_runner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DIMS = {"conv1": 25088, "conv2": 12544, "pool2": 3136, "penultimate": 128}


def _cfg(**overrides):
  return spec_runner.apply_overrides(default.get_config(), overrides)


class ConfigTest(parameterized.TestCase):

  def test_default_is_valid(self):
    config_lib.validate_config(_cfg())
    self.assertEqual(config_lib.validate_lowrank_layers(_cfg(), DIMS), {"penultimate": 10})

  @parameterized.parameters(
      ({"lowrank.threshold_every": 0}, "config.lowrank.threshold_every=0"),
      ({"lowrank.projection_weight": -1.0}, "config.lowrank.projection_weight=-1.0"),
      ({"lowrank.norm_weight": -0.5}, "config.lowrank.norm_weight=-0.5"),
      ({"dataset.name": "mnist2"}, "config.dataset.name='mnist2' is unknown"),
      ({"model": "alexnet"}, "config.model='alexnet' is unknown"),
      ({"lowrank.svd": "qr"}, "config.lowrank.svd='qr'"),
      ({"batch_size": 0}, "config.batch_size=0"),
      ({"optimizer.name": "lamb"}, "config.optimizer.name='lamb'"),
      ({"lowrank.layers": "penultimate:x"}, "config.lowrank.layers='penultimate:x'"),
      ({"method": "lowrank+snap"}, "config.method='lowrank+snap'"),
      ({"method": "lowrank+lowrank"}, "config.method='lowrank+lowrank'"),
      ({"lowrank.parametrization": "sparse"}, "config.lowrank.parametrization='sparse'"),
      ({"lowrank.optimizer": "lamb"}, "config.lowrank.optimizer='lamb'"),
      ({"lowrank.momentum": 1.0}, "config.lowrank.momentum=1.0"),
      ({"lowrank.norm_target": 0.0}, "config.lowrank.norm_target=0.0"),
      ({"model_width": 0.0}, "config.model_width=0.0"),
  )
  def test_static_errors(self, overrides, message):
    with self.assertRaises(config_lib.ConfigError) as e:
      config_lib.validate_config(_cfg(**overrides))
    self.assertIn(message, str(e.exception))
    self.assertNotIn("\n", str(e.exception))

  @parameterized.parameters(
      ({"lowrank.rank": 128}, "config.lowrank.rank=128 for layer 'penultimate' must be in [1, 127]"),
      ({"lowrank.rank": 0}, "config.lowrank.rank=0"),
      ({"lowrank.layers": "fc9"}, "'fc9' is not a layer of cnn; valid: conv1, conv2, pool2, penultimate"),
      ({"lowrank.layers": "conv1"}, "'conv1' has m=25088 > config.lowrank.max_dim=16384 (dense W would be "
                                    "25088x25088, 2.3 GiB): raise max_dim or set config.lowrank.parametrization"),
      ({"lowrank.num_columns": 200}, "config.lowrank.num_columns=200"),
  )
  def test_layer_errors(self, overrides, message):
    with self.assertRaises(config_lib.ConfigError) as e:
      config_lib.validate_lowrank_layers(_cfg(**overrides), DIMS)
    self.assertIn(message, str(e.exception))

  @parameterized.parameters(
      ({"eval.norm": "l3"}, "config.eval.norm='l3'"),
      ({"eval.pgd_grid.audit_eps": 0.15}, "config.eval.pgd_grid.audit_eps=0.15 must be one of config.eval.eps"),
      ({"eval.pgd_grid.steps": ()}, "config.eval.pgd_grid.steps=()"),
      ({"eval.num_examples": 0}, "config.eval.num_examples=0"),
      ({"eval.autoattack.version": "fast"}, "config.eval.autoattack.version='fast'"),
      ({"eval.masking.temperatures": (0.0,)}, "config.eval.masking.temperatures=(0.0,)"),
      ({"eval.pgd_grid.loss": "hinge"}, "config.eval.pgd_grid.loss='hinge'"),
      ({"eval.autoattack.steps": 0}, "config.eval.autoattack.steps=0 must be >= 1"),
      ({"eval.deepfool.max_iter": 0}, "config.eval.deepfool.max_iter=0 must be >= 1"),
      ({"eval.random_pixels.probs": (1.5,)}, "config.eval.random_pixels.probs=(1.5,) must be in [0, 1]"),
      ({"eval.compression.rates": ()}, "config.eval.compression.rates=() must be non-empty"),
      ({"eval.pgd_grid.enabled": False}, "evaluator 'autoattack' needs 'pgd_grid', which config.eval.pgd_grid"),
      ({"eval.eps": (8.0,), "eval.pgd_grid.audit_eps": 8.0}, "config.eval.eps=(8.0,) exceeds 1, the whole Linf range "
                                                             "of pixels in [0, 1]: eps is in pixel units (8/255"),
      ({"eval.autoattack.eps": (16.0,)}, "config.eval.autoattack.eps=(16.0,) exceeds 1"),
      ({"eval.eps": ("abc",)}, "config.eval.eps=('abc',) must be a tuple of numbers, e.g. --config.eval.eps="),
      ({"eval.random_pixels.probs": ("x",)}, "config.eval.random_pixels.probs=('x',) must be a tuple of numbers"),
  )
  def test_eval_errors(self, overrides, message):
    evaluators.validate(_cfg().eval)
    with self.assertRaises(config_lib.ConfigError) as e:
      evaluators.validate(_cfg(**overrides).eval)
    self.assertIn(message, str(e.exception))
    self.assertNotIn("\n", str(e.exception))

  def test_the_cifar10_configs_and_specs_are_valid(self):
    """configs/cifar10_*.py and the CIFAR-10 curves spec (its "base" config file under its overrides) validate, with
    augmentation and the paper's eps."""
    spec = spec_runner.load_spec(os.path.join(ROOT, "experiments", "specs", "cifar10_curves.json"))
    for c in (spec_runner.config_file(os.path.join(ROOT, "configs", "cifar10_resnet18.py")),
              spec_runner.config_file(os.path.join(ROOT, "configs", "cifar10_resnet50_lr.py")), spec.base_config()):
      config_lib.validate_config(c)
      evaluators.validate(c.eval)
      self.assertEqual((c.dataset.name, augment.resolve(c.dataset.augment, c.dataset.name)), ("cifar10", "crop_flip"))
      self.assertEqual(c.eval.eps[0], 8 / 255)
    self.assertEqual((spec.base_config().model_width, spec.base_config().dataset.data_dir), (0.25, "../shared/data/cifar10"))
    self.assertEqual(augment.resolve(_cfg().dataset.augment, "fashion_mnist"), "none")
    grid = spec_runner.load_spec(os.path.join(ROOT, "experiments", "specs", "cifar10.json"))
    for run in grid.runs:  # every row of the CIFAR-10 grid, and its evaluation, is a valid config
      config_lib.validate_config(spec_runner.apply_overrides(grid.base_config(), run.overrides))
      evaluators.validate(spec_runner._eval_config(grid.base_config(), grid.eval, run))

  def test_each_evaluator_has_its_section_with_enabled(self):
    ec = _cfg().eval
    for name in evaluators.EVALUATORS:
      self.assertIn("enabled", ec[name], name)
    self.assertEqual((ec.autoattack.enabled, ec.masking.enabled, ec.compression.enabled), (True, False, False))

  def test_a_config_saved_with_flat_eval_fields_loads_under_the_new_names(self):
    """A run's config.json as saved before the evaluators owned their sections (today's format up to this change):
    every flat eval field lands in its evaluator's section (one old name may feed two sections)."""
    saved = json.loads(_cfg().to_json_best_effort())
    saved["eval"] = {"num_examples": 77, "eps": [0.1, 0.2], "steps": [3], "audit_eps": 0.2, "tolerance": 0.5,
                     "autoattack": False, "autoattack_eps": [0.2], "autoattack_examples": 9, "paper_steps": [5],
                     "masking_probes": True, "probe_eps": [0.1], "deepfool_examples": 11, "pixel_probs": [0.5],
                     "compression": True, "compression_layer": "pool2", "paper_like_grid": True}
    ec = default_config.with_defaults(saved).eval
    self.assertEqual((ec.num_examples, ec.eps, ec.pgd_grid.steps, ec.pgd_grid.audit_eps), (77, (0.1, 0.2), (3,), 0.2))
    self.assertEqual((ec.pgd_grid.tolerance, ec.autoattack.tolerance), (0.5, 0.5))
    self.assertEqual((ec.autoattack.enabled, ec.autoattack.eps, ec.autoattack.examples), (False, (0.2,), 9))
    self.assertEqual((ec.pgd_grid.paper_steps, ec.masking.paper_steps, ec.pgd_grid.paper_like), ((5,), (5,), True))
    self.assertEqual((ec.masking.enabled, ec.masking.eps, ec.deepfool.examples), (True, (0.1,), 11))
    self.assertEqual((ec.random_pixels.probs, ec.compression.enabled, ec.compression.layer), ((0.5,), True, "pool2"))
    self.assertEqual(ec.autoattack.steps, 100)  # not saved: the default
    evaluators.validate(ec)
    self.assertEqual(config_lib.changed_fields(saved, _cfg()), [])  # eval fields never block a resume
    # a spec written with the old names applies them under the new ones
    self.assertEqual(_cfg(**{"eval.autoattack_eps": (0.3,), "eval.masking_probes": True}).eval.autoattack.eps, (0.3,))

  def test_several_layers_with_their_own_ranks(self):
    c = _cfg(**{"lowrank.layers": "conv2:30, penultimate", "lowrank.max_dim": 20000})
    self.assertEqual(config_lib.validate_lowrank_layers(c, DIMS), {"conv2": 30, "penultimate": 10})

  def test_factored_takes_layers_too_wide_for_a_dense_w(self):
    c = _cfg(**{"lowrank.layers": "conv1", "lowrank.parametrization": "factored"})
    self.assertEqual(config_lib.validate_lowrank_layers(c, DIMS), {"conv1": 10})


class ResumeTest(absltest.TestCase):

  def test_only_fields_that_change_the_model_data_or_loss_are_refused(self):
    saved = json.loads(_cfg().to_json_best_effort())
    allowed = _cfg(**{"num_epochs": 9, "eval.eps": (0.5,), "mesh.model": 2, "log_every_steps": 7,
                      "dataset.data_dir": "/elsewhere", "keep_checkpoints": 5})
    self.assertEqual(config_lib.changed_fields(saved, allowed), [])
    changed = _cfg(**{"lowrank.rank": 4, "dataset.train_size": 100, "seed": 1, "num_epochs": 9})
    self.assertEqual(config_lib.changed_fields(saved, changed), ["dataset.train_size", "lowrank.rank", "seed"])
    del saved["lowrank"]["scale_free"]  # a run saved before the field existed: its default
    self.assertEqual(config_lib.changed_fields(saved, _cfg()), [])
    old_names = dict(saved, eval_batch_size=saved.pop("test_batch_size"))  # a run saved before the renames
    old_names["lowrank"] = {**saved["lowrank"], "method": "exact"}
    del old_names["lowrank"]["svd"]
    self.assertEqual(config_lib.changed_fields(old_names, _cfg(**{"lowrank.svd": "exact"})), [])
    with self.assertRaisesRegex(config_lib.ConfigError, r"^runs/x holds a run with a different config "
                                r"\(config.lowrank.rank=10 -> 4\): use a new --workdir"):
      config_lib.check_resume(saved, _cfg(**{"lowrank.rank": 4}), "runs/x")


if __name__ == "__main__":
  absltest.main()
