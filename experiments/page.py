"""docs/RESULTS.md and docs/figures/*.png from the raw JSON under docs/results/ (nothing else is read).

  python experiments/page.py                       # rewrite the page from the committed JSON
  python experiments/page.py --results DIR --page FILE --figures DIR   # another tree (the quick runs')

Sections: the verdicts (experiments/claims.py applied to the claims grid, beside the
2-epoch first pass), the learning curves, the validation sweep, one section per claim, the ablations.
Hand-written notes (NOTES.md beside a results folder's JSON) are included verbatim.
This module reads the claims; nothing imports it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top (the repository root on the path first: this file runs as a script)
from experiments import claims
from experiments.page_ablations import section_ablations
from experiments.page_cifar import recipe_line, section_cifar  # noqa: F401
from experiments.page_claims import (plot_spectra, section_compression, section_deepfool, section_pgd,  # noqa: F401
                                     section_pixels, section_stability, seed_by_seed)
from experiments.page_common import ROOT, groups_of, load_dir, rows_of, section_summary, underfitted  # noqa: F401
from experiments.page_curves import curves_paired, curves_summary, gain_fades, section_curves, section_sweep  # noqa: F401
from lowrank_jax import markdown, runfiles, spec_runner

def not_yet_run(spec_path: str, grid: dict[str, dict]) -> str:
  """The evaluated rows of a spec without a result in grid, by label with their seeds ("" when none)."""
  runs = [r for r in spec_runner.load_spec(spec_path).runs if r.evaluate]
  missing: dict[str, list[str]] = {r.label: [] for r in runs}  # in the spec's order of entries
  for r in runs:
    if r.name not in grid:
      missing[r.label].append(r.name.rsplit("_s", 1)[-1])
  missing = {lab: sorted(s, key=int) for lab, s in missing.items() if s}
  if not missing:
    return ""
  n = sum(map(len, missing.values()))
  return (f"Not yet run: {n} of the {len(runs)} rows of `experiments/specs/{os.path.basename(spec_path)}`: "
          + "; ".join(f"{lab} (seed{'s' if len(s) > 1 else ''} {', '.join(s)})" for lab, s in missing.items()) + ".")


MACHINE_CORES = 2  # the machine the cost lines are given on


def _on_machine(s: dict) -> float:
  """What one row's seconds ({"train", "eval", "cores"?, "platform"?}) are worth on a MACHINE_CORES machine: times the
  CPU cores it ran on over MACHINE_CORES (a shard pinned to one core costs half its wall time); a row that does not
  record its cores counts as MACHINE_CORES, one on an accelerator as its wall time."""
  return 1.0 if s.get("platform", "cpu") != "cpu" else s.get("cores", MACHINE_CORES) / MACHINE_CORES


def _compute(results: dict[str, dict]) -> str:
  """The cost line of a grid: hours of a MACHINE_CORES-core machine, training and evaluation, from the JSON's seconds."""
  secs = [r["seconds"] for r in results.values() if "seconds" in r and not r.get("trained_by")]
  reused = [r["seconds"] for r in results.values() if "seconds" in r and r.get("trained_by")]
  train = sum(s["train"] * _on_machine(s) for s in secs)
  ev = sum(s["eval"] * _on_machine(s) for s in secs + reused)
  resumed = sum(bool(r["seconds"].get("resumed")) for r in results.values()
                if "seconds" in r and not r.get("trained_by") and "parked" not in r)
  recorded = [s for s in secs + reused if "cores" in s]
  notes = ["the sum of the JSON's `seconds`"]
  if recorded:
    notes[0] += f", each row's times the CPU cores it ran on over {MACHINE_CORES}"
    if len(recorded) < len(secs + reused):
      notes.append(f"{len(secs + reused) - len(recorded)} row(s) that predate that record count as "
                   f"{MACHINE_CORES} cores: an upper bound")
  elsewhere = [s["platform"] for s in secs + reused if s.get("platform", "cpu") != "cpu"]
  if elsewhere:
    notes.append(f"{len(elsewhere)} row(s) ran on {', '.join(sorted(set(elsewhere)))}: their seconds count as they are")
  if resumed:
    notes.append(f"{resumed} row(s) resumed from a checkpoint, whose training seconds count only the part after the "
                 "resume")
  if reused:
    notes.append(f"{len(reused)} row(s) trained by the learning curves, whose training counts there")
  parked = sum("parked" in r for r in results.values() if "seconds" in r)
  if parked:
    notes.append(f"{parked} row(s) trained elsewhere and parked under models/ (`experiments/run.py "
                 "--park`), whose training seconds are not in their JSON")
  return (f"{(train + ev) / 3600:.2f} h on {MACHINE_CORES} CPU cores ({train / 3600:.2f} h training, "
          f"{ev / 3600:.2f} h evaluation; " + "; ".join(notes) + ")")


