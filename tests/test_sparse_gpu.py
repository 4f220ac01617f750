"""Sparse COO tensors on "cuda" give the CPU's results, forward and backward (see test_gpu_ops.py:
``[cupy]`` on a real GPU, ``[emulated]`` with tests/fake_cupy.py playing CuPy under its rules)."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch

from gpu_backends import backend  # noqa: F401  (autouse: every test runs on [cupy] and [emulated])
from test_gpu_ops import _run

IDX = numtorch.tensor([[2, 0, 2, 1, 0], [1, 3, 1, 0, 0]])  # a 3 x 4 matrix's entries, (2, 1) twice


def _sp(v):
    return numtorch.sparse_coo_tensor(IDX, v, (3, 4))  # the indices follow the values' device


SPARSE = [
    ("sparse_mm", lambda v, d: _sp(v) @ d, (5,), (4, 2)),
    ("dense_mm_sparse", lambda v, d: numtorch.mm(d, _sp(v)), (5,), (2, 3)),
    ("spmm_vector", lambda v, d: numtorch.spmm(_sp(v), d[:, :1]).squeeze(1) + _sp(v) @ d[:, 1], (5,), (4, 2)),
    ("to_dense", lambda v, d: _sp(v).to_dense() * d, (5,), (3, 4)),
    ("coalesce_values", lambda v, d: _sp(v).coalesce().values() * d, (5,), (4,)),
    ("to_sparse", lambda v, d: numtorch.sparse.mm((d * (d > 0)).to_sparse(), v.reshape(5, 1)), (5,), (3, 5)),
]


@pytest.mark.parametrize("name,fn,sa,sb", SPARSE, ids=[c[0] for c in SPARSE])
def test_sparse(name, fn, sa, sb):
    _run(fn, sa, sb)


def test_sparse_tensor_moves_to_cuda_and_back():
    s = _sp(numtorch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]))
    g = s.to("cuda")
    assert g.is_sparse and g.device.type == "cuda" and g._indices().device.type == "cuda"
    np.testing.assert_array_equal(g.to_dense().cpu().numpy(), s.to_dense().numpy())
    assert g.cpu().device.type == "cpu"
