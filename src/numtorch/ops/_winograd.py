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
xi, twelve in all, read the transformed rows where they lie.  Positions in the width padding
compute values that are thrown away (a (W+1)/W overhead with padding 1, see ``_geometry``).  Then
(1) combines the four M_xi into the even and odd output rows.  Against im2col + GEMM: 2/3 of the
products (4 x 3 taps per 2 outputs instead of 2 x 9) and no 9x-sized cols copy.  The work runs over
blocks of a few images sized to stay in cache and to keep each GEMM in OpenBLAS's small-matrix
kernels.

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
# ... and at most this many multiply-adds (M*N*K) per phase GEMM: OpenBLAS's SkylakeX build takes
# products up to 1e6 through unpacked small-matrix kernels at ~105 GFLOP/s on these shapes, larger
# ones through its packed kernels at 65-85 (measured, one thread: (326, 96) @ (96, 32) 82 against
# 106 for (325, 96) @ (96, 32)).  Other BLAS builds only see smaller blocks.
_GEMM_MAX_MNK = 1_000_000


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


def _images_per_block(th: int, wp: int, c: int, oc: int, itemsize: int) -> int:
    """Images per block: the padded images within ``_BLOCK_BYTES`` and each phase GEMM,
    (ceil(L/3), 3C) @ (3C, OC) with L = b*TH*Wp, within ``_GEMM_MAX_MNK``."""
    by_bytes = _BLOCK_BYTES // ((2 * th + 2) * wp * c * itemsize)
    by_gemm = (3 * (_GEMM_MAX_MNK // (3 * c * oc)) - 2) // (th * wp)
    return max(1, min(by_bytes, by_gemm))


def _blocks(n: int, nb: int):
    """(first image, number of images) of each block of at most nb images."""
    return [(i, min(nb, n - i)) for i in range(0, n, nb)]


def _images_view(a, th: int, b: int, wp: int):
    """Flat block rows (TH*b*Wp, K) seen as (b, TH, Wp, K): a block's positions are row-major
    (t, image, column), see ``_Rows``."""
    return a.reshape(th, b, wp, -1).transpose(1, 0, 2, 3)


class _Rows:
    """Scratch for one block of b images: the padded input's even and odd rows as two zero-bordered
    planes (2, TH+1, b, Wp, C), and the transformed rows V (4, L + slack, C), L = TH*b*Wp.

    The block's positions run (t, image, column), images inside a row pair t: the four subtractions
    below then read and write whole contiguous arrays for any image size.  (NumPy's ufuncs copy
    operands through a buffer when their contiguous runs are shorter than its 8192 elements, which
    made the same subtractions on every-other-row views of padded images about 2x slower.)  Window
    q of a phase only spans columns of one image row, so the order of the rows does not matter to
    the GEMMs; the input goes into the planes by one strided copy each, with no padded image between.
    """

    def __init__(self, b, th, wp, c, dtype) -> None:
        self.b, self.th, self.wp, self.c = b, th, wp, c
        self.planes = np.zeros((2, th + 1, b, wp, c), dtype=dtype)   # xpad rows 2t and 2t + 1
        self.n = th * b * wp
        self.v = np.zeros((4, 3 * (-(-self.n // 3)) + 2, c), dtype=dtype)

    def load(self, x_block, pt: int, pl: int) -> int:
        """Writes the block's padded rows into the planes and V_xi = (B^T d)_xi; returns L.

        With d_i = xpad row 2t + i, E[t] = xpad row 2t and O[t] = xpad row 2t + 1:
        V0 = d0 - d2 = E[t] - E[t+1],  V1 = d1 + d2 = O[t] + E[t+1],  V2 = d2 - d1,  V3 = d1 - d3."""
        h, w = x_block.shape[1:3]
        th, n = self.th, self.n
        for s in (0, 1):                       # plane s holds xpad rows a = 2t + s = x row a - pt
            t_lo = max(0, (pt - s + 1) // 2)
            t_hi = min(th, (h - 1 + pt - s) // 2)
            if t_hi >= t_lo:
                j = 2 * t_lo + s - pt
                rows = x_block[:, j:j + 2 * (t_hi - t_lo) + 1:2].transpose(1, 0, 2, 3)
                self.planes[s, t_lo:t_hi + 1, :, pl:pl + w] = rows
        e0, e1 = self.planes[0, :th], self.planes[0, 1:]
        o0, o1 = self.planes[1, :th], self.planes[1, 1:]
        v = self.v[:, :n].reshape((4,) + e0.shape)
        np.subtract(e0, e1, out=v[0])
        np.add(o0, e1, out=v[1])
        np.subtract(e1, o0, out=v[2])
        np.subtract(o0, o1, out=v[3])
        return n

    def window(self, r: int, n: int):
        """Phase r of the four V_xi: row q of matrix xi = the 3*C values V_xi[3q + r : 3q + r + 3],
        (4, ceil(n/3), 3C) -- one batched GEMM serves the four."""
        nq, c = -(-n // 3), self.c
        v = self.v
        return v.reshape(4, -1)[:, r * c:(r + 3 * nq) * c].reshape(4, nq, 3 * c)


def _scratch(n: int, nb: int, th: int, wp: int, c: int, dtype) -> dict:
    """One ``_Rows`` per block size (a full block and a smaller last one)."""
    return {b: _Rows(b, th, wp, c, dtype) for b in {b for _, b in _blocks(n, nb)}}


def _geometry(x_shape, pads):
    """(N, OH, OW, TH, Wp): TH row pairs, Wp positions per row.

    A row holds pl zeros, the W values, then zeros up to Wp = W + max(pl, pr): the right padding
    that a window reads past the row's end is the next row's left padding (or the zero slack after
    the last row), so the rows need not each carry both; with 1 and 1 that is one wasted position
    per row instead of two (on 8x8 images, 9/8 of the products instead of 10/8)."""
    n, h, w, c = x_shape
    (pt, pb), (pl, pr) = pads
    oh, ow = h + pt + pb - 2, w + pl + pr - 2
    return n, oh, ow, (oh + 1) // 2, w + max(pl, pr)


def winograd_conv(x, w, pads):
    """y (N, OH, OW, OC) channels-last = conv2d of x (N, H, W, C) (any strides) with w (OC, C, 3, 3).

    pads = ((top, bottom), (left, right)); stride 1, dilation 1.
    """
    n, oh, ow, th, wp = _geometry(x.shape, pads)
    oc, c = w.shape[:2]
    u = transformed_weight(w)
    nb = _images_per_block(th, wp, c, oc, x.itemsize)
    scratch = _scratch(n, nb, th, wp, c, x.dtype)
    m = np.empty((4, max(r.v.shape[1] for r in scratch.values()), oc), dtype=x.dtype)
    y = np.empty((n, oh, ow, oc), dtype=x.dtype)
    for i, b in _blocks(n, nb):
        rows = scratch[b]
        L = rows.load(x[i:i + b], pads[0][0], pads[1][0])
        for r in range(3):
            win = rows.window(r, L)
            np.matmul(win, u, out=m[:, r:r + 3 * win.shape[1]:3])
        _combine(m, rows, y[i:i + b])
    return y


def _combine(m, rows: _Rows, y) -> None:
    """(1): y[2t] = m0 + m1 + m2,  y[2t+1] = m1 - m2 - m3 (an odd last row has no partner).

    The sums run over the whole contiguous (L, OC) products, width padding included, into m0 and
    m1 (a contiguous ufunc pass is ~2x one over the cropped, interleaved rows of y); two strided
    copies then place the kept columns."""
    oh, ow = y.shape[1:3]
    m0, m1, m2, m3 = m[0, :rows.n], m[1, :rows.n], m[2, :rows.n], m[3, :rows.n]
    np.add(m0, m1, out=m0)
    m0 += m2
    np.subtract(m1, m2, out=m1)
    m1 -= m3
    y[:, 0::2] = _images_view(m0, rows.th, rows.b, rows.wp)[:, :, :ow]
    y[:, 1::2] = _images_view(m1, rows.th, rows.b, rows.wp)[:, :oh // 2, :ow]


def winograd_grad_weight(x, gy, pads, wshape):
    """dW (OC, C, 3, 3) of ``winograd_conv(x, w, pads)`` for the output gradient gy (N, OH, OW, OC)."""
    n, oh, ow, th, wp = _geometry(x.shape, pads)
    oc, c = wshape[:2]
    nb = _images_per_block(th, wp, c, oc, x.itemsize)
    scratch = _scratch(n, nb, th, wp, c, x.dtype)
    dm = np.zeros((4, max(r.v.shape[1] for r in scratch.values()), oc), dtype=x.dtype)  # 0 in the padding
    du = np.zeros((4, 3 * c, oc), dtype=x.dtype)
    part = np.empty((4, 3 * c, oc), dtype=x.dtype)
    for i, b in _blocks(n, nb):
        rows = scratch[b]
        L = rows.load(x[i:i + b], pads[0][0], pads[1][0])
        _grad_rows(gy[i:i + b], dm, rows)
        for r in range(3):
            win = rows.window(r, L)
            np.matmul(win.transpose(0, 2, 1), dm[:, r:r + 3 * win.shape[1]:3], out=part)
            du += part
    du[3] *= -1.0                                               # dM3 = -gO was stored as +gO
    g = np.asarray(_G, dtype=x.dtype)
    dw = g.T @ du.reshape(4, -1)                                # (i, (j, c, o))
    return dw.reshape(3, 3, c, oc).transpose(3, 2, 0, 1).copy()


def _grad_rows(gy, dm, rows: _Rows) -> None:
    """dM = (gE, gE + gO, gE - gO, gO) over the block's positions (gO's sign is restored in dU).

    dM0 and dM3 are zero in the width padding (the same positions for every block size), so dM1 and
    dM2 are taken over the whole contiguous (L, OC) rows (see ``_combine``)."""
    n, ow = rows.n, gy.shape[2]
    dm[:, n:] = 0.0                                             # the last phase's slack rows
    d0, d3 = (_images_view(dm[i, :n], rows.th, rows.b, rows.wp)[:, :, :ow] for i in (0, 3))
    ge, go = gy[:, 0::2], gy[:, 1::2]
    k = go.shape[1]
    d0[...] = ge
    d3[:, :k] = go
    d3[:, k:] = 0.0
    np.add(dm[0, :n], dm[3, :n], out=dm[1, :n])
    np.subtract(dm[0, :n], dm[3, :n], out=dm[2, :n])


def winograd_grad_input(gy, w, pads, in_hw):
    """dx (N, H, W, C) channels-last: gy (N, OH, OW, OC) convolved with the flipped kernel."""
    wt = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)             # (C, OC, 3, 3)
    full = tuple((2 - a, 2 - b) for a, b in pads)
    dx = winograd_conv(gy, np.ascontiguousarray(wt), full)
    return dx[:, :in_hw[0], :in_hw[1]]
