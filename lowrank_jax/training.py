"""The training loop: cross-entropy + LR penalty, alternating rank thresholding.

    create_train_state(config, dataset) -> (TrainSetup, state)
    train_step(state, images, labels)   # jitted: one gradient step, then every
                                        # k steps W <- rank_threshold(W) (Sec. 3)
    evaluate(...)                       # test accuracy, effective ranks
    train_and_evaluate(config, workdir) # the loop: logs, checkpoints, resume

The state is a pytree of plain dicts: {"step", "params": {"model", "lowrank"},
"batch_stats", "opt_state"}. Batches are sharded over a 1-D device mesh with
axis "batch" and the state is replicated, so the same code runs on one CPU or
many accelerators and hosts (data parallel through jit's sharding propagation).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import signal
import sys
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import tqdm
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec as P

from lowrank_jax import checkpoint as ckpt_lib
from lowrank_jax import config as config_lib
from lowrank_jax import data as data_lib
from lowrank_jax import metrics as metrics_lib
from lowrank_jax import models, regularizer, svd

State = dict[str, Any]


class TrainingDivergedError(RuntimeError):
  """The loss or the parameters became NaN/inf; the last good checkpoint is kept."""


@dataclasses.dataclass(frozen=True)
class TrainSetup:
  """Everything static about a run: the model's functions, optimizer, LR layers, mesh."""

  config: ml_collections.ConfigDict
  model: models.FunctionalModel
  tx: optax.GradientTransformation
  ranks: dict[str, int]  # LR layers in the loss (empty if lowrank.enabled=False)
  monitored: tuple[str, ...]  # layers whose effective rank is logged
  steps_per_epoch: int
  total_steps: int
  mesh: jax.sharding.Mesh

  @property
  def data_sharding(self) -> NamedSharding:
    return NamedSharding(self.mesh, P("batch"))

  @property
  def replicated(self) -> NamedSharding:
    return NamedSharding(self.mesh, P())


def make_schedule(opt: ml_collections.ConfigDict, total_steps: int) -> optax.Schedule:
  lr, warm = opt.learning_rate, min(opt.warmup_steps, max(total_steps - 1, 0))
  if opt.schedule == "constant":
    main = optax.constant_schedule(lr)
  elif opt.schedule == "cosine":
    main = optax.cosine_decay_schedule(lr, max(total_steps - warm, 1))
  else:
    main = optax.piecewise_constant_schedule(
        lr, {int((total_steps - warm) * 0.5): 0.1, int((total_steps - warm) * 0.75): 0.1})
  if warm:
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warm), main], [warm])
  return main


def make_optimizer(opt: ml_collections.ConfigDict, total_steps: int) -> optax.GradientTransformation:
  """optax optimizer; weight decay applies to the model's parameters only, never to W, b."""
  schedule = make_schedule(opt, total_steps)
  model_only = lambda params: {"model": jax.tree.map(lambda _: True, params["model"]),
                               "lowrank": jax.tree.map(lambda _: False, params["lowrank"])}
  if opt.name == "adam":
    return optax.adam(schedule)
  if opt.name == "adamw":
    return optax.adamw(schedule, weight_decay=opt.weight_decay, mask=model_only)
  return optax.chain(
      optax.add_decayed_weights(opt.weight_decay, mask=model_only),
      optax.sgd(schedule, momentum=opt.momentum or None, nesterov=opt.nesterov),
  )


