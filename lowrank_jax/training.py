"""The one training loop: cross-entropy + a method's hooks (`lowrank_jax.methods`); it knows no method.

    create_train_state(config, info, mean, std, num_train) -> (TrainSetup, state)
    loss_fn(setup, params, batch_stats, x, labels, step)   # CE + the method's penalty
    train_step(setup, state, images, labels)   # jitted: batch transform, gradient step, post-update
    Trainer(config, workdir, log)              # a run in a workdir: restore or init, train an epoch,
                                               # evaluate it, write its record, checkpoint
    train_and_evaluate(config, workdir)        # the loop over epochs

The state is a pytree of plain dicts of the same structure for every method:
{"step", "params": {"model", "lowrank"}, "batch_stats", "opt_state", "method"}
("lowrank": the method's trainable parameters, e.g. the LR layers' W, b; "method":
its non-trained state, e.g. SNIP's mask; both {} when it has none). Devices form a
(data, model) mesh from config.mesh: batches are sharded over "data"; the state is
replicated except the 2-D leaves of the method's parameters and their optimizer
moments (the LR layers' W, or U and V), sharded by rows over "model" when
config.mesh.model > 1 (FSDP-style: a 16,384-d W does not sit whole on every
device). The same code runs on one CPU or many accelerators and hosts (jit's
sharding propagation inserts the collectives).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import tqdm
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from lowrank_jax import augment as augment_lib
from lowrank_jax import batching, distributed, models, optim, runfiles, spectra, stop
from lowrank_jax import checkpoint as ckpt_lib
from lowrank_jax import config as config_lib
from lowrank_jax import conv
from lowrank_jax import data as data_lib
from lowrank_jax import methods as methods_lib
from lowrank_jax import metrics as metrics_lib
from lowrank_jax import network as network_lib

State = dict[str, Any]


class TrainingDivergedError(RuntimeError):
  """The loss or the parameters became NaN/inf; the last good checkpoint is kept."""


@dataclasses.dataclass(frozen=True)
class TrainSetup:
  """Everything static about a run: the network's functions, optimizers, method, LR layers, mesh."""

  config: ml_collections.ConfigDict
  network: models.FunctionalModel
  optimizers: optim.Optimizers
  method: methods_lib.Method
  ranks: dict[str, int]  # LR layers in the loss (empty without the lowrank method)
  monitored: tuple[str, ...]  # layers whose effective rank is logged
  steps_per_epoch: int
  total_steps: int
  mesh: jax.sharding.Mesh
  augment: str = "none"  # augment.resolve(config.dataset.augment, config.dataset.name)

  @property
  def data_sharding(self) -> NamedSharding:
    return NamedSharding(self.mesh, PartitionSpec("data"))

  @property
  def replicated(self) -> NamedSharding:
    return NamedSharding(self.mesh, PartitionSpec())


def create_train_state(config: ml_collections.ConfigDict, info: data_lib.DatasetInfo,
                       mean, std, num_train: int, init_batch: tuple[np.ndarray, np.ndarray] | None = None,
                       model: nnx.Module | None = None) -> tuple[TrainSetup, State]:
  """Validates the config, builds the network and method, and returns (setup, state).

  `model`: a user's NNX module (see models.FunctionalModel.from_module) instead of
  config.model. A method with state made from data (SNIP's mask) makes it from
  `init_batch` (uint8 images, labels); without one, a checkpoint's will be restored.
  """
  config_lib.validate_config(config)
  return _create_train_state(config, info, mean, std, num_train, init_batch, model)


