"""Reductions: dim int/tuple/negative/None, keepdim, max/min indices, var/std, norm, cumulative ops."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
from helpers import check, assert_close

DIMS = [None, 0, 1, -1, (0, 2), (-1, -3), ()]


def _np_dim(dim):
    return tuple(range(3)) if dim == () else dim


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name,ref", [("sum", np.sum), ("mean", np.mean)])
def test_sum_mean(name, ref, dim, keepdim):
    if dim is None:
        if keepdim:
            pytest.skip("torch.sum(x, keepdim=True) needs a dim")
        check(name, (2, 3, 4), np_fn=ref)
        return
    if dim == () and name == "sum":
        pass
    check(name, (2, 3, 4), dim=dim, keepdim=keepdim,
          np_fn=lambda x: ref(x, axis=_np_dim(dim), keepdims=keepdim))


@pytest.mark.parametrize("dim", [None, 0, -1, (0, 1)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_amax_amin_logsumexp(dim, keepdim):
    kw = {} if dim is None else {"dim": dim, "keepdim": keepdim}
    if dim is None and keepdim:
        return
    check("amax", (3, 4, 2), np_fn=lambda x: np.max(x, axis=dim, keepdims=keepdim), **kw)
    check("amin", (3, 4, 2), np_fn=lambda x: np.min(x, axis=dim, keepdims=keepdim), **kw)
    if dim is not None:
        check("logsumexp", (3, 4, 2), np_fn=lambda x: np.log(np.exp(x).sum(axis=dim, keepdims=keepdim)), **kw)


def test_amax_ties_share_gradient(torch):
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    for f in (lambda t: t.amax(dim=1), lambda t: t.amax(), lambda t: t.max()):
        x, tx = numtorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        f(x).sum().backward()
        f(tx).sum().backward()
        assert_close(x.grad, tx.grad)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_values_indices(name, dim, keepdim, torch):
    out = check(name, (3, 4), dim=dim, keepdim=keepdim)
    a = np.random.default_rng(0).uniform(-2, 2, (3, 4))
    ref = getattr(torch, name)(torch.tensor(a), dim=dim, keepdim=keepdim)
    assert out.indices.dtype == numtorch.int64
    assert out.indices.tolist() == ref.indices.tolist()
    values, indices = out  # a named tuple that unpacks
    assert_close(values, ref.values)


def test_max_min_binary_and_full():
    check("max", (3, 4), np_fn=np.max)
    check("min", (3, 4), np_fn=np.min)
    check(lambda a, b: a.max(b), (3, 4), (4,), np_fn=np.maximum)


def test_argmax_argmin(torch):
    a = np.random.default_rng(0).standard_normal((3, 4, 5))
    x, tx = numtorch.tensor(a), torch.tensor(a)
    for name in ("argmax", "argmin"):
        assert getattr(x, name)().item() == getattr(tx, name)().item()
        for d in (0, 1, -1):
            for k in (False, True):
                assert getattr(x, name)(dim=d, keepdim=k).tolist() == getattr(tx, name)(dim=d, keepdim=k).tolist()


@pytest.mark.parametrize("kw", [{}, {"dim": 1}, {"dim": (0, 2), "keepdim": True}, {"dim": -1, "correction": 0},
                                {"dim": 0, "unbiased": False}, {"correction": 2}])
@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std(name, kw):
    dim = kw.get("dim")
    ddof = kw.get("correction", 0 if kw.get("unbiased") is False else 1)
    ref = getattr(np, name)
    check(name, (3, 4, 5), np_fn=lambda x: ref(x, axis=dim, ddof=ddof, keepdims=kw.get("keepdim", False)), **kw)


def test_var_mean_std_mean(torch):
    a = np.random.default_rng(0).standard_normal((3, 4))
    v, m = numtorch.var_mean(numtorch.tensor(a), dim=1)
    tv, tm = torch.var_mean(torch.tensor(a), dim=1)
    assert_close(v, tv)
    assert_close(m, tm)
    s, m = numtorch.std_mean(numtorch.tensor(a), dim=0, correction=0)
    ts, tm = torch.std_mean(torch.tensor(a), dim=0, correction=0)
    assert_close(s, ts)
    assert_close(m, tm)


@pytest.mark.parametrize("p", [2, 1, 3, float("inf"), -float("inf"), 0, "fro", 0.5])
@pytest.mark.parametrize("dim", [None, 1, (0, 1)])
def test_norm(p, dim):
    kw = {"p": p} if dim is None else {"p": p, "dim": dim}
    if p == "fro" and dim == 1:
        return
    check("norm", (3, 4), low=0.2, high=2, grad=p != 0, **kw)
    check("norm", (3, 4), low=-2, high=-0.2, grad=p != 0, **kw)


def test_norm_at_zero(torch):
    x, tx = numtorch.zeros(3, dtype=numtorch.float64, requires_grad=True), torch.zeros(3, dtype=torch.float64,
                                                                                       requires_grad=True)
    x.norm().backward()
    tx.norm().backward()
    assert_close(x.grad, tx.grad)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumsum_cumprod(dim):
    check("cumsum", (3, 4), dim=dim, np_fn=lambda x: np.cumsum(x, axis=dim))
    check("cumprod", (3, 4), dim=dim, np_fn=lambda x: np.cumprod(x, axis=dim), low=0.5)
    check("cumprod", (3, 4), dim=dim, np_fn=lambda x: np.cumprod(x, axis=dim), low=-2)


def test_cumprod_with_zero(torch):
    a = np.array([[2.0, 0.0, 3.0, 4.0], [1.0, 2.0, 0.0, 0.0]])
    x, tx = numtorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    g = np.random.default_rng(0).standard_normal(a.shape)
    x.cumprod(1).backward(numtorch.tensor(g))
    tx.cumprod(1).backward(torch.tensor(g))
    assert_close(x.grad, tx.grad)


def test_cumsum_int_gives_int64(torch):
    x = numtorch.tensor([1, 2, 3], dtype=numtorch.int32)
    assert x.cumsum(0).dtype == numtorch.int64
    assert x.cumsum(0).tolist() == [1, 3, 6]


@pytest.mark.parametrize("a", [
    [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
    [[1.0, 0.0, 3.0], [4.0, 5.0, 6.0]],   # one zero
    [[0.0, 0.0, 3.0], [4.0, 0.0, 6.0]],   # two zeros in a row, one in another
    [[0.0, 2.0, 0.0], [0.0, 0.0, 0.0]],
])
@pytest.mark.parametrize("kw", [{}, {"dim": 1}, {"dim": 0}, {"dim": 1, "keepdim": True}])
def test_prod_with_zeros(a, kw, torch):
    a = np.array(a)
    x, tx = numtorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = x.prod(**kw), tx.prod(**kw)
    assert_close(y, ty)
    g = np.random.default_rng(0).standard_normal(tuple(ty.shape))
    y.backward(numtorch.tensor(g))
    ty.backward(torch.tensor(g))
    assert_close(x.grad, tx.grad)


def test_prod_gradcheck():
    check("prod", (3, 4), low=0.5, np_fn=np.prod)
    check("prod", (3, 4), dim=1, np_fn=lambda x: np.prod(x, axis=1))


def test_prod_int_and_dtype():
    x = numtorch.tensor([1, 2, 3, 4])
    assert x.prod().item() == 24 and x.prod().dtype == numtorch.int64
    assert x.sum().dtype == numtorch.int64
    assert numtorch.tensor([True, True, False]).sum().item() == 2


def test_logsumexp_large_values(torch):
    a = np.array([[1e4, 1e4 - 1.0, -1e4], [-np.inf, 0.0, 1.0]])
    x, tx = numtorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = x.logsumexp(1), tx.logsumexp(1)
    assert_close(y, ty)
    y.sum().backward()
    ty.sum().backward()
    assert_close(x.grad, tx.grad)
    assert numtorch.logsumexp(numtorch.tensor([1e4, 1e4], dtype=numtorch.float32), 0).dtype == numtorch.float32


def test_float32_reductions_stay_float32():
    x = numtorch.randn(3, 4)
    for y in (x.sum(), x.mean(1), x.var(), x.std(0), x.norm(), x.logsumexp(1), x.prod(), x.cumsum(0), x.amax()):
        assert y.dtype == numtorch.float32


def test_zero_size_reductions(torch):
    x, tx = numtorch.zeros(0, 3, requires_grad=True), torch.zeros(0, 3, requires_grad=True)
    assert_close(x.sum(0), tx.sum(0))
    assert_close(x.sum(), tx.sum())
    assert tuple(x.sum(1).shape) == (0,)
    x.sum().backward()
    assert tuple(x.grad.shape) == (0, 3)
    assert_close(x.prod(0), tx.prod(0))
    with pytest.raises((IndexError, RuntimeError)):
        x.amax(0)
    with pytest.raises((IndexError, RuntimeError)):
        x.max()


def test_all_any_count_nonzero_median(torch):
    a = np.array([[1.0, 0.0, 3.0], [2.0, 2.0, 0.0]])
    x, tx = numtorch.tensor(a), torch.tensor(a)
    assert x.all().item() == tx.all().item()
    assert x.any(1).tolist() == tx.any(1).tolist()
    assert x.all(dim=0).tolist() == tx.all(dim=0).tolist()
    assert numtorch.count_nonzero(x).item() == torch.count_nonzero(tx).item()
    assert numtorch.count_nonzero(x, dim=1).tolist() == torch.count_nonzero(tx, dim=1).tolist()
    assert x.median().item() == tx.median().item()
    m, tm = x.median(1), tx.median(1)
    assert_close(m.values, tm.values)
    assert m.indices.tolist() == tm.indices.tolist()
    check("median", (3, 5), dim=1)


def test_nansum_nanmean(torch):
    a = np.array([[1.0, np.nan, 3.0], [np.nan, 2.0, 2.0]])
    assert_close(numtorch.nansum(numtorch.tensor(a)), torch.nansum(torch.tensor(a)))
    assert_close(numtorch.nanmean(numtorch.tensor(a), 1), torch.nanmean(torch.tensor(a), 1))


def test_aminmax_cummax(torch):
    a = np.array([[1.0, 3.0, 2.0], [5.0, 4.0, 6.0]])
    r, tr = numtorch.aminmax(numtorch.tensor(a), dim=1), torch.aminmax(torch.tensor(a), dim=1)
    assert_close(r.min, tr.min)
    assert_close(r.max, tr.max)
    c, tc = numtorch.cummax(numtorch.tensor(a), 1), torch.cummax(torch.tensor(a), 1)
    assert_close(c.values, tc.values)
    assert c.indices.tolist() == tc.indices.tolist()


def test_mean_of_int_raises():
    with pytest.raises(RuntimeError, match="mean"):
        numtorch.tensor([1, 2]).mean()


def test_sum_dtype_argument():
    x = numtorch.tensor([1, 2], dtype=numtorch.int32)
    assert x.sum(dtype=numtorch.float64).dtype == numtorch.float64


@pytest.mark.parametrize("name,f,a", [
    ("std_of_constant", lambda t: t.std(), [1.0, 1.0, 1.0]),
    ("std_single", lambda t: t.std(correction=0), [2.0]),
    ("var_keepdim", lambda t: t.var(0, keepdim=True), [[1.0, 2.0], [3.0, 5.0]]),
    ("norm1_at_zero", lambda t: t.norm(p=1), [0.0, 1.0, -2.0]),
    ("norm3_at_zero", lambda t: t.norm(p=3), [0.0, 1.0, -2.0]),
    ("norm_inf_tie", lambda t: t.norm(p=float("inf")), [2.0, 1.0, -2.0]),
    ("logsumexp_all_neg_inf", lambda t: t.logsumexp(0), [-np.inf, -np.inf]),
    ("median_even", lambda t: t.median(), [1.0, 3.0, 2.0, 4.0]),
    ("cumprod_two_zeros", lambda t: t.cumprod(0), [2.0, 0.0, 3.0, 0.0, 5.0]),
    ("prod_empty", lambda t: t.prod(), np.zeros(0)),
    ("sum_empty", lambda t: t.sum(), np.zeros((0, 3))),
    ("dist", lambda t: t.dist(t * 2), [[3.0, 4.0]]),
])
def test_reduction_edge_values_and_grads(name, f, a, torch):
    a = np.array(a, dtype=np.float64)
    x, tx = numtorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = f(x), f(tx)
    assert_close(y, ty)
    y.sum().backward()
    ty.sum().backward()
    assert_close(x.grad, tx.grad)
