"""float32 accuracy of the GPT step's CPU fast paths against float64 references, in float32 ulps
(``tests/ulps.py``): layer norm's forward and fused backward (the broadcasts as small BLAS products),
GELU's blocked forward and its in-place first-order backward, and the causal attention op.

Each bound is float32's eps times the element's conditioning, stated as a scale: the magnitudes of
the terms a float32 evaluation rounds (never a bare tolerance against PyTorch)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import numtorch
import numtorch.nn.functional as F
import ulps
from numtorch.ops import normalization

F32 = np.float32


def _ln_rows(seed=0, R=64, N=128):
    """Rows N(0, 1), with mean 1e3, scaled by 1e-3, and N(7, 50^2): offsets make x - mean cancel."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, R // 4, N))
    x[1] += 1e3
    x[2] *= 1e-3
    x[3] = x[3] * 50 + 7
    w = 1 + 0.1 * rng.standard_normal(N)
    b = 0.1 * rng.standard_normal(N)
    gy = rng.standard_normal(x.shape)
    return [v.astype(F32) for v in (x.reshape(R, N), w, b, gy.reshape(R, N))]


def _ln_backward64(x, w, gy, eps=1e-5):
    """Closed-form layer norm gradients in float64 and their scales: the terms' magnitudes, with
    x_hat's own rounding (x - mean carries ulp(|x| + |mean|), over the std) counted in."""
    x, w, gy = (v.astype(np.float64) for v in (x, w, gy))
    N = x.shape[-1]
    mu = x.mean(-1, keepdims=True)
    r = 1 / np.sqrt(x.var(-1, keepdims=True) + eps)
    xhat = (x - mu) * r
    g = gy * w
    a, c = g.mean(-1, keepdims=True), (g * xhat).mean(-1, keepdims=True)
    gx = r * (g - a - xhat * c)
    h = np.abs(xhat) + (np.abs(x) + np.abs(mu)) * r        # |x_hat| with its rounding's size
    sc = r * (np.abs(g) + np.abs(g).mean(-1, keepdims=True) + h * (np.abs(g) * h).mean(-1, keepdims=True))
    gw, sw = (gy * xhat).sum(0), (np.abs(gy) * h).sum(0)
    return (gx, sc), (gw, sw), (gy.sum(0), np.abs(gy).sum(0)), N


def test_outer_is_the_exact_rounded_outer_product():
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal(37).astype(F32), rng.standard_normal(11).astype(F32)
    want = (u.astype(np.float64)[:, None] * v.astype(np.float64)[None, :]).astype(F32)
    assert np.array_equal(normalization._outer(u, v), want)


def test_layer_norm_float32_forward_within_eps_of_float64():
    x, w, b, _ = _ln_rows()
    y = F.layer_norm(numtorch.tensor(x), (x.shape[-1],), numtorch.tensor(w), numtorch.tensor(b)).numpy()
    x64, w64, b64 = (v.astype(np.float64) for v in (x, w, b))
    mu = x64.mean(-1, keepdims=True)
    sd = np.sqrt(x64.var(-1, keepdims=True) + 1e-5)
    ref = (x64 - mu) / sd * w64 + b64
    scale = (np.abs(x64) + np.abs(mu)) / sd * np.abs(w64) + np.abs(b64)
    # x - mean: 1 rounding of |x| + |mean|; mean and variance sums: log2(N); r w, the products, + b: 4
    assert ulps.max_ulps(y, ref, scale) <= 8 + math.log2(x.shape[-1])


@pytest.mark.parametrize("seed", [0, 1])
def test_layer_norm_float32_backward_within_eps_of_float64(seed):
    x, w, b, gy = _ln_rows(seed)
    xt, wt, bt = (numtorch.tensor(v, requires_grad=True) for v in (x, w, b))
    F.layer_norm(xt, (x.shape[-1],), wt, bt).backward(numtorch.tensor(gy))
    (gx, sx), (gw, sw), (gb, sb), N = _ln_backward64(x, w, gy)
    R = x.shape[0]
    # each term carries a few roundings; the row sums log2(N), the column sums log2(R)
    assert ulps.max_ulps(xt.grad.numpy(), gx, sx) <= 8 + math.log2(N)
    assert ulps.max_ulps(wt.grad.numpy(), gw, sw) <= 8 + math.log2(R)
    assert ulps.max_ulps(bt.grad.numpy(), gb, sb) <= 2 + math.log2(R)
