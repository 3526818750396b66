"""docs/RESULTS.md's section per claim (1-7): the numbers each claim reads, its figure, and its verdict."""

from __future__ import annotations

import os

import numpy as np

from experiments import claims
from experiments.page_common import (PAPER_PGD, PAPER_PIXELS, ev, mean_or_nan, ms, msg, settings, underfitted,
                                     verdict_lines)
from lowrank_jax import markdown
from lowrank_jax.markdown import e255


def seed_by_seed(rows: dict[str, list[claims.Row]], eps: float = claims.EPS) -> list[str]:
  """One sentence per LR variant: its clean and worst-case accuracy at eps seed by seed beside its vanilla's (on
  the examples both cover), each seed's gap, their mean with the seed-level standard error, the exact paired p (each
  example counted once over the seeds) and the seed t-test: the numbers claim 1's rule reads, seed by seed."""
  fmt = lambda xs: ", ".join(f"{x:.3f}" for x in xs)
  out = []
  for van, lrs in claims.LR_VARIANTS.items():
    for lab in (l for l in lrs if rows.get(l) and rows.get(van)):
      clean = {p[0]: p for p in claims.seed_gap(rows[lab], rows[van], lambda r: r.clean,
                                                 lambda r: r.clean_correct)["pairs"]}
      gap, test = claims.worst_gap(rows[lab], rows[van], eps), claims.paired(rows[lab], rows[van], eps)
      # (seed, clean of lab, worst of lab, clean of van, worst of van, n): seed by seed, on the examples both cover
      c = [(w[0], clean[w[0]][1], w[1], clean[w[0]][2], w[2], w[3]) for w in gap["pairs"] if w[0] in clean]
      if not c:
        continue
      ns = sorted({x[5] for x in c if x[5]})
      on = f" on the first {', '.join(f'{n:,}' for n in ns)} test examples" if ns else ""
      se = "" if gap["se"] is None else f" ± seed SE {100 * gap['se']:.1f}"
      p = "" if test is None else f"; paired exact p {test['exact']['p']:.2g}"
      p += "" if gap["t"] is None else f"; seed t-test p {gap['t']['p']:.2g} (df {gap['t']['df']})"
      seeds = ", ".join(str(x[0]) for x in c)
      out.append(f"{lab} against {van}, seed{'s' if len(c) > 1 else ''} {seeds}{on}: clean "
                 f"{fmt(x[1] for x in c)} against {fmt(x[3] for x in c)}; worst case at {e255(eps)} "
                 f"{fmt(x[2] for x in c)} against {fmt(x[4] for x in c)} (gap "
                 + ", ".join(f"{100 * (x[2] - x[4]):+.1f}" for x in c) + f" points; mean {100 * gap['gap']:+.1f}{se}{p}).")
  return out


