"""The paper's seven claims as tested pure functions: each reads result rows and returns a Verdict.

    rows = {label: [row_of(result_json) for each seed]}
    claim1_pgd(rows) ... claim7_pca(rows) -> Verdict(claim, verdict, rule, reason, numbers)
    CLAIMS: the seven, in order

A row (`Row`) holds the few numbers a claim reads from one run's JSON; `row_of`
extracts them. Every rule states what it compares; "not measured" when the rows
it needs are missing. Comparisons are within one architecture (CNN rows against
"vanilla", ResNet rows against "ResNet-18/4 vanilla"), and an LR claim holds for
an architecture if it holds for one of its LR variants (the default, the paper's
literal loss, the configuration most favourable to LR, 2-LR): the verdict gives
the paper every chance, and names the variant.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import numpy as np

from lowrank_jax import per_example
from lowrank_jax.eval_results import EvalResults

REPRODUCED, PARTLY, NOT, MISSING = "reproduced", "partly reproduced", "not reproduced", "not measured"
UNDECIDED = "undecided"  # the rows are in, but a gain on the means is not yet told from chance
EPS = 8 / 255  # the eps the claims' rules read (the paper's tables start there)
CNN_VANILLA, RESNET_VANILLA = "vanilla", "ResNet-18/4 vanilla"
CIFAR_LR2 = "LR (layer3 + penultimate)"  # the CIFAR-10 grid's second placement (its rows: "vanilla", "LR", ...)
LR_VARIANTS = {CNN_VANILLA: ("LR", "LR (paper's loss)", "LR (most favourable)", "2-LR", CIFAR_LR2),
               RESNET_VANILLA: ("ResNet-18/4 LR",)}
COMPRESSED = {CNN_VANILLA: ("2-LR", CIFAR_LR2), RESNET_VANILLA: ("ResNet-18/4 LR",)}  # LR on the compressed layer
BASELINES = {CNN_VANILLA: ("SNIP", "SRN")}  # the other models claim 1 says LR beats (where measured)
ALPHA = 0.05  # significance level of the paired tests
TESTS = (f"A gain counts only if the exact paired test of the examples (McNemar per seed, combined over seeds with "
         f"each example counted once; Holm-adjusted over the variants that could make the claim) gives p < {ALPHA} "
         f"where per-example results exist, and, with 2 or more seeds, the paired t-test of the seeds' gaps gives "
         f"p < {ALPHA}.")


@dataclasses.dataclass(frozen=True)
class Row:
  """What the claims read from one run (one seed)."""

  seed: int
  clean: float
  worst: dict[float, float]  # eps -> worst-case accuracy over every attack at that eps or below
  worst_correct: dict[float, np.ndarray] | None = None  # eps -> per example (None: an older result without them)
  clean_correct: np.ndarray | None = None  # clean correctness per example (None: an older result without them)
  paper_like: dict[float, float] = dataclasses.field(default_factory=dict)  # eps -> paper-like PGD (fewest steps)
  rho_adv: float | None = None
  rho: np.ndarray | None = None  # DeepFool's ||r|| / ||x|| per example (None: an older result without them)
  pixels: dict[float, float] = dataclasses.field(default_factory=dict)  # p -> accuracy
  pixels_correct: dict[float, np.ndarray] = dataclasses.field(default_factory=dict)  # p -> per example (if kept)
  slopes: dict[str, float] = dataclasses.field(default_factory=dict)  # deepfool / transfer / gaussian (penultimate)
  stability: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # the same: (n, 2) input, feature
  #                                   ratio per example, the feature ratio nan where the model is wrong (if kept)
  cushion: float | None = None  # median layer cushion
  compression: dict[int, float] = dataclasses.field(default_factory=dict)  # rate -> accuracy (0: uncompressed)
  head: float | None = None  # linear-head accuracy
  pca: float | None = None  # 2-D PCA linear accuracy
  compression_correct: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)  # rate -> per example (if kept)
  head_correct: np.ndarray | None = None  # the linear head's, per example (if kept)
  pca_correct: np.ndarray | None = None  # the 2-D PCA classifier's, per example (if kept)


@dataclasses.dataclass(frozen=True)
class Verdict:
  claim: int
  title: str
  verdict: str
  rule: str
  reason: str
  numbers: dict[str, Any]


def row_of(result: dict) -> Row:
  """The claims' numbers from one result JSON (spec_runner.run_experiment's). The worst case is over the examples
  where every attack (AutoAttack included) ran: per_example if the result keeps them, else the stored summary."""
  ev = EvalResults(result["eval"])
  kept = ev.per_example
  if kept is not None:
    eps = sorted({e for e, _, _ in kept.attacks})
    worst_correct = {e: kept.worst(e, examples=ev.autoattack_examples) for e in eps}
    worst = {e: float(c.mean()) for e, c in worst_correct.items()}
    clean_correct = kept.clean
  else:
    worst_correct = clean_correct = None
    worst = ev.worst_on_autoattack_examples()
  paper_like = {e: d[min(d)] for e, d in ev.paper_like_by_eps().items()}
  slopes = {s: ev.stability(s)["slope"] for s in ("deepfool", "transfer", "gaussian") if ev.stability(s) is not None}
  stability = {s: np.stack([np.asarray(d["input_ratio"], float),
                            np.where(np.asarray(d["correct"], bool), np.asarray(d["feature_ratio"], float), np.nan)], 1)
               for s in slopes if "input_ratio" in (d := ev.stability(s))}
  head, pca = ev.linear_head or {}, ev.pca_2d or {}
  return Row(seed=int(result["config"]["seed"]), clean=ev.clean, worst=worst, worst_correct=worst_correct,
             clean_correct=clean_correct, paper_like=paper_like, rho_adv=(ev.deepfool or {}).get("rho_adv"),
             rho=ev.rho(), pixels=ev.pixels(), pixels_correct=ev.pixels_correct(), slopes=slopes, stability=stability,
             cushion=ev.cushion, compression=ev.compression(), head=head.get("accuracy"),
             pca=pca.get("linear_accuracy"), compression_correct=ev.compression_correct(),
             head_correct=head.get("correct"), pca_correct=pca.get("correct"))


# ----------------------------------------------------------------------------- statistics


def at(d: dict[float, Any], eps: float) -> Any:
  """d[eps] with float keys compared within per_example.EPS_TOLERANCE (JSON keys carry 6 significant digits)."""
  for k, v in d.items():
    if abs(k - eps) < per_example.EPS_TOLERANCE:
      return v
  return None


def mean_or_none(values) -> float | None:
  v = [x for x in values if x is not None and math.isfinite(x)]
  return float(np.mean(v)) if v else None


def seed_gap(a: list[Row], b: list[Row], value: Callable[[Row], float | None],
             correct: Callable[[Row], np.ndarray | None] | None = None) -> dict:
  """value(a) - value(b) seed by seed over the seeds both have: the mean gap, its std over seeds, the standard error,
  the paired t-test (`per_example.paired_t`: t, df = seeds - 1, p; None with one seed), the two means ("a", "b")
  and "pairs": (seed, value of a, value of b, n) by seed. Where correct(row) gives both rows' per-example
  correctness, a seed's pair is compared on the examples both cover (the first n), not on each row's own examples
  (n None: each row's own value). No common seed: the means of each, and no spread."""
  by_seed = {r.seed: r for r in b}
  pairs = []
  for r in sorted(a, key=lambda r: r.seed):
    o = by_seed.get(r.seed)
    if o is None:
      continue
    ca, cb = (None, None) if correct is None else (correct(r), correct(o))
    if ca is not None and cb is not None:
      n = min(len(ca), len(cb))
      pairs.append((r.seed, float(np.mean(ca[:n])), float(np.mean(cb[:n])), n))
    elif value(r) is not None and value(o) is not None:
      pairs.append((r.seed, value(r), value(o), None))
  if not pairs:
    ma, mb = mean_or_none(value(r) for r in a), mean_or_none(value(r) for r in b)
    return {"gap": None if ma is None or mb is None else ma - mb, "seeds": 0, "std": None, "se": None, "t": None,
            "a": ma, "b": mb, "pairs": []}
  va, vb = np.array([p[1:3] for p in pairs]).T
  gaps = va - vb
  std = float(np.std(gaps, ddof=1)) if len(gaps) > 1 else None
  return {"gap": float(np.mean(gaps)), "seeds": len(gaps), "std": std,
          "se": None if std is None else std / math.sqrt(len(gaps)), "t": per_example.paired_t(va, vb),
          "a": float(va.mean()), "b": float(vb.mean()), "pairs": pairs}


def worst_gap(a: list[Row], b: list[Row], eps: float) -> dict:
  """seed_gap of the worst case at eps, on the examples both rows cover when they keep per-example results."""
  return seed_gap(a, b, lambda r: at(r.worst, eps),
                  lambda r: None if r.worst_correct is None else at(r.worst_correct, eps))


def _stacked(a: list[Row], b: list[Row], get: Callable[[Row], np.ndarray | None]) -> tuple | None:
  """get(row) of seed s of a beside seed s of b for the common seeds, on the examples every such pair covers (the
  first n): two (seeds, n, ...) arrays; None where no seed has both."""
  by_seed = {r.seed: r for r in b}
  xa, xb = [], []
  for r in a:
    o = by_seed.get(r.seed)
    ca, cb = (None, None) if o is None else (get(r), get(o))
    if ca is not None and cb is not None:
      xa.append(np.asarray(ca))
      xb.append(np.asarray(cb))
  if not xa:
    return None
  n = min(len(x) for x in xa + xb)
  return np.stack([x[:n] for x in xa]), np.stack([x[:n] for x in xb])


def _paired_correct(a: list[Row], b: list[Row], get: Callable[[Row], np.ndarray | None]) -> dict | None:
  """The paired tests of per-example correctness: `per_example.stratified_exact` (McNemar per seed, one exact p over
  seeds that counts each example once) and a bootstrap of the gap resampling examples (each with all its seeds)."""
  x = _stacked(a, b, get)
  return None if x is None else {"exact": per_example.stratified_exact(*x),
                                 "bootstrap": per_example.paired_bootstrap(x[0].mean(0), x[1].mean(0)),
                                 "pairs": len(x[0])}


def paired(a: list[Row], b: list[Row], eps: float) -> dict | None:
  """The paired tests of worst-case correctness at eps (seed s of a against seed s of b on the same examples);
  None without per-example results."""
  return _paired_correct(a, b, lambda r: None if r.worst_correct is None else at(r.worst_correct, eps))


def paired_pixels(a: list[Row], b: list[Row], p: float) -> dict | None:
  """The same for correctness under random pixel perturbation with probability p."""
  return _paired_correct(a, b, lambda r: at(r.pixels_correct, p))


def paired_rho(a: list[Row], b: list[Row]) -> dict | None:
  """rho_adv of a over b's with a paired bootstrap 95% interval (DeepFool per example, seed s against seed s on the
  same examples, resampling examples with all their seeds); None without per-example results."""
  x = _stacked(a, b, lambda r: r.rho)
  return None if x is None else {**per_example.paired_ratio_bootstrap(x[0].mean(0), x[1].mean(0)), "pairs": len(x[0])}


def paired_slopes(a: list[Row], b: list[Row], perturbation: str) -> dict | None:
  """The ratio of a's noise-stability slope to b's under one perturbation, with a paired bootstrap 95% interval
  (seed s against seed s on the same examples, resampling examples with all their seeds; each model's slope over the
  examples it gets right); None without per-example results."""
  x = _stacked(a, b, lambda r: r.stability.get(perturbation))
  if x is None:
    return None
  return {**per_example.paired_slope_ratio_bootstrap((x[0][..., 0], x[0][..., 1]), (x[1][..., 0], x[1][..., 1])),
          "pairs": len(x[0])}


def holm(tests: dict[Any, dict | None]) -> dict[Any, dict | None]:
  """The paired tests of a family (e.g. every LR variant of one architecture, any of which could make a claim
  "partly" reproduced), each with its Holm-adjusted p ("holm") beside the raw one."""
  keys = [k for k, t in tests.items() if t]
  adjusted = per_example.holm([tests[k]["exact"]["p"] for k in keys])
  return {k: t if not t else {**t, "holm": adjusted[keys.index(k)], "family": len(keys)} for k, t in tests.items()}


def p_value(test: dict) -> float:
  """A paired test's p as the verdicts read it: Holm-adjusted where it belongs to a family."""
  return test.get("holm", test["exact"]["p"])


def significant_gain(gap: dict, test: dict | None, minimum: float) -> bool:
  """A gain of more than `minimum` that neither the paired test of examples nor the seed spread explains: the exact
  paired p (Holm-adjusted in a family) < ALPHA where per-example results exist, and the seed-level paired t-test's
  p < ALPHA where there are 2 or more seeds. With neither (one seed, no per-example results) nothing can be told from
  chance: False."""
  if gap["gap"] is None or gap["gap"] <= minimum or (test is None and gap["t"] is None):
    return False
  if test is not None and p_value(test) >= ALPHA:
    return False
  return gap["t"] is None or gap["t"]["p"] < ALPHA


def untold(gap: dict, test: dict | None, minimum: float) -> bool:
  """A gain of more than `minimum` on the means that neither a paired test nor a seed spread can check (no seed
  measured for both, or one seed without per-example results)."""
  return gap["gap"] is not None and gap["gap"] > minimum and test is None and gap["t"] is None


def _undecided(verdict: str, reason: str, labels: list[str]) -> tuple[str, str]:
  """'not reproduced' becomes 'undecided' while a variant's gain on the means is still untold from chance."""
  if verdict != NOT or not labels:
    return verdict, reason
  return UNDECIDED, (reason + f". Undecided until a seed is measured for both: {', '.join(dict.fromkeys(labels))} "
                   "above vanilla on the means")


def _significant_loss(gap: dict, test: dict | None) -> bool:
  flipped = dict(gap, gap=None if gap["gap"] is None else -gap["gap"])
  return test is not None and significant_gain(flipped, test, 0.0)


def _architectures(rows: dict[str, list[Row]], variants: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
  """vanilla label -> the LR labels measured beside it (architectures with both)."""
  return {v: [l for l in lrs if rows.get(l)] for v, lrs in variants.items()
          if rows.get(v) and any(rows.get(l) for l in lrs)}


def _pair(rows: dict[str, list[Row]], lab: str, van: str, value: Callable[[Row], float | None]) -> tuple:
  """(mean over LR's seeds, mean over vanilla's seeds) of value."""
  return mean_or_none(value(r) for r in rows[lab]), mean_or_none(value(r) for r in rows[van])


def _decide(strong: list[bool], some: list) -> str:
  """Reproduced if every architecture's test holds, partly if the weaker test holds somewhere, else not."""
  return REPRODUCED if strong and all(strong) else PARTLY if some else NOT


def _missing(claim: int, title: str, rule: str, what: str) -> Verdict:
  return Verdict(claim, title, MISSING, rule, f"needs {what}", {})


def _compressed_rows(what: str) -> str:
  """What claims 5-7 need: vanilla beside an LR row whose LR layer is the one compressed."""
  labels = sorted({lab for lrs in COMPRESSED.values() for lab in lrs})
  return f"vanilla and an LR row regularizing the compressed layer ({', '.join(labels)}), with {what} results"


def _t_note(gap: dict) -> str:
  return f"seed t-test p {gap['t']['p']:.2g} (df {gap['t']['df']})"


def _test_note(test: dict | None, gap: dict) -> str:
  """' (paired exact p ...)' with the Holm-adjusted p, each seed's McNemar p and the seed t-test where they exist,
  else what the comparison rests on."""
  if test:
    e = test["exact"]
    adjusted = (f", Holm-adjusted {test['holm']:.2g} over {test['family']} tests" if test.get("family", 1) > 1
                else "")
    per_seed = f"; McNemar per seed {', '.join(f'{p:.2g}' for p in e['per_seed'])}" if e["seeds"] > 1 else ""
    return (f" (paired exact p {e['p']:.2g}{adjusted}, {_pairs(test['pairs'])}{per_seed}"
            + (f"; {_t_note(gap)}" if gap["t"] else "") + ")")
  if not gap["seeds"]:
    return " (no seed measured for both, so no paired test: not told from chance)"
  return " (one seed without per-example results: not told from chance)" if gap["t"] is None else (
      f" ({_t_note(gap)})")


def _pairs(n: int) -> str:
  """How many seed pairs a paired test pooled: rows without per-example results take no part in it."""
  return f"{n} seed pair" + ("" if n == 1 else "s")


def _pct(x: float | None) -> str:
  return "-" if x is None else f"{100 * x:+.1f}"


# ----------------------------------------------------------------------------- the claims


def claim1_pgd(rows: dict[str, list[Row]], eps: float = EPS) -> Verdict:
  title = "LR models resist PGD far better than vanilla, SNIP and SRN"
  rule = (f"at eps {round(eps * 255)}/255, worst-case accuracy (every attack, AutoAttack included, at that eps or "
          "below) of LR minus vanilla of the same architecture, seed by seed on the same examples. Reproduced: a gain "
          ">= 20 points (the paper's is 36) for every architecture, and >= 20 points over SNIP and SRN where they are "
          "measured (the paper's: 50 and 31); partly: a gain > 2 points over vanilla for some architecture, "
          "or >= 20 points under the paper-like PGD. " + TESTS)
  arch = _architectures(rows, LR_VARIANTS)
  if not arch:
    return _missing(1, title, rule, "vanilla and LR rows")
  numbers, strong, some, reversed_, pending = {}, [], [], [], []
  for van, lrs in arch.items():
    big_here = False
    tests = holm({lab: paired(rows[lab], rows[van], eps) for lab in lrs})
    for lab in lrs:
      gap, test = worst_gap(rows[lab], rows[van], eps), tests[lab]
      paper = seed_gap(rows[lab], rows[van], lambda r: at(r.paper_like, eps))
      baselines = {b: {"gap": worst_gap(rows[lab], rows[b], eps), "paired": paired(rows[lab], rows[b], eps)}
                   for b in BASELINES.get(van, ()) if rows.get(b)}
      numbers[lab] = {"vs": van, "worst": gap["a"], "vanilla_worst": gap["b"], "gap": gap, "paired": test,
                      "paper_like_gap": paper["gap"], "baselines": baselines}
      if untold(gap, test, 0.02):
        pending.append(lab)
      big_here |= significant_gain(gap, test, 0.2) and all(significant_gain(c["gap"], c["paired"], 0.2)
                                                             for c in baselines.values())
      if significant_gain(gap, test, 0.02) or (paper["gap"] is not None and paper["gap"] >= 0.2):
        some.append(lab)
      if _significant_loss(gap, test):
        reversed_.append(lab)
    strong.append(big_here)
  verdict = _decide(strong, some)
  like = lambda n: "" if n["paper_like_gap"] is None else (f", {_pct(n['paper_like_gap'])} under the paper-like PGD "
                                                           "(its fewest steps)")
  reason = "; ".join(f"{lab} {_pct(n['gap']['gap'])} points vs {n['vs']}" + _test_note(n["paired"], n["gap"]) + like(n)
                     for lab, n in numbers.items())
  against = [f"{lab} {_pct(c['gap']['gap'])} vs {b}" + _test_note(c["paired"], c["gap"])
             for lab, n in numbers.items() for b, c in n["baselines"].items()]
  if against:
    reason += ". Against the baselines: " + "; ".join(against)
  if reversed_:
    reason += f". Significantly less robust than vanilla: {', '.join(reversed_)}"
  verdict, reason = _undecided(verdict, reason, pending)
  return Verdict(1, title, verdict, rule, reason, numbers)


def claim2_deepfool(rows: dict[str, list[Row]]) -> Verdict:
  title = "LR needs an order of magnitude more DeepFool perturbation"
  rule = ("rho_adv (DeepFool, mean ||r||/||x|| over all examples, Eq. 15) of LR over vanilla's, same architecture. "
          "Reproduced: >= 5x for every architecture; partly: > 1.2x for some, with every seed's ratio above 1. Either "
          "needs, where per-example results exist, the paired bootstrap's 95% interval (seed s against seed s on the "
          "same examples) above 1.")
  arch = _architectures(rows, LR_VARIANTS)
  if not arch:
    return _missing(2, title, rule, "vanilla and LR rows")
  numbers, strong, some = {}, [], []
  for van, lrs in arch.items():
    base = mean_or_none(r.rho_adv for r in rows[van])
    ratios = {lab: mean_or_none(r.rho_adv for r in rows[lab]) / base for lab in lrs if base}
    by_seed = {r.seed: r.rho_adv for r in rows[van]}
    for lab, ratio in ratios.items():
      seeds = [r.rho_adv / by_seed[r.seed] for r in rows[lab] if r.seed in by_seed and by_seed[r.seed]]
      test = paired_rho(rows[lab], rows[van])
      numbers[lab] = {"vs": van, "ratio": ratio, "seed_ratios": seeds, "paired": test}
      if ratio > 1.2 and all(s > 1 for s in seeds) and (test is None or test["low"] > 1):
        some.append(lab)
    strong.append(any(r >= 5 and (numbers[lab]["paired"] is None or numbers[lab]["paired"]["low"] > 1)
                      for lab, r in ratios.items()))
  verdict = _decide(strong, some)
  reason = "; ".join(f"{lab} / {n['vs']} = {n['ratio']:.2f}x"
                     + (f" (paired, {_pairs(n['paired']['pairs'])} on the same examples: {n['paired']['ratio']:.2f}x, "
                        f"bootstrap 95% [{n['paired']['low']:.2f}, {n['paired']['high']:.2f}])"
                        if n["paired"] else "") for lab, n in numbers.items())
  return Verdict(2, title, verdict, rule, reason, numbers)


def claim3_pixels(rows: dict[str, list[Row]]) -> Verdict:
  title = "accuracy drops more slowly under random pixel perturbation"
  rule = ("accuracy of LR minus vanilla's when each pixel is perturbed with probability p, seed by seed on the same "
          "examples. Reproduced: LR above by > 1 point at every p for some LR variant of every architecture; partly: "
          "at some p. " + TESTS + " The family here is every (variant, p) of the architecture.")
  arch = _architectures(rows, LR_VARIANTS)
  if not arch or not rows[CNN_VANILLA if CNN_VANILLA in arch else next(iter(arch))][0].pixels:
    return _missing(3, title, rule, "vanilla and LR rows with random-pixel results")
  numbers, strong, some, pending = {}, [], [], []
  for van, lrs in arch.items():
    probs = sorted(rows[van][0].pixels)
    all_p = False
    family = holm({(lab, p): paired_pixels(rows[lab], rows[van], p) for lab in lrs for p in probs})
    for lab in lrs:
      gaps = {p: seed_gap(rows[lab], rows[van], lambda r, p=p: at(r.pixels, p), lambda r, p=p: at(r.pixels_correct, p))
              for p in probs}
      tests = {p: family[lab, p] for p in probs}
      above = [p for p, g in gaps.items() if significant_gain(g, tests[p], 0.01)]
      pending += [lab for p, g in gaps.items() if untold(g, tests[p], 0.01)]
      numbers[lab] = {"vs": van, "gaps": {p: g["gap"] for p, g in gaps.items()}, "above_at": above,
                      "p": {p: p_value(t) for p, t in tests.items() if t},
                      "pairs": max((t["pairs"] for t in tests.values() if t), default=0)}
      all_p |= len(above) == len(probs)
      if above:
        some.append(lab)
    strong.append(all_p)
  verdict = _decide(strong, some)
  reason = "; ".join(f"{lab} - {n['vs']}: " + ", ".join(
      f"p {p:g} {_pct(g)}" + (f" (paired exact p {n['p'][p]:.2g}, Holm-adjusted)" if p in n["p"] else "")
      for p, g in n["gaps"].items()) + (f" ({_pairs(n['pairs'])})" if n["pairs"] else "")
      for lab, n in numbers.items())
  verdict, reason = _undecided(verdict, reason, pending)
  return Verdict(3, title, verdict, rule, reason, numbers)


def claim4_stability(rows: dict[str, list[Row]]) -> Verdict:
  title = "the LR representation is more noise-stable; its layer cushion is higher"
  rule = ("noise-stability slopes at the penultimate layer (own DeepFool, transfer from vanilla, common Gaussian; "
          "lower = more stable) and the median layer cushion. Reproduced: LR's three slopes lower and its cushion "
          "higher; partly: some slope lower (a higher cushion alone does not count: the claim is about stability). "
          "A slope counts as lower only if, where per-example results exist, the paired bootstrap's 95% interval of "
          "the ratio (seed s against seed s on the same examples) lies below 1.")
  arch = _architectures(rows, LR_VARIANTS)
  if not arch or not rows[next(iter(arch))][0].slopes:
    return _missing(4, title, rule, "vanilla and LR rows with noise-stability results")
  numbers, strong, some = {}, [], []
  for van, lrs in arch.items():
    full = False
    for lab in lrs:
      slopes = {s: _pair(rows, lab, van, lambda r, s=s: r.slopes.get(s)) for s in ("deepfool", "transfer", "gaussian")}
      tests = {s: paired_slopes(rows[lab], rows[van], s) for s in slopes}
      cushion = _pair(rows, lab, van, lambda r: r.cushion)
      lower = [s for s, (a, b) in slopes.items() if a is not None and b is not None and a < b
               and (tests[s] is None or tests[s]["high"] < 1)]
      higher = None not in cushion and cushion[0] > cushion[1]
      numbers[lab] = {"vs": van, "slopes": slopes, "paired": tests, "cushion": cushion, "lower_slopes": lower}
      full |= len(lower) == 3 and higher
      if lower:
        some.append(lab)
    strong.append(full)
  verdict = _decide(strong, some)
  def slope(s, a, b, t):
    return f"{s} {a:.3g} vs {b:.3g}" + (f" (paired {t['ratio']:.2g}x [{t['low']:.2g}, {t['high']:.2g}])" if t else "")
  reason = "; ".join(f"{lab} vs {n['vs']}: slopes " + ", ".join(slope(s, a, b, n["paired"][s]) for s, (a, b) in
                                                                 n["slopes"].items() if a is not None and b is not None)
                     + (f", median cushion {n['cushion'][0]:.3f} vs {n['cushion'][1]:.3f}" if None not in n["cushion"]
                        else "") for lab, n in numbers.items())
  return Verdict(4, title, verdict, rule, reason, numbers)


def claim5_compression(rows: dict[str, list[Row]]) -> Verdict:
  title = "LR representations compress 400x losing 6% accuracy (vanilla: > 27%)"
  rule = ("test accuracy with the compressed layer's activations projected on their top m/rate principal directions, "
          "at the largest rate. Reproduced: for every architecture LR's accuracy there is above vanilla's there (the "
          "paper compares accuracies: 6% lost vs > 27%) and LR loses <= 10 points; partly: above vanilla's for some "
          "architecture. A smaller drop from a lower accuracy does not count. Accuracies are compared seed by seed on "
          "the examples both rows evaluated. " + TESTS.replace("A gain", "Above"))
  arch = _architectures(rows, COMPRESSED)
  if not arch or not rows[next(iter(arch))][0].compression:
    return _missing(5, title, rule, _compressed_rows("compression"))
  numbers, strong, some, pending = {}, [], [], []
  for van, lrs in arch.items():
    rate = max(rows[van][0].compression)
    tests = holm({lab: _paired_correct(rows[lab], rows[van], lambda r: r.compression_correct.get(rate))
                  for lab in lrs})
    for lab in lrs:
      gap = seed_gap(rows[lab], rows[van], lambda r: r.compression.get(rate), lambda r: r.compression_correct.get(rate))
      whole = seed_gap(rows[lab], rows[van], lambda r: r.compression.get(0), lambda r: r.compression_correct.get(0))
      acc, full, test = (gap["a"], gap["b"]), (whole["a"], whole["b"]), tests[lab]
      above = significant_gain(gap, test, 0.0)
      if untold(gap, test, 0.0):
        pending.append(lab)
      numbers[lab] = {"vs": van, "rate": rate, "accuracy": acc, "uncompressed": full,
                      "lost": (full[0] - acc[0], full[1] - acc[1]), "gap": gap, "paired": test}
      within = full[0] - acc[0] <= 0.10
      numbers[lab]["status"] = (("above vanilla, losing <= 10 points" if within else
                                 "above vanilla, but losing more than 10 points") if above else
                                "not above vanilla beyond chance")
      strong.append(above and within)
      if above:
        some.append(lab)
  verdict = _decide(strong, some)
  reason = "; ".join(f"at {n['rate']}x {lab} {n['accuracy'][0]:.3f} (lost {100 * n['lost'][0]:.1f} points) vs "
                     f"{n['vs']} {n['accuracy'][1]:.3f} (lost {100 * n['lost'][1]:.1f})"
                     + _test_note(n["paired"], n["gap"]) + f": {n['status']}" for lab, n in numbers.items())
  verdict, reason = _undecided(verdict, reason, pending)
  return Verdict(5, title, verdict, rule, reason, numbers)


def claim6_linear_head(rows: dict[str, list[Row]]) -> Verdict:
  title = "a linear head on the LR layer replaces the rest of the network losing < 1%"
  rule = ("a softmax-regression head on the compressed layer replacing everything after it. Reproduced: LR's head "
          "within 1 point of its own network and at least as accurate as vanilla's head (accuracies, not drops); "
          "partly: one of the two. Accuracies are compared seed by seed on the examples both rows evaluated; the exact "
          "paired test of the two heads is given where per-example results exist.")
  arch = _architectures(rows, COMPRESSED)
  if not arch or rows[next(iter(arch))][0].head is None:
    return _missing(6, title, rule, _compressed_rows("linear-head"))
  numbers, strong, some = {}, [], []
  for van, lrs in arch.items():
    for lab in lrs:
      gap = seed_gap(rows[lab], rows[van], lambda r: r.head, lambda r: r.head_correct)
      whole = seed_gap(rows[lab], rows[van], lambda r: r.compression.get(0), lambda r: r.compression_correct.get(0))
      head, net = (gap["a"], gap["b"]), (whole["a"], whole["b"])
      close, above = net[0] - head[0] < 0.01, head[0] >= head[1]
      numbers[lab] = {"vs": van, "head": head, "network": net, "gap": gap,
                      "paired": _paired_correct(rows[lab], rows[van], lambda r: r.head_correct)}
      strong.append(close and above)
      if close or above:
        some.append(lab)
  verdict = _decide(strong, some)
  reason = "; ".join(f"{lab} head {n['head'][0]:.3f} (network {n['network'][0]:.3f}) vs {n['vs']} head "
                     f"{n['head'][1]:.3f} (network {n['network'][1]:.3f})" + _test_note(n["paired"], n["gap"])
                     for lab, n in numbers.items())
  return Verdict(6, title, verdict, rule, reason, numbers)


def claim7_pca(rows: dict[str, list[Row]]) -> Verdict:
  title = "2-D PCA of LR representations is more discriminative"
  rule = ("accuracy of a linear classifier on the top-2 principal coordinates of the compressed layer. Reproduced: "
          "LR above vanilla by > 2 points for every architecture; partly: for some. Accuracies are compared seed by "
          "seed on the examples both rows evaluated. " + TESTS.replace("A gain", "Above"))
  arch = _architectures(rows, COMPRESSED)
  if not arch or rows[next(iter(arch))][0].pca is None:
    return _missing(7, title, rule, _compressed_rows("PCA"))
  numbers, strong, pending = {}, [], []
  for van, lrs in arch.items():
    tests = holm({lab: _paired_correct(rows[lab], rows[van], lambda r: r.pca_correct) for lab in lrs})
    for lab in lrs:
      gap, test = seed_gap(rows[lab], rows[van], lambda r: r.pca, lambda r: r.pca_correct), tests[lab]
      numbers[lab] = {"vs": van, "accuracy": (gap["a"], gap["b"]), "gap": gap, "paired": test}
      strong.append(significant_gain(gap, test, 0.02))
      if untold(gap, test, 0.02):
        pending.append(lab)
  verdict = REPRODUCED if all(strong) else PARTLY if any(strong) else NOT
  reason = "; ".join(f"{lab} {n['accuracy'][0]:.3f} vs {n['vs']} {n['accuracy'][1]:.3f}"
                     + _test_note(n["paired"], n["gap"]) for lab, n in numbers.items())
  verdict, reason = _undecided(verdict, reason, pending)
  return Verdict(7, title, verdict, rule, reason, numbers)


CLAIMS = (claim1_pgd, claim2_deepfool, claim3_pixels, claim4_stability, claim5_compression, claim6_linear_head,
          claim7_pca)


def verdicts(rows: dict[str, list[Row]]) -> list[Verdict]:
  return [claim(rows) for claim in CLAIMS]
