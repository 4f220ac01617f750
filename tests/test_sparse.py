"""Sparse COO tensors: construction, coalesce, to_dense / to_sparse, products with dense matrices.

Three oracles: a NumPy float64 reference (a dense matrix built entry by entry), central differences
(``gradcheck``, float64) for the gradients to the values and to the dense operand, and PyTorch's own
sparse tensors (the ``torch`` fixture) for values, gradients, layouts and error types.
"""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
from numtorch.autograd import gradcheck, gradgradcheck

# PyTorch warns once that its (optional) invariant checks are off; numtorch always checks
pytestmark = pytest.mark.filterwarnings("ignore:Sparse invariant checks are implicitly disabled")

# a 3 x 4 matrix's entries, unsorted, with (2, 1) twice
IDX = [[2, 0, 2, 1, 0], [1, 3, 1, 0, 0]]
VALS = [1.5, -2.0, 0.25, 3.0, 4.0]
SHAPE = (3, 4)


def dense_reference(idx, vals, shape) -> np.ndarray:
    """The matrix the entries describe, summed one entry at a time (repeats add up)."""
    out = np.zeros(shape)
    for e in range(len(vals)):
        out[tuple(int(idx[d][e]) for d in range(len(shape)))] += vals[e]
    return out


def rand(*shape, seed=0, dtype=np.float64) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def sp(vals=VALS, idx=IDX, shape=SHAPE, **kw):
    return numtorch.sparse_coo_tensor(idx, vals, shape, **kw)


# ---- construction and coalesce ----------------------------------------------------------------

def test_construction_keeps_entries_and_their_sum_is_the_matrix():
    s = sp(dtype=numtorch.float64)
    assert s.is_sparse and s.layout is numtorch.sparse_coo and not s.is_coalesced()
    assert s.shape == numtorch.Size(SHAPE) and s.size(1) == 4 and s.dim() == 2 and s._nnz() == 5
    assert s.dtype == numtorch.float64 and s.device.type == "cpu"
    np.testing.assert_array_equal(s._indices().numpy(), IDX)  # kept as given: not coalesced
    np.testing.assert_array_equal(s._values().numpy(), VALS)
    np.testing.assert_array_equal(s.to_dense().numpy(), dense_reference(IDX, VALS, SHAPE))


def test_coalesce_sorts_row_major_and_sums_repeats():
    c = sp(dtype=numtorch.float64).coalesce()
    assert c.is_coalesced() and c._nnz() == 4
    np.testing.assert_array_equal(c.indices().numpy(), [[0, 0, 1, 2], [0, 3, 0, 1]])
    np.testing.assert_array_equal(c.values().numpy(), [4.0, -2.0, 3.0, 1.75])
    assert c.coalesce() is c


def test_indices_of_an_uncoalesced_tensor_is_refused():
    with pytest.raises(RuntimeError, match="Cannot get indices on an uncoalesced tensor, please call .coalesce"):
        sp().indices()
    with pytest.raises(RuntimeError, match="Cannot get values on an uncoalesced tensor"):
        sp().values()


def test_size_is_inferred_and_dtype_converts():
    s = numtorch.sparse_coo_tensor(np.array(IDX, dtype=np.int32), numtorch.ones(5), dtype=numtorch.int64)
    assert s.shape == (3, 4) and s.dtype == numtorch.int64 and s._indices().dtype == numtorch.int64
    np.testing.assert_array_equal(s.to_dense().numpy(), dense_reference(IDX, [1] * 5, (3, 4)))
    assert s.to_dense().dtype == numtorch.int64
    d = s.to(numtorch.float32)
    assert d.is_sparse and d.dtype == numtorch.float32 and s.double().dtype == numtorch.float64
    assert s.to("cpu") is s