def section_pgd(groups, rows, rel, figures_dir) -> list[str]:
  v = claims.claim1_pgd(rows)
  labs = [l for l in groups if l in rows]
  any_r = groups[labs[0]][0]
  eps, steps = sorted(ev(any_r).pgd_by_eps()), ev(any_r).pgd_steps
  L = [f"## Claim 1: {v.title}", "",
       "Paper (ResNet-50, CIFAR-10, Linf PGD, accuracy % at eps 8/10/16/20 /255, 7 | 20 steps): "
       + "; ".join(f"{k} " + " / ".join(f"{x[e][0]} | {x[e][1]}" for e in (8, 10, 16, 20)) for k, x in PAPER_PGD.items())
       + ".", "",
       f"Setting: {settings(groups, labs)}. Linf in pixel space. PGD: random start, step 2.5 eps/steps, CE. Paper-like PGD: no random start, fixed "
       "step eps/4, eps applied in the normalised input space (pixel eps = eps x 0.353): our reading of what a table "
       "like the paper's measures. Mean ± std over seeds, in %.", "",
       "### PGD and paper-like PGD", ""]
  header = ["model (seeds)", "clean"] + [f"PGD-{s} @{e255(e)}" for e in eps for s in steps]
  has_paper = all(ev(r).has_paper_like for lab in labs for r in groups[lab])
  if has_paper:
    header += [f"paper-like PGD-{s} @{e255(e)}" for e in eps for s in steps]
  table = []
  for lab in labs:
    evs = [ev(r) for r in groups[lab]]
    row = [f"{lab} ({len(evs)})", ms([x.clean for x in evs])]
    row += [ms([x.pgd(e, s) for x in evs]) for e in eps for s in steps]
    if has_paper:
      row += [ms([x.paper_like(e, s) for x in evs]) for e in eps for s in steps]
    table.append(row)
  L += markdown.table(header, table)
  fit = underfitted({lab: groups[lab] for lab in labs})
  L += ["", " ".join(fit)] if fit else []
  aa_eps = sorted({e for lab in labs for r in groups[lab] for e in ev(r).autoattack_by_eps()})
  L += ["", "### AutoAttack and the worst case", "",
        "Worst case: per example, wrong under any attack run at that eps or a smaller one (PGD of every step count, "
        "FGSM, PGD with 2x steps and restarts, Gaussian noise, transfer from an independently trained vanilla CNN, "
        "AutoAttack), over the examples AutoAttack ran on."
        + (" Rows without per-example results (the 2-epoch first pass) show the worst case as stored then: over "
           "AutoAttack's examples where it ran, elsewhere over all examples without it, each eps with its own attacks "
           "only (not monotone), and no paired test."
           if any(r.worst_correct is None for lab in labs for r in rows[lab]) else ""), ""]
  header = ["model (seeds)"] + [f"AutoAttack @{e255(e)}" for e in aa_eps] + [f"worst @{e255(e)}" for e in eps]
  table = []
  for lab in labs:
    evs = [ev(r) for r in groups[lab]]
    row = [f"{lab} ({len(evs)})"]
    row += [ms([x.autoattack(e) for x in evs]) for e in aa_eps]
    row += [ms([claims.at(r.worst, e) for r in rows[lab]]) for e in eps]
    table.append(row)
  L += markdown.table(header, table)
  L += ["", "### LR against vanilla, paired", "",
        "Each LR variant against vanilla of the same architecture, seed s against seed s on the same examples "
        "(worst case), on the examples both evaluated: the mean gap over seeds ± its standard error and the paired "
        "t-test of the seeds' gaps (df = seeds - 1); the exact paired test of the examples (McNemar per seed, combined "
        "over seeds as an exact sign-flip test of each example's summed gap, so an example counts once, not once a "
        "seed); a paired bootstrap 95% interval of the gap (10,000 resamples of examples, each with all its seeds).",
        ""]
  table = []
  for e in eps:
    for lab in labs:
      ref = "ResNet-18/4 vanilla" if lab.startswith("ResNet") else "vanilla"
      if lab == ref or ref not in rows or lab in ("SNIP", "SRN", "PGD-AT"):
        continue
      gap = claims.worst_gap(rows[lab], rows[ref], e)
      test = claims.paired(rows[lab], rows[ref], e)
      mc, bs = (test["exact"], test["bootstrap"]) if test else (None, None)
      table.append([e255(e), f"{lab} - {ref}", f"{100 * gap['gap']:+.1f}" + (f" ± {100 * gap['se']:.1f}" if gap["se"]
                                                                              is not None else ""), str(gap["seeds"]),
                    f"{gap['t']['p']:.2g}" if gap["t"] else "-",
                    f"{mc['a_only']} / {mc['b_only']} of {mc['n']}" if mc else "-", f"{mc['p']:.2g}" if mc else "-",
                    f"[{100 * bs['low']:+.1f}, {100 * bs['high']:+.1f}]" if bs else "-"])
  L += markdown.table(["eps", "comparison", "gap (points) ± SE", "seeds", "seed t-test p", "LR only / vanilla only right",
                       "exact paired p", "bootstrap 95%"], table)
  L += ["", "Seed by seed (claim 1's numbers):", ""] + [f"- {x}" for x in seed_by_seed(rows)]
  L += ["", "The gradient-masking audit of every run (`lowrank_jax.robustness.gradient_masking_audit`):", ""]
  table = []
  for lab in labs:
    audits = [(r["run"]["name"], a) for r in groups[lab] for a in ev(r).audit]
    flags = [f"{name}: {a['check']} ({a['detail']})" for name, a in audits if not a["passed"]]
    table.append([lab, str(len(groups[lab])), f"{len(audits) - len(flags)} / {len(audits)}", "; ".join(flags) or "none"])
  L += markdown.table(["model", "runs", "checks passed", "flags"], table)
  fig = os.path.join(figures_dir, "robust_accuracy_all.png")
  plot_robust(groups, rows, labs, eps, fig)
  return L + ["", f"![robust accuracy]({rel(fig)})", ""] + verdict_lines(v)


