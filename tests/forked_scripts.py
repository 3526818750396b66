"""Many short command lines of train.py / eval.py (argument checks, --help, config errors) in one interpreter.

  python tests/forked_scripts.py OUT.json < commands.json    # [[script, arg, ...], ...]

Imports what every command imports (jax, flax, the evaluators: about 1.5 s) once, then forks a child per command,
which runs the script as `python script args` would (`runpy`, as __main__) with its own stdout and stderr; a child
starts in milliseconds. Each child is a fresh process as far as the command line is concerned: the flags are
defined and parsed in it, and what it prints and its exit status are its own. OUT.json: one
{"returncode", "stdout", "stderr"} per command, in order.
"""

import importlib
import json
import os
import runpy
import sys
import tempfile
import traceback


def _child(argv: list[str], out: str, err: str) -> None:
  """In the forked child: stdout/stderr to files, the script as __main__, the exit status Python would give."""
  for fd, path in ((1, out), (2, err)):
    os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
  sys.argv = list(argv)
  code = 0
  try:
    runpy.run_path(argv[0], run_name="__main__")
  except SystemExit as e:
    if isinstance(e.code, str):
      print(e.code, file=sys.stderr)
    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
  except BaseException:  # pylint: disable=broad-except (as the interpreter would: a traceback, status 1)
    traceback.print_exc()
    code = 1
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)  # pylint: disable=protected-access (no atexit handlers of the parent's imports)


def run_all(commands: list[list[str]]) -> list[dict]:
  results = []
  with tempfile.TemporaryDirectory() as d:
    out, err = os.path.join(d, "out"), os.path.join(d, "err")
    for argv in commands:
      sys.stdout.flush()
      sys.stderr.flush()
      pid = os.fork()
      if pid == 0:
        _child(argv, out, err)
      _, status = os.waitpid(pid, 0)
      results.append({"returncode": os.waitstatus_to_exitcode(status), "stdout": open(out).read(),
                      "stderr": open(err).read()})
  return results


if __name__ == "__main__":
  todo = json.load(sys.stdin)
  # what `python script` would find first on its path: the script's folder (a checkout's lowrank_jax), not tests/
  sys.path[0] = os.path.dirname(os.path.abspath(todo[0][0])) if todo else sys.path[0]
  for module in ("lowrank_jax.cli", "lowrank_jax.default_config"):  # imported once, before the forks
    importlib.import_module(module)
  json.dump(run_all(todo), open(sys.argv[1], "w"))