def _create_train_state(config, info, mean, std, num_train, init_batch, model) -> tuple[TrainSetup, State]:
  mesh = network_lib.make_mesh(config)
  if config.batch_size % mesh.shape["data"]:
    raise config_lib.ConfigError(f"config.batch_size={config.batch_size} must be divisible by the mesh's "
                                 f"{mesh.shape['data']} data shards")
  built = network_lib.build_model(config, info, mean, std, model=model)
  fm, stats = built.network, built.batch_stats
  ranks = built.lowrank_layers if "lowrank" in methods_lib.method_names(config.method) else {}
  steps_per_epoch = num_train // config.batch_size
  if steps_per_epoch < 1:
    raise config_lib.ConfigError(f"config.batch_size={config.batch_size} exceeds the {num_train} training examples")
  total = config.num_train_steps if config.num_train_steps > 0 else config.num_epochs * steps_per_epoch
  optimizers = optim.make_optimizers(config, total)
  method = methods_lib.make_method(config, ranks, built.dims, total, optimizers)
  loss_of_params = None
  if init_batch is not None:
    x, y = data_lib.to_unit(jnp.asarray(init_batch[0])), jnp.asarray(init_batch[1])
    loss_of_params = lambda p: optax.softmax_cross_entropy_with_integer_labels(
        fm.apply(p, stats, x, train=True)[0], y).mean()
  method_state, params = method.init_state(loss_of_params, built.params)
  all_params = {"model": params, "lowrank": method.init_params(jax.random.fold_in(jax.random.PRNGKey(config.seed), 1))}
  state = {"step": jnp.zeros((), jnp.int32), "params": all_params, "batch_stats": stats,
           "opt_state": optimizers.init(all_params), "method": method_state}
  setup = TrainSetup(config, fm, optimizers, method, ranks, tuple(built.lowrank_layers), steps_per_epoch, total, mesh,
                     augment_lib.resolve(config.dataset.augment, config.dataset.name))
  return setup, jax.device_put(state, state_shardings(state, mesh))


def state_shardings(state: State, mesh: jax.sharding.Mesh):
  """Replicated, except 2-D leaves under a "lowrank" key (the method's parameters, e.g. W or U, V, and their
  optimizer moments): rows over "model" when they divide evenly."""
  model = mesh.shape["model"]

  def rule(path, leaf):
    under = any(getattr(k, "key", None) == "lowrank" for k in path)
    if model > 1 and under and np.ndim(leaf) == 2 and np.shape(leaf)[0] % model == 0:
      return NamedSharding(mesh, PartitionSpec("model", None))
    return NamedSharding(mesh, PartitionSpec())

  return jax.tree_util.tree_map_with_path(rule, state)


def loss_fn(setup: TrainSetup, params, batch_stats, x, labels, step, *, train: bool):
  """Cross-entropy + the method's penalty (LR: ramp(step) * sum_l lambda_c L_c + lambda_n L_n)."""
  logits, feats, new_stats = setup.network.apply(params["model"], batch_stats, x, train=train)
  ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
  penalty, metrics = setup.method.penalty(params["lowrank"], feats, step)
  loss = ce + penalty
  metrics.update(loss=loss, cross_entropy=ce, accuracy=jnp.mean(jnp.argmax(logits, -1) == labels))
  return loss, (metrics, new_stats)


