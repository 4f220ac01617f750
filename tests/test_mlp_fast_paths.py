"""The MLP step's fast paths: cross-entropy without weights/smoothing/ignored targets
(``loss._cross_entropy_plain``) and plain SGD over a whole group (``sgd._plain_sgd_foreach``).

Each is checked against a float64 NumPy reference and against PyTorch; float32 bounds are
eps x the conditioning of the sums involved (C terms per row, M rows in the mean)."""
import numpy as np
import pytest

import numtorch
import numtorch.nn.functional as F
from numtorch.ops import loss as loss_mod
from numtorch.optim import sgd as sgd_mod

EPS32 = np.finfo(np.float32).eps


def _ce_reference(x, t, reduction):
    """Cross-entropy in float64: lse_i - x_i,t_i."""
    x = x.astype(np.float64)
    m = x.max(1, keepdims=True)
    lse = np.log(np.exp(x - m).sum(1)) + m[:, 0]
    nll = lse - x[np.arange(len(t)), t]
    p = np.exp(x - lse[:, None])
    onehot = np.zeros_like(p)
    onehot[np.arange(len(t)), t] = 1
    g = p - onehot
    if reduction == "mean":
        return nll.mean(), g / len(t)
    if reduction == "sum":
        return nll.sum(), g
    return nll, g


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(100, 10), (7, 3), (1, 5), (16, 1000)])
def test_cross_entropy_plain_matches_float64(reduction, shape):
    rng = np.random.default_rng(shape[0] * shape[1])
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    t = rng.integers(0, shape[1], shape[0])
    xt = numtorch.from_numpy(x).requires_grad_()
    out = F.cross_entropy(xt, numtorch.from_numpy(t), reduction=reduction)
    assert out._data.dtype == np.float32
    ref, gref = _ce_reference(x, t, reduction)
    # each loss term: |lse| + |x_t| worth of rounding over C exps and M rows
    scale = np.abs(x).max() + np.log(shape[1]) + 1
    bound = 8 * EPS32 * scale * (shape[0] if reduction == "sum" else 1)
    np.testing.assert_allclose(out._data, ref, rtol=0, atol=bound)
    (out.sum() if reduction == "none" else out).backward()
    assert xt.grad._data.dtype == np.float32
    gscale = 1 / shape[0] if reduction == "mean" else 1
    np.testing.assert_allclose(xt.grad._data, gref, rtol=0, atol=8 * EPS32 * scale * gscale)


def test_cross_entropy_plain_is_taken_and_general_path_agrees(monkeypatch):
    """The plain path runs for the usual call, and the general forward gives the same values."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((50, 10)).astype(np.float32)
    t = rng.integers(0, 10, 50)
    calls = []
    plain = loss_mod._cross_entropy_plain
    monkeypatch.setattr(loss_mod, "_cross_entropy_plain", lambda *a: calls.append(1) or plain(*a))
    a = numtorch.from_numpy(x).requires_grad_()
    la = F.cross_entropy(a, numtorch.from_numpy(t))
    la.backward()
    assert calls == [1]
    # class weights of 1 take the general path: the same loss and gradient to rounding
    b = numtorch.from_numpy(x).requires_grad_()
    lb = F.cross_entropy(b, numtorch.from_numpy(t), weight=numtorch.ones(10))
    lb.backward()
    assert calls == [1]
    bound = 8 * EPS32 * (np.abs(x).max() + np.log(10) + 1)
    np.testing.assert_allclose(la._data, lb._data, rtol=0, atol=bound)
    np.testing.assert_allclose(a.grad._data, b.grad._data, rtol=0, atol=bound / 50)


def test_cross_entropy_plain_against_torch(torch):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((100, 10)) * 3).astype(np.float32)
    t = rng.integers(0, 10, 100)
    a = numtorch.from_numpy(x).requires_grad_()
    la = F.cross_entropy(a, numtorch.from_numpy(t))
    la.backward()
    b = torch.from_numpy(x).requires_grad_()
    lb = torch.nn.functional.cross_entropy(b, torch.from_numpy(t))
    lb.backward()
    bound = 2 * 8 * EPS32 * (np.abs(x).max() + np.log(10) + 1)  # both libraries' rounding
    np.testing.assert_allclose(la._data, lb.detach().numpy(), rtol=0, atol=bound)
    np.testing.assert_allclose(a.grad._data, b.grad.numpy(), rtol=0, atol=bound / 100)


def test_cross_entropy_out_of_range_target_still_raises():
    x = numtorch.zeros(3, 4, requires_grad=True)
    with pytest.raises(IndexError):
        F.cross_entropy(x, numtorch.tensor([0, 4, 1]))


def _params(rng, dtype=np.float32):
    shapes = [(100, 784), (100,), (10, 100), (10,)]
    ps = [numtorch.from_numpy(rng.standard_normal(s).astype(dtype)).requires_grad_() for s in shapes]
    for p in ps:
        p.grad = numtorch.from_numpy(rng.standard_normal(p.shape).astype(dtype))
    return ps


def test_plain_sgd_foreach_equals_reference_loop():
    """The group loop and the per-parameter reference give bit-identical parameters."""
    rng = np.random.default_rng(3)
    a = _params(rng)
    b = [numtorch.from_numpy(p._data.copy()).requires_grad_() for p in a]
    for p, q in zip(a, b):
        q.grad = numtorch.from_numpy(p.grad._data.copy())
    a[1].grad = b[1].grad = None  # a parameter without a gradient is skipped
    oa, ob = numtorch.optim.SGD(a, lr=0.1), numtorch.optim.SGD(b, lr=0.1)
    va = [p._version for p in a]
    oa.step()
    for group in ob.param_groups:
        ob._step_group(group)
    for p, q, v in zip(a, b, va):
        np.testing.assert_array_equal(p._data, q._data)
        assert p._data.dtype == np.float32
    assert [p._version for p in a] == [v + (p.grad is not None) for p, v in zip(a, va)]


def test_plain_sgd_foreach_float64_reference_and_mixed_dtypes():
    rng = np.random.default_rng(4)
    ps = _params(rng) + _params(rng, np.float64)[1:2]
    before = [p._data.astype(np.float64) for p in ps]
    sgd_mod.SGD(ps, lr=0.05).step()
    for p, w0 in zip(ps, before):
        ref = w0 - 0.05 * p.grad._data.astype(np.float64)
        eps = np.finfo(p._data.dtype).eps
        # two roundings (the product, the sum) of terms at most |w| + |lr g|
        np.testing.assert_allclose(p._data, ref, rtol=0, atol=2 * eps * (np.abs(ref).max() + 1))


def test_plain_sgd_against_torch(torch):
    rng = np.random.default_rng(5)
    ps = _params(rng)
    ts = [torch.from_numpy(p._data.copy()).requires_grad_() for p in ps]
    for p, q in zip(ps, ts):
        q.grad = torch.from_numpy(p.grad._data.copy())
    numtorch.optim.SGD(ps, lr=0.1).step()
    torch.optim.SGD(ts, lr=0.1).step()
    for p, q in zip(ps, ts):
        w = q.detach().numpy()
        np.testing.assert_allclose(p._data, w, rtol=0, atol=2 * EPS32 * (np.abs(w).max() + 1))
