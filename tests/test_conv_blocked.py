"""The blocked CPU convolution (im2col + GEMM a block of rows at a time) equals the reference
im2col path exactly in structure: checked in float64 against a direct NumPy sum over the kernel,
for geometries that take whole-image blocks, bands of rows, a band wider than a block, strides,
padding and dilation."""
import numpy as np
import pytest

import numtorch
from numtorch.ops import conv as C

RNG = np.random.default_rng(7)


def _direct(x, w, stride, pad, dil):
    """y[n, o, i, j] = sum_{c, p, q} w[o, c, p, q] x_pad[n, c, s*i + d*p, s*j + d*q] (float64 loops
    over the kernel offsets only)."""
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - dil * (kh - 1) - 1) // stride + 1
    ow = (wd + 2 * pad - dil * (kw - 1) - 1) // stride + 1
    y = np.zeros((n, oc, oh, ow))
    for p in range(kh):
        for q in range(kw):
            patch = xp[:, :, dil * p: dil * p + stride * (oh - 1) + 1: stride,
                       dil * q: dil * q + stride * (ow - 1) + 1: stride]
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, p, q])
    return y


CASES = [  # (N, C, H, W, OC, K, stride, pad, dil)
    (3, 4, 8, 8, 5, 3, 1, 1, 1),        # whole images per block
    (2, 3, 50, 60, 4, 3, 1, 1, 1),      # 3000 rows per image: bands of rows
    (1, 2, 3, 2100, 3, 3, 1, 1, 1),     # one row of output is wider than a block
    (2, 3, 21, 17, 4, 3, 2, 1, 1),      # stride 2
    (2, 3, 15, 15, 2, 3, 1, 2, 2),      # dilation 2
    (2, 2, 9, 9, 3, 5, 1, 0, 1),        # 5x5, no padding
]


@pytest.mark.parametrize("case", CASES)
def test_blocked_conv_forward_and_weight_grad_match_direct_sum(case):
    n, c, h, w_, oc, k, s, p, d = case
    x = RNG.standard_normal((n, c, h, w_))
    w = RNG.standard_normal((oc, c, k, k))
    geo = C._Geom(x.shape, w.shape, (s, s), ((p, p), (p, p)), (d, d), 1)
    y = C.conv_forward_blocked(x, w, geo)
    ref = _direct(x, w, s, p, d)
    # float64 sums of c*k*k products of O(1) terms: error ~ 1e-15 * sqrt(c k^2)
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-12)
    gy = RNG.standard_normal(y.shape)
    gw = C.conv_grad_weight_blocked(x, gy, geo)
    # dW[o, c, p, q] = sum_{n,i,j} gy[n, o, i, j] x_pad[n, c, s i + d p, s j + d q]
    xp_ = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    oh, ow = y.shape[2:]
    gw_ref = np.empty_like(w)
    for a in range(k):
        for b in range(k):
            patch = xp_[:, :, d * a: d * a + s * (oh - 1) + 1: s, d * b: d * b + s * (ow - 1) + 1: s]
            gw_ref[:, :, a, b] = np.einsum("nohw,nchw->oc", gy, patch)
    np.testing.assert_allclose(gw, gw_ref, rtol=0, atol=1e-10)


def test_blocked_path_is_chosen_for_large_cols_only():
    big = C._Geom((32, 16, 32, 32), (16, 16, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1)   # cols 19 MB
    small = C._Geom((32, 3, 32, 32), (16, 3, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1)   # 3.5 MB
    assert C.blocked_applies(np.zeros((32, 16, 32, 32), np.float32), np.zeros((16, 16, 3, 3), np.float32), big)
    assert not C.blocked_applies(np.zeros((32, 3, 32, 32), np.float32), np.zeros((16, 3, 3, 3), np.float32), small)


@pytest.fixture
def always_blocked(monkeypatch):
    monkeypatch.setattr(C, "_BLOCKED_MIN_COLS_BYTES", 0)
    monkeypatch.setattr(C, "_WINOGRAD_MIN_WIDTH", 1 << 30)   # the 3x3 stride-1 cases here too


def test_conv2d_layer_uses_blocked_path_and_gradchecks(always_blocked):
    x = numtorch.tensor(RNG.standard_normal((2, 2, 6, 5)), requires_grad=True)
    w = numtorch.tensor(RNG.standard_normal((3, 2, 3, 3)), requires_grad=True)
    b = numtorch.tensor(RNG.standard_normal(3), requires_grad=True)
    y = numtorch.nn.functional.conv2d(x, w, b, padding=1)
    assert y.grad_fn.algo == "blocked"
    assert numtorch.autograd.gradcheck(lambda x, w, b: numtorch.nn.functional.conv2d(x, w, b, padding=1),
                                       (x, w, b))


def test_blocked_conv_refuses_backward_after_input_modified_in_place(always_blocked):
    # the blocked path saves the input (as PyTorch's conv does): changing it in place is caught
    x = numtorch.randn(1, 2, 5, 5)
    w = numtorch.randn(2, 2, 3, 3, requires_grad=True)
    y = numtorch.nn.functional.conv2d(x, w, padding=1)
    x.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def _bound(abs_sums, n_terms):
    """Float32 rounding of a sum of n terms: within ~sqrt(n) * eps32 * sum|terms| (random-walk
    growth of rounding errors; x4 margin for the summation order of the BLAS kernel)."""
    return 4 * np.sqrt(n_terms) * np.finfo(np.float32).eps * abs_sums.max()


def test_blocked_conv_matches_float64_and_torch(torch, always_blocked):
    x = RNG.standard_normal((4, 16, 32, 32)).astype(np.float32)
    w = (RNG.standard_normal((16, 16, 3, 3)) * 0.1).astype(np.float32)
    gy = RNG.standard_normal((4, 16, 32, 32)).astype(np.float32)
    xn, wn = numtorch.tensor(x, requires_grad=True), numtorch.tensor(w, requires_grad=True)
    yn = numtorch.nn.functional.conv2d(xn, wn, padding=1)
    assert yn.grad_fn.algo == "blocked"
    yn.backward(numtorch.tensor(gy))
    # float64 references from PyTorch (an independent implementation), and the |terms| sums
    f64 = lambda a, rg=False: torch.tensor(a.astype(np.float64), requires_grad=rg)  # noqa: E731
    xt, wt = f64(x, True), f64(w, True)
    yt = torch.nn.functional.conv2d(xt, wt, padding=1)
    yt.backward(f64(gy))
    with torch.no_grad():
        ay = torch.nn.functional.conv2d(f64(np.abs(x)), f64(np.abs(w)), padding=1).numpy()
        agw = torch.nn.grad.conv2d_weight(f64(np.abs(x)), w.shape, f64(np.abs(gy)), padding=1).numpy()
        agx = torch.nn.grad.conv2d_input(x.shape, f64(np.abs(w)), f64(np.abs(gy)), padding=1).numpy()
    assert np.abs(yn.detach().numpy() - yt.detach().numpy()).max() <= _bound(ay, 16 * 9)
    assert np.abs(wn.grad.numpy() - wt.grad.numpy()).max() <= _bound(agw, 4 * 32 * 32)
    assert np.abs(xn.grad.numpy() - xt.grad.numpy()).max() <= _bound(agx, 16 * 9)
