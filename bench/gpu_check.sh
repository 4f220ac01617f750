#!/usr/bin/env bash
# One short GPU check for a machine with an NVIDIA GPU: the GPU tests, then the GPU benchmarks.
# Prints what failed; finishes in a few minutes.  Usage: bash bench/gpu_check.sh
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
python -c "import numtorch; print('cuda available:', numtorch.cuda.is_available())"
fail=0
timeout 180 python -m pytest -m gpu -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tail -25 || fail=1
timeout 240 python bench/gpu.py 2>&1 | tail -20 || fail=1
[ $fail -eq 0 ] && echo "gpu_check: OK" || echo "gpu_check: FAILED (see above)"
exit $fail
