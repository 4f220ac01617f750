"""3x3 stride-1 convolution on the CPU by Winograd's F(2, 3) along the height, with no im2col copy.

F(2, 3) computes two outputs of a 3-tap filter from four inputs with four products instead of six::

    y0 = m0 + m1 + m2,   y1 = m1 - m2 - m3,   m = (G g) * (B^T d)                        (1)
    B^T d = (d0 - d2, d1 + d2, d2 - d1, d1 - d3),   G g = (g0, (g0+g1+g2)/2, (g0-g1+g2)/2, g2)

Applied along the height of a channels-last (N, H, W, C) image, d0..d3 are four whole padded rows, so
``B^T d`` is four array subtractions over contiguous rows (V_xi, xi = 0..3, each half the image's
size), and each of the four "rows" xi is then an ordinary 1x3 convolution along the width with the
transformed kernel U_xi = (G w)_xi of shape (3*C, OC):

    M_xi[p] = [V_xi[p], V_xi[p+1], V_xi[p+2]] @ U_xi         p = a position of the flattened rows

The three channel vectors V_xi[p..p+2] lie side by side in memory (3*C floats), so the positions
p = 3q + r of one phase r (r = 0, 1, 2) are rows of a plain (L/3, 3C) matrix view: three GEMMs per
xi, twelve in all, read the transformed rows where they lie.  Positions in the width padding compute
values that are thrown away (a (W+2)/W overhead).  Then (1) combines the four M_xi into the even and
odd output rows.  Against im2col + GEMM: 2/3 of the products (4 x 3 taps per 2 outputs instead of
2 x 9) and no 9x-sized cols copy.  The work runs over blocks of a few images sized to stay in cache.

Backward: the input gradient of a stride-1 convolution is a stride-1 convolution of the output
gradient with the flipped kernel (``winograd_conv`` again); the weight gradient is the adjoint of
the twelve GEMMs, dU_xi = sum_r window_r^T @ dM_xi[r::3], with dM = (gE, gE + gO, gE - gO, -gO)
from the even and odd output-gradient rows, and dW = G^T dU.
"""
from __future__ import annotations

import numpy as np

# G (4, 3): the filter transform of F(2, 3); its rows give U_xi = sum_i G[xi, i] w[..., i, :]
_G = ((1.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0.0, 0.0, 1.0))
_BLOCK_BYTES = 1 << 19   # per block: the padded images, about 512 KiB (the transforms are 2x that)


def winograd_applies(x, w, stride, dilation, groups) -> bool:
    """True for NumPy float convolutions with a 3x3 kernel, stride 1, dilation 1 and one group."""
    return (x.__class__ is np.ndarray and x.dtype in (np.float32, np.float64) and groups == 1
            and w.shape[2:] == (3, 3) and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1))


def transformed_weight(w):
    """U (4, 3*C, OC) from w (OC, C, 3, 3): U[xi, (j, c), o] = sum_i G[xi, i] w[o, c, i, j]."""
    oc, c = w.shape[:2]
    wt = w.transpose(2, 3, 1, 0).reshape(3, -1)                # (i, (j, c, o))
    g = np.asarray(_G, dtype=w.dtype)
    return (g @ wt).reshape(4, 3 * c, oc)