def test_matches_pytorch_construction(torch):
    s = sp(dtype=numtorch.float64)
    t = torch.sparse_coo_tensor(IDX, VALS, SHAPE, dtype=torch.float64)
    assert s.is_coalesced() == t.is_coalesced() and s._nnz() == t._nnz()
    c, tc = s.coalesce(), t.coalesce()
    np.testing.assert_array_equal(c.indices().numpy(), tc.indices().numpy())
    np.testing.assert_array_equal(c.values().numpy(), tc.values().numpy())
    assert repr(c) == repr(tc).replace("torch.", "numtorch.")
    i = numtorch.sparse_coo_tensor(IDX, [1, 2, 3, 4, 5], SHAPE)  # int64: no dtype printed
    assert repr(i) == repr(torch.sparse_coo_tensor(IDX, [1, 2, 3, 4, 5], SHAPE)).replace("torch.", "numtorch.")


# ---- to_dense / to_sparse -------------------------------------------------------------------

def test_to_sparse_keeps_the_nonzeros_in_row_major_order():
    a = np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [-1.0, 0.0, 5.0]])
    s = numtorch.tensor(a).to_sparse()
    assert s.is_sparse and s.is_coalesced() and numtorch.tensor(a).layout is numtorch.strided
    np.testing.assert_array_equal(s.indices().numpy(), np.stack(np.nonzero(a)))
    np.testing.assert_array_equal(s.values().numpy(), a[np.nonzero(a)])
    np.testing.assert_array_equal(s.to_dense().numpy(), a)
    assert s.to_sparse() is s
    x = numtorch.tensor(a)
    assert x.to_dense() is x


def test_round_trip_matches_pytorch(torch):
    a = rand(4, 5) * (rand(4, 5, seed=1) > 0.3)
    s, t = numtorch.tensor(a).to_sparse(), torch.tensor(a).to_sparse()
    np.testing.assert_array_equal(s.indices().numpy(), t.indices().numpy())
    np.testing.assert_array_equal(s.values().numpy(), t.values().numpy())
    np.testing.assert_array_equal(s.to_dense().numpy(), t.to_dense().numpy())


def test_to_dense_and_coalesce_gradients_are_numerical():
    idx = IDX
    assert gradcheck(lambda v: numtorch.sparse_coo_tensor(idx, v, SHAPE).to_dense(),
                     numtorch.tensor(rand(5), requires_grad=True))
    assert gradcheck(lambda v: numtorch.sparse_coo_tensor(idx, v, SHAPE).coalesce().values() ** 2,
                     numtorch.tensor(rand(5), requires_grad=True))


def test_to_sparse_gradient_goes_to_the_dense_nonzeros():
    a = numtorch.tensor([[0.0, 2.0], [3.0, 0.0]], dtype=numtorch.float64, requires_grad=True)
    b = numtorch.tensor(rand(2, 3))
    (a.to_sparse() @ b).sum().backward()
    # d/da_ij of sum(A @ B) = sum_k B_jk, at the nonzeros of a only (the sparse tensor's entries)
    expected = b.numpy().sum(1)[None, :] * (a.detach().numpy() != 0)
    np.testing.assert_allclose(a.grad.numpy(), expected, rtol=1e-12)


# ---- products ---------------------------------------------------------------------------------

PRODUCTS = {
    "@": lambda s, d: s @ d,
    "torch.mm": lambda s, d: numtorch.mm(s, d),
    "torch.matmul": lambda s, d: numtorch.matmul(s, d),
    "torch.spmm": lambda s, d: numtorch.spmm(s, d),
    "torch.sparse.mm": lambda s, d: numtorch.sparse.mm(s, d),
    "Tensor.mm": lambda s, d: s.mm(d),
}


@pytest.mark.parametrize("name", list(PRODUCTS))
def test_sparse_times_dense_is_the_dense_product(name):
    d = rand(4, 3)
    y = PRODUCTS[name](sp(dtype=numtorch.float64), numtorch.tensor(d))
    assert not y.is_sparse and y.layout is numtorch.strided and y.shape == (3, 3)
    np.testing.assert_allclose(y.numpy(), dense_reference(IDX, VALS, SHAPE) @ d, rtol=1e-12, atol=1e-14)


