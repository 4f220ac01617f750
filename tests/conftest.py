"""Shared fixtures: ``torch`` (the PyTorch oracle, skipped when absent) and ``data_dir``."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # lets tests `from helpers import check`


@pytest.fixture(scope="session")
def torch():
    """PyTorch on the CPU, the reference implementation (tests using it skip without it)."""
    return pytest.importorskip("torch")


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
