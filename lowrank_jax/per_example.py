"""Per-example results kept in eval.json, and the statistics that read them.

    pack(correct) -> str / unpack(text, n) -> bool (n,)      # compact: packed bits as hex
    to_json(clean, attacked) / from_json(d) -> PerExample     # eval.json's "per_example"
    PerExample.worst(eps, examples=None)                     # correct under every attack at eps or below
    mcnemar(a, b) -> dict                                   # paired: two models on the same examples
    stratified_exact(a, b) -> dict                          # the same over seeds, each example counted once
    paired_t(a, b) -> dict | None                           # seed-level paired t-test, with its degrees of freedom
    holm(ps) -> list[float]                                 # Holm-adjusted p-values of a family of tests
    paired_bootstrap(a, b, seed=0) -> dict                  # the accuracy gap a - b with a 95% interval
    paired_ratio_bootstrap(a, b, seed=0) -> dict            # mean(a) / mean(b) (e.g. rho_adv) with a 95% interval
    paired_slope_ratio_bootstrap((ua, va), (ub, vb)) -> dict  # two noise-stability slopes' ratio, 95% interval

The worst case is monotone in eps: an adversarial example found within a smaller
budget lies within every larger one, so it counts there too.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable

import numpy as np


def pack(correct: np.ndarray) -> str:
  """A bool vector as hex of its packed bits (8 examples a byte)."""
  return np.packbits(np.asarray(correct, bool)).tobytes().hex()


def unpack(text: str, n: int) -> np.ndarray:
  """The inverse of `pack` for a vector of length n."""
  return np.unpackbits(np.frombuffer(bytes.fromhex(text), np.uint8), count=n).astype(bool)


EPS_TOLERANCE = 1e-6  # eval.json stores eps with 6 significant digits (8/255 as 0.031373): compare within this


@dataclasses.dataclass(frozen=True)
class PerExample:
  """Clean correctness of n examples and, per (eps, attack), correctness on the first k of them."""

  clean: np.ndarray
  attacks: tuple[tuple[float, str, np.ndarray], ...]

  @property
  def n(self) -> int:
    return len(self.clean)

  def names(self, eps: float | None = None) -> list[str]:
    """The attacks' names, in the order they ran (at eps only, if given)."""
    return list(dict.fromkeys(a for e, a, _ in self.attacks if eps is None or abs(e - eps) < EPS_TOLERANCE))

  def worst(self, eps: float, examples: int | None = None, attacks: Iterable[str] | None = None) -> np.ndarray:
    """Correct under every attack run at eps or at any smaller eps (an attack on the first k examples leaves
    the rest as they were); the first `examples` only if given; `attacks`: only those names."""
    keep = None if attacks is None else set(attacks)
    out = self.clean.copy()
    for e, name, correct in self.attacks:
      if e <= eps + EPS_TOLERANCE and (keep is None or name in keep):
        out[:len(correct)] &= correct
    return out[:examples]

  def attack(self, name: str, eps: float) -> np.ndarray:
    """One attack's correctness at eps (on the examples it ran on)."""
    for e, a, correct in self.attacks:
      if a == name and abs(e - eps) < EPS_TOLERANCE:
        return correct
    raise KeyError(f"no attack {name!r} at eps {eps:g} in these results")

  def coverage(self, name: str) -> int:
    """How many (first) examples an attack ran on (0: it did not run)."""
    return max((len(c) for _, a, c in self.attacks if a == name), default=0)


def to_json(clean: np.ndarray, attacked: Iterable) -> dict:
  """eval.json's "per_example": clean and each `evaluators.Attacked` (eps, attack, correct), packed."""
  return {"n": int(len(clean)), "clean": pack(clean),
          "attacks": [{"eps": float(a.eps), "attack": a.attack, "n": int(len(a.correct)), "correct": pack(a.correct)}
                      for a in attacked]}


def from_json(d: dict) -> PerExample:
  """The PerExample of its JSON form (`to_json`)."""
  return PerExample(unpack(d["clean"], d["n"]),
                    tuple((float(a["eps"]), a["attack"], unpack(a["correct"], a["n"])) for a in d["attacks"]))


