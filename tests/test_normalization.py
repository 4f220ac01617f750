"""layer_norm / rms_norm / embedding and their modules: NumPy forward, PyTorch forward+backward, gradcheck."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
import numtorch.nn.functional as F
from helpers import assert_close, check, lib


def _np_layer_norm(x, k, w=None, b=None, eps=1e-5):
    axes = tuple(range(x.ndim - k, x.ndim))
    y = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)
    return y * (1 if w is None else w) + (0 if b is None else b)


@pytest.mark.parametrize("shape,norm", [((3, 5, 4), (4,)), ((2, 3, 4), (3, 4)), ((6, 7), (7,))])
def test_layer_norm_affine(shape, norm):
    check(lambda x, w, b: lib(x).nn.functional.layer_norm(x, norm, w, b), shape, norm, norm,
          np_fn=lambda x, w, b: _np_layer_norm(x, len(norm), w, b))


def test_layer_norm_without_affine_and_eps():
    check(lambda x: lib(x).nn.functional.layer_norm(x, (5,), eps=1e-3), (4, 5),
          np_fn=lambda x: _np_layer_norm(x, 1, eps=1e-3))
    check(lambda x, w: lib(x).nn.functional.layer_norm(x, (5,), w), (4, 5), (5,),
          np_fn=lambda x, w: _np_layer_norm(x, 1, w))


def test_layer_norm_large_offset_is_stable_and_float32_stays_float32():
    x = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32) + 1e4
    y = F.layer_norm(numtorch.tensor(x), (8,))
    assert y.dtype == numtorch.float32
    # float32 keeps ~3 decimals of 1e4 + x: compare with the exact float64 result of the same inputs
    assert_close(y, _np_layer_norm(x.astype(np.float64), 1), atol=2e-3)


def test_layer_norm_shape_error():
    with pytest.raises(RuntimeError, match="layer_norm.*normalized_shape"):
        F.layer_norm(numtorch.ones(2, 3), (4,))


def test_rms_norm(torch):
    check(lambda x, w: lib(x).nn.functional.rms_norm(x, (4,), w, 1e-6), (3, 2, 4), (4,),
          np_fn=lambda x, w: x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-6) * w)
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    assert_close(F.rms_norm(numtorch.tensor(x), (4,)), torch.nn.functional.rms_norm(torch.tensor(x), (4,)))


@pytest.mark.parametrize("kw", [{}, {"bias": False}, {"elementwise_affine": False}, {"eps": 1e-3}])
def test_layernorm_module_matches_torch(torch, kw):
    tm = torch.nn.LayerNorm((3, 4), dtype=torch.float64, **kw)
    nm = numtorch.nn.LayerNorm((3, 4), dtype=numtorch.float64, **kw)
    assert list(tm.state_dict()) == list(nm.state_dict())
    rng = np.random.default_rng(0)
    for p, q in zip(tm.parameters(), nm.parameters()):
        v = rng.standard_normal(tuple(p.shape))
        p.data = torch.tensor(v)
        q.data = numtorch.tensor(v)
    x = rng.standard_normal((2, 3, 4))
    tx, nx = torch.tensor(x, requires_grad=True), numtorch.tensor(x, requires_grad=True)
    g = rng.standard_normal((2, 3, 4))
    to, no = tm(tx), nm(nx)
    to.backward(torch.tensor(g))
    no.backward(numtorch.tensor(g))
    assert_close(no, to)
    assert_close(nx.grad, tx.grad)
    for p, q in zip(tm.parameters(), nm.parameters()):
        assert_close(q.grad, p.grad)


def test_rmsnorm_module(torch):
    tm, nm = torch.nn.RMSNorm(4, eps=1e-5), numtorch.nn.RMSNorm(4, eps=1e-5)
    assert list(tm.state_dict()) == list(nm.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    assert_close(nm(numtorch.tensor(x)), tm(torch.tensor(x)))


# ---- embedding ---------------------------------------------------------------------------------

IDX = np.array([[1, 2, 1, 4], [0, 4, 4, 3]])


def test_embedding_functional():
    check(lambda w: lib(w).nn.functional.embedding(lib(w).tensor(IDX), w), (5, 3),
          np_fn=lambda w: w[IDX])


def test_embedding_padding_idx_gets_no_gradient(torch):
    w = np.random.default_rng(0).standard_normal((5, 3))
    tw, nw = torch.tensor(w, requires_grad=True), numtorch.tensor(w, requires_grad=True)
    g = np.random.default_rng(1).standard_normal(IDX.shape + (3,))
    torch.nn.functional.embedding(torch.tensor(IDX), tw, padding_idx=4).backward(torch.tensor(g))
    F.embedding(numtorch.tensor(IDX), nw, padding_idx=4).backward(numtorch.tensor(g))
    assert_close(nw.grad, tw.grad)
    assert not nw.grad.numpy()[4].any()
    # closed form: row r collects the upstream rows of every position that read r
    ref = np.zeros_like(w)
    for pos, r in np.ndenumerate(IDX):
        if r != 4:
            ref[r] += g[pos]
    assert_close(nw.grad, ref)


def test_embedding_module_and_from_pretrained(torch):
    m = numtorch.nn.Embedding(10, 4, padding_idx=-1)
    assert m.padding_idx == 9 and not m.weight.detach().numpy()[9].any()
    assert list(m.state_dict()) == ["weight"]
    w = numtorch.tensor(np.arange(12.0).reshape(4, 3))
    e = numtorch.nn.Embedding.from_pretrained(w)
    assert not e.weight.requires_grad
    assert_close(e(numtorch.tensor([3, 0])), np.arange(12.0).reshape(4, 3)[[3, 0]])
    assert numtorch.nn.Embedding.from_pretrained(w, freeze=False).weight.requires_grad


def test_embedding_max_norm_matches_torch(torch):
    w = np.random.default_rng(0).standard_normal((6, 3)) * 3
    tw, nw = torch.tensor(w), numtorch.tensor(w)
    idx = np.array([0, 2, 2, 5])
    to = torch.nn.functional.embedding(torch.tensor(idx), tw, max_norm=1.0)
    no = F.embedding(numtorch.tensor(idx), nw, max_norm=1.0)
    assert_close(no, to)
    assert_close(nw, tw)  # the rows read were renormalised in place, the others untouched


def test_embedding_errors():
    w = numtorch.randn(5, 2)
    with pytest.raises(IndexError, match="index out of range"):
        F.embedding(numtorch.tensor([5]), w)
    with pytest.raises(RuntimeError, match="indices"):
        F.embedding(numtorch.tensor([1.0]), w)


def test_embedding_float32_backward_stays_float32():
    m = numtorch.nn.Embedding(7, 3)
    m(numtorch.tensor([[1, 1, 2]])).sum().backward()
    assert m.weight.grad.dtype == numtorch.float32
    assert_close(m.weight.grad.numpy()[1], [2.0, 2.0, 2.0])
