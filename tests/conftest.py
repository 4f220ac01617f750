"""Shared fixtures: ``torch`` (the PyTorch oracle, skipped when absent) and ``data_dir``."""
from __future__ import annotations

import os
import sys
from pathlib import Path

# One BLAS thread per test process: the suite runs as two pytest-xdist workers on two cores, and
# more threads than cores make small matrix products spin and run ten times slower.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402

try:  # NumPy may already be imported (by a plugin): limit its BLAS pool at run time as well
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
except ImportError:
    pass

sys.path.insert(0, str(Path(__file__).resolve().parent))  # lets tests `from helpers import check`


@pytest.fixture(scope="session")
def torch():
    """PyTorch on the CPU, the reference implementation (tests using it skip without it)."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``../shared/data`` relative to the repository root; skips the test when it is absent."""
    d = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not d.is_dir():
        pytest.skip(f"data directory {d} not found")
    return d


@pytest.fixture(autouse=True)
def _restore_global_state():
    """Every test starts with float32 as default dtype and grad mode on, whatever the last one did."""
    import numtorch
    from numtorch.autograd.grad_mode import GradMode
    yield
    numtorch.set_default_dtype(numtorch.float32)
    GradMode.enabled = True
