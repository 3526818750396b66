#!/usr/bin/env bash
# The GPU benchmark (bench/gpu.py) on a lent accelerator, from a copy of the tree: < 8 minutes on one H200.
#
# Its image has jax (CUDA), flax, optax, chex, orbax and torch, but not ml_collections, tensorboardX or torchattacks, and no
# network. Fetch their wheels here first (they travel with the tree in .whl/, which .gitignore names):
#   bash bench/gpu.sh --fetch-wheels
# (and Fashion-MNIST into .data/); then on the accelerator machine, carrying .whl and .data:  bash bench/gpu.sh   (writes docs/results/bench_gpu.json, and $OUT/ if set)
# and here: python bench/report.py --from-json   (adds the GPU section to docs/BENCHMARKS.md).
# On a CPU: bash bench/gpu.sh --small   (small sizes, seconds; tests/bench_test.py runs gpu.py that way).
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=".whl"
if [[ "${1:-}" == "--fetch-wheels" ]]; then
  mkdir -p "$WHEELS"
  for spec in ml_collections==1.1.0 torchattacks==3.5.1 tensorboardX==2.6.5; do  # the rest is in the image
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d "$WHEELS" "$spec"
  done
  mkdir -p .data && cp -r /usr/share/datasets/fashion-mnist .data/  # the image has no Debian datasets
  ls "$WHEELS" .data/fashion-mnist; exit 0
fi
PY="${PYTHON:-$( [[ -x .venv/bin/python ]] && echo .venv/bin/python || echo python3 )}"
if [[ "${1:-}" == "--small" ]]; then
  exec env PYTHONUNBUFFERED=1 "$PY" bench/gpu.py --small --out "${2:-${TMPDIR:-/tmp}/bench_gpu_small.json}"
fi
DATA=""; [[ -d .data/fashion-mnist ]] && DATA=".data/fashion-mnist"
if compgen -G "$WHEELS/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
env PYTHONUNBUFFERED=1 "$PY" bench/gpu.py --out docs/results/bench_gpu.json --data-dir "$DATA"
if [[ -n "${OUT:-}" ]]; then cp docs/results/bench_gpu.json "$OUT/"; fi
