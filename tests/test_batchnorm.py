"""batch_norm / group_norm / instance_norm and their modules against NumPy, PyTorch and central differences."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
import numtorch.nn as nn
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
    if isinstance(x, numtorch.Tensor):
        return F
    import torch
    return torch.nn.functional


def np_batch_norm(x, w, b, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    cs = (1, -1) + (1,) * (x.ndim - 2)
    mean, var = x.mean(axes, keepdims=True), x.var(axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w.reshape(cs) + b.reshape(cs)


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 5), (2, 3, 4, 5)])
def test_batch_norm_train_function(shape):
    c = shape[1]
    check(lambda x, w, b: _F(x).batch_norm(x, None, None, w, b, training=True), shape, (c,), (c,),
          np_fn=np_batch_norm)


def test_batch_norm_no_affine():
    check(lambda x: _F(x).batch_norm(x, None, None, training=True, eps=1e-3), (3, 2, 3, 3))


def test_batch_norm_eval_function():
    rm, rv = np.array([0.1, -0.2, 0.3]), np.array([1.5, 0.5, 2.0])

    def f(x, w, b):
        mod = numtorch if isinstance(x, numtorch.Tensor) else __import__("torch")
        return _F(x).batch_norm(x, mod.tensor(rm), mod.tensor(rv), w, b, training=False)
    check(f, (2, 3, 4), (3,), (3,),
          np_fn=lambda x, w, b: (x - rm.reshape(1, 3, 1)) / np.sqrt(rv.reshape(1, 3, 1) + 1e-5)
          * w.reshape(1, 3, 1) + b.reshape(1, 3, 1))


def test_batch_norm_running_stats_vs_torch(torch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3, 5, 5)).astype(np.float32) * 3 + 1
    rm, rv = numtorch.zeros(3), numtorch.ones(3)
    trm, trv = torch.zeros(3), torch.ones(3)
    for _ in range(3):
        F.batch_norm(numtorch.tensor(x), rm, rv, training=True, momentum=0.3)
        torch.nn.functional.batch_norm(torch.tensor(x), trm, trv, training=True, momentum=0.3)
    assert_close(rm, trm, 1e-6, 1e-5)
    assert_close(rv, trv, 1e-5, 1e-5)


def test_batch_norm_one_value_per_channel_raises():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(numtorch.zeros(1, 3), None, None, training=True)


def test_batch_norm_float32_large_batch_vs_torch(torch):
    """float32 stays float32 and matches PyTorch on a ResNet-sized activation."""
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((32, 16, 32, 32)) * 2 + 3).astype(np.float32)
    w, b = rng.standard_normal(16).astype(np.float32), rng.standard_normal(16).astype(np.float32)
    gy = rng.standard_normal(x.shape).astype(np.float32)
    X, W, B = (numtorch.tensor(a, requires_grad=True) for a in (x, w, b))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.batch_norm(X, None, None, W, B, training=True)
    ty = torch.nn.functional.batch_norm(tx, None, None, tw, tb, training=True)
    y.backward(numtorch.tensor(gy))
    ty.backward(torch.tensor(gy))
    assert y.dtype == numtorch.float32 and X.grad.dtype == numtorch.float32
    assert_close(y, ty, 1e-4, 1e-4)
    assert_close(X.grad, tx.grad, 1e-4, 1e-4)
    assert_close(W.grad, tw.grad, 1e-1, 1e-4)
    assert_close(B.grad, tb.grad, 1e-1, 1e-4)


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_group_norm(groups):
    check(lambda x, w, b: _F(x).group_norm(x, groups, w, b), (2, 4, 3, 3), (4,), (4,))


def test_instance_norm():
    check(lambda x, w, b: _F(x).instance_norm(x, weight=w, bias=b), (2, 3, 4, 3), (3,), (3,))


def test_instance_norm_running_stats(torch):
    x = np.random.default_rng(2).standard_normal((4, 3, 5, 5)).astype(np.float32)
    rm, rv, trm, trv = numtorch.zeros(3), numtorch.ones(3), torch.zeros(3), torch.ones(3)
    F.instance_norm(numtorch.tensor(x), rm, rv)
    torch.nn.functional.instance_norm(torch.tensor(x), trm, trv)
    assert_close(rm, trm, 1e-6, 1e-5)
    assert_close(rv, trv, 1e-6, 1e-5)


# ---- modules -------------------------------------------------------------------------------

@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm2d_module_vs_torch(torch, momentum):
    rng = np.random.default_rng(3)
    m, tm = nn.BatchNorm2d(3, momentum=momentum), torch.nn.BatchNorm2d(3, momentum=momentum)
    assert list(m.state_dict().keys()) == list(tm.state_dict().keys())
    assert repr(m) == repr(tm)
    for _ in range(3):
        x = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
        assert_close(m(numtorch.tensor(x)), tm(torch.tensor(x)), 1e-5, 1e-5)
    for k, v in tm.state_dict().items():
        assert_close(m.state_dict()[k], v, 1e-5, 1e-5, k)
    m.eval(), tm.eval()
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    assert_close(m(numtorch.tensor(x)), tm(torch.tensor(x)), 1e-5, 1e-5)


def test_batchnorm1d_module_options(torch):
    for kw in (dict(affine=False), dict(track_running_stats=False), dict(eps=1e-3, momentum=0.5)):
        m, tm = nn.BatchNorm1d(4, **kw), torch.nn.BatchNorm1d(4, **kw)
        assert repr(m) == repr(tm)
        assert list(m.state_dict().keys()) == list(tm.state_dict().keys())
        x = np.random.default_rng(4).standard_normal((5, 4, 3)).astype(np.float32)
        assert_close(m(numtorch.tensor(x)), tm(torch.tensor(x)), 1e-5, 1e-5)
        m.eval(), tm.eval()
        assert_close(m(numtorch.tensor(x)), tm(torch.tensor(x)), 1e-5, 1e-5)
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        nn.BatchNorm1d(4)(numtorch.zeros(2, 4, 3, 3))


def test_groupnorm_instancenorm_modules(torch):
    x = np.random.default_rng(5).standard_normal((2, 4, 3, 3)).astype(np.float32)
    for m, tm in ((nn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4)),
                  (nn.InstanceNorm2d(4), torch.nn.InstanceNorm2d(4)),
                  (nn.InstanceNorm2d(4, affine=True, track_running_stats=True),
                   torch.nn.InstanceNorm2d(4, affine=True, track_running_stats=True))):
        assert repr(m) == repr(tm)
        assert list(m.state_dict().keys()) == list(tm.state_dict().keys())
        assert_close(m(numtorch.tensor(x)), tm(torch.tensor(x)), 1e-5, 1e-5)


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_batch_norm_layouts_vs_torch(torch, layout):
    """The fused batch norm works on channels-last rows: same result for either memory layout of x
    and of the incoming gradient, float32 throughout."""
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((6, 5, 7, 3)) * 3 + 1).astype(np.float32)
    gy = rng.standard_normal(x.shape).astype(np.float32)
    if layout == "channels_last":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
        gy = np.ascontiguousarray(gy.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    w, b = rng.standard_normal(5).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    X, W, B = (numtorch.from_numpy(a).requires_grad_() for a in (x, w, b))  # keeps the memory layout
    assert (X._data.transpose(0, 2, 3, 1).flags.c_contiguous) == (layout == "channels_last")
    tx, tw, tb = (torch.tensor(np.ascontiguousarray(a), requires_grad=True) for a in (x, w, b))
    y = F.batch_norm(X, None, None, W, B, training=True)
    ty = torch.nn.functional.batch_norm(tx, None, None, tw, tb, training=True)
    y.backward(numtorch.from_numpy(gy))
    ty.backward(torch.tensor(np.ascontiguousarray(gy)))
    assert y.dtype == X.grad.dtype == W.grad.dtype == numtorch.float32
    assert_close(y, ty, 1e-5, 1e-5)
    for g, tg in ((X.grad, tx.grad), (W.grad, tw.grad), (B.grad, tb.grad)):
        assert_close(g, tg, 1e-4, 1e-4)
