"""Which XLA ops hold a jitted call back: per-op times from a jax.profiler trace (used where a target is missed).

  python bench/op_profile.py [--resnet] [--autoattack]   # PGD-20 on the default CNN (random weights) at
                                                         # batch 256; the ResNet-18 step; AutoAttack on 500 images

`top_ops(fn)` traces a few calls of `fn` (compiled beforehand), reads the XSpace
with `jax.profiler.ProfileData`, and sums the events of the host plane's XLA
threads by op name (the HLO instruction names of the compiled program, e.g.
`convolution.3`, `fusion.12`), with each op's share of the traced op time. The
HLO text of an op says what it is; `describe` finds it in the compiled module.
"""

from __future__ import annotations

import collections
import glob
import os
import re
import sys
import tempfile
from typing import Callable

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import common  # pylint: disable=g-import-not-at-top


def top_ops(fn: Callable, calls: int = 2, top: int = 8) -> list[dict]:
  """[{op, seconds per call, share}] of the `top` ops with the most time in `calls` traced calls of fn."""
  common.block(fn())  # compile outside the trace
  with tempfile.TemporaryDirectory() as d:
    with jax.profiler.trace(d):
      for _ in range(calls):
        common.block(fn())
    path = glob.glob(os.path.join(d, "**", "*.xplane.pb"), recursive=True)[0]
    profile = jax.profiler.ProfileData.from_file(path)
  totals: dict[str, float] = collections.defaultdict(float)
  for plane in profile.planes:
    if not plane.name.startswith("/host:CPU"):
      continue
    for line in plane.lines:
      if "python" in line.name.lower():
        continue
      for event in line.events:
        if re.match(r"^[a-z][\w\-]*\.?\d*$", event.name) and not event.name.startswith(("Thunk", "Pjit", "pjit")):
          totals[event.name] += event.duration_ns / 1e9
  total = sum(totals.values()) or 1.0
  rows = [{"op": k, "seconds_per_call": v / calls, "share": v / total}
          for k, v in sorted(totals.items(), key=lambda kv: -kv[1])[:top]]
  return rows


def describe(hlo_text: str, op: str) -> str:
  """The HLO line that defines `op` in a compiled module's text (shapes, dim_labels, custom call targets)."""
  for line in hlo_text.splitlines():
    if re.search(rf"(^|\s)%?{re.escape(op)} = ", line):
      return re.sub(r"\s+", " ", line.strip())[:240]
  return ""


def short(hlo_line: str) -> str:
  """What an HLO line is, in a few words: result shape, opcode, dim_labels, the JAX op it came from."""
  m = re.match(r"%?\S+ = (\S+) (\w[\w\-]*)\(", hlo_line)
  if not m:
    return ""
  parts = [m.group(2), m.group(1).split("{")[0]]
  for pat in (r"dim_labels=(\S+?),", r"kind=(\w+)", r'op_name="[^"]*/([^"/]+)"'):
    found = re.search(pat, hlo_line)
    if found:
      parts.append(found.group(1))
  return " ".join(parts)


def pgd_profile(logits_fn, x, y, eps: float = 0.1, steps: int = 20) -> list[dict]:
  """The top ops of PGD-`steps` as the library compiles it (conv.jit), each with its HLO in a few words."""
  from lowrank_jax import attacks, conv  # pylint: disable=g-import-not-at-top
  pgd = conv.jit(lambda fn, x, y: attacks.pgd(fn, x, y, jax.random.PRNGKey(0), eps=eps, steps=steps))
  hlo = pgd.lower(logits_fn, x, y).compile().as_text()
  rows = top_ops(lambda: pgd(logits_fn, x, y))
  for row in rows:
    row["hlo"] = short(describe(hlo, row["op"]))
    print(f"PGD-{steps} profile: {row['op']:<26} {row['seconds_per_call']:.3f} s/call {row['share']:5.1%}  "
          f"{row['hlo']}", flush=True)
  return rows


def resnet_step_profile(batch: int = 128) -> list[dict]:
  """The top ops of the full-width ResNet-18 training step (vanilla, Adam) as the library compiles it."""
  from bench import training  # pylint: disable=g-import-not-at-top
  from configs import default  # pylint: disable=g-import-not-at-top
  from lowrank_jax.spec_runner import apply_overrides  # pylint: disable=g-import-not-at-top
  step = training._stepper(apply_overrides(default.get_config(), {"model": "resnet18", "method": "vanilla",
                                                                  "batch_size": batch}), 1)
  rows = top_ops(step)
  for row in rows:
    print(f"ResNet-18 step profile: {row['op']:<26} {row['seconds_per_call']:.3f} s/call {row['share']:5.1%}",
          flush=True)
  return rows


def autoattack_profile(logits_fn, x, y, eps: float = 0.1) -> list[dict]:
  """The top XLA ops of one AutoAttack (standard) call; host time between the attacks' calls is not in it."""
  from lowrank_jax.attacks import autoattack  # pylint: disable=g-import-not-at-top
  rows = top_ops(lambda: autoattack.autoattack(logits_fn, x, y, jax.random.PRNGKey(0), eps=eps).robust, calls=1)
  for row in rows:
    print(f"AutoAttack profile: {row['op']:<26} {row['seconds_per_call']:.3f} s/call {row['share']:5.1%}", flush=True)
  return rows


def main():
  from flax import nnx  # pylint: disable=g-import-not-at-top
  from lowrank_jax import models  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  m = models.create_model("cnn", 10, (28, 28, 1), (0.286,), (0.353,), rngs=nnx.Rngs(0))
  fm, params, stats = models.FunctionalModel.from_module(m)
  fn = jax.tree_util.Partial(lambda p, z: fm.apply(p, stats, z, train=False)[0], params)
  x, y = rng.uniform(0, 1, (256, 28, 28, 1)).astype(np.float32), rng.integers(0, 10, 256).astype(np.int32)
  pgd_profile(fn, x, y)
  if "--resnet" in sys.argv:
    resnet_step_profile()
  if "--autoattack" in sys.argv:
    from bench import attacks as attacks_bench  # pylint: disable=g-import-not-at-top
    from lowrank_jax import data  # pylint: disable=g-import-not-at-top
    model = attacks_bench.trained_cnn(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                   "runs", "vanilla"))
    tx, ty = data.load_dataset(model.config.dataset).splits["test"]
    autoattack_profile(model.logits, data.to_unit(tx[:500]), ty[:500].astype(np.int32))


if __name__ == "__main__":
  main()