def _stats():
  """scipy.stats, imported on first use: it takes about a second, which every train.py / eval.py start would pay
  (this module is imported with the evaluators, which the config file imports)."""
  import scipy.stats  # pylint: disable=g-import-not-at-top
  return scipy.stats


def mcnemar(a: np.ndarray, b: np.ndarray) -> dict:
  """McNemar's exact test of two models' correctness on the same examples: only the discordant examples
  (a right and b wrong: `a_only`; the reverse: `b_only`) count; p is two-sided binomial(a_only; a_only + b_only, 1/2)."""
  a, b = np.asarray(a, bool), np.asarray(b, bool)
  if a.shape != b.shape:
    raise ValueError(f"paired results must cover the same examples: {a.shape} vs {b.shape}")
  a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
  p = 1.0 if a_only + b_only == 0 else float(_stats().binomtest(a_only, a_only + b_only, 0.5).pvalue)
  return {"n": int(len(a)), "a_only": a_only, "b_only": b_only, "p": p}


def stratified_exact(a: np.ndarray, b: np.ndarray) -> dict:
  """Two models' correctness on the same n examples in each of S seed pairs ((S, n) bool each; seed s of a beside
  seed s of b): McNemar's exact test per seed, and a combined p that counts each example once.

  The combined test is the exact sign-flip (permutation) test of d_i = sum_s (a_si - b_si): under the null the two
  models are exchangeable on each example, so each nonzero d_i is as likely +|d_i| as -|d_i|, independently over
  examples; p = P(|sum_i e_i |d_i|| >= |sum_i d_i|), e_i = +-1, computed exactly by convolution. Pooling the seeds'
  discordant pairs in one McNemar instead would treat an example seen in 3 seeds as 3 independent examples. With one
  seed the two tests are the same."""
  a, b = np.atleast_2d(np.asarray(a, bool)), np.atleast_2d(np.asarray(b, bool))
  if a.shape != b.shape:
    raise ValueError(f"paired results must cover the same examples: {a.shape} vs {b.shape}")
  d = a.astype(int).sum(0) - b.astype(int).sum(0)
  sizes = np.bincount(np.abs(d), minlength=a.shape[0] + 1)  # sizes[v]: examples with |d_i| = v
  pmf = np.ones(1)  # the null distribution of sum_i e_i |d_i|, on the integers -M..M
  for v, k in enumerate(sizes[1:], start=1):
    if k:
      step = np.zeros(2 * v * k + 1)
      step[::2 * v] = _stats().binom.pmf(np.arange(k + 1), k, 0.5)  # v (2 j - k), j ~ Binomial(k, 1/2)
      pmf = np.convolve(pmf, step)
  m, t = (len(pmf) - 1) // 2, int(d.sum())
  p = float(min(1.0, pmf[np.abs(np.arange(-m, m + 1)) >= abs(t)].sum()))
  return {"n": int(a.shape[1]), "seeds": int(a.shape[0]), "a_only": int((a & ~b).sum()),
          "b_only": int((~a & b).sum()), "p": p, "per_seed": [mcnemar(x, y)["p"] for x, y in zip(a, b)]}


def paired_t(a, b) -> dict | None:
  """The paired t-test of two models' values (one per seed, seed s of a beside seed s of b): t, its degrees of
  freedom (seeds - 1) and the two-sided p; None with fewer than 2 seeds. Identical gaps give p 0 (1 if all 0)."""
  d = np.asarray(a, float) - np.asarray(b, float)
  if len(d) < 2:
    return None
  mean, sd = float(d.mean()), float(d.std(ddof=1))
  if sd == 0:
    return {"t": math.copysign(math.inf, mean) if mean else 0.0, "df": len(d) - 1, "p": 0.0 if mean else 1.0}
  t = mean / (sd / math.sqrt(len(d)))
  return {"t": t, "df": len(d) - 1, "p": float(2 * _stats().t.sf(abs(t), len(d) - 1))}