def section_deepfool(groups, rows, rel, figures_dir) -> list[str]:
  v = claims.claim2_deepfool(rows)
  labs = [l for l in groups if l in rows]
  L = [f"## Claim 2: {v.title}", "",
       "Paper: rho_adv (the perturbation that misclassifies the test set, relative to the input) an order of "
       "magnitude larger for LR than for vanilla.", "",
       "Setting: DeepFool (L2, overshoot 0.02, 10 candidate classes, up to 100 iterations) on the first "
       f"{ev(groups[labs[0]][0]).deepfool['examples']} test examples (ResNet rows: their own number); "
       "rho_adv averaged over all of them (Eq. 15) and over the fooled ones.", ""]
  table = []
  for lab in labs:
    d = [ev(r).deepfool for r in groups[lab]]
    table.append([f"{lab} ({len(d)})", ms([x["rho_adv"] for x in d], 1, 4), ms([x["rho_adv_fooled"] for x in d], 1, 4),
                  ms([x["success_rate"] for x in d]) + "%", str(d[0]["examples"])])
  L += markdown.table(["model (seeds)", "rho_adv (all)", "rho_adv (fooled)", "fooled", "examples"], table)
  fig = os.path.join(figures_dir, "rho_adv_hist.png")
  plot_rho(groups, [l for l in ("vanilla", "LR", "2-LR") if l in groups], fig)
  return L + ["", f"![rho_adv]({rel(fig)})", ""] + verdict_lines(v)


def section_pixels(groups, rows, rel, figures_dir) -> list[str]:
  v = claims.claim3_pixels(rows)
  labs = [l for l in groups if l in rows and ev(groups[l][0]).has("random_pixels")]
  if not labs:
    return [f"## Claim 3: {v.title}", ""] + verdict_lines(v)
  probs = list(ev(groups[labs[0]][0]).pixels())
  sigma = ev(groups[labs[0]][0]).pixel_sigma
  L = [f"## Claim 3: {v.title}", "",
       "Paper, p = 0.4 / 0.6 / 0.8 / 1.0: vanilla " + " / ".join(map(str, PAPER_PIXELS["vanilla"])) + ", LR "
       + " / ".join(map(str, PAPER_PIXELS["LR"])) + ".", "",
       f"Setting: each pixel perturbed with probability p by Gaussian noise of sigma {sigma} (pixels in [0, 1], then "
       "clipped); accuracy %, mean ± std over seeds.", ""]
  L += markdown.table(["model (seeds)"] + [f"p = {p:g}" for p in probs],
                      [[f"{lab} ({len(groups[lab])})"] + [ms([ev(r).pixels()[p] for r in groups[lab]]) for p in probs]
                       for lab in labs])
  fig = os.path.join(figures_dir, "random_pixels_all.png")
  plot_pixels(groups, labs, fig)
  return L + ["", f"![random pixels]({rel(fig)})", ""] + verdict_lines(v)


