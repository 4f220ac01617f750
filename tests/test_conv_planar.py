"""The planar CPU convolution of single-channel inputs (cols^T built from shifted image planes, an
NCHW output) against direct float64 sums, numerical gradients and PyTorch; its float32 error
against float64 is level with the im2col path's."""
import numpy as np
import pytest

import numtorch
import numtorch.nn.functional as F
from numtorch.ops import conv as C
from helpers import conv2d_float64_reference

RNG = np.random.default_rng(11)


def _taps(x, kh, kw, stride, pads, dil):
    """(i, j, plane) for every kernel tap: plane[n, c, oh, ow] = xpad[n, c, oh*s + i*d, ow*s + j*d]."""
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0)) + tuple(pads))
    oh = (xp.shape[2] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (xp.shape[3] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    for i in range(kh):
        for j in range(kw):
            r, c = i * dil[0], j * dil[1]
            yield i, j, xp[:, :, r:r + stride[0] * (oh - 1) + 1:stride[0], c:c + stride[1] * (ow - 1) + 1:stride[1]]


def _reference(x, w, b, gy, stride, pads, dil):
    """y, dx, dW, db by the definitions in float64 (dx as the adjoint: each tap's plane gets gy W back)."""
    kh, kw = w.shape[2:]
    y = sum(np.einsum("nchw,oc->nohw", p, w[:, :, i, j]) for i, j, p in _taps(x, kh, kw, stride, pads, dil))
    y = y + b.reshape(1, -1, 1, 1)
    gw = np.zeros(w.shape)
    for i, j, p in _taps(x, kh, kw, stride, pads, dil):
        gw[:, :, i, j] = np.einsum("nohw,nchw->oc", gy, p)
    (pt, pb), (pl, pr) = pads
    gxp = np.zeros((x.shape[0], x.shape[1], x.shape[2] + pt + pb, x.shape[3] + pl + pr))
    oh, ow = gy.shape[2:]
    for i in range(kh):
        for j in range(kw):
            r, c = i * dil[0], j * dil[1]
            gxp[:, :, r:r + stride[0] * (oh - 1) + 1:stride[0], c:c + stride[1] * (ow - 1) + 1:stride[1]] += \
                np.einsum("nohw,oc->nchw", gy, w[:, :, i, j])
    gx = gxp[:, :, pt:pt + x.shape[2], pl:pl + x.shape[3]]
    return y, gx, gw, gy.sum(axis=(0, 2, 3))


# (N, OC, H, W, kernel, stride, padding, dilation): odd sizes, rectangular kernels, stride, dilation
CASES = [(3, 30, 28, 28, (5, 5), 1, 0, 1), (2, 4, 21, 19, (3, 2), 2, 1, 1), (2, 3, 17, 15, (3, 3), 1, 2, 2),
         (1, 5, 9, 23, (1, 4), (1, 3), (0, 2), 1), (4, 2, 10, 10, (5, 5), 1, 2, 1)]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_planar_conv_matches_direct_sums(case, layout):
    n, oc, h, w_, k, s, p, d = case
    x = RNG.standard_normal((n, 1, h, w_))
    if layout == "strided":                                       # a non-contiguous view of a larger array
        x = np.repeat(RNG.standard_normal((n, 1, h, w_)), 2, axis=3)[:, :, :, ::2]
    w, b = RNG.standard_normal((oc, 1) + k), RNG.standard_normal(oc)
    xn, wn, bn = (numtorch.tensor(a, requires_grad=True) for a in (x, w, b))
    if layout == "strided":
        xn = numtorch.from_numpy(x).requires_grad_()
        assert not xn._data.flags.c_contiguous
    y = F.conv2d(xn, wn, bn, stride=s, padding=p, dilation=d)
    assert y.grad_fn.algo == "planar"
    gy = RNG.standard_normal(tuple(y.shape))
    y.backward(numtorch.tensor(gy))
    pair = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
    pads = tuple((q, q) for q in pair(p))
    refs = _reference(x, w, b, gy, pair(s), pads, pair(d))
    for got, ref in zip((y.detach(), xn.grad, wn.grad, bn.grad), refs):
        np.testing.assert_allclose(got.numpy(), ref, rtol=0, atol=1e-11)


def test_planar_path_is_chosen_for_single_channel_inputs():
    def algo(xs, ws, stride=(1, 1), pads=((0, 0), (0, 0))):
        geo = C._Geom(xs, ws, stride, pads, (1, 1), 1)
        return C.conv_algorithm(np.zeros(xs, np.float32), np.zeros(ws, np.float32), geo)
    assert algo((100, 1, 28, 28), (30, 1, 5, 5)) == "planar"
    assert algo((32, 1, 32, 32), (16, 1, 3, 3), pads=((1, 1), (1, 1))) == "planar"
    assert algo((32, 3, 32, 32), (16, 3, 3, 3), pads=((1, 1), (1, 1))) == "im2col"    # several channels
    assert algo((8, 1, 6, 6), (4, 1, 3, 3)) == "im2col"                               # 16 positions
    geo = C._Geom((2, 1, 9, 9), (3, 1, 3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1), 1)
    assert C.conv_algorithm(np.zeros((2, 1, 9, 9), np.int64), np.zeros((3, 1, 3, 3), np.int64), geo) != "planar"


def test_planar_conv_gradchecks():
    x = numtorch.tensor(RNG.standard_normal((1, 1, 8, 16)), requires_grad=True)
    w = numtorch.tensor(RNG.standard_normal((3, 1, 3, 3)), requires_grad=True)
    b = numtorch.tensor(RNG.standard_normal(3), requires_grad=True)
    fn = lambda x, w, b: F.conv2d(x, w, b, stride=(1, 2), padding=1)  # noqa: E731
    assert fn(x, w, b).grad_fn.algo == "planar"
    assert numtorch.autograd.gradcheck(fn, (x, w, b))


def test_planar_conv_skips_input_gradient_of_images():
    # the images of a first layer need no gradient: backward computes dW and db only
    x = numtorch.tensor(RNG.standard_normal((2, 1, 12, 12)).astype(np.float32))
    w = numtorch.tensor(RNG.standard_normal((4, 1, 5, 5)).astype(np.float32), requires_grad=True)
    y = F.conv2d(x, w)
    y.sum().backward()
    assert x.grad is None and w.grad is not None


def _f32_errors(x, w, gy, torch):
    """Largest error of y, dW and dx of numtorch's float32 conv against PyTorch's float64, in float32
    eps x sum |terms| (the scale a sum's rounding error is bounded by), and the algorithm used."""
    refs, scale = conv2d_float64_reference(x, w, gy, torch)
    xn, wn = numtorch.tensor(x, requires_grad=True), numtorch.tensor(w, requires_grad=True)
    yn = F.conv2d(xn, wn, padding=1)
    yn.backward(numtorch.tensor(gy))
    outs = (yn.detach(), wn.grad, xn.grad)
    eps = np.finfo(np.float32).eps
    return yn.grad_fn.algo, [float(np.max(np.abs(o.numpy() - r) / s) / eps)
                             for o, r, s in zip(outs, refs, scale)]


def test_planar_float32_error_is_within_im2col_error(torch, monkeypatch):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 1, 28, 28)).astype(np.float32)
    w = (rng.standard_normal((30, 1, 5, 5)) * 0.2).astype(np.float32)
    gy = rng.standard_normal((8, 30, 26, 26)).astype(np.float32)
    algo, planar = _f32_errors(x, w, gy, torch)
    assert algo == "planar"
    monkeypatch.setattr(C, "_PLANAR_MAX_CHANNELS", 0)
    algo, im2col = _f32_errors(x, w, gy, torch)
    assert algo == "im2col"
    # the same products summed by BLAS in another order: level with im2col (x1.25), within 4 eps sum|terms|
    for a, ref in zip(planar, im2col):
        assert a <= 1.25 * ref + 0.05 and a <= 4.0, (planar, im2col)
