"""The Winograd F(2, 3) CPU convolution (3x3, stride 1) against direct float64 sums, numerical
gradients and PyTorch; its float32 error against float64 is level with the im2col path's (dW within 2.5x)."""
import numpy as np
import pytest

import numtorch
from numtorch.ops import _winograd as W
from numtorch.ops import conv as C
from helpers import conv2d_float64_reference

RNG = np.random.default_rng(7)


def _direct(x, w, pads):
    """conv2d by the definition in float64: y[n,o,h,v] = sum_{c,i,j} xpad[n,c,h+i,v+j] w[o,c,i,j]."""
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0)) + tuple(pads))
    oh, ow = xp.shape[2] - 2, xp.shape[3] - 2
    y = np.zeros((x.shape[0], w.shape[0], oh, ow))
    for i in range(3):
        for j in range(3):
            y += np.einsum("nchw,oc->nohw", xp[:, :, i:i + oh, j:j + ow], w[:, :, i, j].astype(np.float64))
    return y


# (N, C, OC, H, W, pads): odd and even heights (an odd last output row), asymmetric pads, one image
# in several blocks and several images in one block
CASES = [(3, 2, 4, 5, 7, ((1, 1), (1, 1))), (2, 3, 2, 6, 4, ((0, 2), (2, 0))), (1, 1, 1, 3, 3, ((0, 0), (0, 0))),
         (5, 4, 3, 8, 9, ((2, 1), (0, 1))), (2, 1, 2, 2, 2, ((2, 2), (2, 2)))]


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(W, "_BLOCK_BYTES", 1)   # one image per block: the blocks' edges are crossed


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("blocks", ["one", "many", "uneven"])
def test_winograd_forward_and_grads_match_direct_sums(case, blocks, monkeypatch):
    if blocks == "many":
        monkeypatch.setattr(W, "_BLOCK_BYTES", 1)
    if blocks == "uneven":      # blocks of two images and a last one of one: two scratch layouts
        monkeypatch.setattr(W, "_images_per_block", lambda *args: 2)
    n, c, oc, h, w_, pads = case
    x, w = RNG.standard_normal((n, c, h, w_)), RNG.standard_normal((oc, c, 3, 3))
    xl = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    y = W.winograd_conv(xl, w, pads).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(y, _direct(x, w, pads), rtol=0, atol=1e-12)
    gy = RNG.standard_normal(y.shape)
    gyl = np.ascontiguousarray(gy.transpose(0, 2, 3, 1))
    # dW[o,c,i,j] = sum gy[n,o,h,v] xpad[n,c,h+i,v+j];  dx = the adjoint, read off <gy, conv(e_k)>
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(pads))
    oh, ow = y.shape[2:]
    gw_ref = np.stack([np.stack([np.einsum("nohw,nchw->oc", gy, xp[:, :, i:i + oh, j:j + ow])
                                 for j in range(3)], -1) for i in range(3)], -2)
    np.testing.assert_allclose(W.winograd_grad_weight(xl, gyl, pads, w.shape), gw_ref, rtol=0, atol=1e-11)
    gxp = np.zeros_like(xp)
    for i in range(3):
        for j in range(3):
            gxp[:, :, i:i + oh, j:j + ow] += np.einsum("nohw,oc->nchw", gy, w[:, :, i, j])
    (pt, _), (pl, _) = pads
    gx_ref = gxp[:, :, pt:pt + h, pl:pl + w_]
    gx = W.winograd_grad_input(gyl, w, pads, (h, w_)).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(gx, gx_ref, rtol=0, atol=1e-11)


@pytest.fixture
def always_winograd(monkeypatch):
    monkeypatch.setattr(C, "_WINOGRAD_MIN_WIDTH", 1)
    monkeypatch.setattr(C, "_WINOGRAD_MIN_CHANNELS", 1)
    monkeypatch.setattr(C, "_WINOGRAD_MIN_POSITIONS", 1)


