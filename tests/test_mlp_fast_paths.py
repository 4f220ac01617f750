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


# ---- cross-entropy's plain-path checks: one target reduction, the row max, flat target positions ----

@pytest.mark.parametrize("t,ignore_index,plain", [
    ([0, 3, 1], -100, True),
    ([0, 4, 1], -100, False),     # out of range: the general path raises
    ([0, -1, 1], -100, False),    # negative: read as unsigned it is >= C
    ([0, -100, 1], -100, False),  # ignored
    ([0, 2, 1], 2, False),        # ignore_index is a class: the general path masks it
    ([], -100, False),            # empty
])
def test_all_classes_decides_the_plain_path(t, ignore_index, plain):
    assert bool(loss_mod._all_classes(np.array(t, dtype=np.int64), ignore_index, 4)) is plain


def test_all_classes_leaves_other_integer_dtypes_to_the_general_path():
    assert not loss_mod._all_classes(np.array([0, 1], dtype=np.int32), -100, 4)
    x = numtorch.zeros(2, 4, requires_grad=True)
    F.cross_entropy(x, numtorch.tensor(np.array([0, 3], dtype=np.int32))).backward()
    np.testing.assert_allclose(x.grad._data.sum(1), 0, atol=4 * EPS32)
    with pytest.raises(IndexError, match="Target -1 is out of bounds"):
        F.cross_entropy(x, numtorch.tensor(np.array([0, -1], dtype=np.int32)))


@pytest.mark.parametrize("shape", [(100, 10), (7, 32), (5, 33), (3, 1000), (1, 1)])
def test_row_max_is_the_exact_max(shape):
    x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(loss_mod._row_max(x), x.max(axis=1))


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_non_contiguous_logits_float32(reduction):
    """Transposed (F-ordered) logits: the flat target positions index a C-ordered copy."""
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((10, 30)) * 3).astype(np.float32)  # x.T: (30, 10), not C-contiguous
    t = rng.integers(0, 10, 30)
    xt = numtorch.from_numpy(x).requires_grad_()
    out = F.cross_entropy(xt.T, numtorch.from_numpy(t), reduction=reduction)
    (out.sum() if reduction == "none" else out).backward()
    ref, gref = _ce_reference(x.T, t, reduction)
    scale = np.abs(x).max() + np.log(10) + 1
    np.testing.assert_allclose(out._data, ref, rtol=0, atol=8 * EPS32 * scale)
    gscale = 1 / 30 if reduction == "mean" else 1
    np.testing.assert_allclose(xt.grad._data, gref.T, rtol=0, atol=8 * EPS32 * scale * gscale)


