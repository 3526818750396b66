# Two commands: `make run` (train and evaluate vanilla + LR on Fashion-MNIST) and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
FMNIST := /usr/share/datasets/fashion-mnist
RUNS ?= runs
# make run evaluates 500 test examples; AutoAttack (standard) at eps 0.05 on the first 200 of them keeps
# it under 15 minutes on 2 cores (on all 500 at every eps it alone takes ~10 minutes per model).
RUN_EVAL ?= --config.eval.autoattack.eps='(0.05,)' --config.eval.autoattack.examples=200

.PHONY: run test bench experiments page docs data venv clean

# the pinned set, then this package itself (editable: scripts anywhere import the checkout, and
# lowrank-train / lowrank-eval land in .venv/bin)
venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	PYTHONWARNINGS=ignore $(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@touch $@

# the API reference's tool (pdoc), kept out of the core requirements
$(VENV)/.docs-installed: $(VENV)/.installed requirements-docs.txt
	$(PY) -m pip install -q -r requirements-docs.txt
	@touch $@

data:
	@if [ -f $(FMNIST)/train-images-idx3-ubyte.gz ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian package dataset-fashion-mnist"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) >/dev/null; \
	else \
	  echo "Fashion-MNIST is missing from $(FMNIST): run 'sudo apt-get install dataset-fashion-mnist'"; \
	  echo "or put the four IDX .gz files in a folder and pass --config.dataset.data_dir=FOLDER"; exit 1; \
	fi

run: venv data
	$(PY) train.py --config configs/default.py --workdir $(RUNS)/vanilla --config.method=vanilla
	$(PY) train.py --config configs/default.py --workdir $(RUNS)/lowrank
	$(PY) eval.py --workdir $(RUNS)/vanilla $(RUN_EVAL)
	$(PY) eval.py --workdir $(RUNS)/lowrank --transfer_from $(RUNS)/vanilla $(RUN_EVAL)
	$(PY) -m lowrank_jax.summary $(RUNS)/vanilla $(RUNS)/lowrank

test: venv data $(VENV)/.docs-installed
	$(PY) -m pytest -q -n 2 --dist worksteal --durations=15 tests

# The paper's claims re-measured: each spec of experiments/specs/ trained and evaluated (resumable; each row's JSON
# under docs/results/), then docs/RESULTS.md from the JSON. QUICK=1: a smoke run of every code path in
# runs/experiments_quick (< 10 minutes). SPECS="claims" ARGS="--only lr_s0": a subset; ARGS=--commit commits each row;
# ARGS="--add masking": an evaluator run on the finished rows' checkpoints and merged into their JSON.
# cifar10_curves and cifar10 (its grid, which evaluates the curves' seed-0 runs rather than training them again)
# read CIFAR-10 from ../shared/data/cifar10 (see its README).
SPECS ?= curves sweep sweep_anchor sweep_check claims paper_2ep ablations cifar10_curves cifar10
QUICK_SPECS := curves sweep sweep_check claims
experiments: venv data
	@if [ "$(QUICK)" = 1 ]; then \
	  QUICK=1 $(PY) experiments/run.py $(QUICK_SPECS) $(ARGS) && \
	  $(PY) experiments/page.py --results runs/experiments_quick/results --first docs/results/paper \
	    --page runs/experiments_quick/RESULTS.md; \
	else \
	  $(PY) experiments/run.py $(SPECS) $(ARGS) && $(PY) experiments/page.py; \
	fi

# docs/RESULTS.md and docs/figures from the committed JSON alone
page: venv
	$(PY) experiments/page.py

# the API reference: HTML from the docstrings into docs/api/ (git-ignored); fails listing any public name without one
docs: venv $(VENV)/.docs-installed
	$(PY) docs/make_api.py --out docs/api

# side-by-side benchmarks -> docs/BENCHMARKS.md (torch/torchattacks parts need requirements-bench.txt)
bench: venv data
	$(PY) -m pip install -q -r requirements-bench.txt && $(PY) -m pip install -q --no-deps torchattacks==3.5.1 pyautoattack==0.2.0
	$(PY) bench/shards.py
	$(PY) bench/report.py
	$(PY) bench/checkpoint.py

clean:
	rm -rf $(RUNS)
