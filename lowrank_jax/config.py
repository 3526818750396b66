"""Config validation: every bad field is one line that names it, before any compute."""

from __future__ import annotations

import json
from typing import Mapping

from lowrank_jax import augment, data, default_config, methods, models, optim, regularizer, svd
from lowrank_jax.errors import ConfigError, check as _check  # noqa: F401 (ConfigError: part of this module's API)


def validate_config(config) -> None:
  """Checks the fields that need no model: names, ranges, types."""
  _check(config.dataset.name in data.DATASETS,
         f"config.dataset.name={config.dataset.name!r} is unknown; valid: {sorted(data.DATASETS)}")
  _check(config.model in models.MODELS, f"config.model={config.model!r} is unknown; valid: {sorted(models.MODELS)}")
  _check(config.model_width > 0, f"config.model_width={config.model_width} must be > 0")
  _check(config.mesh.data >= 0, f"config.mesh.data={config.mesh.data} must be >= 0 (0: all devices / mesh.model)")
  _check(config.mesh.model >= 1, f"config.mesh.model={config.mesh.model} must be >= 1")
  names = [s.strip() for s in str(config.method).split("+")]
  _check(all(n in methods.METHODS for n in names) and len(set(names)) == len(names),
         f"config.method={config.method!r}: each of its '+'-joined names must be one of {', '.join(methods.METHODS)}")
  _check(config.dataset.augment in augment.KINDS,
         f"config.dataset.augment={config.dataset.augment!r} is not one of {', '.join(augment.KINDS)}")
  for field in ("validation_size", "train_size", "test_size"):
    _check(config.dataset[field] >= 0, f"config.dataset.{field}={config.dataset[field]} must be >= 0")
  _check(config.batch_size >= 1, f"config.batch_size={config.batch_size} must be >= 1")
  _check(config.test_batch_size >= 1, f"config.test_batch_size={config.test_batch_size} must be >= 1")
  _check(config.num_epochs >= 1 or config.num_train_steps > 0,
         f"config.num_epochs={config.num_epochs} must be >= 1 (or set config.num_train_steps > 0)")
  opt = config.optimizer
  _check(opt.name in optim.OPTIMIZERS, f"config.optimizer.name={opt.name!r} is not one of {', '.join(optim.OPTIMIZERS)}")
  _check(opt.schedule in optim.SCHEDULES,
         f"config.optimizer.schedule={opt.schedule!r} is not one of {', '.join(optim.SCHEDULES)}")
  _check(opt.learning_rate > 0, f"config.optimizer.learning_rate={opt.learning_rate} must be > 0")
  _check(opt.warmup_steps >= 0, f"config.optimizer.warmup_steps={opt.warmup_steps} must be >= 0")
  _check(opt.weight_decay >= 0, f"config.optimizer.weight_decay={opt.weight_decay} must be >= 0")
  _check(config.log_every_steps >= 1, f"config.log_every_steps={config.log_every_steps} must be >= 1")
  _check(config.checkpoint_every_steps >= 1,
         f"config.checkpoint_every_steps={config.checkpoint_every_steps} must be >= 1")
  _check(config.keep_checkpoints >= 1, f"config.keep_checkpoints={config.keep_checkpoints} must be >= 1")
  _check(0 < config.rank_energy <= 1, f"config.rank_energy={config.rank_energy} must be in (0, 1]")
  _check(config.rank_batch_size >= 2, f"config.rank_batch_size={config.rank_batch_size} must be >= 2")
  lr = config.lowrank
  _check(lr.threshold_every >= 1, f"config.lowrank.threshold_every={lr.threshold_every} must be >= 1")
  _check(lr.warmup_steps >= 0, f"config.lowrank.warmup_steps={lr.warmup_steps} must be >= 0")
  _check(lr.projection_weight >= 0, f"config.lowrank.projection_weight={lr.projection_weight} must be >= 0")
  _check(lr.norm_weight >= 0, f"config.lowrank.norm_weight={lr.norm_weight} must be >= 0")
  _check(lr.norm_target > 0, f"config.lowrank.norm_target={lr.norm_target} must be > 0")
  _check(lr.parametrization in regularizer.PARAMETRIZATIONS,
         f"config.lowrank.parametrization={lr.parametrization!r} is not one of {', '.join(regularizer.PARAMETRIZATIONS)}")
  _check(lr.optimizer in optim.LOWRANK_OPTIMIZERS,
         f"config.lowrank.optimizer={lr.optimizer!r} is not one of {', '.join(optim.LOWRANK_OPTIMIZERS)}")
  _check(lr.learning_rate >= 0, f"config.lowrank.learning_rate={lr.learning_rate} must be >= 0 (0: the backbone's)")
  _check(0 <= lr.momentum < 1, f"config.lowrank.momentum={lr.momentum} must be in [0, 1)")
  _check(lr.svd in svd.ALGORITHMS, f"config.lowrank.svd={lr.svd!r} is not one of {', '.join(svd.ALGORITHMS)}")
  _check(lr.num_columns >= 0, f"config.lowrank.num_columns={lr.num_columns} must be >= 0 (0: default)")
  _check(lr.num_experts >= 1, f"config.lowrank.num_experts={lr.num_experts} must be >= 1")
  parse_layers(lr.layers, lr.rank)
  _check(0 <= config.snip.sparsity < 1, f"config.snip.sparsity={config.snip.sparsity} must be in [0, 1)")
  _check(0 < config.srn.rank_ratio <= 1, f"config.srn.rank_ratio={config.srn.rank_ratio} must be in (0, 1]")
  _check(config.pgd_at.eps > 0, f"config.pgd_at.eps={config.pgd_at.eps} must be > 0")
  _check(config.pgd_at.steps >= 1, f"config.pgd_at.steps={config.pgd_at.steps} must be >= 1")


