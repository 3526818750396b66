"""The default config: Fashion-MNIST small CNN with one LR layer on the penultimate representation.

Vanilla baseline from the same code path: --config.method=vanilla. Other configs
(configs/*.py) start from get_config() and change a few fields; `with_defaults`
completes a config saved by an older version of the library.
"""

from typing import Any, Mapping

import ml_collections


def get_config() -> ml_collections.ConfigDict:
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

  c.num_epochs = 3
  c.num_train_steps = -1  # > 0 overrides num_epochs
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

  # eval.py (Linf budgets in pixel space [0, 1])
  c.eval = ml_collections.ConfigDict()
  c.eval.num_examples = 500  # first N examples of the split
  c.eval.split = "test"  # test | validation (held out of train: config.dataset.validation_size)
  c.eval.batch_size = 250
  c.eval.seed = 0
  c.eval.only = ""  # comma separated evaluators (lowrank_jax.evaluators) to run, with what they need; "": all
  c.eval.norm = "linf"  # linf | l2, for the PGD grid and AutoAttack
  c.eval.eps = (0.05, 0.1, 0.2, 0.3)
  c.eval.steps = (7, 20)
  c.eval.loss = "ce"  # ce | margin | dlr
  c.eval.audit_eps = 0.1  # where 2x steps, restarts, transfer and Gaussian noise are compared
  c.eval.audit_restarts = 3
  c.eval.chance_eps = 0.5
  c.eval.tolerance = 0.01  # slack on accuracies in the audit
  c.eval.autoattack = True  # AutoAttack (the reference's settings) at every eps of autoattack_eps
  c.eval.autoattack_version = "standard"  # standard | plus | rand
  c.eval.autoattack_eps = ()  # empty: every eval eps
  c.eval.autoattack_examples = 0  # 0: all num_examples
  c.eval.autoattack_square_queries = 5000  # the reference's; lower only for smoke runs
  c.eval.autoattack_steps = 100  # APGD / FAB iterations: the reference's; lower only for smoke runs
  c.eval.deepfool_examples = 500
  c.eval.deepfool_max_iter = 100
  c.eval.deepfool_candidates = 10
  c.eval.deepfool_overshoot = 0.02
  c.eval.pixel_probs = (0.2, 0.4, 0.6, 0.8, 1.0)
  c.eval.pixel_sigma = 0.5
  c.eval.masking_probes = False  # the probes of lowrank_jax.evaluators.masking
  c.eval.probe_eps = (0.05, 0.1)
  c.eval.probe_temperatures = (10.0, 100.0)
  c.eval.probe_tolerance = 0.05  # a probe beating PGD-<steps> CE by more than this is flagged (some gain is normal)
  c.eval.probe_strong_steps = 100
  c.eval.probe_strong_restarts = 5
  c.eval.probe_square_queries = 1000
  c.eval.probe_examples = 200  # strong PGD and Square run on the first N
  c.eval.paper_steps = (7, 20)  # paper-like PGD: fixed step eps/4, no random start, eps in normalised space
  c.eval.paper_like_grid = False  # also run the PGD grid paper-like (eps in normalised space, see paper_steps)
  c.eval.compression = False  # compressed representations, linear head, 2-D PCA (lowrank_jax.evaluators.compression)
  c.eval.compression_layer = "penultimate"
  c.eval.compression_rates = (10, 25, 50, 100, 200, 400)
  c.eval.compression_train_examples = 10000
  return c


# fields renamed since runs were saved: old dotted name -> new (in the same section)
RENAMED = {"eval_batch_size": "test_batch_size", "lowrank.method": "lowrank.svd"}


def with_defaults(saved: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """get_config() overwritten by every field of `saved` (a config dict, e.g. a run's config.json).

  Fields the saved config lacks keep their defaults (runs saved before they existed);
  the retired `lowrank.enabled=False` becomes method "vanilla"; renamed fields (RENAMED) take their new names.
  """
  config = get_config()

  def merge(node: ml_collections.ConfigDict, values: Mapping[str, Any], prefix: str) -> None:
    for k, v in values.items():
      if prefix == "lowrank." and k == "enabled":
        if not v:
          config.method = "vanilla"
        continue
      k = RENAMED.get(f"{prefix}{k}", f"{prefix}{k}")[len(prefix):]
      if isinstance(v, Mapping) and k in node and isinstance(node[k], ml_collections.ConfigDict):
        merge(node[k], v, f"{prefix}{k}.")
      else:
        with node.ignore_type():
          node[k] = tuple(v) if isinstance(v, list) else v

  merge(config, saved, "")
  return config