def section_stability(groups, rows) -> list[str]:
  v = claims.claim4_stability(rows)
  labs = [l for l in groups if l in rows and ev(groups[l][0]).has("noise_stability")]
  L = [f"## Claim 4: {v.title}", "",
       "Paper: the ratio ||f(x+d)-f(x)||^2/||f(x)||^2 over ||d||^2/||x||^2 is smaller for LR, for white-box (own) "
       "and black-box (from the vanilla model) adversarial perturbations; the layer cushion (Arora et al. 2018) is "
       "higher.", "",
       "Setting: penultimate layer; the least-squares slope of feature ratio on input ratio (lower = more stable) "
       "over correctly classified examples, for the model's own DeepFool perturbation (white box), PGD at 8/255 from "
       "an independently trained vanilla CNN (black box) and a Gaussian perturbation common to all models; the layer "
       "cushion of the head reading the penultimate layer (min / median over examples). Mean ± std over seeds.", ""]
  slope = lambda lab, src: [r.slopes.get(src) for r in rows[lab]]
  table = []
  for lab in labs:
    lc = [ev(r).layer_cushion for r in groups[lab]]
    table.append([f"{lab} ({len(lc)})", msg(slope(lab, "deepfool")), msg(slope(lab, "transfer")),
                  msg(slope(lab, "gaussian")), f"{msg([c.get('cushion') for c in lc])} / {msg([c.get('median') for c in lc])}"])
  L += markdown.table(["model (seeds)", "slope: white box (DeepFool)", "black box (vanilla's PGD)", "common Gaussian",
               "layer cushion min / median"], table)
  return L + [""] + verdict_lines(v)


def section_compression(groups, rows, rel, figures_dir) -> list[str]:
  L = []
  v5, v6, v7 = claims.claim5_compression(rows), claims.claim6_linear_head(rows), claims.claim7_pca(rows)
  pairs = [(lr, van) for van, lrs in claims.COMPRESSED.items() for lr in lrs
           if lr in rows and van in rows and ev(groups[lr][0]).has("compression")]
  L += [f"## Claim 5: {v5.title}", "",
        "Setting: the layer's activations replaced by their projection on the top-k principal directions of "
        "10,000 training examples' features (k = m / rate), fed to the unchanged rest of the network; test "
        "accuracy %. CNN: pool2 (3,136-d, regularised in 2-LR); ResNet-18/4: layer3 (3,136-d, regularised in its "
        "LR model).", ""]
  for lr, van in pairs:
    rates = [k for k in ev(groups[lr][0]).compression() if k]
    L += markdown.table([f"{lr} vs {van}", "uncompressed"] + [f"{r}x" for r in rates],
                        [[f"{lab} ({len(groups[lab])})"] + [ms([ev(r).compression()[k] for r in groups[lab]])
                                                            for k in [0] + rates] for lab in (van, lr)]) + [""]
  L += verdict_lines(v5)
  L += [f"## Claim 6: {v6.title}", "",
        "Setting: a softmax-regression head (Adam, 20 epochs on the features of 10,000 training examples) replacing "
        "everything after the layer; parameters of what it replaces counted as those receiving gradient once the "
        "layer is held fixed.", ""]
  table = []
  for lab in [l for p in pairs for l in (p[1], p[0])]:
    c = [ev(r) for r in groups[lab]]
    head = c[0].linear_head
    table.append([f"{lab} ({len(c)})", c[0].compression_layer, ms([x.compression()[0] for x in c]),
                  ms([x.linear_head["accuracy"] for x in c]),
                  f"{head['parameters_replaced']:,} -> {head['parameters']:,}"])
  L += markdown.table(["model (seeds)", "layer", "network accuracy", "linear-head accuracy", "parameters replaced -> head"],
              table) + [""] + verdict_lines(v6)
  fig = os.path.join(figures_dir, "pca_2d.png")
  if pairs:
    plot_pca(groups, [pairs[0][1], pairs[0][0]], fig)
  L += [f"## Claim 7: {v7.title}", "",
        "Setting: the test features projected on the top-2 principal directions (coloured by class), and the "
        "accuracy of a linear classifier on those 2 coordinates (a number for 'more discriminative').", ""]
  L += markdown.table(["model (seeds)", "2-D linear accuracy"],
              [[f"{lab} ({len(groups[lab])})", ms([ev(r).pca_2d["linear_accuracy"] for r in groups[lab]])]
               for p in pairs for lab in (p[1], p[0])])
  return L + ([""] + [f"![pca]({rel(fig)})"] if pairs else []) + [""] + verdict_lines(v7)


