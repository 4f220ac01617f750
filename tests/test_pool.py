"""Pooling ops against NumPy, PyTorch and central differences."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
import numtorch.nn.functional as F
from helpers import assert_close, make_inputs
from helpers import check as _check_all


def check(fn, *shapes_or_arrays, **kw):
    """helpers.check (NumPy + PyTorch forward/backward) plus a fast-mode float64 gradcheck: one random
    projection of the output instead of the full Jacobian, so grid cases stay quick."""
    out = _check_all(fn, *shapes_or_arrays, gradcheck=False, **kw)
    xs = [numtorch.tensor(a.copy(), requires_grad=a.dtype.kind == "f") if isinstance(a, np.ndarray) else a
          for a in make_inputs(shapes_or_arrays, seed=kw.get("seed", 0))]
    assert numtorch.autograd.gradcheck(fn, xs, eps=1e-6, atol=1e-5, rtol=1e-3, fast_mode=True)
    return out


def _F(x):
    """numtorch.nn.functional for numtorch tensors, torch.nn.functional for torch tensors."""
    if isinstance(x, numtorch.Tensor):
        return F
    import torch
    return torch.nn.functional


def _distinct(shape, seed=0):
    """float64 values with no ties (so the argmax of every window is unique and gradcheck is valid)."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) / n * 4 - 2).astype(np.float64)


@pytest.mark.parametrize("k,s,p,d,ceil", [
    (2, None, 0, 1, False), (3, 2, 1, 1, False), (3, 2, 1, 1, True), (2, 1, 0, 2, False), ((3, 2), (2, 1), (1, 0), 1, True),
    (3, 3, 0, 1, True), (2, 2, 1, 1, False),
])
def test_max_pool2d(k, s, p, d, ceil):
    check(lambda x: _F(x).max_pool2d(x, k, s, p, d, ceil), _distinct((2, 3, 7, 8)))


def test_max_pool2d_tiled_numpy():
    x = _distinct((2, 3, 6, 8))
    ref = x.reshape(2, 3, 3, 2, 4, 2).max(axis=(3, 5))
    check(lambda x: _F(x).max_pool2d(x, 2), x, np_fn=lambda a: ref)


def test_max_pool2d_indices(torch):
    x = _distinct((2, 2, 7, 7))
    for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)):
        y, i = F.max_pool2d(numtorch.tensor(x), return_indices=True, **kw)
        ty, ti = torch.nn.functional.max_pool2d(torch.tensor(x), return_indices=True, **kw)
        assert_close(y, ty)
        assert i.dtype == numtorch.int64
        np.testing.assert_array_equal(i.numpy(), ti.numpy())


def test_max_pool_ties_go_to_first(torch):
    x = np.zeros((1, 1, 4, 4), np.float32)  # all ties: PyTorch gives the gradient to the first element
    for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1)):
        X, tx = numtorch.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        F.max_pool2d(X, **kw).sum().backward()
        torch.nn.functional.max_pool2d(tx, **kw).sum().backward()
        assert_close(X.grad, tx.grad)


@pytest.mark.parametrize("k,s,p,ceil", [(3, 1, 1, False), (2, None, 0, True), (3, 2, 0, True)])
def test_max_pool1d(k, s, p, ceil):
    check(lambda x: _F(x).max_pool1d(x, k, s, p, 1, ceil), _distinct((2, 3, 9)))


@pytest.mark.parametrize("k,s,p,ceil,cip,div", [
    (2, None, 0, False, True, None), (3, 2, 1, False, True, None), (3, 2, 1, False, False, None),
    (3, 2, 1, True, True, None), (3, 2, 1, True, False, None), ((2, 3), (1, 2), (1, 1), True, False, None),
    (3, 2, 1, False, True, 4), (2, 2, 0, False, True, 3),
])
def test_avg_pool2d(k, s, p, ceil, cip, div):
    check(lambda x: _F(x).avg_pool2d(x, k, s, p, ceil, cip, div), (2, 3, 7, 6))


def test_avg_pool2d_tiled_numpy():
    check(lambda x: _F(x).avg_pool2d(x, 2), (2, 3, 4, 6),
          np_fn=lambda a: a.reshape(2, 3, 2, 2, 3, 2).mean(axis=(3, 5)))


@pytest.mark.parametrize("k,s,p,ceil,cip", [(3, 2, 1, True, False), (2, None, 0, False, True)])
def test_avg_pool1d(k, s, p, ceil, cip):
    check(lambda x: _F(x).avg_pool1d(x, k, s, p, ceil, cip), (2, 3, 9))


@pytest.mark.parametrize("out", [1, 2, (3, 2), (5, 4), (7, 7), (2, None)])
def test_adaptive_avg_pool2d(out):
    check(lambda x: _F(x).adaptive_avg_pool2d(x, out), (2, 3, 6, 5))


def test_adaptive_avg_pool1d():
    check(lambda x: _F(x).adaptive_avg_pool1d(x, 4), (2, 3, 7))


