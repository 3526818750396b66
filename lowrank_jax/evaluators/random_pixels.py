"""Random pixel perturbation (Sec. 5.2): accuracy when each pixel is perturbed with probability p, and which
examples stay correct (packed per p: paired tests between models on the same examples)."""

from __future__ import annotations

import jax

from lowrank_jax import attacks, conv, markdown, per_example, robustness
from lowrank_jax.evaluators.base import Inputs, Report, Result, check, section


def config():
  """config.eval.random_pixels: each pixel perturbed with probability p by N(0, sigma^2) noise."""
  return section(probs=(0.2, 0.4, 0.6, 0.8, 1.0), sigma=0.5)


def validate(ec) -> None:
  """Checks config.eval.random_pixels (one-line ConfigError naming the field)."""
  p = ec.random_pixels
  check(all(0 <= q <= 1 for q in p.probs), f"config.eval.random_pixels.probs={tuple(p.probs)} must be in [0, 1]")
  check(p.sigma >= 0, f"config.eval.random_pixels.sigma={p.sigma} must be >= 0")


@conv.jit
def _perturb(keys, x, p, sigma):
  """Each example with its own key (results independent of batching)."""
  return jax.vmap(lambda k, xi: robustness.perturb_random_pixels(k, xi[None], p, sigma)[0])(keys, x)


def evaluate(inputs: Inputs, needed: dict) -> Result:
  """Runs the random pixel perturbation on inputs (see the module docstring); its eval.json entry, attacks and checks."""
  del needed
  sigma, key = float(inputs.ec.random_pixels.sigma), inputs.subkey("pixels")
  acc, kept = {}, {}
  for j, p in enumerate(inputs.ec.random_pixels.probs):
    k = jax.random.fold_in(key, j)
    noisy = inputs.batched(lambda z, i: _perturb(attacks.example_keys(k, len(i), i), z, p, sigma), inputs.x,
                           inputs.indices)
    correct = inputs.correct(noisy)
    acc[f"{p:g}"], kept[f"{p:g}"] = float(correct.mean()), per_example.pack(correct)
  return Result({"sigma": sigma, "accuracy": acc, "correct": kept})


def report(rep: Report) -> list[str]:
  """## Random pixel perturbation: accuracy per p, and random_pixels.png."""
  runs = rep.having("random_pixels")
  fig, ax = markdown.subplots(figsize=(5.5, 4))
  for name, r, ls in runs:
    acc = r["random_pixels"]["accuracy"]
    ps = sorted(float(p) for p in acc)
    ax.plot(ps, [acc[f"{p:g}"] for p in ps], ls, marker="o", label=name)
  ax.set(xlabel="probability p a pixel is perturbed", ylabel="accuracy", ylim=(0, 1),
         title=f"Random pixel perturbation (sigma {runs[0][1]['random_pixels']['sigma']:g})")
  ax.legend(fontsize=8)
  markdown.save(fig, rep.path("random_pixels.png"))
  acc = rep.results["random_pixels"]["accuracy"]
  return (["## Random pixel perturbation", ""]
          + markdown.table(["p"] + list(acc), [["accuracy"] + [f"{v:.4f}" for v in acc.values()]])
          + ["", "![random pixels](random_pixels.png)", ""])
