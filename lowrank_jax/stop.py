"""Ctrl-C (SIGINT) and SIGTERM as a request to stop, honoured at the next safe point: a flag, not an exception.

    with stop.requests():    # train.py and eval.py install it before anything else; training checks it each step
      ...
      stop.check()           # raises KeyboardInterrupt("SIGINT" | "SIGTERM") once a stop was asked

A handler that raises can land inside a garbage-collector callback (XLA's, during set-up), where Python prints
"Exception ignored" and drops it: the run went on. The handlers only set the flag; a second signal of the same
kind acts at once (SIGINT: KeyboardInterrupt, SIGTERM: the default kill). Light on purpose: the CLI installs it
before importing jax.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Iterator

_REQUESTED: list[str] = []  # the signal asked first ("SIGINT" | "SIGTERM"), if any
_DEPTH = [0]
_DEFAULTS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}


def _handler(signum, frame) -> None:
  del frame
  name = signal.Signals(signum).name
  signal.signal(signum, _DEFAULTS[signum])  # the second one acts at once
  if not _REQUESTED:
    _REQUESTED.append(name)
    # said at once (an evaluator may run for minutes before the next safe point); os.write: no buffered stream
    # is re-entered if the signal landed inside a write to stderr
    with contextlib.suppress(OSError):
      os.write(2, f"\n{name}: stopping at the next safe point (the next training step, or the end of the running "
                  f"evaluator: those finished are kept); {name} again stops at once\n".encode())


@contextlib.contextmanager
def requests() -> Iterator[None]:
  """SIGINT and SIGTERM set the stop flag while inside (main thread only; nested uses share the outer one)."""
  if threading.current_thread() is not threading.main_thread() or _DEPTH[0]:
    _DEPTH[0] += 1
    try:
      yield
    finally:
      _DEPTH[0] -= 1
    return
  _REQUESTED.clear()
  old = {s: signal.signal(s, _handler) for s in _DEFAULTS}
  _DEPTH[0] += 1
  try:
    yield
  finally:
    _DEPTH[0] -= 1
    for s, h in old.items():
      signal.signal(s, h)


def requested() -> str | None:
  """The signal that asked to stop, if any."""
  return _REQUESTED[0] if _REQUESTED else None


def check() -> None:
  """KeyboardInterrupt(signal name) once a stop was asked (the flag is then cleared)."""
  if _REQUESTED:
    name = _REQUESTED.pop()
    raise KeyboardInterrupt(name)