def _images_per_block(th: int, wp: int, c: int, itemsize: int) -> int:
    return max(1, _BLOCK_BYTES // ((2 * th + 2) * wp * c * itemsize))


class _Rows:
    """Scratch for one block of b images: the zero-bordered padded input xp (b, 2TH+2, Wp, C) and
    the transformed rows V (4, L + slack, C), L = b*TH*Wp, reused by every block."""

    def __init__(self, nb, th, wp, c, dtype) -> None:
        self.th, self.wp, self.c = th, wp, c
        self.xp = np.zeros((nb, 2 * th + 2, wp, c), dtype=dtype)
        n_rows = nb * th * wp
        self.v = np.zeros((4, 3 * (-(-n_rows // 3)) + 2, c), dtype=dtype)

    def load(self, x_block, pt: int, pl: int) -> int:
        """Pads the block into xp and writes V_xi = (B^T d)_xi over row quadruples; returns L."""
        b, h, w = x_block.shape[:3]
        xp = self.xp[:b]
        xp[:, pt:pt + h, pl:pl + w] = x_block
        th, n = self.th, b * self.th * self.wp
        r0, r1, r2, r3 = (xp[:, a:a + 2 * th:2] for a in range(4))   # (b, TH, Wp, C) each
        v = self.v[:, :n].reshape(4, b, th, self.wp, self.c)
        np.subtract(r0, r2, out=v[0])
        np.add(r1, r2, out=v[1])
        np.subtract(r2, r1, out=v[2])
        np.subtract(r1, r3, out=v[3])
        return n

    def window(self, r: int, n: int):
        """Phase r of the four V_xi: row q of matrix xi = the 3*C values V_xi[3q + r : 3q + r + 3],
        (4, ceil(n/3), 3C) -- one batched GEMM serves the four."""
        nq, c = -(-n // 3), self.c
        v = self.v
        return v.reshape(4, -1)[:, r * c:(r + 3 * nq) * c].reshape(4, nq, 3 * c)


def _geometry(x_shape, pads):
    n, h, w, c = x_shape
    (pt, pb), (pl, pr) = pads
    oh, ow = h + pt + pb - 2, w + pl + pr - 2
    return n, oh, ow, (oh + 1) // 2, ow + 2


def winograd_conv(x, w, pads):
    """y (N, OH, OW, OC) channels-last = conv2d of x (N, H, W, C) (any strides) with w (OC, C, 3, 3).

    pads = ((top, bottom), (left, right)); stride 1, dilation 1.
    """
    n, oh, ow, th, wp = _geometry(x.shape, pads)
    oc, c = w.shape[:2]
    u = transformed_weight(w)
    nb = _images_per_block(th, wp, c, x.itemsize)
    rows = _Rows(min(nb, n), th, wp, c, x.dtype)
    m = np.empty((4, rows.v.shape[1], oc), dtype=x.dtype)
    y = np.empty((n, oh, ow, oc), dtype=x.dtype)
    for i in range(0, n, nb):
        b = min(nb, n - i)
        L = rows.load(x[i:i + b], pads[0][0], pads[1][0])
        for r in range(3):
            win = rows.window(r, L)
            np.matmul(win, u, out=m[:, r:r + 3 * win.shape[1]:3])
        _combine(m[:, :L].reshape(4, b, th, wp, oc)[:, :, :, :ow], y[i:i + b])
    return y


def _combine(m, y) -> None:
    """(1): y[2t] = m0 + m1 + m2,  y[2t+1] = m1 - m2 - m3 (an odd last row has no partner)."""
    even, odd = y[:, 0::2], y[:, 1::2]
    k = odd.shape[1]
    np.add(m[0], m[1], out=even)
    even += m[2]
    np.subtract(m[1, :, :k], m[2, :, :k], out=odd)
    odd -= m[3, :, :k]


def winograd_grad_weight(x, gy, pads, wshape):
    """dW (OC, C, 3, 3) of ``winograd_conv(x, w, pads)`` for the output gradient gy (N, OH, OW, OC)."""
    n, oh, ow, th, wp = _geometry(x.shape, pads)
    oc, c = wshape[:2]
    nb = _images_per_block(th, wp, c, x.itemsize)
    rows = _Rows(min(nb, n), th, wp, c, x.dtype)
    dm = np.zeros((4, rows.v.shape[1], oc), dtype=x.dtype)   # zero in the width padding
    du = np.zeros((4, 3 * c, oc), dtype=x.dtype)
    part = np.empty((4, 3 * c, oc), dtype=x.dtype)
    for i in range(0, n, nb):
        b = min(nb, n - i)
        L = rows.load(x[i:i + b], pads[0][0], pads[1][0])
        _grad_rows(gy[i:i + b], dm, L, th, wp)
        for r in range(3):
            win = rows.window(r, L)
            np.matmul(win.transpose(0, 2, 1), dm[:, r:r + 3 * win.shape[1]:3], out=part)
            du += part
    du[3] *= -1.0                                               # dM3 = -gO was stored as +gO
    g = np.asarray(_G, dtype=x.dtype)
    dw = g.T @ du.reshape(4, -1)                                # (i, (j, c, o))
    return dw.reshape(3, 3, c, oc).transpose(3, 2, 0, 1).copy()


def _grad_rows(gy, dm, n_rows: int, th: int, wp: int) -> None:
    """dM = (gE, gE + gO, gE - gO, gO) over the block's positions (gO's sign is restored in dU)."""
    b, oh, ow, oc = gy.shape
    dm[:, n_rows:] = 0.0                                        # the last phase's slack rows
    d = dm[:, :n_rows].reshape(4, b, th, wp, oc)[:, :, :, :ow]
    ge, go = gy[:, 0::2], gy[:, 1::2]
    k = go.shape[1]
    d[0] = ge
    d[3, :, :k] = go
    d[3, :, k:] = 0.0
    np.add(d[0], d[3], out=d[1])
    np.subtract(d[0], d[3], out=d[2])


def winograd_grad_input(gy, w, pads, in_hw):
    """dx (N, H, W, C) channels-last: gy (N, OH, OW, OC) convolved with the flipped kernel."""
    wt = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)             # (C, OC, 3, 3)
    full = tuple((2 - a, 2 - b) for a, b in pads)
    dx = winograd_conv(gy, np.ascontiguousarray(wt), full)
    return dx[:, :in_hw[0], :in_hw[1]]
