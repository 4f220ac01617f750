"""In-place ops and __setitem__ with PyTorch's autograd rules (leaf errors, no_grad, versions)."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
from helpers import assert_close

INPLACE = {
    "add_": lambda t, o: t.add_(o), "add_alpha": lambda t, o: t.add_(o, alpha=2.0),
    "sub_": lambda t, o: t.sub_(o), "mul_": lambda t, o: t.mul_(o), "div_": lambda t, o: t.div_(o),
    "zero_": lambda t, o: t.zero_(), "fill_": lambda t, o: t.fill_(2.5), "copy_": lambda t, o: t.copy_(o),
    "clamp_": lambda t, o: t.clamp_(-0.5, 0.5), "masked_fill_": lambda t, o: t.masked_fill_(o > 0, 1.5),
    "iadd": lambda t, o: t.__iadd__(o), "imul": lambda t, o: t.__imul__(o), "exp_": lambda t, o: t.exp_(),
    "pow_": lambda t, o: t.pow_(2), "neg_": lambda t, o: t.neg_(), "relu_": lambda t, o: t.relu_(),
}


def _pair(torch, shape=(3, 4), seed=0):
    a = np.random.default_rng(seed).uniform(0.5, 2.0, shape) * np.where(
        np.random.default_rng(seed + 9).random(shape) > 0.5, 1, -1)
    return a, numtorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_leaf_requiring_grad_raises(name, torch):
    f = INPLACE[name]
    _, x, tx = _pair(torch)
    other = numtorch.ones(3, 4, dtype=numtorch.float64)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        f(x, other)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        f(tx, torch.ones(3, 4, dtype=torch.float64))


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_under_no_grad_allowed(name, torch):
    f = INPLACE[name]
    a, x, tx = _pair(torch)
    b = np.random.default_rng(5).uniform(0.5, 2.0, (3, 4))
    with numtorch.no_grad():
        r = f(x, numtorch.tensor(b))
    with torch.no_grad():
        f(tx, torch.tensor(b))
    assert r is x
    assert x.requires_grad and x.is_leaf
    assert_close(x.detach(), tx.detach())


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_non_leaf_gradients(name, torch):
    f = INPLACE[name]
    a, x, tx = _pair(torch)
    b = np.random.default_rng(5).uniform(0.5, 2.0, (3, 4))
    o, to = numtorch.tensor(b, requires_grad=True), torch.tensor(b, requires_grad=True)
    y, ty = x * 1.5, tx * 1.5
    r, tr = f(y, o), f(ty, to)
    assert tr is ty  # PyTorch's in-place ops return the tensor itself; numtorch must too:
    assert r is y
    assert_close(y, ty)
    g = np.random.default_rng(7).standard_normal((3, 4))
    (y * numtorch.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    if x.grad is None:  # no path from x to y any more: PyTorch has zeros, numtorch None
        assert not tx.grad.numpy().any()
    else:
        assert_close(x.grad, tx.grad)
    if to.grad is None:
        assert o.grad is None or not o.grad.numpy().any()
    else:
        assert_close(o.grad, to.grad)


def _nested_iadd(y):
    y[0][1] += 5
    y[1][0] *= 3


def _view_mul(y):
    v = y[0]
    v.mul_(2)


def _slice_iadd(y):
    y[:, 1] += 10


def _buffer_rows(y):
    y[0].copy_(y[1] * 2)


@pytest.mark.parametrize("change", [_nested_iadd, _view_mul, _slice_iadd, _buffer_rows])
def test_inplace_on_indexed_view_of_non_leaf(change, torch):
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    x, tx = numtorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = x * 1, tx * 1
    change(y)
    change(ty)
    assert_close(y, ty)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    assert_close(x.grad, tx.grad)


def test_buffer_filled_through_views(torch):
    for L in (numtorch, torch):
        h = L.tensor([1.0, 2.0], requires_grad=True)
        buf = L.zeros(3, 2)
        buf[0].copy_(h * 2)
        buf[2].add_(h ** 2)
        (buf * buf).sum().backward()
        assert buf.requires_grad
        assert_close(h.grad, np.array([8 + 4 * 1.0, 16 + 4 * 8.0]))


def test_inplace_on_view_of_leaf_and_other_views():
    x = numtorch.randn(3, 4, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x[0].mul_(2.0)
    y = x * 2
    with pytest.raises(RuntimeError, match="view"):  # views other than indexing are refused, not mis-graded
        y.T[0] = 1.0
    v = numtorch.zeros(3)
    s = v[1]
    s.fill_(5.0)  # x[i] is a 0-d view, as in PyTorch
    assert v.tolist() == [0.0, 5.0, 0.0]


def test_version_counter_error():
    x = numtorch.randn(3, requires_grad=True)
    y = x.exp()
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace"):
        y.sum().backward()
    z = x * 2
    w = z * z
    z.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace"):
        w.sum().backward()


def test_version_counter_shared_by_views():
    x = numtorch.randn(3, 4, requires_grad=True)
    y = x * 1
    w = y.sigmoid()
    with numtorch.no_grad():
        y[0].zero_()  # w saved its output, not y: still fine
    w.sum().backward()
    z = x * 1
    u = z * z
    with numtorch.no_grad():
        z.T[0].fill_(1.0)  # a view of z changes z
    with pytest.raises(RuntimeError, match="modified by an inplace"):
        u.sum().backward()


def test_version_counts():
    x = numtorch.zeros(3)
    assert x._version == 0
    x.add_(1)
    x[0] = 2.0
    x.zero_()
    assert x._version == 3


@pytest.mark.parametrize("key", [0, slice(1, 3), (slice(None), 1), [0, 2], "mask"])
def test_setitem(key, torch):
    a = np.random.default_rng(0).standard_normal((3, 4))
    k_nt = numtorch.tensor(a[:, 0] > 0) if isinstance(key, str) else key
    k_th = torch.tensor(a[:, 0] > 0) if isinstance(key, str) else key
    # plain values
    x, tx = numtorch.tensor(a), torch.tensor(a)
    x[k_nt] = 7.0
    tx[k_th] = 7.0
    assert_close(x, tx)
    # differentiable: into a non-leaf, a tensor value that requires grad
    x, tx = numtorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    vshape = tuple(tx.detach()[k_th].shape)
    v = np.random.default_rng(1).standard_normal(vshape)
    val, tval = numtorch.tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)
    y, ty = x * 2, tx * 2
    y[k_nt] = val * 3
    ty[k_th] = tval * 3
    assert_close(y, ty)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    assert_close(x.grad, tx.grad)
    assert_close(val.grad, tval.grad)


def test_setitem_leaf_requires_grad_raises_and_no_grad_ok():
    x = numtorch.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        x[0] = 1.0
    with numtorch.no_grad():
        x[0] = 1.0
    assert x.tolist() == [1.0, 0.0, 0.0]


def test_setitem_broadcast_and_numpy_value():
    x = numtorch.zeros(2, 3)
    x[:] = np.array([1.0, 2.0, 3.0])
    assert x.tolist() == [[1.0, 2.0, 3.0]] * 2
    x[0] = numtorch.tensor([4.0, 5.0, 6.0])
    assert x[0].tolist() == [4.0, 5.0, 6.0]
    i = numtorch.zeros(3, dtype=numtorch.int64)
    i[1] = 5
    assert i.tolist() == [0, 5, 0] and i.dtype == numtorch.int64


def test_inplace_dtype_rules(torch):
    i = numtorch.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match="can't be cast"):
        i.add_(1.5)
    with pytest.raises(RuntimeError):
        torch.tensor([1, 2, 3]).add_(1.5)
    f = numtorch.tensor([1.0, 2.0])
    f.add_(numtorch.tensor([1, 1]))
    assert f.dtype == numtorch.float32 and f.tolist() == [2.0, 3.0]


def test_inplace_broadcast_shape_error():
    x = numtorch.zeros(3)
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        x.add_(numtorch.ones(2, 3))


def test_copy_between_dtypes_and_views():
    x = numtorch.zeros(2, 3)
    x[:, 1].copy_(numtorch.tensor([5, 6]))
    assert x.tolist() == [[0.0, 5.0, 0.0], [0.0, 6.0, 0.0]]
    v = x.view(6)
    x.fill_(1.0)
    assert v.tolist() == [1.0] * 6


def test_optimizer_style_update_under_no_grad():
    w = numtorch.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    with numtorch.no_grad():
        w.sub_(0.1 * w.grad)
        w.grad.zero_()
    assert_close(w.detach(), np.array([0.8, 1.6]))
    assert w.grad.tolist() == [0.0, 0.0]
    assert w.is_leaf and w.requires_grad
