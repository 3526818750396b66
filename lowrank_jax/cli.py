"""Command lines: `lowrank-train` / `python train.py` and `lowrank-eval` / `python eval.py`.

  lowrank-train --workdir runs/lr [--config my_config.py] [--config.method=vanilla] [--config.num_epochs=10]
  lowrank-eval --workdir runs/lr [--transfer_from runs/vanilla] [--reference runs/third]

--config defaults to the package's default config (lowrank_jax/default_config.py).
Multi-process runs: --coordinator_address HOST:PORT --num_processes N --process_id I (or the
environment variables JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID; on TPU pods
and SLURM/Open MPI clusters jax.distributed finds them itself with --distributed).
"""

from __future__ import annotations

import os
import re
import sys
import traceback

from absl import app, flags, logging
from ml_collections import config_flags

from lowrank_jax import stop

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "default_config.py")
FLAGS = flags.FLAGS
TRAIN_DOC = """usage: lowrank-train --workdir DIR [--config FILE] [--config.FIELD=VALUE ...]

Trains a model with (or without) the LR regularizer. Rerunning the same command resumes from the
newest checkpoint in --workdir; a resumed run may change only how long it trains, logs and evaluates."""
EVAL_DOC = """usage: lowrank-eval --workdir DIR [--transfer_from DIR] [--reference DIR] [--data_dir DIR]
                    [--config.eval.FIELD=VALUE ...]

Evaluates a trained run: attacks, AutoAttack, the paper's measures, the gradient-masking audit.
Writes WORKDIR/eval/eval.json, report.md and plots; only --config's `eval` fields are used."""


def _define_common() -> None:
  flags.DEFINE_string("workdir", None, "Where checkpoints, config.json, metrics.jsonl and logs go.", required=True)
  config_flags.DEFINE_config_file("config", DEFAULT_CONFIG, "Config file with get_config().", lock_config=True)
  flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize() (auto-detects TPU pods, SLURM, MPI).")
  flags.DEFINE_string("coordinator_address", os.environ.get("JAX_COORDINATOR_ADDRESS"),
                      "host:port of process 0 for multi-process runs.")
  flags.DEFINE_integer("num_processes", int(os.environ.get("JAX_NUM_PROCESSES", "0")) or None,
                       "Number of processes of a multi-process run.")
  flags.DEFINE_integer("process_id", int(os.environ["JAX_PROCESS_ID"]) if "JAX_PROCESS_ID" in os.environ else None,
                       "This process's index in a multi-process run.")


def _user_errors():
  from lowrank_jax import checkpoint, config, data, runfiles, training  # pylint: disable=g-import-not-at-top
  return (config.ConfigError, data.DataError, checkpoint.CheckpointError, training.TrainingDivergedError,
          runfiles.WorkdirError, OSError)


def _fail(message: str) -> None:
  """`error: message` as the one line on stderr; exit status 1."""
  sys.stdout.flush()
  sys.exit(f"error: {message}")


def _one_line(e: BaseException) -> str:
  """An exception as one line; an OSError as 'FILE: reason' (disk full, read-only, missing)."""
  if isinstance(e, OSError) and e.strerror:
    return f"{e.filename}: {e.strerror}" if e.filename else e.strerror
  text = str(e).strip()
  return text.splitlines()[0] if text else type(e).__name__


def _flag_error(e: BaseException, argv: list[str]) -> str:
  """What went wrong parsing the command line, in one line: the config file or the field named."""
  chain, c = [], e
  while c is not None and c not in chain:
    chain.append(c)
    c = c.__cause__ or c.__context__
  for c in chain:
    if isinstance(c, SyntaxError):
      return f"{c.filename}:{c.lineno}: syntax error in the config file: {c.msg}"
  text = "\n".join(str(c) for c in chain)
  config_file = next((a.split("=", 1)[1] if "=" in a else argv[i + 1] for i, a in enumerate(argv)
                      if a.split("=", 1)[0] in ("--config", "-config") and ("=" in a or i + 1 < len(argv))), None)
  config_file = config_file and config_file.split(":")[0]
  if config_file and not os.path.exists(config_file):
    return f"--config: config file {config_file} not found"
  for c in chain:  # raised inside the config file: where
    tb = traceback.extract_tb(c.__traceback__)
    inside = [f for f in tb if config_file and os.path.abspath(f.filename) == os.path.abspath(config_file)]
    if inside:
      return f"{inside[-1].filename}:{inside[-1].lineno}: the config file raised {type(c).__name__}: {c}"
  flag_of = lambda name: next((a.split("=")[0] for a in argv if a.startswith("--config.") and
                               name in a.split("=")[0].split(".")), "--config")
  # imported here, not at the top: this module stays light (jax loads with the config file), so that train_main
  # handles Ctrl-C from its first moment
  from lowrank_jax import default_config  # pylint: disable=g-import-not-at-top
  renamed = next((a.split("=")[0] for a in argv if a.split("=")[0].removeprefix("--config.") in
                  default_config.RENAMED), None)
  if renamed:
    new = default_config.new_names(renamed.removeprefix("--config."))
    return f"{renamed}: the field was renamed; use " + " and ".join(f"--config.{n}" for n in new)
  suggestion = re.search(r'Did you mean "(\w+)" instead of "(\w+)"', text)
  if suggestion:
    right, wrong = suggestion.groups()
    return f"{flag_of(wrong)}: the config has no field {wrong!r}; did you mean {right!r}?"
  missing = next((c for c in chain if isinstance(c, (KeyError, AttributeError))), None)
  name = re.search(r"'(\w+)'", str(missing)) if missing is not None else None
  if name and any(a.startswith("--config.") for a in argv):
    return f"{flag_of(name.group(1))}: the config has no field {name.group(1)!r}"
  lines = [l.strip() for l in str(e).strip().splitlines() if l.strip()]
  return lines[0] if lines else type(e).__name__