README_START, README_END = "<!-- claims table: experiments/page.py writes it -->", "<!-- end of the claims table -->"


def readme_table(new: list[claims.Verdict], old: list[claims.Verdict] | None, source: str, pending: str = "",
                 cifar: list[claims.Verdict] | None = None, cifar_rows: str = "") -> list[str]:
  """The README's claims table: each verdict (and the first pass's, when the grid exists), and pending (the grid's
  measured cost and its rows not yet run); cifar: the verdicts on the CIFAR-10 grid, first (cifar_rows: how many of
  its rows they read); the numbers each verdict read are on docs/RESULTS.md."""
  header = ["claim"] + ([f"CIFAR-10 ({cifar_rows})" if cifar_rows else "CIFAR-10", "Fashion-MNIST"] if cifar
                        else ["verdict"]) + (["Fashion-MNIST, 2 epochs" if cifar else "2 epochs"] if old else [])
  rows = [[f"{v.claim}. {v.title}"] + ([f"**{c.verdict}**", v.verdict] if cifar else [f"**{v.verdict}**"])
          + ([o.verdict] if old else []) for v, o, c in zip(new, old or new, cifar or new)]
  on = (f"the CIFAR-10 grid (`docs/results/cifar10/`, the paper's setting) and, on Fashion-MNIST, {source}" if cifar
        else source)
  return [README_START, f"Verdicts of `experiments/claims.py` on {on}; the numbers each one read are on "
          "[docs/RESULTS.md](docs/RESULTS.md).", ""] + markdown.table(header, rows) + (["", pending] if pending else []) \
      + [README_END]


def update_readme(path: str, block: list[str]) -> None:
  """Replaces the README's claims table (between its markers) with block."""
  text = open(path).read()
  if README_START not in text or README_END not in text:
    raise ValueError(f"{path} lacks the markers of the claims table ({README_START!r} ... {README_END!r})")
  head, rest = text.split(README_START, 1)
  tail = rest.split(README_END, 1)[1]
  runfiles.write_text_atomic(path, head + "\n".join(block) + tail)


CLAIMS_SPEC = os.path.join(ROOT, "experiments", "specs", "claims.json")
CIFAR_SPEC = os.path.join(ROOT, "experiments", "specs", "cifar10.json")


