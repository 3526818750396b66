"""The default config: Fashion-MNIST small CNN with one LR layer on the penultimate representation.

Vanilla baseline from the same code path: --config.method=vanilla. Other configs
(configs/*.py) start from get_config() and change a few fields; `with_defaults`
completes a config saved by an older version of the library.
"""

from typing import Any, Mapping

import ml_collections

from lowrank_jax import evaluators


def get_config() -> ml_collections.ConfigDict:
  """The default config (Fashion-MNIST CNN, LR of rank 10 on the penultimate layer); config.eval's evaluator
  sections come from `lowrank_jax.evaluators`."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.model = "cnn"
  c.model_width = 1.0  # channel multiplier of resnet18/resnet50/vgg19
  c.method = "lowrank"  # vanilla | lowrank (more variants join with "+")

  c.dataset = ml_collections.ConfigDict()
  c.dataset.name = "fashion_mnist"
  c.dataset.data_dir = ""  # "": /usr/share/datasets/fashion-mnist, or TFDS's default (~/tensorflow_datasets)
  c.dataset.validation_size = 0  # held out of train, reported as val_accuracy
  c.dataset.split_seed = 0
  c.dataset.train_size = 0  # > 0: keep only the first N (quick runs, tests)
  c.dataset.test_size = 0
  c.dataset.augment = "auto"  # auto (CIFAR: crop_flip; SVHN: crop; Fashion-MNIST: none) | none | crop | crop_flip

  c.num_epochs = 3
  c.num_train_steps = -1  # > 0 overrides num_epochs
  c.extend_schedule = False  # True: a resumed run may change its length although its schedule depends on it
  c.schedule_history = ()  # each such change ("config.num_epochs=3 -> config.num_epochs=6 at step 1404")
  c.batch_size = 128
  c.test_batch_size = 1000  # the per-epoch test accuracy during training (eval.py: eval.batch_size)

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = "adam"  # adam | adamw | sgd
  c.optimizer.learning_rate = 1e-3
  c.optimizer.schedule = "cosine"  # constant | cosine | piecewise (x0.1 at 50% and 75%)
  c.optimizer.warmup_steps = 0
  c.optimizer.momentum = 0.9  # sgd only
  c.optimizer.nesterov = False
  c.optimizer.weight_decay = 0.0  # adamw: decoupled; sgd: L2 on model parameters

  c.lowrank = ml_collections.ConfigDict()
  c.lowrank.layers = "penultimate"  # comma separated, each `name` or `name:rank`
  c.lowrank.rank = 10  # for layers given without `:rank`
  c.lowrank.parametrization = "dense"  # dense (W m x m + Nystrom thresholding) | factored (W = U V^T)
  c.lowrank.projection_weight = 1.0
  c.lowrank.norm_weight = 0.1
  c.lowrank.norm_target = 1.0  # L_n = mean |norm_target - ||a|||; the paper: 1
  c.lowrank.scale_free = False  # L_c on a / ||a|| (a control, not the paper's loss)
  c.lowrank.warmup_steps = 500  # penalty weights ramp linearly from 0 (avoids early collapse)
  c.lowrank.optimizer = "same"  # for W, b: same (the backbone's) | adam | sgd
  c.lowrank.learning_rate = 0.0  # for adam | sgd; 0: the backbone's
  c.lowrank.momentum = 0.0  # sgd only
  c.lowrank.reset_moments_on_threshold = False
  c.lowrank.threshold_every = 10  # k: dense W is rank-thresholded every k steps
  c.lowrank.svd = "nystrom"  # the thresholding's SVD: nystrom | randomized | exact
  c.lowrank.num_columns = 0  # Nystrom columns per expert; 0: min(m, 4 rank)
  c.lowrank.num_experts = 4
  c.lowrank.max_dim = 16384  # refuse dense W wider than this (W is m x m; 16384: 1 GiB); factored: no limit

  c.snip = ml_collections.ConfigDict()  # method "snip"
  c.snip.sparsity = 0.9  # fraction of kernel weights pruned at initialisation
  c.srn = ml_collections.ConfigDict()  # method "srn"
  c.srn.rank_ratio = 0.7  # target stable rank = rank_ratio * min(out, fan-in), spectral norm 1
  c.pgd_at = ml_collections.ConfigDict()  # method "pgd_at"
  c.pgd_at.eps = 0.1  # Linf, pixels in [0, 1]
  c.pgd_at.steps = 7

  c.mesh = ml_collections.ConfigDict()  # devices as a (data, model) mesh
  c.mesh.data = 0  # 0: all devices / mesh.model
  c.mesh.model = 1  # > 1: the LR layers' W (or U, V) and their optimizer moments are sharded over it by rows

  c.log_every_steps = 50
  c.rank_batch_size = 1000  # fixed test batch for the effective rank
  c.rank_energy = 0.99
  c.checkpoint_every_steps = 500
  c.keep_checkpoints = 2

  # eval.py (Linf budgets in pixel space [0, 1]): the fields every evaluator shares, then one section per
  # evaluator (config.eval.<name>: `enabled` and its own fields), defined by its module in lowrank_jax/evaluators/
  c.eval = ml_collections.ConfigDict()
  c.eval.num_examples = 500  # first N examples of the split
  c.eval.split = "test"  # test | validation (held out of train: config.dataset.validation_size)
  c.eval.batch_size = 250
  c.eval.seed = 0
  c.eval.only = ""  # comma separated evaluators to run (with what they need), enabled or not; "": the enabled
  c.eval.norm = "linf"  # linf | l2, for the PGD grid and AutoAttack
  c.eval.eps = (0.05, 0.1, 0.2, 0.3)
  c.eval.update(evaluators.sections())
  return c


# fields renamed since runs were saved: old dotted name -> new (one or several); a name whose saved value is a
# section (a dict) is not renamed (config.eval.autoattack was a bool before it was AutoAttack's section)
RENAMED: dict[str, str | tuple[str, ...]] = {
    "eval_batch_size": "test_batch_size", "lowrank.method": "lowrank.svd",
    # config.eval's evaluator fields, flat before each evaluator owned a section
    "eval.steps": "eval.pgd_grid.steps", "eval.loss": "eval.pgd_grid.loss", "eval.audit_eps": "eval.pgd_grid.audit_eps",
    "eval.audit_restarts": "eval.pgd_grid.audit_restarts", "eval.chance_eps": "eval.pgd_grid.chance_eps",
    "eval.tolerance": ("eval.pgd_grid.tolerance", "eval.autoattack.tolerance"),
    "eval.paper_like_grid": "eval.pgd_grid.paper_like",
    "eval.paper_steps": ("eval.pgd_grid.paper_steps", "eval.masking.paper_steps"),
    "eval.autoattack": "eval.autoattack.enabled", "eval.autoattack_version": "eval.autoattack.version",
    "eval.autoattack_eps": "eval.autoattack.eps", "eval.autoattack_examples": "eval.autoattack.examples",
    "eval.autoattack_square_queries": "eval.autoattack.square_queries", "eval.autoattack_steps": "eval.autoattack.steps",
    "eval.deepfool_examples": "eval.deepfool.examples", "eval.deepfool_max_iter": "eval.deepfool.max_iter",
    "eval.deepfool_candidates": "eval.deepfool.candidates", "eval.deepfool_overshoot": "eval.deepfool.overshoot",
    "eval.pixel_probs": "eval.random_pixels.probs", "eval.pixel_sigma": "eval.random_pixels.sigma",
    "eval.masking_probes": "eval.masking.enabled", "eval.probe_eps": "eval.masking.eps",
    "eval.probe_temperatures": "eval.masking.temperatures", "eval.probe_tolerance": "eval.masking.tolerance",
    "eval.probe_strong_steps": "eval.masking.strong_steps", "eval.probe_strong_restarts": "eval.masking.strong_restarts",
    "eval.probe_square_queries": "eval.masking.square_queries", "eval.probe_examples": "eval.masking.examples",
    "eval.compression": "eval.compression.enabled", "eval.compression_layer": "eval.compression.layer",
    "eval.compression_rates": "eval.compression.rates",
    "eval.compression_train_examples": "eval.compression.train_examples",
}


def new_names(dotted: str, value: Any = None) -> tuple[str, ...]:
  """The current dotted name(s) of a field saved as `dotted` (itself unless RENAMED)."""
  new = RENAMED.get(dotted) if not isinstance(value, Mapping) else None
  return (dotted,) if new is None else (new,) if isinstance(new, str) else new


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  """A nested config dict as {dotted name: leaf}, lists as tuples."""
  out = {}
  for k, v in tree.items():
    if isinstance(v, Mapping) and new_names(f"{prefix}{k}", v) == (f"{prefix}{k}",):
      out.update(flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = tuple(v) if isinstance(v, list) else v
  return out


def set_field(config: ml_collections.ConfigDict, dotted: str, value: Any) -> None:
  """config.<dotted> = value, sections created where missing (a field retired since is kept as saved)."""
  *parents, leaf = dotted.split(".")
  node = config
  for p in parents:
    if p not in node or not isinstance(node[p], ml_collections.ConfigDict):
      with node.ignore_type():
        node[p] = ml_collections.ConfigDict()
    node = node[p]
  with node.ignore_type():
    node[leaf] = tuple(value) if isinstance(value, list) else value


def with_defaults(saved: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """get_config() overwritten by every field of `saved` (a config dict, e.g. a run's config.json).

  Fields the saved config lacks keep their defaults (runs saved before they existed);
  the retired `lowrank.enabled=False` becomes method "vanilla"; renamed fields (RENAMED) take their new names.
  """
  config = get_config()
  for dotted, value in flatten(saved).items():
    if dotted == "lowrank.enabled":
      if not value:
        config.method = "vanilla"
      continue
    for name in new_names(dotted, value):
      set_field(config, name, value)
  return config