def holm(ps) -> list[float]:
  """Holm's step-down adjustment of m p-values (the family-wise error rate held at the level): the i-th smallest
  becomes max over j <= i of min(1, (m - j + 1) p_(j)); returned in the input's order."""
  ps = np.asarray(ps, float)
  order = np.argsort(ps, kind="stable")
  adjusted = np.minimum(1.0, np.maximum.accumulate((len(ps) - np.arange(len(ps))) * ps[order]))
  out = np.empty_like(ps)
  out[order] = adjusted
  return out.tolist()


def _paired(a, b) -> tuple[np.ndarray, np.ndarray]:
  a, b = np.asarray(a, float), np.asarray(b, float)
  if a.shape != b.shape:
    raise ValueError(f"paired results must cover the same examples: {a.shape} vs {b.shape}")
  return a, b


def _resamples(n: int, num: int, seed: int) -> np.ndarray:
  """num bootstrap resamples of n examples' indices (the same resample for both models)."""
  return np.random.default_rng(seed).integers(0, n, size=(num, n))


def paired_bootstrap(a: np.ndarray, b: np.ndarray, num: int = 10000, seed: int = 0) -> dict:
  """The accuracy gap mean(a) - mean(b) on the same examples, with a 95% percentile interval from resampling
  examples (the same resample for both models)."""
  a, b = _paired(a, b)
  d = a - b
  gaps = d[_resamples(len(d), num, seed)].mean(axis=1)
  lo, hi = np.percentile(gaps, [2.5, 97.5])
  return {"n": int(len(d)), "gap": float(d.mean()), "low": float(lo), "high": float(hi)}


def paired_ratio_bootstrap(a: np.ndarray, b: np.ndarray, num: int = 10000, seed: int = 0) -> dict:
  """The ratio mean(a) / mean(b) of a per-example measure (e.g. DeepFool's ||r|| / ||x||) of two models on the same
  examples, with a 95% percentile interval from resampling examples (the same resample for both)."""
  a, b = _paired(a, b)
  idx = _resamples(len(a), num, seed)
  ratios = a[idx].mean(axis=1) / b[idx].mean(axis=1)
  lo, hi = np.percentile(ratios, [2.5, 97.5])
  return {"n": int(len(a)), "ratio": float(a.mean() / b.mean()), "low": float(lo), "high": float(hi)}


def paired_slope_ratio_bootstrap(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray],
                                 num: int = 10000, seed: int = 0, chunk: int = 500) -> dict:
  """The ratio of two models' least-squares slopes through the origin, v = k u (`robustness.stability_slope`:
  k = sum(u v) / sum(u^2)), on the same examples, with a 95% percentile interval from resampling examples (the same
  resample for both). a, b: (u, v) per example, (n,) or (seeds, n) (seed s of a beside seed s of b: an example is
  resampled with all its seeds); an example whose u or v is not finite (e.g. v set to nan where the model is wrong)
  leaves that model's slope."""
  (ua, va), (ub, vb) = _paired(*a), _paired(*b)
  if ua.shape != ub.shape:
    raise ValueError(f"paired results must cover the same examples: {ua.shape} vs {ub.shape}")
  def terms(u, v):
    keep = np.isfinite(u) & np.isfinite(v)
    n = u.shape[-1]
    return (np.where(keep, u * v, 0.0).reshape(-1, n).sum(0), np.where(keep, u * u, 0.0).reshape(-1, n).sum(0))
  (na, da), (nb, db) = terms(ua, va), terms(ub, vb)
  rng, n, ratios = np.random.default_rng(seed), ua.shape[-1], []
  for start in range(0, num, chunk):
    idx = rng.integers(0, n, size=(min(chunk, num - start), n))
    with np.errstate(invalid="ignore", divide="ignore"):  # a resample with no usable example: nan, left out below
      ratios.append((na[idx].sum(1) / da[idx].sum(1)) / (nb[idx].sum(1) / db[idx].sum(1)))
  lo, hi = np.nanpercentile(np.concatenate(ratios), [2.5, 97.5])
  return {"n": int(n), "ratio": float((na.sum() / da.sum()) / (nb.sum() / db.sum())), "low": float(lo),
          "high": float(hi)}
