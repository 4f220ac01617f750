"""The promise "a PyTorch training script runs with ``import numtorch as torch``", checked.

Every module in ``tests/scripts/`` is a small, typical PyTorch program written as ``main(torch, seed)``:
it is run once with PyTorch and once with numtorch as its ``torch``, and the returned values must
agree (float32: rtol 1e-4, atol 1e-5). Weights and data come from NumPy, so both runs start equal.
"""
from __future__ import annotations

import importlib
import math
from pathlib import Path

import numpy as np
import pytest

import numtorch

SCRIPTS = sorted(p.stem for p in (Path(__file__).parent / "scripts").glob("[!_]*.py"))
RTOL, ATOL = 1e-4, 1e-5


def _compare(ours, theirs, where: str) -> None:
    """Assert that two returned values agree: arrays and floats within tolerance, the rest exactly."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and list(ours) == list(theirs), f"{where}: keys {list(ours)} != {list(theirs)}"
        for k in theirs:
            _compare(ours[k], theirs[k], f"{where}.{k}")
    elif isinstance(theirs, np.ndarray) or isinstance(theirs, float) and not isinstance(theirs, bool):
        a, b = np.asarray(ours), np.asarray(theirs)
        assert a.shape == b.shape, f"{where}: shape {a.shape} != {b.shape}"
        assert a.dtype.kind == b.dtype.kind, f"{where}: dtype {a.dtype} != {b.dtype}"
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=where)
    elif isinstance(theirs, (list, tuple)) and theirs and not isinstance(theirs[0], (str, bool, int)):
        assert len(ours) == len(theirs), f"{where}: length {len(ours)} != {len(theirs)}"
        for i, (o, t) in enumerate(zip(ours, theirs)):
            _compare(o, t, f"{where}[{i}]")
    else:
        assert type(ours) is type(theirs) and ours == theirs, f"{where}: {ours!r} != {theirs!r}"


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_matches_pytorch(name: str, torch) -> None:
    """The script's results under numtorch equal its results under PyTorch."""
    script = importlib.import_module(f"scripts.{name}")
    expected = script.main(torch, seed=0)
    got = script.main(numtorch, seed=0)
    _compare(got, expected, name)


def test_compare_can_fail() -> None:
    """The comparison itself rejects a wrong loss, a wrong key and a wrong shape."""
    with pytest.raises(AssertionError):
        _compare({"loss": 1.0}, {"loss": 1.001}, "x")
    with pytest.raises(AssertionError):
        _compare({"a": 1.0}, {"b": 1.0}, "x")
    with pytest.raises(AssertionError):
        _compare({"a": np.zeros(3)}, {"a": np.zeros(4)}, "x")
    with pytest.raises(AssertionError):
        _compare({"keys": ["a", "b"]}, {"keys": ["a", "c"]}, "x")
    _compare({"a": [np.ones(2)], "b": math.pi}, {"a": [np.ones(2) + 1e-7], "b": math.pi}, "x")


def test_compat_shims_found_by_the_scripts(torch) -> None:
    """Regression: names a typical script uses that numtorch lacked (constants, no-op switches, pin_memory)."""
    for name in ("pi", "e", "inf", "nan"):
        ours, theirs = getattr(numtorch, name), getattr(torch, name)
        assert ours == theirs or (math.isnan(ours) and math.isnan(theirs)), name
    assert numtorch.use_deterministic_algorithms(True) is None
    assert numtorch.set_float32_matmul_precision("high") is None
    x = numtorch.tensor([1.0, 2.0])
    assert x.pin_memory() is x
    np.testing.assert_array_equal((-numtorch.inf * numtorch.ones(2)).numpy(), [-np.inf, -np.inf])


def test_module_repr_matches_pytorch(torch) -> None:
    """Regression: ``print(model)`` shows what PyTorch shows (LayerNorm's ``bias=``, no extra line in
    MultiheadAttention)."""
    def build(t):
        nn = t.nn
        return nn.Sequential(nn.LayerNorm(4), nn.LayerNorm(4, bias=False), nn.LayerNorm(4, elementwise_affine=False),
                             nn.MultiheadAttention(4, 2, batch_first=True))
    assert repr(build(numtorch)) == repr(build(torch))