def create_train_state(config: ml_collections.ConfigDict, info: data_lib.DatasetInfo,
                       mean, std, num_train: int) -> tuple[TrainSetup, State]:
  """Builds the model, validates the LR layers against it, and returns (setup, state)."""
  config_lib.validate_config(config)
  n_dev = jax.device_count()
  if config.batch_size % n_dev:
    raise config_lib.ConfigError(f"config.batch_size={config.batch_size} must be divisible by {n_dev} devices")
  key = jax.random.PRNGKey(config.seed)
  module = models.create_model(config.model, info.num_classes, info.input_shape, mean, std,
                               rngs=nnx.Rngs(jax.random.fold_in(key, 0)))
  fm, params, batch_stats = models.FunctionalModel.from_module(module)
  dims = fm.feature_dims(params, batch_stats, info.input_shape)
  layer_ranks = config_lib.validate_lowrank_layers(config, dims)
  ranks = layer_ranks if config.lowrank.enabled else {}
  steps_per_epoch = num_train // config.batch_size
  if steps_per_epoch < 1:
    raise config_lib.ConfigError(f"config.batch_size={config.batch_size} exceeds the {num_train} training examples")
  total = config.num_train_steps if config.num_train_steps > 0 else config.num_epochs * steps_per_epoch
  tx = make_optimizer(config.optimizer, total)
  lowrank = regularizer.init_lowrank_params(jax.random.fold_in(key, 1), {k: dims[k] for k in ranks}, ranks)
  all_params = {"model": params, "lowrank": lowrank}
  state = {"step": jnp.zeros((), jnp.int32), "params": all_params, "batch_stats": batch_stats,
           "opt_state": tx.init(all_params)}
  mesh = jax.make_mesh((n_dev,), ("batch",), axis_types=(jax.sharding.AxisType.Auto,))
  setup = TrainSetup(config, fm, tx, ranks, tuple(layer_ranks), steps_per_epoch, total, mesh)
  return setup, jax.device_put(state, setup.replicated)


def threshold_lowrank(setup: TrainSetup, lowrank: regularizer.LowRankParams, key: jax.Array):
  """The alternating step: each W_l <- rank_threshold(W_l, r_l); b_l unchanged."""
  c = setup.config.lowrank
  out = {}
  for i, (name, p) in enumerate(sorted(lowrank.items())):
    W = svd.rank_threshold(p["W"], setup.ranks[name], jax.random.fold_in(key, i), method=c.method,
                           num_columns=c.num_columns or None, num_experts=c.num_experts)
    out[name] = {"W": W, "b": p["b"]}
  return out


def penalty_scale(setup: TrainSetup, step: jax.Array) -> jax.Array:
  """Linear ramp 0 -> 1 of the LR penalty over config.lowrank.warmup_steps (1 if 0)."""
  warm = setup.config.lowrank.warmup_steps
  return jnp.minimum(1.0, step.astype(jnp.float32) / warm) if warm > 0 else jnp.ones(())


def loss_fn(setup: TrainSetup, params, batch_stats, x, labels, *, train: bool, scale=1.0):
  """Cross-entropy + scale * sum_l (projection_weight L_c + norm_weight L_n); returns (loss, aux)."""
  logits, feats, new_stats = setup.model.apply(params["model"], batch_stats, x, train=train)
  ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
  c = setup.config.lowrank
  penalty, metrics = regularizer.lowrank_penalty(
      feats, params["lowrank"], projection_weight=c.projection_weight, norm_weight=c.norm_weight)
  loss = ce + scale * penalty
  metrics.update(loss=loss, cross_entropy=ce, accuracy=jnp.mean(jnp.argmax(logits, -1) == labels))
  return loss, (metrics, new_stats)


def _to_unit(images: jax.Array) -> jax.Array:
  return images.astype(jnp.float32) / 255.0


def train_step(setup: TrainSetup, state: State, images: jax.Array, labels: jax.Array) -> tuple[State, dict]:
  """One gradient step on all parameters, then W thresholded when step % k == 0 or at the end."""
  grads, (metrics, new_stats) = jax.grad(
      functools.partial(loss_fn, setup, train=True, scale=penalty_scale(setup, state["step"])), has_aux=True)(
          state["params"], state["batch_stats"], _to_unit(images), labels)
  updates, opt_state = setup.tx.update(grads, state["opt_state"], state["params"])
  params = optax.apply_updates(state["params"], updates)
  step = state["step"] + 1
  if setup.ranks:
    do = (step % setup.config.lowrank.threshold_every == 0) | (step == setup.total_steps)
    key = jax.random.fold_in(jax.random.PRNGKey(setup.config.seed + 1), step)
    params["lowrank"] = jax.lax.cond(do, lambda p: threshold_lowrank(setup, p, key), lambda p: p,
                                     params["lowrank"])
  return {"step": step, "params": params, "batch_stats": new_stats, "opt_state": opt_state}, metrics


