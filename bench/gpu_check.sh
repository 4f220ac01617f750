#!/usr/bin/env bash
# One short GPU check for a machine with an NVIDIA GPU: the GPU tests, then the GPU benchmarks.
# Prints what failed; finishes in about 5 minutes.  Usage: bash bench/gpu_check.sh
#   1. the [cupy] half of every tests/test_gpu*.py (the [emulated] half runs in every CI run);
#   2. bench/gpu.py: W1, W2, W4, W5 steps, numtorch against PyTorch on the same GPU ("ratio" lines).
set -u -o pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src:$PWD/tests${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
python -c "import numtorch, cupy; print('cuda available:', numtorch.cuda.is_available(), '| cupy', cupy.__version__)"
fail=0
timeout 200 python -m pytest -m gpu -q --maxfail=25 -p no:cacheprovider -o addopts="" tests/test_gpu*.py \
    2>&1 | tail -40 || fail=1
timeout 240 python bench/gpu.py --iters 30 2>&1 | tail -20 || fail=1
[ $fail -eq 0 ] && echo "gpu_check: OK" || echo "gpu_check: FAILED (see above)"
exit $fail