def write(page: str, results_dir: str, figures_dir: str | None = None, first_dir: str | None = None,
          readme: str | None = None, spec: str | None = None, cifar_spec: str | None = None) -> None:
  """Writes the page from results_dir/{claims, paper, curves, sweep, sweep_anchor, sweep_check, ablations}/*.json
  (those present); first_dir: the
  2-epoch first pass, if not results_dir/paper; spec: the claims spec whose rows without a result the page and the
  README's table list; cifar_spec: the same for the CIFAR-10 grid (results_dir/cifar10), whose section leads."""
  figures_dir = figures_dir or os.path.join(os.path.dirname(page), "figures")
  os.makedirs(figures_dir, exist_ok=True)
  rel = lambda p: os.path.relpath(p, os.path.dirname(page))
  grid, curves, sweep, anchor, check, ablations, cifar, cifar_curves = (
      load_dir(os.path.join(results_dir, d))
      for d in ("claims", "curves", "sweep", "sweep_anchor", "sweep_check", "ablations", "cifar10", "cifar10_curves"))
  first = load_dir(first_dir or os.path.join(results_dir, "paper"))
  L = ["# Results", "", "Every number on this page is read from the raw JSON under `docs/results/`; "
       "`python experiments/page.py` rewrites it, `make experiments` reruns everything (2 CPU cores; no GPU was used). "
       "Verdicts are computed by the functions of `experiments/claims.py` from the same JSON.", ""]
  main = grid or first
  if main:
    groups = groups_of(main)
    rows = rows_of(groups)
    new = claims.verdicts(rows)
  cifar_verdicts = claims.verdicts(rows_of(groups_of(cifar))) if cifar else None
  if cifar or cifar_spec or cifar_curves:
    recipe = os.path.join(results_dir, "cifar10_recipe.json")
    L += section_cifar(cifar, not_yet_run(cifar_spec, cifar) if cifar_spec else "", cifar_curves, rel, figures_dir,
                       recipe=json.load(open(recipe)) if os.path.exists(recipe) else None, verdicts=cifar_verdicts,
                       fmnist=new if main else None)
    L += ["## Fashion-MNIST", "", "Everything below, through the ablations, is on Fashion-MNIST (a dataset the paper "
          "did not use): the CNN of the paper's MNIST experiments and a ResNet-18 at width 1/4.", ""]
  if main:
    old = claims.verdicts(rows_of(groups_of(first))) if grid and first else None
    which = "the claims grid (`docs/results/claims/`)" if grid else "the 2-epoch first pass (`docs/results/paper/`)"
    L += [f"Claims read {which}: {len(main)} row{'' if len(main) == 1 else 's'}, {_compute(main)}.", ""]
    pending = not_yet_run(spec, grid) if spec and grid else ""
    L += [pending, ""] if pending else []
    L += section_summary(new, old)
    if readme:
      cost = (f"{'Fashion-MNIST: m' if cifar else 'M'}easured cost of the {len(main)} "
              f"row{'' if len(main) == 1 else 's'}{' so far' if pending else ''}: {_compute(main)}.")
      cifar_total = len([r for r in spec_runner.load_spec(cifar_spec).runs if r.evaluate]) if cifar_spec else 0
      cifar_rows = f"{len(cifar)} of {cifar_total} rows" if cifar_total > len(cifar) else ""
      cifar_pending = not_yet_run(cifar_spec, cifar) if cifar and cifar_spec else ""
      cifar_cost = (f"CIFAR-10: measured cost of the {len(cifar)} row{'' if len(cifar) == 1 else 's'}"
                    f"{' so far' if cifar_pending else ''}: {_compute(cifar)}." if cifar else "")
      update_readme(readme, readme_table(new, old, which, " ".join(x for x in (cifar_cost, cifar_pending, cost, pending)
                                                                   if x), cifar_verdicts, cifar_rows))
  if curves:
    L += section_curves(curves, rel, figures_dir, grid)
  if sweep:
    L += section_sweep(sweep, rel, figures_dir, anchor, check)
    L += gain_fades(check, curves, rows) if check and curves and main else []
  if main:
    L += section_pgd(groups, rows, rel, figures_dir)
    L += section_deepfool(groups, rows, rel, figures_dir)
    L += section_pixels(groups, rows, rel, figures_dir)
    L += section_stability(groups, rows)
    L += section_compression(groups, rows, rel, figures_dir)
    fig = os.path.join(figures_dir, "spectra_all.png")
    plot_spectra({k: v for k, v in groups.items() if k in rows}, fig)
    L += ["## Spectra of the representations", "", f"![spectra]({rel(fig)})", ""]
  if ablations:
    notes_path = os.path.join(results_dir, "ablations", "NOTES.md")
    notes = open(notes_path).read() if os.path.exists(notes_path) else ""
    L += section_ablations(ablations, notes, rel, figures_dir)
  runfiles.write_text_atomic(page, "\n".join(L) + "\n")


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--results", default=os.path.join(ROOT, "docs", "results"))
  ap.add_argument("--page", default=os.path.join(ROOT, "docs", "RESULTS.md"))
  ap.add_argument("--figures", default=None)
  ap.add_argument("--first", default=None, help="the 2-epoch first pass's JSON (default RESULTS/paper)")
  ap.add_argument("--readme", default=None, help="a README whose claims table to rewrite (default: ours, when the "
                  "page is docs/RESULTS.md)")
  a = ap.parse_args()
  default_page = os.path.abspath(a.page) == os.path.join(ROOT, "docs", "RESULTS.md")
  write(a.page, a.results, a.figures, a.first, a.readme or (os.path.join(ROOT, "README.md") if default_page else None),
        **(dict(spec=CLAIMS_SPEC, cifar_spec=CIFAR_SPEC)
           if os.path.abspath(a.results) == os.path.join(ROOT, "docs", "results") else {}))
  print(f"wrote {a.page}")


if __name__ == "__main__":
  main()