def plot_robust(groups, rows, labs, eps, path) -> None:
  fig, ax = markdown.subplots(figsize=(9.5, 4.5))
  xs = [0] + [e * 255 for e in eps]
  for lab in labs:
    clean = mean_or_nan(r.clean for r in rows[lab])
    line, = ax.plot(xs, [clean] + [mean_or_nan(claims.at(r.worst, e) for r in rows[lab]) for e in eps],
                    marker="o", label=f"{lab}: worst case")
    if all(r.paper_like for r in rows[lab]):
      ax.plot(xs, [clean] + [mean_or_nan(claims.at(r.paper_like, e) for r in rows[lab]) for e in eps],
              ls="--", color=line.get_color(), label=f"{lab}: paper-like PGD")
  ax.set(xlabel="eps x 255 (Linf)", ylabel="accuracy", ylim=(0, 1), title="Robust accuracy, Fashion-MNIST")
  ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0))
  markdown.save(fig, path)


def plot_rho(groups, labs, path) -> None:
  fig, ax = markdown.subplots(figsize=(6, 4))
  vals = {lab: np.concatenate([ev(r).rho() for r in groups[lab]]) for lab in labs}
  bins = np.linspace(0, max([np.percentile(v, 99) for v in vals.values()] + [1e-6]), 40)
  for lab, v in vals.items():
    ax.hist(v, bins=bins, alpha=0.5, label=f"{lab} (mean {v.mean():.3f})")
  ax.set(xlabel="DeepFool ||r||_2 / ||x||_2", ylabel="examples", title="DeepFool perturbation size")
  ax.legend(fontsize=8)
  markdown.save(fig, path)


def plot_pixels(groups, labs, path) -> None:
  fig, ax = markdown.subplots(figsize=(6, 4))
  for lab in labs:
    accs = [ev(r).pixels() for r in groups[lab]]
    ps = sorted(accs[0])
    ax.plot(ps, [mean_or_nan([a[p] for a in accs]) for p in ps], marker="o", label=lab)
  ax.set(xlabel="probability p a pixel is perturbed", ylabel="accuracy", ylim=(0, 1), title="Random pixel perturbation")
  ax.legend(fontsize=8)
  markdown.save(fig, path)


def plot_pca(groups, labs, path) -> None:
  fig, axes = markdown.subplots(1, len(labs), figsize=(5 * len(labs), 4.5), squeeze=False, layout="constrained")
  for ax, lab in zip(axes[0], labs):
    c = ev(groups[lab][0])
    p, y = np.asarray(c.pca_2d["points"]), np.asarray(c.pca_2d["labels"])
    sc = ax.scatter(p[:, 0], p[:, 1], c=y, cmap="tab10", s=5)
    ax.set(title=f"{lab}: {c.compression_layer} (2-D linear acc. {c.pca_2d['linear_accuracy']:.3f})", xlabel="PC 1",
           ylabel="PC 2")
  fig.colorbar(sc, ax=axes[0].tolist(), label="class")
  markdown.save(fig, path)


def plot_spectra(groups, path) -> None:
  fig, ax = markdown.subplots(figsize=(6, 4))
  for lab, rs in groups.items():
    s = np.asarray(ev(rs[0]).layer("penultimate")["singular_values"])
    ax.semilogy(np.arange(1, len(s) + 1), np.maximum(s / s[0], 1e-8), label=lab)
  ax.set(xlabel="index", ylabel="singular value / largest", ylim=(1e-5, 1.5),
         title="Penultimate representation spectrum (test examples)")
  ax.legend(fontsize=6)
  markdown.save(fig, path)