def parse_layers(spec: str, default_rank: int) -> dict[str, int]:
  """'a,b:20' -> {'a': default_rank, 'b': 20}."""
  out = {}
  for item in [s.strip() for s in spec.split(",") if s.strip()]:
    name, _, rank = item.partition(":")
    try:
      out[name.strip()] = int(rank) if rank else int(default_rank)
    except ValueError:
      raise ConfigError(f"config.lowrank.layers={spec!r}: rank {rank!r} of layer {name!r} is not an integer") from None
  _check(bool(out), f"config.lowrank.layers={spec!r} names no layer")
  return out


def validate_lowrank_layers(config, dims: Mapping[str, int], model_name: str | None = None) -> dict[str, int]:
  """Checks the LR layers against the model's layer sizes; returns name -> rank."""
  lr = config.lowrank
  ranks = parse_layers(lr.layers, lr.rank)
  for name, r in ranks.items():
    _check(name in dims,
           f"config.lowrank.layers: {name!r} is not a layer of {model_name or config.model}; valid: {', '.join(dims)}")
    m = dims[name]
    _check(lr.parametrization != "dense" or m <= lr.max_dim,
           f"config.lowrank.layers: {name!r} has m={m} > config.lowrank.max_dim={lr.max_dim} (dense W would be "
           f"{m}x{m}, {4 * m * m / 2**30:.1f} GiB): raise max_dim or set config.lowrank.parametrization=factored")
    _check(1 <= r <= m - 1, f"config.lowrank.rank={r} for layer {name!r} must be in [1, {m - 1}] (m={m})")
    if lr.svd == "nystrom" and lr.parametrization == "dense":
      cols = lr.num_columns or svd.default_num_columns(m, r)
      _check(cols <= m, f"config.lowrank.num_columns={cols} for layer {name!r} must be <= m={m}")
      _check(r <= cols * lr.num_experts,
             f"config.lowrank.num_columns * num_experts={cols * lr.num_experts} must be >= rank={r} for {name!r}")
  return ranks


# Fields a resumed run may change: how long it trains, where it reads data, how it logs, checkpoints and
# evaluates, and how devices are laid out. Every other field changes the model, the data or the loss.
RESUMABLE_FIELDS = ("num_epochs", "num_train_steps", "extend_schedule", "schedule_history", "dataset.data_dir", "test_batch_size", "log_every_steps",
                    "checkpoint_every_steps", "keep_checkpoints", "rank_batch_size", "rank_energy", "lowrank.max_dim",
                    "mesh.", "eval.")


def _flat(tree: Mapping, prefix: str = "") -> dict:
  out = {}
  for k, v in tree.items():
    if isinstance(v, Mapping):
      out.update(_flat(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = tuple(v) if isinstance(v, list) else v
  return out


def changed_fields(saved, config) -> list[str]:
  """The fields of `config` that differ from `saved` (both config dicts) and change the model, data or loss."""
  as_json = lambda c: _flat(json.loads(c.to_json_best_effort()))
  old, new = as_json(default_config.with_defaults(saved)), as_json(config)
  resumable = lambda k: any(k == f or (f.endswith(".") and k.startswith(f)) for f in RESUMABLE_FIELDS)
  return sorted(k for k in old.keys() | new.keys() if not resumable(k) and old.get(k) != new.get(k))


def schedule_change(saved, config) -> str | None:
  """'config.num_epochs=3 -> config.num_epochs=6' when the run's length changes and its learning-rate schedule
  (cosine, piecewise: a function of the total steps) with it; None otherwise."""
  length = lambda c: (("num_train_steps", c.num_train_steps) if c.num_train_steps > 0 else
                      ("num_epochs", c.num_epochs))
  old, new = length(default_config.with_defaults(saved)), length(config)
  if old == new or config.optimizer.schedule == "constant":
    return None
  return f"config.{old[0]}={old[1]} -> config.{new[0]}={new[1]}"


def check_resume(saved, config, workdir: str) -> str | None:
  """A one-line ConfigError when `config` would continue the run in `workdir` (saved config `saved`) as
  a different experiment, or would change its length, and with it its learning-rate schedule, without
  config.extend_schedule; returns that change when extend_schedule allows it."""
  diff = changed_fields(saved, config)
  if diff:
    old = _flat(saved)
    new = _flat(json.loads(config.to_json_best_effort()))
    shown = ", ".join(f"config.{k}={old.get(k, '(default)')!r} -> {new.get(k)!r}" for k in diff[:4])
    more = f" and {len(diff) - 4} more" if len(diff) > 4 else ""
    raise ConfigError(f"{workdir} holds a run with a different config ({shown}{more}): use a new --workdir "
                      f"(a resumed run may change only {', '.join(RESUMABLE_FIELDS)})")
  change = schedule_change(saved, config)
  if change and not config.extend_schedule:
    raise ConfigError(f"{workdir}: {change} would change the run's {config.optimizer.schedule} learning-rate schedule "
                      "(a function of the total steps) from its next step on: pass --config.extend_schedule=True to "
                      "continue with the new schedule (recorded in config.json), or use a new --workdir")
  return change