def test_winograd_path_is_chosen_for_3x3_stride_1_wide_images():
    def algo(xs, ws, stride=(1, 1), pads=((1, 1), (1, 1)), dil=(1, 1), groups=1):
        geo = C._Geom(xs, ws, stride, pads, dil, groups)
        return C.conv_algorithm(np.zeros(xs, np.float32), np.zeros(ws, np.float32), geo)
    assert algo((32, 16, 32, 32), (16, 16, 3, 3)) == "winograd"
    assert algo((32, 64, 8, 8), (64, 64, 3, 3)) == "winograd"
    assert algo((32, 64, 4, 4), (64, 64, 3, 3)) != "winograd"                    # too narrow
    assert algo((32, 3, 32, 32), (16, 3, 3, 3)) != "winograd"                    # too few channels
    assert algo((2, 64, 8, 8), (64, 64, 3, 3)) != "winograd"                     # too small a batch
    assert algo((32, 16, 32, 32), (32, 16, 3, 3), stride=(2, 2)) != "winograd"
    assert algo((32, 16, 32, 32), (16, 16, 3, 3), dil=(2, 2), pads=((2, 2), (2, 2))) != "winograd"
    assert algo((32, 16, 32, 32), (16, 8, 3, 3), groups=2) != "winograd"
    assert algo((32, 16, 32, 32), (16, 16, 5, 5), pads=((2, 2), (2, 2))) != "winograd"
    assert algo((32, 16, 32, 32), (16, 16, 3, 3), pads=((3, 3), (3, 3))) != "winograd"


@pytest.mark.parametrize("padding", [1, 0, 2])
def test_conv2d_layer_uses_winograd_and_gradchecks(always_winograd, small_blocks, padding):
    x = numtorch.tensor(RNG.standard_normal((2, 2, 3, 4)), requires_grad=True)
    w = numtorch.tensor(RNG.standard_normal((2, 2, 3, 3)), requires_grad=True)
    b = numtorch.tensor(RNG.standard_normal(2), requires_grad=True)
    f = lambda x, w, b: numtorch.nn.functional.conv2d(x, w, b, padding=padding)  # noqa: E731
    assert f(x, w, b).grad_fn.algo == "winograd"
    assert numtorch.autograd.gradcheck(f, (x, w, b))


def test_winograd_conv_refuses_backward_after_input_modified_in_place(always_winograd):
    x = numtorch.randn(1, 2, 5, 5)
    w = numtorch.randn(2, 2, 3, 3, requires_grad=True)
    y = numtorch.nn.functional.conv2d(x, w, padding=1)
    x.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def _conv_f32(x, w, gy, algo_patch, monkeypatch):
    """(y, dW, dx) of numtorch's float32 conv2d with padding 1 under the given path settings."""
    for name, value in algo_patch.items():
        monkeypatch.setattr(C, name, value)
    xn, wn = numtorch.tensor(x, requires_grad=True), numtorch.tensor(w, requires_grad=True)
    yn = numtorch.nn.functional.conv2d(xn, wn, padding=1)
    yn.backward(numtorch.tensor(gy))
    return yn.grad_fn.algo, yn.detach().numpy(), wn.grad.numpy(), xn.grad.numpy()


def test_winograd_float32_error_is_within_im2col_error(torch, monkeypatch):
    # float64 references from PyTorch; the error of each output is measured against sum |terms|
    # (the scale its rounding error is bounded by) and compared with the im2col path's
    rng = np.random.default_rng(7)      # its own seed: the figures below do not depend on test order
    x = rng.standard_normal((4, 16, 32, 32)).astype(np.float32)
    w = (rng.standard_normal((16, 16, 3, 3)) * 0.1).astype(np.float32)
    gy = rng.standard_normal((4, 16, 32, 32)).astype(np.float32)
    refs, scale = conv2d_float64_reference(x, w, gy, torch)
    errors = {}
    for want, patch in (("winograd", {"_WINOGRAD_MIN_POSITIONS": 1}),
                        ("im2col", {"_WINOGRAD_MIN_WIDTH": 1 << 30, "_BLOCKED_MIN_COLS_BYTES": 1 << 60})):
        algo, *outs = _conv_f32(x, w, gy, patch, monkeypatch)
        assert algo == want
        eps = np.finfo(np.float32).eps
        errors[algo] = [np.max(np.abs(o - r) / s) / eps for o, r, s in zip(outs, refs, scale)]
    # Measured over eight seeds (in float32 eps x sum|terms|), Winograd / im2col: y 1.3-1.8 / 1.7-2.4,
    # dx 1.3-2.0 / 1.7-2.4, dW 0.46-0.63 / 0.29-0.37.  The transforms add up to four values before a
    # product and dW = G^T dU takes halved differences, which roughly doubles the |terms| dW's
    # rounding scales with; y and dx stay level with im2col.  Every error is within 4 eps sum|terms|.
    for wino, ref, factor in zip(errors["winograd"], errors["im2col"], (1.25, 2.5, 1.25)):
        assert wino <= factor * ref and wino <= 4.0, errors
