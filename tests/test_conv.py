"""conv1d/conv2d/conv_transpose2d, unfold/fold, pad, interpolate, pixel_shuffle against NumPy, PyTorch and
central differences; plus the Conv modules."""
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


def np_conv2d(x, w, b=None, stride=1, pad=0, dil=1, groups=1):
    """Direct-loop reference convolution (small shapes only)."""
    n, c, h, wd = x.shape
    oc, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - dil * (kh - 1) - 1) // stride + 1
    ow = (wd + 2 * pad - dil * (kw - 1) - 1) // stride + 1
    y = np.zeros((n, oc, oh, ow))
    ocg = oc // groups
    for o in range(oc):
        g = o // ocg
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * cg:(g + 1) * cg, i * stride:i * stride + dil * (kh - 1) + 1:dil,
                           j * stride:j * stride + dil * (kw - 1) + 1:dil]
                y[:, o, i, j] = (patch * w[o]).sum(axis=(1, 2, 3))
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


@pytest.mark.parametrize("stride,padding,dilation,groups", [
    (1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 1), (2, 0, 1, 2), (1, 1, 1, 4), (3, 2, 2, 2), ((2, 1), (0, 1), (1, 2), 1),
])
def test_conv2d_grid(stride, padding, dilation, groups):
    check(lambda x, w, b: _F(x).conv2d(x, w, b, stride, padding, dilation, groups),
          (2, 4, 7, 6), (4, 4 // groups, 3, 3), (4,),
          np_fn=(lambda x, w, b: np_conv2d(x, w, b, stride, padding, dilation, groups))
          if isinstance(stride, int) else None, grad_atol=1e-5)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("k,dil", [(3, 1), (4, 1), (2, 3), ((3, 2), (1, 2))])
def test_conv2d_same_valid(torch, padding, k, dil):
    check(lambda x, w: _F(x).conv2d(
        x, w, padding=padding, dilation=dil), (1, 2, 6, 5), (3, 2) + ((k, k) if isinstance(k, int) else k))


def test_conv2d_same_strided_raises():
    with pytest.raises(ValueError, match="same"):
        F.conv2d(numtorch.zeros(1, 1, 5, 5), numtorch.zeros(1, 1, 3, 3), stride=2, padding="same")


def test_conv2d_no_bias_depthwise_float32(torch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 10, 9)).astype(np.float32)
    w = rng.standard_normal((12, 1, 3, 3)).astype(np.float32)
    X, W = numtorch.tensor(x, requires_grad=True), numtorch.tensor(w, requires_grad=True)
    y = F.conv2d(X, W, padding=1, groups=6)
    assert y.dtype == numtorch.float32
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw, padding=1, groups=6)
    gy = rng.standard_normal(ty.shape).astype(np.float32)
    y.backward(numtorch.tensor(gy))
    ty.backward(torch.tensor(gy))
    assert_close(y, ty, 1e-5, 1e-5)
    assert X.grad.dtype == numtorch.float32 and W.grad.dtype == numtorch.float32
    assert_close(X.grad, tx.grad, 1e-4, 1e-5)
    assert_close(W.grad, tw.grad, 1e-4, 1e-5)


def test_conv2d_errors():
    with pytest.raises(RuntimeError, match="channels"):
        F.conv2d(numtorch.zeros(1, 3, 5, 5), numtorch.zeros(2, 2, 3, 3))
    with pytest.raises(RuntimeError, match="too small"):
        F.conv2d(numtorch.zeros(1, 1, 2, 2), numtorch.zeros(1, 1, 3, 3))


def test_conv2d_double_backward_raises():
    x = numtorch.randn(1, 1, 4, 4, dtype=numtorch.float64, requires_grad=True)
    w = numtorch.randn(1, 1, 3, 3, dtype=numtorch.float64, requires_grad=True)
    y = F.conv2d(x, w).sum()
    with pytest.raises(RuntimeError, match="first-order"):
        numtorch.autograd.grad(y, x, create_graph=True)


def test_conv2d_unbatched_and_noncontiguous(torch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3, 8)).astype(np.float64)
    w = rng.standard_normal((2, 3, 3, 3))
    y = F.conv2d(numtorch.tensor(x).permute(1, 0, 2), numtorch.tensor(w))  # (3, 5, 8) non-contiguous
    ty = torch.nn.functional.conv2d(torch.tensor(x).permute(1, 0, 2), torch.tensor(w))
    assert_close(y, ty, 1e-10, 1e-10)