def eval_step(setup: TrainSetup, state: State, images, labels, mask) -> dict:
  """Sums of correct predictions and of examples (padding masked out)."""
  logits, _, _ = setup.model.apply(state["params"]["model"], state["batch_stats"], _to_unit(images), train=False)
  correct = (jnp.argmax(logits, -1) == labels) & mask
  return {"correct": correct.sum(), "count": mask.sum()}


def features_step(setup: TrainSetup, state: State, images) -> dict[str, jax.Array]:
  _, feats, _ = setup.model.apply(state["params"]["model"], state["batch_stats"], _to_unit(images), train=False)
  return {k: feats[k] for k in setup.monitored}


def all_finite(tree) -> jax.Array:
  return jnp.all(jnp.asarray([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


class Trainer:
  """Holds the jitted functions of one setup (compiled once, reused every call)."""

  def __init__(self, setup: TrainSetup):
    self.setup = setup
    self.train_step = jax.jit(functools.partial(train_step, setup), donate_argnums=0)
    self.eval_step = jax.jit(functools.partial(eval_step, setup))
    self.features = jax.jit(functools.partial(features_step, setup))
    self.all_finite = jax.jit(all_finite)

  def shard(self, *arrays: np.ndarray):
    """Host-local slices of a global batch -> global arrays sharded over 'batch'."""
    n_proc, pid = jax.process_count(), jax.process_index()
    out = []
    for a in arrays:
      per = a.shape[0] // n_proc
      out.append(jax.make_array_from_process_local_data(
          self.setup.data_sharding, a[pid * per:(pid + 1) * per], a.shape))
    return out

  def accuracy(self, state: State, images: np.ndarray, labels: np.ndarray) -> float:
    bs = self.setup.config.eval_batch_size
    bs -= bs % jax.device_count()
    correct = count = 0
    for x, y, m in data_lib.eval_batches(images, labels, bs):
      r = self.eval_step(state, *self.shard(x, y, m))
      correct, count = correct + r["correct"], count + r["count"]
    return float(correct) / max(int(count), 1)

  def spectra(self, state: State, images: np.ndarray) -> dict[str, float]:
    """Effective rank of each monitored representation and rank of each W."""
    c = self.setup.config
    n = min(len(images), c.rank_batch_size)
    n -= n % jax.device_count()
    feats = jax.device_get(self.features(state, *self.shard(images[:n])))
    out = {f"{k}/effective_rank": metrics_lib.effective_rank(v, c.rank_energy) for k, v in feats.items()}
    for name, p in jax.device_get(state["params"]["lowrank"]).items():
      out[f"{name}/W_effective_rank"] = metrics_lib.effective_rank(p["W"], c.rank_energy)
    return out


def _write_jsonl(path: str, records: list[dict]) -> None:
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    for r in records:
      f.write(json.dumps(r) + "\n")
  os.replace(tmp, path)


def _read_jsonl(path: str) -> list[dict]:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def _fmt(record: dict) -> str:
  return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items())


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       log: Callable[[str], None] | None = None) -> dict:
  """Trains (resuming from the newest checkpoint in workdir) and returns the last epoch's metrics.

  Writes workdir/config.json, workdir/metrics.jsonl (one record per epoch) and
  orbax checkpoints under workdir/checkpoints every config.checkpoint_every_steps
  steps, at every epoch end, on SIGINT/SIGTERM and at the end.
  """
  log = log or (lambda s: tqdm.tqdm.write(s, file=sys.stdout))
  config_lib.validate_config(config)
  dataset = data_lib.load_dataset(config.dataset)
  train_x, train_y = dataset.splits["train"]
  setup, state = create_train_state(config, dataset.info, dataset.mean, dataset.std, len(train_x))
  trainer = Trainer(setup)
  log(f"{jax.device_count()} {jax.default_backend()} device(s) over {jax.process_count()} process(es); "
      f"mesh {dict(setup.mesh.shape)}; {setup.total_steps} steps of batch {config.batch_size}; "
      f"LR layers {setup.ranks or 'none (vanilla)'}")
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json_best_effort(indent=2))
  with open(os.path.join(workdir, "model.json"), "w") as f:  # what load_model needs besides the config
    json.dump({"mean": dataset.mean, "std": dataset.std, "num_train": len(train_x)}, f)
  ckpt = ckpt_lib.Checkpointer(os.path.join(workdir, "checkpoints"), config.keep_checkpoints)
  latest = ckpt.latest_step()
  if latest is not None:
    state = ckpt.restore(latest, state)
    log(f"resumed from {ckpt.path(latest)}")
  start = int(state["step"])
  jsonl = os.path.join(workdir, "metrics.jsonl")
  records = [r for r in _read_jsonl(jsonl) if r["step"] <= start]
  _write_jsonl(jsonl, records)
  test_x, test_y = dataset.splits["test"]

  pending: list[dict] = []  # device metrics not yet fetched
  epoch_sums: dict[str, float] = {}
  epoch_count = 0
  last_saved = latest

  def flush() -> dict:
    nonlocal pending, epoch_sums, epoch_count
    if not pending:
      return {}
    host = jax.device_get(pending)
    means = {k: float(np.mean([h[k] for h in host])) for k in host[0]}
    for h in host:
      for k, v in h.items():
        epoch_sums[k] = epoch_sums.get(k, 0.0) + float(v)
    epoch_count += len(host)
    pending = []
    if not all(np.isfinite(v) for v in means.values()):
      raise TrainingDivergedError(
          f"non-finite loss by step {step} ({_fmt(means)}); last good checkpoint: "
          f"{ckpt.path(last_saved) if last_saved is not None else 'none'}")
    return means

  def save(step: int) -> None:
    nonlocal last_saved
    flush()
    if not bool(trainer.all_finite(state["params"])):
      raise TrainingDivergedError(
          f"non-finite parameters at step {step}; last good checkpoint: "
          f"{ckpt.path(last_saved) if last_saved is not None else 'none'}")
    ckpt.save(step, state)
    last_saved = step

  def on_sigterm(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills even a stuck save
    raise KeyboardInterrupt(f"signal {signum}")

  old_handler = signal.signal(signal.SIGTERM, on_sigterm) if _main_thread() else None
  step = start
  last = records[-1] if records else {}
  bar = tqdm.tqdm(total=setup.total_steps, initial=start, desc=os.path.basename(os.path.abspath(workdir)),
                  unit="step", dynamic_ncols=True, mininterval=1 if sys.stderr.isatty() else 30)
  try:
    while step < setup.total_steps:
      epoch, offset = divmod(step, setup.steps_per_epoch)
      end = min((epoch + 1) * setup.steps_per_epoch, setup.total_steps)
      batches = data_lib.train_batches(train_x, train_y, config.batch_size, config.seed, epoch, offset)
      for x, y in batches:
        if step >= end:
          break
        state, m = trainer.train_step(state, *trainer.shard(x, y))
        pending.append(m)
        step += 1
        bar.update(1)
        if step % config.log_every_steps == 0:
          means = flush()
          bar.set_postfix(loss=f"{means['loss']:.3f}", acc=f"{means['accuracy']:.3f}")
        if step % config.checkpoint_every_steps == 0 and step != end:  # epoch ends save below
          save(step)
      flush()
      train = {f"train_{k}": v / max(epoch_count, 1) for k, v in epoch_sums.items()}
      epoch_sums, epoch_count = {}, 0
      record = {"epoch": epoch + 1, "step": step, **train,
                "test_accuracy": trainer.accuracy(state, test_x, test_y)}
      if "validation" in dataset.splits:
        record["val_accuracy"] = trainer.accuracy(state, *dataset.splits["validation"])
      record.update(trainer.spectra(state, test_x))
      records.append(record)
      _write_jsonl(jsonl, records)  # before the checkpoint: a resume drops records past it
      save(step)  # every epoch end
      log(_fmt(record))
      last = record
  except KeyboardInterrupt:
    bar.close()
    try:
      save(step)
      ckpt.wait()
      log(f"interrupted at step {step}; saved {ckpt.path(step)}; rerun the same command to resume")
    except TrainingDivergedError as e:
      log(str(e))
    raise
  finally:
    bar.close()
    ckpt.close()
    if old_handler is not None:
      signal.signal(signal.SIGTERM, old_handler)
  if not last:  # resumed a finished run with no log: evaluate once
    last = {"step": step, "test_accuracy": trainer.accuracy(state, test_x, test_y), **trainer.spectra(state, test_x)}
  return last


def _main_thread() -> bool:
  import threading
  return threading.current_thread() is threading.main_thread()