def _parse_flags(doc: str):
  """absl's parser with `--help` (the flags, one line each, exit 0) and every parse error in one line."""

  def parse(argv: list[str]) -> list[str]:
    if any(a in ("-h", "--help", "-help", "--helpshort", "-?") for a in argv[1:]):
      print(_help(doc))
      sys.exit(0)
    try:
      rest = FLAGS(argv)
      FLAGS.config.keys()  # an unloadable config file raises here, not at its first use
      return rest
    except Exception as e:  # pylint: disable=broad-except (absl, ml_collections and the config file raise anything)
      sys.exit(f"error: {_flag_error(e, argv)}")

  return parse


def _help(doc: str) -> str:
  lines = [doc.strip(), "", "flags:"]
  for flag in sorted(FLAGS.get_flags_for_module(__name__), key=lambda f: (f.name != "workdir", f.name != "config")):
    default = " (required)" if flag.name == "workdir" else (
        "" if flag.default in (None, False) or flag.name == "config" else f" (default: {flag.default})")
    lines.append(f"  --{flag.name:<22}{flag.help.splitlines()[0]}{default}")
    if flag.name == "config":
      lines.append(f"  --{'config.FIELD=VALUE':<22}Overrides one config field, e.g. --config.method=vanilla "
                   "--config.lowrank.rank=5")
  return "\n".join(lines)


def _train(argv) -> None:
  del argv
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  from lowrank_jax import distributed, training  # pylint: disable=g-import-not-at-top
  try:
    distributed.initialize(FLAGS.distributed, FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
    training.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  except _user_errors() as e:
    _fail(_one_line(e))
  except KeyboardInterrupt:
    sys.exit(130)


def _factory(spec: str):
  """The function named by --model MODULE:FACTORY (the current folder importable); one line when it is not."""
  import importlib  # pylint: disable=g-import-not-at-top
  from lowrank_jax import config  # pylint: disable=g-import-not-at-top
  module, _, name = spec.partition(":")
  sys.path.insert(0, os.getcwd())
  try:
    fn = getattr(importlib.import_module(module), name) if name else None
  except (ImportError, AttributeError) as e:
    raise config.ConfigError(f"--model {spec}: {type(e).__name__}: {e}") from None
  if not callable(fn):
    raise config.ConfigError(f"--model {spec}: expected MODULE:FACTORY, a function returning a fresh NNX module")
  return fn


def _eval(argv) -> None:
  del argv
  logging.set_verbosity(logging.WARNING)
  from lowrank_jax import distributed, evaluation, summary  # pylint: disable=g-import-not-at-top
  try:
    distributed.initialize(FLAGS.distributed, FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
    results = evaluation.evaluate_workdir(FLAGS.workdir, FLAGS.config.eval, FLAGS.transfer_from, FLAGS.reference,
                                          model_factory=_factory(FLAGS.model) if FLAGS.model else None,
                                          data_dir=FLAGS.data_dir)
  except _user_errors() as e:
    _fail(_one_line(e))
  except KeyboardInterrupt:
    sys.exit(130)
  if distributed.is_main():
    print(summary.eval_line(results))
    print(f"report: {FLAGS.workdir}/eval/report.md")


def _define(define) -> None:
  """Defines the flags: ml_collections loads --config and applies its overrides right here."""
  try:
    define()
  except Exception as e:  # pylint: disable=broad-except (the config file may raise anything)
    sys.exit(f"error: {_flag_error(e, sys.argv)}")


def train_main() -> None:
  """Entry point of `lowrank-train`: Ctrl-C and SIGTERM ask it to stop and save from the first moment."""
  with stop.requests():
    _define(_define_common)
    app.run(_train, flags_parser=_parse_flags(TRAIN_DOC))


def eval_main() -> None:
  """Entry point of `lowrank-eval`."""

  def define():
    _define_common()
    flags.DEFINE_string("transfer_from", None, "Another workdir: source of transfer (black-box) attacks.")
    flags.DEFINE_string("reference", None, "A third workdir: source of perturbations common to every model evaluated.")
    flags.DEFINE_string("model", None, "MODULE:FACTORY for a run of your own NNX module: FACTORY() returns a fresh "
                        "instance (MODULE importable from the current folder).")
    flags.DEFINE_string("data_dir", None, "Where the run's dataset is on this machine, if not at the run's "
                        "config.dataset.data_dir (e.g. a model of models/ on your CIFAR-10); eval.json records the "
                        "digest read, and the one trained on when they differ.")

  with stop.requests():
    _define(define)
    app.run(_eval, flags_parser=_parse_flags(EVAL_DOC))
