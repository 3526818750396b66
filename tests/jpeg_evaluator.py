"""An evaluator written the way a user adds one (tests/evaluation_test.py registers it with one line): clean accuracy
after JPEG-like quantisation, each 8x8 block's DCT coefficients rounded to multiples of a step (the DC coefficient
by `dc_step`, the others by `ac_step`), for the report's own section."""

from __future__ import annotations

import numpy as np

from lowrank_jax import markdown
from lowrank_jax.evaluators.base import Inputs, Report, Result, check, section


def config():
  return section(enabled=False, dc_step=0.05, ac_step=0.2)


def validate(ec) -> None:
  check(ec.jpeg.dc_step > 0 and ec.jpeg.ac_step > 0,
        f"config.eval.jpeg: dc_step={ec.jpeg.dc_step} and ac_step={ec.jpeg.ac_step} must be > 0")


def dct_matrix(n: int = 8) -> np.ndarray:
  """The orthonormal DCT-II matrix (rows: frequencies)."""
  k, i = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
  c = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * i + 1) * k / (2 * n))
  c[0] /= np.sqrt(2.0)
  return c


def quantise(x: np.ndarray, dc_step: float, ac_step: float) -> np.ndarray:
  """x (n, H, W, C) in [0, 1], padded by edge values to multiples of 8, block DCT, coefficients rounded, inverse."""
  n, h, w, ch = x.shape
  ph, pw = -h % 8, -w % 8
  xp = np.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge").astype(np.float64)
  blocks = xp.reshape(n, (h + ph) // 8, 8, (w + pw) // 8, 8, ch)
  d = dct_matrix()
  coef = np.einsum("ui,vj,nbiBjc->nbuBvc", d, d, blocks)
  steps = np.full((8, 8), ac_step)
  steps[0, 0] = dc_step
  steps = steps[None, None, :, None, :, None]
  coef = np.round(coef / steps) * steps
  out = np.einsum("ui,vj,nbuBvc->nbiBjc", d, d, coef).reshape(xp.shape)[:, :h, :w]
  return np.clip(out, 0, 1).astype(np.float32)


def evaluate(inputs: Inputs, needed: dict) -> Result:
  del needed
  c = inputs.ec.jpeg
  correct = inputs.correct(quantise(inputs.x, float(c.dc_step), float(c.ac_step)))
  return Result({"dc_step": float(c.dc_step), "ac_step": float(c.ac_step), "accuracy": float(correct.mean())})


def report(rep: Report) -> list[str]:
  j = rep.results["jpeg"]
  return ["## JPEG-like quantisation", ""] + markdown.table(
      ["DC step", "AC step", "accuracy"], [[f"{j['dc_step']:g}", f"{j['ac_step']:g}", f"{j['accuracy']:.4f}"]]) + [""]
