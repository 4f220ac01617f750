#!/usr/bin/env bash
# One short GPU check for a machine with an NVIDIA GPU: the GPU tests and the GPU benchmarks.
# Usage: bash bench/gpu_check.sh        (about 8 minutes at most; prints what failed)
#   1. tests/test_gpu.py [cupy]: moves, kernels, models, optimizers, no host syncs   (core, first)
#   2. bench/gpu.py: W1, W2, W4, W5 steps, numtorch against PyTorch on the same GPU ("ratio" lines)
#   3. tests/test_gpu_models.py and tests/test_gpu_ops.py [cupy]: every layer, model and op
# Each step has its own time limit, so a slow step (CuPy compiles every new kernel once) cannot
# hide the others.  The [emulated] halves of these tests run in every CI run without a GPU.
set -u -o pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src:$PWD/tests${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
python -c "import numtorch, cupy; print('cuda available:', numtorch.cuda.is_available(), '| cupy', cupy.__version__)"
failed=""
step() {  # step NAME SECONDS COMMAND...
    local name=$1 secs=$2; shift 2
    echo "=== $name (limit ${secs}s)"
    timeout "$secs" "$@" 2>&1 | tail -30 || failed="$failed $name"
}
PYTEST=(python -m pytest -m gpu -q --maxfail=25 -p no:cacheprovider -o addopts="")
step core-tests 120 "${PYTEST[@]}" tests/test_gpu.py
step benchmarks 240 python bench/gpu.py --iters 30
step model-tests 120 "${PYTEST[@]}" tests/test_gpu_models.py
step op-tests 120 "${PYTEST[@]}" tests/test_gpu_ops.py
[ -z "$failed" ] && echo "gpu_check: OK" || echo "gpu_check: FAILED:$failed"
[ -z "$failed" ]