@pytest.mark.parametrize("out", [1, 2, (4, 3), (5, 4), (7, 7)])
def test_adaptive_max_pool2d(torch, out):
    x = _distinct((2, 3, 6, 5))
    check(lambda x: _F(x).adaptive_max_pool2d(x, out), x)
    y, i = F.adaptive_max_pool2d(numtorch.tensor(x), out, return_indices=True)
    ty, ti = torch.nn.functional.adaptive_max_pool2d(torch.tensor(x), out, return_indices=True)
    np.testing.assert_array_equal(i.numpy(), ti.numpy())


def test_pool_float32_and_unbatched(torch):
    x = np.random.default_rng(0).standard_normal((3, 8, 8)).astype(np.float32)
    for name, kw in (("max_pool2d", dict(kernel_size=3, stride=2, padding=1)), ("avg_pool2d", dict(kernel_size=2))):
        y = getattr(F, name)(numtorch.tensor(x), **kw)
        assert y.dtype == numtorch.float32
        assert_close(y, getattr(torch.nn.functional, name)(torch.tensor(x), **kw), 1e-6, 1e-6)


def test_pool_errors():
    with pytest.raises(RuntimeError, match="pad should be at most half"):
        F.max_pool2d(numtorch.zeros(1, 1, 5, 5), 2, padding=2)
    with pytest.raises(RuntimeError, match="too small"):
        F.max_pool2d(numtorch.zeros(1, 1, 2, 2), 3)


@pytest.mark.parametrize("k", [2, 3, (2, 4), (1, 2)])
def test_max_pool2d_channels_last_tiled_vs_torch(torch, k):
    """A channels-last input (a conv's output) takes the two-level running max: same values, same
    first-maximum gradient routing with many ties, NaN propagated, as PyTorch."""
    rng = np.random.default_rng(3)
    x = np.round(rng.standard_normal((3, 12, 12, 5)) * 2) / 2  # half-integers: many ties
    for nan in (False, True):
        a = x.astype(np.float32).transpose(0, 3, 1, 2)          # NCHW view of an NHWC buffer
        if nan:
            a = a.copy(order="K")
            a[1, 2, 0, 1] = np.nan
        X = numtorch.from_numpy(a).requires_grad_()  # keeps the memory layout
        tx = torch.tensor(np.ascontiguousarray(a), requires_grad=True)
        assert X._data.transpose(0, 2, 3, 1).flags.c_contiguous
        gy = rng.standard_normal(torch.nn.functional.max_pool2d(tx, k).shape).astype(np.float32)
        y = F.max_pool2d(X, k)
        ty = torch.nn.functional.max_pool2d(tx, k)
        y.backward(numtorch.tensor(gy))
        ty.backward(torch.tensor(gy))
        np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
        np.testing.assert_array_equal(X.grad.numpy(), tx.grad.numpy())


@pytest.mark.parametrize("k", [2, 3, (2, 4), (1, 2), (3, 1)])
@pytest.mark.parametrize("layout", ["nchw", "nlast"])
def test_max_pool2d_contiguous_tiled_vs_torch(torch, k, layout):
    """A C-contiguous input, or one in (C, H, W, N) memory (the planar conv's output), takes the
    two-level running max over runs of memory: same values and first-maximum gradient routing with
    many ties, NaN propagated, as PyTorch."""
    rng = np.random.default_rng(4)
    x = np.round(rng.standard_normal((3, 5, 12, 12)) * 2) / 2  # half-integers: many ties
    x[0, 0] = 0.0                                               # a plane of ties only
    for dtype in (np.float32, np.float64):
        for nan in (False, True):
            a = x.astype(dtype)
            if nan:
                a[1, 2, 0, 1] = np.nan
                a[2, 3, 4, 4:6] = np.nan                           # two NaNs in one window
            if layout == "nchw":
                X = numtorch.tensor(a, requires_grad=True)
            else:                                                  # an (N, C, H, W) view of (C, H, W, N) memory
                X = numtorch.from_numpy(np.ascontiguousarray(a.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2))
                X.requires_grad_()
            tx = torch.tensor(a, requires_grad=True)
            gy = rng.standard_normal(torch.nn.functional.max_pool2d(tx, k).shape).astype(dtype)
            y = F.max_pool2d(X, k)
            assert y.grad_fn.tiled == layout
            ty = torch.nn.functional.max_pool2d(tx, k)
            y.backward(numtorch.tensor(gy))
            ty.backward(torch.tensor(gy))
            np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
            np.testing.assert_array_equal(X.grad.numpy(), tx.grad.numpy())


def test_max_pool2d_contiguous_tiled_matches_reshape_max():
    x = _distinct((2, 3, 6, 8))
    y = F.max_pool2d(numtorch.tensor(x), (3, 2))
    np.testing.assert_array_equal(y.numpy(), x.reshape(2, 3, 2, 3, 4, 2).max(axis=(3, 5)))
    assert F.max_pool2d(numtorch.tensor(x).requires_grad_(), (3, 2)).grad_fn.tiled == "nchw"
    assert F.max_pool2d(numtorch.from_numpy(x[:, :, :, ::-1]).requires_grad_(), 2).grad_fn.tiled is None