def train_step(setup: TrainSetup, state: State, images: jax.Array, labels: jax.Array,
               indices: jax.Array | None = None) -> tuple[State, dict]:
  """One step: augmentation (per example, by its index in the training split), the method's batch transform, a
  gradient step on all parameters, its post-update."""
  step, method = state["step"], setup.method
  key = jax.random.fold_in(jax.random.PRNGKey(setup.config.seed + 1), step)
  params, stats = state["params"], state["batch_stats"]
  if setup.augment != "none":
    indices = jnp.arange(images.shape[0]) if indices is None else indices
    keys = augment_lib.example_keys(setup.config.seed + 2, step // setup.steps_per_epoch, indices)
    images = augment_lib.augment(setup.augment, images, keys)
  logits_fn = lambda z: setup.network.apply(params["model"], stats, z, train=False)[0]
  x = method.transform_batch(logits_fn, data_lib.to_unit(images), labels, jax.random.fold_in(key, 0))
  grads, (metrics, new_stats) = jax.grad(
      functools.partial(loss_fn, setup, train=True, step=step), has_aux=True)(params, stats, x, labels)
  grads = method.transform_grads(grads, state["method"])
  updates, opt_state = setup.optimizers.update(grads, state["opt_state"], params, step)
  params = optax.apply_updates(params, updates)
  params, opt_state, extra = method.post_update(params, opt_state, step + 1, jax.random.fold_in(key, 1),
                                                state["method"])
  metrics.update(extra)
  return {**state, "step": step + 1, "params": params, "batch_stats": new_stats, "opt_state": opt_state}, metrics


def eval_step(setup: TrainSetup, state: State, images, labels, mask) -> dict:
  """Sums of correct predictions and of examples (padding masked out)."""
  logits, _, _ = setup.network.apply(state["params"]["model"], state["batch_stats"], data_lib.to_unit(images),
                                     train=False)
  correct = (jnp.argmax(logits, -1) == labels) & mask
  return {"correct": correct.sum(), "count": mask.sum()}


def features_step(setup: TrainSetup, state: State, images) -> dict[str, jax.Array]:
  """The monitored layers' activations of a batch of uint8 images (eval mode)."""
  _, feats, _ = setup.network.apply(state["params"]["model"], state["batch_stats"], data_lib.to_unit(images),
                                    train=False)
  return {k: feats[k] for k in setup.monitored}


def all_finite(tree) -> jax.Array:
  """Whether every leaf of the pytree is finite."""
  return jnp.all(jnp.asarray([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


class Steps:
  """The jitted functions of one setup (compiled once, reused every call), and batch sharding."""

  def __init__(self, setup: TrainSetup, state: State):
    self.setup = setup
    self.train = conv.jit(functools.partial(train_step, setup), donate_argnums=0,
                          out_shardings=(state_shardings(state, setup.mesh), setup.replicated))
    self.eval = conv.jit(functools.partial(eval_step, setup))
    self.features = conv.jit(functools.partial(features_step, setup))
    self.all_finite = conv.jit(all_finite)

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
    """Accuracy on uint8 images, in fixed-size batches over the devices (padding masked)."""
    bs = self.setup.config.test_batch_size
    bs -= bs % jax.device_count()
    correct = count = 0
    for chunk, padded in batching.chunks(len(images), bs, fixed=True):  # one compiled shape; padding masked
      r = self.eval(state, *self.shard(images[padded], labels[padded], np.arange(bs) < len(chunk)))
      correct, count = correct + r["correct"], count + r["count"]
    return float(correct) / max(int(count), 1)

  def spectra(self, state: State, images: np.ndarray) -> dict[str, float]:
    """Effective rank of each monitored representation, and the method's own epoch metrics."""
    c = self.setup.config
    n = min(len(images), c.rank_batch_size)
    n -= n % jax.device_count()
    feats = distributed.gather(self.features(state, *self.shard(images[:n])))
    out = {f"{k}/effective_rank": spectra.effective_rank(v, c.rank_energy) for k, v in feats.items()}
    out.update(self.setup.method.epoch_metrics(distributed.gather(state["params"]["lowrank"]), c.rank_energy))
    return out


def _fmt(record: dict) -> str:
  return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items())


class Trainer:
  """A training run in a workdir, as the named steps of `train_and_evaluate`: set up (restore or init),
  train an epoch, evaluate it, write its record, save a checkpoint. A context manager (closes its files)."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, log: Callable[[str], None],
               model: nnx.Module | None = None):
    """Restores the newest checkpoint in workdir, or initialises; the config must be validated already."""
    self.config, self.workdir, self.log = config, workdir, log
    self.ckpt = ckpt_lib.Checkpointer(runfiles.path(workdir, runfiles.CHECKPOINTS), config.keep_checkpoints)
    self.tensorboard = None
    try:
      self._start(config, workdir, log, model)
    except BaseException:
      self.close()
      raise

  def _start(self, config, workdir, log, model) -> None:
    if distributed.is_main():  # files of a killed run's atomic writes (process 0 holds the lock and writes)
      runfiles.remove_stale_temporaries(workdir)
    self.last_saved = self.ckpt.latest_step()
    saved_config = runfiles.path(workdir, runfiles.CONFIG)
    if self.last_saved is not None and os.path.exists(saved_config):  # before any compute
      saved = runfiles.read_json(saved_config)
      change = config_lib.check_resume(saved, config, workdir)
      history = tuple(saved.get("schedule_history", ()))
      config.schedule_history = history + ((f"{change} at step {self.last_saved}",) if change else ())
      if change:
        log(f"the learning-rate schedule changes from step {self.last_saved} on: {change} "
            "(config.extend_schedule; recorded in config.json's schedule_history)")
    self.dataset = data_lib.load_dataset(config.dataset)
    train_x, train_y = self.dataset.splits["train"]
    first = next(data_lib.train_batches(train_x, train_y, config.batch_size, config.seed, 0))
    self.setup, self.state = _create_train_state(config, self.dataset.info, self.dataset.mean, self.dataset.std,
                                                 len(train_x), first, model)
    self.steps = Steps(self.setup, self.state)
    self.metrics = metrics_lib.MetricAccumulator()
    if self.last_saved is not None:
      self.state = self.ckpt.restore(self.last_saved, self.state)
      partial = runfiles.read_partial_epoch(workdir, self.last_saved)
      if partial is not None:
        self.metrics.load(partial)
      elif self.last_saved % self.setup.steps_per_epoch:
        log(f"no partial-epoch metrics saved with step {self.last_saved}: this epoch's train_* means cover only "
            f"the steps after it")
      log(f"resumed from {self.ckpt.path(self.last_saved)}")
    if distributed.is_main():  # only once the restore succeeded: a refused rerun leaves the run's files as they were
      meta = {"mean": self.dataset.mean, "std": self.dataset.std, "num_train": len(train_x),
              "dataset": {"source": self.dataset.source, "digest": self.dataset.digest}}
      if model is not None:
        meta["user_model"] = type(model).__name__
      runfiles.save_run(workdir, config, meta)
    self.jsonl = runfiles.path(workdir, runfiles.METRICS)
    self.records = [r for r in runfiles.read_jsonl(self.jsonl) if r["step"] <= self.step]
    if distributed.is_main():
      runfiles.write_jsonl(self.jsonl, self.records)
    self.tensorboard = runfiles.TensorBoard(workdir, enabled=distributed.is_main())

  def __enter__(self) -> "Trainer":
    return self

  def __exit__(self, *exc) -> None:
    self.close()

  @property
  def step(self) -> int:
    return int(self.state["step"])

  @property
  def done(self) -> bool:
    return self.step >= self.setup.total_steps

  @property
  def epoch(self) -> int:
    """The epoch the next step belongs to."""
    return self.step // self.setup.steps_per_epoch

  def describe(self) -> str:
    """The run in one line: devices, mesh, steps, method, LR layers."""
    s = self.setup
    return (f"{jax.device_count()} {jax.default_backend()} device(s) over {jax.process_count()} process(es); "
            f"mesh {dict(s.mesh.shape)}; {s.total_steps} steps of batch {self.config.batch_size}; "
            f"method {s.method.name}; LR layers {s.ranks or 'none'}")

  def progress_bar(self) -> tqdm.tqdm:
    """A tqdm bar over the run's steps (process 0 only)."""
    return tqdm.tqdm(total=self.setup.total_steps, initial=self.step, desc=runfiles.run_name(self.workdir),
                     unit="step", dynamic_ncols=True, mininterval=1 if sys.stderr.isatty() else 30,
                     disable=not distributed.is_main())

  def _diverged(self, what: str) -> TrainingDivergedError:
    last = self.ckpt.path(self.last_saved) if self.last_saved is not None else "none"
    return TrainingDivergedError(f"{what}; last good checkpoint: {last}")

  def flush(self) -> dict:
    """The epoch's metrics so far; a non-finite loss raises TrainingDivergedError."""
    try:
      return self.metrics.flush()
    except FloatingPointError as e:
      raise self._diverged(f"non-finite loss by step {self.step} ({e})") from None

  def save(self) -> None:
    """A checkpoint of the current step (with the epoch's metrics so far); refuses non-finite parameters."""
    self.flush()
    if not bool(self.steps.all_finite(self.state["params"])):
      raise self._diverged(f"non-finite parameters at step {self.step}")
    if distributed.is_main():  # the epoch so far, so that a resume logs the whole epoch's means
      runfiles.write_partial_epoch(self.workdir, self.step, self.metrics.to_json())
    self.ckpt.save(self.step, self.state)
    self.last_saved = self.step
    if distributed.is_main():
      runfiles.prune_partial_epochs(self.workdir, keep=self.ckpt.steps())

  def save_interrupted(self) -> None:
    """On KeyboardInterrupt/SIGTERM: saves where the run stopped (unless it diverged) and says how to resume."""
    try:
      self.save()
      self.ckpt.wait()
      self.log(f"interrupted at step {self.step}; saved {self.ckpt.path(self.step)}; rerun the same command to "
               f"resume")
    except TrainingDivergedError as e:
      self.log(str(e))

  def train_epoch(self, epoch: int, bar: tqdm.tqdm) -> None:
    """Steps from the current one to the end of `epoch` (resuming mid-epoch where it stopped)."""
    c, s = self.config, self.setup
    end = min((epoch + 1) * s.steps_per_epoch, s.total_steps)
    train_x, train_y = self.dataset.splits["train"]
    offset = self.step - epoch * s.steps_per_epoch
    for idx in data_lib.train_batch_indices(len(train_x), c.batch_size, c.seed, epoch, offset):
      stop.check()
      if self.step >= end:
        break
      batch = self.steps.shard(train_x[idx], train_y[idx], idx.astype(np.int32))  # indices: per-example augmentation
      self.state, m = self.steps.train(self.state, *batch)
      self.metrics.add(m)
      step = self.step
      bar.update(1)
      if step % c.log_every_steps == 0:
        means = self.flush()
        bar.set_postfix(loss=f"{means['loss']:.3f}", acc=f"{means['accuracy']:.3f}")
        self.tensorboard.scalars(step, means, "step/")
      if step % c.checkpoint_every_steps == 0 and step != end:  # epoch ends save in the loop
        self.save()
    self.flush()
    stop.check()

  def evaluate_epoch(self, epoch: int) -> dict:
    """The epoch's record: train means, test (and validation) accuracy, effective ranks, the method's metrics."""
    train = {f"train_{k}": v for k, v in self.metrics.epoch_means().items()}
    test_x, test_y = self.dataset.splits["test"]
    record = {"epoch": epoch + 1, "step": self.step, **train,
              "test_accuracy": self.steps.accuracy(self.state, test_x, test_y)}
    if "validation" in self.dataset.splits:
      record["val_accuracy"] = self.steps.accuracy(self.state, *self.dataset.splits["validation"])
    record.update(self.steps.spectra(self.state, test_x))
    return record

  def write_record(self, record: dict) -> None:
    """Appends the record to metrics.jsonl (before the checkpoint: a resume drops records past it) and
    TensorBoard, and logs it."""
    self.records.append(record)
    self.tensorboard.scalars(record["step"], record, "epoch/")
    self.tensorboard.flush()
    if distributed.is_main():
      runfiles.write_jsonl(self.jsonl, self.records)
    self.log(_fmt(record))

  def last_record(self) -> dict:
    """The last epoch's record (a finished run resumed with no log: evaluated now)."""
    if self.records:
      return self.records[-1]
    return {"step": self.step, "test_accuracy": self.steps.accuracy(self.state, *self.dataset.splits["test"]),
            **self.steps.spectra(self.state, self.dataset.splits["test"][0])}

  def close(self) -> None:
    """Closes TensorBoard and waits for the last checkpoint."""
    if self.tensorboard is not None:
      self.tensorboard.close()
    self.ckpt.close()


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       log: Callable[[str], None] | None = None, model: nnx.Module | None = None,
                       until_epoch: int | None = None) -> dict:
  """Trains (resuming from the newest checkpoint in workdir) and returns the last epoch's record.

  `until_epoch`: stop (saved) after that epoch, the schedule still that of config.num_epochs: a learning curve
  evaluates the run there and calls again with a later epoch.

  `model`: a user's NNX module to train instead of config.model (it sows the layers
  named in config.lowrank.layers). Writes workdir/config.json, model.json,
  metrics.jsonl (one record per epoch), TensorBoard events and orbax checkpoints
  every config.checkpoint_every_steps steps, at every epoch end, on SIGINT/SIGTERM
  and at the end. Holds WORKDIR/.train.lock while it runs (a second writer is refused).

  Raises (each one line): runfiles.WorkdirError (not writable, in use), config.ConfigError
  (a bad field, or a config that would continue the run in workdir as another experiment),
  checkpoint.CheckpointError (corrupt, incompatible, or a failed save), TrainingDivergedError.
  """
  config_lib.validate_config(config)
  log = log or (lambda s: tqdm.tqdm.write(s, file=sys.stdout))
  log = log if distributed.is_main() else (lambda s: None)
  with runfiles.locked(workdir, "train", enabled=distributed.is_main()), \
       stop.requests(), Trainer(config, workdir, log, model=model) as trainer:  # a stop asked in set-up: saved
    log(trainer.describe())
    bar = trainer.progress_bar()
    try:
      stop.check()  # Ctrl-C during set-up: stop before the first step
      while not trainer.done and (until_epoch is None or trainer.epoch < until_epoch):
        epoch = trainer.epoch
        trainer.train_epoch(epoch, bar)
        record = trainer.evaluate_epoch(epoch)
        trainer.write_record(record)
        trainer.save()
    except KeyboardInterrupt:
      bar.close()
      trainer.save_interrupted()
      raise
    finally:
      bar.close()
    return trainer.last_record()