def test_dense_times_sparse_vector_and_sparse_times_sparse():
    A = dense_reference(IDX, VALS, SHAPE)
    s = sp(dtype=numtorch.float64)
    d = rand(2, 3)
    y = numtorch.tensor(d) @ s
    assert not y.is_sparse
    np.testing.assert_allclose(y.numpy(), d @ A, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(numtorch.mm(numtorch.tensor(d), s).numpy(), d @ A, rtol=1e-12, atol=1e-14)
    v = rand(4)
    np.testing.assert_allclose((s @ numtorch.tensor(v)).numpy(), A @ v, rtol=1e-12, atol=1e-14)
    ss = s @ numtorch.tensor(A.T).to_sparse()
    assert ss.is_sparse
    np.testing.assert_allclose(ss.to_dense().numpy(), A @ A.T, rtol=1e-12, atol=1e-14)


def test_empty_rows_and_no_entries():
    d = rand(4, 2)
    s = numtorch.sparse_coo_tensor([[2], [3]], [2.0], (3, 4), dtype=numtorch.float64)  # rows 0, 1 empty
    np.testing.assert_array_equal((s @ numtorch.tensor(d)).numpy(), np.vstack([np.zeros((2, 2)), 2 * d[3:]]))
    e = numtorch.sparse_coo_tensor(np.zeros((2, 0), np.int64), numtorch.zeros(0, dtype=numtorch.float64), (3, 4))
    np.testing.assert_array_equal((e @ numtorch.tensor(d)).numpy(), np.zeros((3, 2)))
    assert e.to_dense().shape == (3, 4) and not e.to_dense().numpy().any()


def test_the_gcn_normalisation():
    """D^-1/2 (I + A) D^-1/2 with D^-1/2 a sparse diagonal (gcn's load_cora): as NumPy computes it."""
    rng = np.random.default_rng(3)
    V = 6
    edges = rng.integers(0, V, (2, 9)).astype(np.int32)
    adj = numtorch.eye(V) + numtorch.sparse_coo_tensor(edges, numtorch.ones(9), (V, V), dtype=numtorch.int64)
    assert not adj.is_sparse and adj.dtype == numtorch.float32
    deg = numtorch.sqrt(1 / numtorch.sum(adj, dim=1))
    d = numtorch.diag(deg).to_sparse()
    out = (d @ adj @ d).to_sparse()
    a = np.eye(V) + dense_reference(edges, [1] * 9, (V, V))
    s = 1 / np.sqrt(a.sum(1))
    np.testing.assert_allclose(out.to_dense().numpy(), s[:, None] * a * s[None, :], rtol=1e-6)


def test_sparse_plus_dense_and_sparse_plus_sparse():
    A = dense_reference(IDX, VALS, SHAPE)
    s = sp(dtype=numtorch.float64)
    d = rand(3, 4)
    np.testing.assert_array_equal((numtorch.tensor(d) + s).numpy(), d + A)
    np.testing.assert_array_equal((s + numtorch.tensor(d)).numpy(), A + d)
    two = s + s
    assert two.is_sparse and two._nnz() == 10
    np.testing.assert_array_equal(two.to_dense().numpy(), 2 * A)


def test_product_gradients_are_numerical():
    def f(v, d):
        return numtorch.sparse_coo_tensor(IDX, v, SHAPE) @ d

    def g(d, v):
        return d @ numtorch.sparse_coo_tensor(IDX, v, SHAPE)

    v, d = numtorch.tensor(rand(5), requires_grad=True), numtorch.tensor(rand(4, 3, seed=1), requires_grad=True)
    assert gradcheck(f, (v, d)) and gradgradcheck(f, (v, d))
    d2 = numtorch.tensor(rand(2, 3, seed=2), requires_grad=True)
    assert gradcheck(g, (d2, v)) and gradgradcheck(g, (d2, v))


def test_products_and_gradients_match_pytorch(torch):
    d, gy = rand(4, 3, seed=1), rand(3, 3, seed=2)
    v = numtorch.tensor(VALS, dtype=numtorch.float64, requires_grad=True)
    x = numtorch.tensor(d, requires_grad=True)
    y = numtorch.sparse.mm(numtorch.sparse_coo_tensor(IDX, v, SHAPE), x)
    y.backward(numtorch.tensor(gy))
    tv = torch.tensor(VALS, dtype=torch.float64, requires_grad=True)
    tx = torch.tensor(d, requires_grad=True)
    ty = torch.sparse.mm(torch.sparse_coo_tensor(IDX, tv, SHAPE), tx)
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(v.grad.numpy(), tv.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_gcn_layer_float32_matches_pytorch(torch):
    """gcn's GraphConv: spmm(adj, mm(features_sparse, W)) in float32, forward and dW."""
    feats = (rand(6, 5, seed=4) > 0.5).astype(np.float32)
    adj = ((rand(6, 6, seed=5) > 0.8) + np.eye(6)).astype(np.float32)
    w, gy = rand(5, 3, seed=6, dtype=np.float32), rand(6, 3, seed=7, dtype=np.float32)
    W = numtorch.tensor(w, requires_grad=True)
    y = numtorch.spmm(numtorch.tensor(adj).to_sparse(), numtorch.mm(numtorch.tensor(feats).to_sparse(), W))
    y.backward(numtorch.tensor(gy))
    tW = torch.tensor(w, requires_grad=True)
    ty = torch.spmm(torch.tensor(adj).to_sparse(), torch.mm(torch.tensor(feats).to_sparse(), tW))
    ty.backward(torch.tensor(gy))
    # sums of at most 12 products of O(1) terms: a few float32 eps
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(W.grad.numpy(), tW.grad.numpy(), rtol=1e-5, atol=1e-5)


# ---- errors -----------------------------------------------------------------------------------

def test_mismatched_shapes_are_refused_naming_them(torch):
    s, d = sp(), numtorch.ones(3, 2)
    for f in (lambda: s @ d, lambda: numtorch.mm(s, d), lambda: numtorch.sparse.mm(s, d),
              lambda: numtorch.spmm(s, d), lambda: numtorch.ones(2, 2) @ s):
        with pytest.raises(RuntimeError, match=r"shapes \((3, 4|2, 2)\) and \((3, 2|3, 4)\) cannot be multiplied"):
            f()
    with pytest.raises(RuntimeError):  # PyTorch's type for the same call
        torch.sparse.mm(torch.sparse_coo_tensor(IDX, VALS, SHAPE), torch.ones(3, 2))


def test_mismatched_dtypes_are_refused(torch):
    with pytest.raises(RuntimeError, match="same dtype, but got numtorch.float32 and numtorch.float64"):
        numtorch.sparse.mm(sp(), numtorch.ones(4, 2, dtype=numtorch.float64))
    with pytest.raises(RuntimeError):
        torch.sparse.mm(torch.sparse_coo_tensor(IDX, VALS, SHAPE), torch.ones(4, 2, dtype=torch.float64))


@pytest.mark.parametrize("idx,vals,size,message", [
    ([[0, 1]], [1.0, 2.0, 3.0], (3,), "indices and values must have same nnz, but got nnz from indices: 2, "
                                      "nnz from values: 3"),
    ([0, 1], [1.0, 2.0], (3,), r"indices must be sparse_dim x nnz, but got: \[2\]"),
    ([[0, 1]], [1.0, 2.0], (3, 3), r"'len\(size\) == sparse_dim \+ dense_dim' is not satisfied"),
    ([[0, 5]], [1.0, 2.0], (3,), "size is inconsistent with indices: for dim 0, size is 3 but found index 5"),
    ([[0, -1]], [1.0, 2.0], (3,), "found negative index -1 for dim 0"),
])
def test_bad_construction_is_refused_as_pytorch_does(torch, idx, vals, size, message):
    with pytest.raises(RuntimeError, match=message):
        numtorch.sparse_coo_tensor(idx, vals, size)
    with pytest.raises(RuntimeError, match=message):
        torch.sparse_coo_tensor(idx, vals, size, check_invariants=True)


def test_dense_ops_on_a_sparse_tensor_raise_not_implemented(torch):
    with pytest.raises(NotImplementedError, match="sparse_coo.*to_dense"):
        sp().exp()
    with pytest.raises(NotImplementedError):
        torch.sparse_coo_tensor(IDX, VALS, SHAPE).exp()