@pytest.mark.parametrize("stride,padding,dilation,groups", [(1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 3), (3, 1, 1, 1)])
def test_conv1d(torch, stride, padding, dilation, groups):
    check(lambda x, w, b: _F(x).conv1d(
        x, w, b, stride, padding, dilation, groups), (2, 3, 11), (6, 3 // groups, 3), (6,))


@pytest.mark.parametrize("stride,padding,output_padding,groups,dilation", [
    (1, 0, 0, 1, 1), (2, 1, 1, 1, 1), (2, 0, 0, 2, 1), (3, 1, 2, 1, 1), (1, 1, 0, 1, 2), (2, 2, 1, 2, 2),
])
def test_conv_transpose2d(torch, stride, padding, output_padding, groups, dilation):
    check(lambda x, w, b: _F(x).conv_transpose2d(
        x, w, b, stride, padding, output_padding, groups, dilation), (2, 4, 4, 5), (4, 6 // groups, 3, 3), (6,))


def test_conv_transpose1d(torch):
    check(lambda x, w: _F(x).conv_transpose1d(
        x, w, stride=2, padding=1, output_padding=1), (2, 3, 5), (3, 2, 4))


@pytest.mark.parametrize("k,d,p,s", [(2, 1, 0, 1), (3, 1, 1, 2), ((2, 3), (2, 1), (1, 0), (1, 2))])
def test_unfold_fold(torch, k, d, p, s):
    check(lambda x: _F(x).unfold(x, k, d, p, s),
          (2, 3, 6, 7))
    tu = torch.nn.functional.unfold(torch.zeros(2, 3, 6, 7), k, d, p, s)
    check(lambda c: _F(c).fold(c, (6, 7), k, d, p, s),
          tuple(tu.shape))


def test_unfold_matches_conv_gemm():
    """conv2d == weight @ unfold(x): the im2col identity, checked on float64 values."""
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    cols = F.unfold(numtorch.tensor(x), 3, padding=1)
    y = (numtorch.tensor(w.reshape(4, -1)) @ cols).reshape(2, 4, 6, 6)
    assert_close(y, np_conv2d(x, w, pad=1), 1e-10, 1e-10)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding,shape", [((1, 2), (2, 3, 5)), ((2, 1, 0, 2), (2, 3, 4, 5)),
                                           ((1, 1, 1, 1), (1, 2, 3, 3))])
def test_pad_modes(torch, mode, padding, shape):
    check(lambda x: _F(x).pad(x, padding, mode=mode), shape)


def test_pad_constant_value_and_reflect_error(torch):
    check(lambda x: _F(x).pad(x, (1, 1), value=2.5),
          (2, 3))
    with pytest.raises(RuntimeError, match="Padding size"):
        F.pad(numtorch.zeros(1, 1, 3, 3), (3, 3, 0, 0), mode="reflect")


@pytest.mark.parametrize("kw", [
    dict(scale_factor=2, mode="nearest"), dict(size=(5, 7), mode="nearest"), dict(size=(3, 2), mode="nearest"),
    dict(scale_factor=2, mode="bilinear", align_corners=False), dict(size=(7, 5), mode="bilinear", align_corners=True),
    dict(size=(3, 3), mode="bilinear", align_corners=False), dict(scale_factor=1.5, mode="bilinear"),
])
def test_interpolate_2d(torch, kw):
    check(lambda x: _F(x).interpolate(x, **kw),
          (2, 2, 4, 4))


@pytest.mark.parametrize("kw", [dict(scale_factor=3, mode="nearest"), dict(size=7, mode="linear", align_corners=True),
                                dict(size=6, mode="linear")])
def test_interpolate_1d(torch, kw):
    check(lambda x: _F(x).interpolate(x, **kw), (2, 3, 5))


def test_pixel_shuffle_roundtrip(torch):
    check(lambda x: _F(x).pixel_shuffle(x, 2),
          (2, 8, 3, 3))
    check(lambda x: _F(x).pixel_unshuffle(x, 3),
          (1, 2, 6, 3))


# ---- modules -------------------------------------------------------------------------------

def _module_pairs(torch):
    import numtorch.nn as nn
    tnn = torch.nn
    return [
        (nn.Conv2d(4, 5, 3), tnn.Conv2d(4, 5, 3)),
        (nn.Conv2d(4, 4, (3, 2), stride=2, padding=1, dilation=(2, 1), groups=2, bias=False),
         tnn.Conv2d(4, 4, (3, 2), stride=2, padding=1, dilation=(2, 1), groups=2, bias=False)),
        (nn.Conv2d(4, 6, 3, padding="same", padding_mode="reflect"),
         tnn.Conv2d(4, 6, 3, padding="same", padding_mode="reflect")),
        (nn.Conv2d(4, 2, 3, padding=2, padding_mode="circular"), tnn.Conv2d(4, 2, 3, padding=2, padding_mode="circular")),
        (nn.Conv2d(4, 2, 3, padding=1, padding_mode="replicate"),
         tnn.Conv2d(4, 2, 3, padding=1, padding_mode="replicate")),
        (nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1),
         tnn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)),
        (nn.MaxPool2d(3, 2, 1, ceil_mode=True), tnn.MaxPool2d(3, 2, 1, ceil_mode=True)),
        (nn.AvgPool2d(2), tnn.AvgPool2d(2)),
        (nn.AdaptiveAvgPool2d((1, 1)), tnn.AdaptiveAvgPool2d((1, 1))),
        (nn.AdaptiveMaxPool2d(3), tnn.AdaptiveMaxPool2d(3)),
        (nn.ZeroPad2d((1, 2, 0, 1)), tnn.ZeroPad2d((1, 2, 0, 1))),
        (nn.ConstantPad2d(1, 0.5), tnn.ConstantPad2d(1, 0.5)),
        (nn.ReflectionPad2d(2), tnn.ReflectionPad2d(2)),
        (nn.ReplicationPad2d((1, 0, 2, 1)), tnn.ReplicationPad2d((1, 0, 2, 1))),
        (nn.Upsample(scale_factor=2), tnn.Upsample(scale_factor=2)),
        (nn.Upsample(size=(5, 3), mode="bilinear", align_corners=True),
         tnn.Upsample(size=(5, 3), mode="bilinear", align_corners=True)),
        (nn.PixelShuffle(2), tnn.PixelShuffle(2)),
        (nn.Unfold(2, padding=1), tnn.Unfold(2, padding=1)),
    ]