def test_cross_entropy_general_path_flat_positions_against_torch(torch):
    """Weights, smoothing and an ignored target (the general path) with the flat target positions."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((12, 5))
    t = rng.integers(0, 5, 12)
    t[3] = -100
    w = rng.uniform(0.5, 2, 5)
    a = numtorch.tensor(x, requires_grad=True)
    la = F.cross_entropy(a, numtorch.tensor(t), weight=numtorch.tensor(w), label_smoothing=0.2)
    la.backward()
    b = torch.tensor(x, requires_grad=True)
    lb = torch.nn.functional.cross_entropy(b, torch.tensor(t), weight=torch.tensor(w), label_smoothing=0.2)
    lb.backward()
    eps64 = np.finfo(np.float64).eps
    np.testing.assert_allclose(la._data, lb.item(), rtol=0, atol=64 * eps64 * (np.abs(x).max() + 2))
    np.testing.assert_allclose(a.grad._data, b.grad.numpy(), rtol=0, atol=64 * eps64)


# ---- Linear: backward on arrays, the bias gradient as a GEMV ---------------------------------

@pytest.mark.parametrize("shape", [(100, 100), (100, 10), (1024, 64), (3, 7)])
def test_linear_bias_gradient_gemv_float32_bound(shape):
    """gb = 1^T gy (BLAS) against the float64 sum: any order of summing M terms errs by at most
    (M - 1) eps sum|gy| per column."""
    rng = np.random.default_rng(shape[0])
    gy = (rng.standard_normal(shape) + 3).astype(np.float32)
    gb = numtorch.ops.activation._bias_grad(gy)
    assert gb.dtype == np.float32 and gb.shape == (shape[1],)
    g64 = gy.astype(np.float64)
    bound = (shape[0] - 1) * EPS32 * np.abs(g64).sum(0) + np.finfo(np.float32).tiny
    assert np.all(np.abs(gb - g64.sum(0)) <= bound)


def _mlp_reference(x, t, W1, b1, W2, b2):
    """The 784-100-10 step's gradients in float64, and a first-order bound on each float32 gradient's
    error (eps x the conditioning, carried through the step): a product or sum of n terms errs by
    at most n eps sum|terms| (plus what its operands carry); ReLU passes an error on unchanged and
    its mask may flip where |h| is within h's error; softmax's rows change by at most
    p (2 max|ds| + eps (2 max|s - m| + C + 4)) for logit errors ds."""
    x, W1, b1, W2, b2 = (v.astype(np.float64) for v in (x, W1, b1, W2, b2))
    e = EPS32
    h = x @ W1.T + b1
    dh = (784 + 1) * e * (np.abs(x) @ np.abs(W1).T + np.abs(b1))
    a = np.maximum(h, 0)
    s = a @ W2.T + b2
    ds = (100 + 1) * e * (np.abs(a) @ np.abs(W2).T + np.abs(b2)) + dh @ np.abs(W2).T
    _, gs = _ce_reference(s, t, "mean")
    p = gs * len(t)
    p[np.arange(len(t)), t] += 1  # softmax(s)
    spread = np.abs(s - s.max(1, keepdims=True)).max(1, keepdims=True)
    dgs = (p * (2 * ds.max(1, keepdims=True) + e * (2 * spread + 10 + 4)) + e * np.abs(gs) * len(t)) / len(t)
    up = gs @ W2
    ga = up * (h > 0)
    dga = ((dgs @ np.abs(W2) + 10 * e * (np.abs(gs) @ np.abs(W2))) * (h > 0)
           + np.abs(up) * (np.abs(h) <= dh))  # the mask may differ where h is within its error
    grads = {"fc1.weight": ga.T @ x, "fc1.bias": ga.sum(0), "fc2.weight": gs.T @ a, "fc2.bias": gs.sum(0)}
    bounds = {"fc1.weight": dga.T @ np.abs(x) + 100 * e * (np.abs(ga).T @ np.abs(x)),
              "fc1.bias": dga.sum(0) + 100 * e * np.abs(ga).sum(0),
              "fc2.weight": dgs.T @ np.abs(a) + np.abs(gs).T @ dh  # (relu passes at most dh on)
              + 100 * e * (np.abs(gs).T @ np.abs(a)),
              "fc2.bias": dgs.sum(0) + 100 * e * np.abs(gs).sum(0)}
    return grads, bounds


def test_linear_step_gradients_float64_and_torch(torch):
    """784-100-10 gradients (backward_arrays of Linear and cross-entropy) within the float32 error
    bound of a float64 reference, and within twice it of PyTorch's (which rounds too)."""
    from numtorch.models import TwoLayerNet
    torch.manual_seed(0)
    rng = np.random.default_rng(8)
    x = rng.random((100, 784), dtype=np.float32)
    t = rng.integers(0, 10, 100)
    ref = torch.nn.Sequential(torch.nn.Linear(784, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
    names = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    sd = {k: v.detach().numpy().copy() for k, v in zip(names, ref.parameters())}
    model = TwoLayerNet(784, 100, 10)
    model.load_state_dict({k: numtorch.from_numpy(v) for k, v in sd.items()})
    F.cross_entropy(model(numtorch.from_numpy(x)), numtorch.from_numpy(t)).backward()
    torch.nn.functional.cross_entropy(ref(torch.from_numpy(x)), torch.from_numpy(t)).backward()
    grads, bounds = _mlp_reference(x, t, *(sd[k] for k in names))
    for (k, p), q in zip(model.named_parameters(), ref.parameters()):
        g = p.grad._data
        assert g.dtype == np.float32, k
        bound = bounds[k] + np.finfo(np.float32).tiny
        assert np.all(np.abs(g - grads[k]) <= bound), k
        assert np.all(np.abs(g - q.grad.numpy()) <= 2 * bound), k


def test_ones_vector_is_read_only_and_bounded():
    from numtorch.ops import _util
    v = _util.ones_vector(5, np.dtype(np.float32))
    assert v.dtype == np.float32 and v.tolist() == [1.0] * 5 and not v.flags.writeable
    assert _util.ones_vector(5, np.dtype(np.float32)) is v
    for n in range(100, 100 + 2 * _util._ONES_KEPT):
        _util.ones_vector(n, np.dtype(np.float32))
    assert len(_util._ONES) <= _util._ONES_KEPT