def test_modules_repr_and_forward_vs_torch(torch):
    x = np.random.default_rng(0).standard_normal((2, 4, 6, 6)).astype(np.float32)
    for m, tm in _module_pairs(torch):
        assert repr(m) == repr(tm)
        assert list(m.state_dict().keys()) == list(tm.state_dict().keys())
        if list(m.state_dict()):
            tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m.state_dict().items()})
        assert_close(m(numtorch.tensor(x)), tm(torch.tensor(x)), 1e-5, 1e-5, repr(m))


def test_fold_module_and_conv1d_module(torch):
    import numtorch.nn as nn
    m, tm = nn.Fold((4, 5), 2), torch.nn.Fold((4, 5), 2)
    assert repr(m) == repr(tm)
    c = np.random.default_rng(1).standard_normal((2, 12, 12)).astype(np.float32)
    assert_close(m(numtorch.tensor(c)), tm(torch.tensor(c)), 1e-6, 1e-6)
    m, tm = nn.Conv1d(3, 5, 3, padding=1), torch.nn.Conv1d(3, 5, 3, padding=1)
    assert repr(m) == repr(tm)
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m.state_dict().items()})
    x = np.random.default_rng(2).standard_normal((2, 3, 7)).astype(np.float32)
    assert_close(m(numtorch.tensor(x)), tm(torch.tensor(x)), 1e-5, 1e-5)


def test_conv2d_init_bounds():
    """kaiming_uniform_(a=sqrt(5)) and the bias both give U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    import numtorch.nn as nn
    numtorch.manual_seed(0)
    m = nn.Conv2d(16, 32, 3)
    bound = 1 / np.sqrt(16 * 9)
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert np.abs(b).max() <= bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound  # std of U(-b, b) is b/sqrt(3)
