"""Convolutions: ``conv1d``, ``conv2d``, ``conv_transpose2d``, ``unfold``/``fold`` -- the names of
``torch.nn.functional`` (``pad`` is in ``ops.padding``, ``interpolate`` and ``pixel_shuffle`` in
``ops.resample``; the window geometry shared with pooling in ``ops._window``).

How a convolution becomes one matrix product (im2col)::

    x (N, C, H, W) --pad, channels-last--> xp (N, Hp, Wp, C)
    windows = strided view of xp           (N, OH, OW, KH, KW, C)                  # no copy
    cols = windows.reshape(N*OH*OW, KH*KW*C)                                       # one copy
    y    = cols @ W2d.T,  W2d = W (OC, C, KH, KW) reordered to (OC, KH*KW*C)
         -> (N*OH*OW, OC) = (N, OH, OW, OC) in memory, returned as an (N, OC, OH, OW) view

Backward, with gy reshaped to (N*OH*OW, OC):

    dW    = gy.T @ cols                            (one GEMM)
    dcols = gy @ W2d                               (one GEMM)
    dx    = col2im(dcols): for every kernel offset (i, j) add the slab dcols[..., i, j]
            into a padded buffer at rows i*dil + stride*oh, cols j*dil + stride*ow (a strided slice).

Activations are kept channels-last in memory (NHWC) behind an NCHW view: the GEMM writes
(N*OH*OW, OC) rows, so the output is that buffer seen as (N, OC, OH, OW) without a copy.

The conv backward computes on arrays and wraps the results: it is first-order only, and raises a
clear error if ``create_graph=True`` reaches it.
"""
from __future__ import annotations

import math

import numpy as np

from numtorch import _dtypes
from numtorch._backend import xp_of
from numtorch.ops import _autocast, _winograd
from numtorch.ops._util import first_order_only
from numtorch.ops._window import _col2im_add, _pair, out_size, pad_nhwc, strided_view, windows
from numtorch.autograd.function import Function
from numtorch.tensor import Tensor, make_tensor

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "unfold", "fold"]


# ---- helpers ------------------------------------------------------------------------------

# ---- the three array kernels of a convolution ----------------------------------------------

class _Geom:
    """The shapes of one convolution: input (N, C, H, W), kernel, stride, padding, dilation, groups."""

    __slots__ = ("n", "c", "h", "w", "oc", "kh", "kw", "oh", "ow", "stride", "pads", "dil", "g")

    def __init__(self, xshape, wshape, stride, pads, dil, groups) -> None:
        self.n, self.c, self.h, self.w = xshape
        self.oc, _, self.kh, self.kw = wshape
        self.stride, self.pads, self.dil, self.g = stride, pads, dil, groups
        self.oh = out_size(self.h, self.kh, stride[0], pads[0][0] + pads[0][1], dil[0])
        self.ow = out_size(self.w, self.kw, stride[1], pads[1][0] + pads[1][1], dil[1])


def nhwc_padded(x, pads):
    """x (N, C, H, W) as a C-contiguous channels-last (N, Hp, Wp, C) array, zero-padded by ``pads``.

    No copy when x already lives channels-last and needs no padding (the output of a previous conv).
    """
    (pt, pb), (pl, pr) = pads
    t = x.transpose(0, 2, 3, 1)
    if pt == pb == pl == pr == 0 and t.flags.c_contiguous:
        return t
    n, c, h, w = x.shape
    buf = xp_of(x).zeros((n, h + pt + pb, w + pl + pr, c), dtype=x.dtype)
    buf[:, pt:pt + h, pl:pl + w, :] = t
    return buf


def im2col(x, geo: _Geom):
    """cols (G, N*OH*OW, KH*KW*C/G): every receptive field as one row, per group.

    Columns are kernel-offset major, channel minor (kh, kw, c): the copy reads whole channel vectors
    of the channels-last input, and col2im below adds whole channel vectors back.
    """
    a = nhwc_padded(x, geo.pads)                                  # (N, Hp, Wp, C)
    sn, sh, sw, sc = a.strides
    shape = (geo.n, geo.oh, geo.ow, geo.kh, geo.kw, geo.c)
    strides = (sn, sh * geo.stride[0], sw * geo.stride[1], sh * geo.dil[0], sw * geo.dil[1], sc)
    win = strided_view(a, shape, strides)
    rows, g = geo.n * geo.oh * geo.ow, geo.g
    if g == 1:
        return win.reshape(1, rows, geo.kh * geo.kw * geo.c)     # the one copy (none for 1x1, stride 1)
    win = win.reshape(geo.n, geo.oh, geo.ow, geo.kh, geo.kw, g, geo.c // g).transpose(5, 0, 1, 2, 3, 4, 6)
    return win.reshape(g, rows, geo.kh * geo.kw * (geo.c // g))


def _w_cols(w, geo: _Geom):
    """W (OC, C/G, KH, KW) as (G, OC/G, KH*KW*C/G), the column order of ``im2col``."""
    g = geo.g
    return w.transpose(0, 2, 3, 1).reshape(g, geo.oc // g, -1)


def conv_forward(cols, w, geo: _Geom):
    """y (N, OC, OH, OW) = cols @ W^T per group (an NCHW view of a channels-last buffer)."""
    g = geo.g
    y = _dtypes.matmul(cols, _w_cols(w, geo).transpose(0, 2, 1))  # (G, N*OH*OW, OC/G)
    if g == 1:
        return y.reshape(geo.n, geo.oh, geo.ow, geo.oc).transpose(0, 3, 1, 2)
    y = y.reshape(g, geo.n, geo.oh, geo.ow, geo.oc // g).transpose(1, 0, 4, 2, 3)
    return y.reshape(geo.n, geo.oc, geo.oh, geo.ow)


def _gy_rows(gy, geo: _Geom):
    """gy (N, OC, OH, OW) as (G, N*OH*OW, OC/G) (no copy when gy lives channels-last)."""
    g = geo.g
    gy = gy.reshape(geo.n, g, geo.oc // g, geo.oh, geo.ow).transpose(1, 0, 3, 4, 2)
    return gy.reshape(g, geo.n * geo.oh * geo.ow, geo.oc // g)


def conv_grad_weight(cols, gy_rows, geo: _Geom, wshape):
    """dW = gy^T @ cols per group, shaped like W (OC, C/G, KH, KW)."""
    gw = _dtypes.matmul(gy_rows.transpose(0, 2, 1), cols)  # (G, OC/G, KH*KW*C/G)
    gw = gw.reshape(geo.oc, geo.kh, geo.kw, geo.c // geo.g)
    return gw.transpose(0, 3, 1, 2).copy()                    # small: the weight's size


def conv_grad_input(gy_rows, w, geo: _Geom):
    """dx = col2im(gy @ W2d): the adjoint of im2col, a sum over the KH*KW kernel offsets.

    For stride 1 the same sum is a convolution of gy with the flipped, transposed kernel and
    padding d*(k-1) - p ("full" correlation): one im2col copy and one GEMM, about 3x faster than
    the KH*KW strided adds, so that path is taken whenever it applies.
    """
    if geo.stride == (1, 1) and all(p <= d * (k - 1) for pair, d, k in
                                    zip(geo.pads, geo.dil, (geo.kh, geo.kw)) for p in pair):
        return _grad_input_as_conv(gy_rows, w, geo)
    xp = xp_of(gy_rows)
    g, cg = geo.g, geo.c // geo.g
    dcols = _dtypes.matmul(gy_rows, _w_cols(w, geo))  # (G, N*OH*OW, KH*KW*C/G)
    dcols = dcols.reshape(g, geo.n, geo.oh, geo.ow, geo.kh, geo.kw, cg)
    (pt, pb), (pl, pr) = geo.pads
    buf = xp.zeros((geo.n, geo.h + pt + pb, geo.w + pl + pr, g, cg), dtype=gy_rows.dtype)
    sh, sw = geo.stride
    for i in range(geo.kh):
        r0 = i * geo.dil[0]
        for j in range(geo.kw):
            c0 = j * geo.dil[1]
            slab = dcols[:, :, :, :, i, j, :].transpose(1, 2, 3, 0, 4)   # (N, OH, OW, G, C/G)
            buf[:, r0:r0 + sh * (geo.oh - 1) + 1:sh, c0:c0 + sw * (geo.ow - 1) + 1:sw] += slab
    buf = buf.reshape(geo.n, geo.h + pt + pb, geo.w + pl + pr, geo.c)
    return buf[:, pt:pt + geo.h, pl:pl + geo.w, :].transpose(0, 3, 1, 2)


def _grad_input_as_conv(gy_rows, w, geo: _Geom):
    """dx for stride 1: conv2d(gy, W flipped in space with in/out channels swapped, padding d(k-1) - p)."""
    g, cg, ocg = geo.g, geo.c // geo.g, geo.oc // geo.g
    gy = gy_rows.reshape(g, geo.n, geo.oh, geo.ow, ocg).transpose(1, 0, 4, 2, 3)
    gy = gy.reshape(geo.n, geo.oc, geo.oh, geo.ow)
    wt = w.reshape(g, ocg, cg, geo.kh, geo.kw)[:, :, :, ::-1, ::-1].transpose(0, 2, 1, 3, 4)
    wt = wt.reshape(geo.c, ocg, geo.kh, geo.kw)
    full = [d * (k - 1) for d, k in zip(geo.dil, (geo.kh, geo.kw))]
    pads = tuple((f - a, f - b) for f, (a, b) in zip(full, geo.pads))
    tgeo = _Geom((geo.n, geo.oc, geo.oh, geo.ow), (geo.c, ocg, geo.kh, geo.kw), (1, 1), pads, geo.dil, g)
    if blocked_applies(gy, wt, tgeo):
        return conv_forward_blocked(gy, wt, tgeo)
    return conv_forward(im2col(gy, tgeo), wt, tgeo)


# ---- the CPU fast path: im2col and GEMM block by block, in cache ------------------------------
# The reference above copies every receptive field into one cols matrix, 9x the input for a 3x3
# kernel (19 MB for a batch of 32 at 16 channels x 32 x 32), then reads it back for the GEMM, and
# keeps it for dW.  The same products taken over blocks of ~2048 output rows copy each block's
# columns into one small buffer that the GEMM reads while it is still in cache; backward rebuilds
# the blocks from the saved input instead of keeping cols.  Same sums, in the same order per block.

_BLOCK_ROWS = 2048
# Below this size the whole cols matrix stays cache-friendly and keeping it for dW beats rebuilding
# it: measured blocked/reference CPU time for forward + dW at batch 32: cols of 19 MB (16 channels,
# 32x32) 0.74-0.78, 9.4 MB (32 ch, 16x16) 0.87-0.97, 4.7 MB (64 ch, 8x8) 1.15-1.22, and 1.2-1.5 for
# SimpleConvNet's 5.8 MB and a 3-channel stem's 3.5 MB.
_BLOCKED_MIN_COLS_BYTES = 8 << 20


def blocked_applies(x, w, geo: _Geom) -> bool:
    """The blocked path serves NumPy float convolutions (groups 1, kernel > 1x1) whose im2col
    matrix would be large (>= 8 MiB)."""
    if x.__class__ is not np.ndarray or geo.g != 1 or x.dtype not in (np.float32, np.float64):
        return False
    k = w.shape[1] * w.shape[2] * w.shape[3]
    return w.shape[2] * w.shape[3] > 1 and geo.n * geo.oh * geo.ow * k * x.itemsize >= _BLOCKED_MIN_COLS_BYTES


def _nhwc_windows(x, geo: _Geom):
    """The strided view (N, OH, OW, KH, KW, C) of x padded and channels-last: no copy."""
    a = nhwc_padded(x, geo.pads)
    sn, sh, sw, sc = a.strides
    shape = (geo.n, geo.oh, geo.ow, geo.kh, geo.kw, geo.c)
    return strided_view(a, shape, (sn, sh * geo.stride[0], sw * geo.stride[1], sh * geo.dil[0],
                                   sw * geo.dil[1], sc))


def _row_blocks(geo: _Geom) -> list:
    """Indices into (N, OH, ...) arrays that cover every output row in blocks of ~_BLOCK_ROWS:
    whole images when one image is smaller than a block, else bands of rows of one image."""
    per_image = geo.oh * geo.ow
    if per_image <= _BLOCK_ROWS:
        k = _BLOCK_ROWS // per_image
        return [(slice(i, min(geo.n, i + k)),) for i in range(0, geo.n, k)]
    r = max(1, _BLOCK_ROWS // geo.ow)
    return [(i, slice(j, min(geo.oh, j + r))) for i in range(geo.n) for j in range(0, geo.oh, r)]


def _blocks_of_cols(x, geo: _Geom):
    """Yields (index, cols) per block: cols (rows, KH*KW*C), the block's im2col rows, in one buffer
    reused by every block (valid until the next one)."""
    win = _nhwc_windows(x, geo)
    k = geo.kh * geo.kw * geo.c
    buf = np.empty(max(_BLOCK_ROWS, geo.ow) * k, dtype=x.dtype)
    for idx in _row_blocks(geo):
        src = win[idx]
        cols = buf[:src.size].reshape(src.shape)
        np.copyto(cols, src)
        yield idx, cols.reshape(-1, k)


def conv_forward_blocked(x, w, geo: _Geom):
    """y = conv_forward(im2col(x), w, geo), block by block: (N, OC, OH, OW) viewing NHWC memory."""
    w_t = _w_cols(w, geo)[0].T                               # (KH*KW*C, OC)
    y = np.empty((geo.n, geo.oh, geo.ow, geo.oc), dtype=x.dtype)
    for idx, cols in _blocks_of_cols(x, geo):
        np.matmul(cols, w_t, out=y[idx].reshape(cols.shape[0], geo.oc))
    return y.transpose(0, 3, 1, 2)


def conv_grad_weight_blocked(x, gy, geo: _Geom):
    """dW = sum over blocks of gy_block^T @ cols_block, shaped like W (OC, C, KH, KW)."""
    gy_nhwc = np.ascontiguousarray(gy.transpose(0, 2, 3, 1))   # no copy when gy is channels-last
    gw = np.zeros((geo.oc, geo.kh * geo.kw * geo.c), dtype=x.dtype)
    part = np.empty_like(gw)
    for idx, cols in _blocks_of_cols(x, geo):
        np.matmul(gy_nhwc[idx].reshape(cols.shape[0], geo.oc).T, cols, out=part)
        gw += part
    return gw.reshape(geo.oc, geo.kh, geo.kw, geo.c).transpose(0, 3, 1, 2).copy()


# ---- the CPU fast path for 3x3 stride-1 kernels: Winograd F(2, 3) along the height ------------
# (ops/_winograd.py): 2/3 of im2col's products and no cols copy.  Measured (CPU time, one thread,
# batch 32, forward / dX / dW in ms), Winograd against the path taken before: 16 channels at 32x32
# 2.63 / 2.60 / 2.74 against blocked 3.43 / 3.45 / 3.60; 32 at 16x16 2.32 / 2.36 / 2.33 against
# 2.35 / 2.31 / 2.60; 64 at 8x8 1.92 / 2.10 / 1.97 against im2col 2.14 / 2.24 / 2.58.  Narrow images
# waste the (W+2)/W padding positions the phases compute, 3-channel inputs make K = 3C = 9 GEMMs
# (a 3-channel stem: forward 3.1 against im2col's 2.2), and small problems pay the path's ~60 NumPy
# calls (forward + dW + dX of 64 channels at 8x8: batch 16 2.9 against im2col's 2.7, batch 2 0.54
# against 0.44), so the path needs 8 columns, 8 channels and 2048 output positions.
_WINOGRAD_MIN_WIDTH = 8
_WINOGRAD_MIN_CHANNELS = 8
_WINOGRAD_MIN_POSITIONS = 2048


def winograd_applies(x, w, geo: _Geom) -> bool:
    """NumPy float 3x3 convolutions, stride 1, dilation 1, groups 1, padding <= 2, with >= 8 input
    channels, >= 8 output columns and >= 2048 output positions (N*OH*OW)."""
    return (_winograd.winograd_applies(x, w, geo.stride, geo.dil, geo.g) and geo.ow >= _WINOGRAD_MIN_WIDTH
            and geo.c >= _WINOGRAD_MIN_CHANNELS and geo.n * geo.oh * geo.ow >= _WINOGRAD_MIN_POSITIONS
            and all(0 <= p <= 2 for pair in geo.pads for p in pair))


def _nhwc(a):
    """(N, C, H, W) -> its (N, H, W, C) view (channels-last memory stays a view)."""
    return a.transpose(0, 2, 3, 1)


def conv_forward_winograd(x, w, geo: _Geom):
    """y (N, OC, OH, OW) viewing channels-last memory, by ``_winograd.winograd_conv``."""
    return _winograd.winograd_conv(_nhwc(x), w, geo.pads).transpose(0, 3, 1, 2)


def conv_grad_input_winograd(gy, w, geo: _Geom):
    """dx (N, C, H, W): gy convolved with the flipped kernel, by Winograd too."""
    return _winograd.winograd_grad_input(_nhwc(gy), w, geo.pads, (geo.h, geo.w)).transpose(0, 3, 1, 2)


def conv_grad_weight_winograd(x, gy, geo: _Geom):
    """dW (OC, C, 3, 3): the adjoint of the forward's GEMMs, block by block from the saved x."""
    return _winograd.winograd_grad_weight(_nhwc(x), _nhwc(gy), geo.pads, (geo.oc, geo.c, 3, 3))


# ---- the CPU fast path for single-channel inputs: planar im2col, images-last output ----------
# The channels-last cols of a 1-channel image copy KW floats at a time (SimpleConvNet's 5x5 on
# MNIST: 2.5 ms for 57600 rows of 25).  Taken the other way round, with the images as the last axis
# of memory (a (C, H, W, N) copy of the input, small for one channel), cols^T holds one shifted
# plane per kernel tap, each copied as runs of OW*N floats (0.3 ms), and one GEMM gives the output
# in (OC, OH, OW, N) memory, returned as an (N, OC, OH, OW) view:
#
#     colsT[(c, i, j), (oh, ow, n)] = xpad[n, c, oh*s + i*d, ow*s + j*d]       (C*KH*KW, OH*OW*N)
#     y  = W2d @ colsT                                  (OC, OH*OW*N)    W2d = W.reshape(OC, C*KH*KW)
#     dW = gy2d @ colsT^T,   db = gy2d @ 1              gy2d = gy in the same (OC, OH*OW*N) order
#
# (dx, rarely needed for a first layer, goes through the reference col2im.)  In that memory a
# following 2x2 max pool reads runs of N floats per tap, the bias is added along rows of OH*OW*N,
# and a flatten of the pooled (N, C*H*W) output is a transposed view that the next GEMM reads in place.
_PLANAR_MAX_CHANNELS = 1
_PLANAR_MIN_POSITIONS = 64


def planar_applies(x, w, geo: _Geom) -> bool:
    """NumPy float convolutions of a single-channel input (groups 1) with >= 64 output positions per image."""
    return (x.__class__ is np.ndarray and x.dtype in (np.float32, np.float64) and geo.g == 1
            and geo.c <= _PLANAR_MAX_CHANNELS and geo.oh * geo.ow >= _PLANAR_MIN_POSITIONS)


def im2col_planar(x, geo: _Geom):
    """colsT (C*KH*KW, OH*OW*N): row (c, i, j) is kernel tap (i, j) of channel c at every output position
    (oh, ow) of every image n, images last."""
    (pt, pb), (pl, pr) = geo.pads
    a = np.zeros((geo.c, geo.h + pt + pb, geo.w + pl + pr, geo.n), dtype=x.dtype)
    a[:, pt:pt + geo.h, pl:pl + geo.w] = x.transpose(1, 2, 3, 0)
    win = windows(a.transpose(3, 0, 1, 2), geo.kh, geo.kw, geo.oh, geo.ow, geo.stride, geo.dil)
    win = win.transpose(1, 4, 5, 2, 3, 0)                       # (C, KH, KW, OH, OW, N)
    return win.reshape(geo.c * geo.kh * geo.kw, -1)             # the one copy


def conv_forward_planar(cols_t, w, geo: _Geom, b=None):
    """y (N, OC, OH, OW) viewing (OC, OH, OW, N) memory: W2d @ colsT (+ b along each channel's row)."""
    y = w.reshape(geo.oc, -1) @ cols_t                          # (OC, OH*OW*N)
    if b is not None:
        y += b.reshape(-1, 1)
    return y.reshape(geo.oc, geo.oh, geo.ow, geo.n).transpose(3, 0, 1, 2)


def _planar_rows(gy):
    """gy (N, OC, OH, OW) as the (OC, OH*OW*N) rows of the planar output (no copy for its own layout)."""
    return np.ascontiguousarray(gy.transpose(1, 2, 3, 0)).reshape(gy.shape[1], -1)


def _column_blocks(m: int) -> int:
    """How many blocks of ~512 columns to split m columns into (a divisor of m; 1 when none fits)."""
    return next((m // L for L in range(512, 128, -1) if m % L == 0), 1)


def conv_grad_weight_planar(cols_t, g_rows, geo: _Geom):
    """dW (OC, C, KH, KW) = gy2d @ colsT^T, summed over blocks of ~512 columns: one long GEMM (K = OH*OW*N,
    57600 for SimpleConvNet) ran at 2/3 the speed of the blocks batched."""
    k, m = cols_t.shape
    nb = _column_blocks(m)
    per_block = np.matmul(g_rows.reshape(geo.oc, nb, -1).transpose(1, 0, 2),
                          cols_t.reshape(k, nb, -1).transpose(1, 2, 0))     # (blocks, OC, K)
    return np.add.reduce(per_block, 0).reshape(geo.oc, geo.c, geo.kh, geo.kw)


# ---- conv2d ------------------------------------------------------------------------------

def add_bias(y, b) -> None:
    """y (N, C, H, W) += b (C,) in place.  When y lives channels-last its rows are viewed ~1024 wide
    with b tiled to match: NumPy broadcasts a short vector a row at a time (3-4x slower)."""
    xp = xp_of(y)
    c = y.shape[1]
    t = y.transpose(0, 2, 3, 1)
    if t.flags.c_contiguous:
        k = math.gcd(y.size // c, max(1, 1024 // c))
        rows = t.reshape(-1, k * c)                             # a view: t is contiguous
        rows += xp.tile(b, k)
    else:
        y += b.reshape(1, -1, 1, 1)


def bias_grad(gy_rows):
    """db = the column sums of gy rows (G, M, OC/G), as a matrix-vector product (NumPy's axis-0 sum
    reduces a short row at a time, ~6x slower)."""
    ones = xp_of(gy_rows).ones(gy_rows.shape[1], dtype=gy_rows.dtype)
    return (ones @ gy_rows).reshape(-1)


def conv_algorithm(x, w, geo: _Geom) -> str:
    """The algorithm that serves a convolution: ``'winograd'`` (CPU, 3x3 stride 1, wide images),
    ``'planar'`` (CPU, single-channel inputs), ``'blocked'`` (CPU, large im2col matrices) or the
    reference ``'im2col'`` (GPUs, groups, the rest)."""
    if winograd_applies(x, w, geo):
        return "winograd"
    if planar_applies(x, w, geo):
        return "planar"
    return "blocked" if blocked_applies(x, w, geo) else "im2col"


class Conv2d(Function):
    @staticmethod
    def forward(ctx, x, w, b, geo):
        algo = ctx.algo = conv_algorithm(x, w, geo)
        if algo == "im2col":
            saved = im2col(x, geo)
            y = conv_forward(saved, w, geo)
        elif algo == "planar":                                   # (adds the bias itself)
            saved = im2col_planar(x, geo)
            y = conv_forward_planar(saved, w, geo, b)
            b = None
        else:                                                    # dW rebuilds what it needs from x
            saved = x
            y = (conv_forward_winograd if algo == "winograd" else conv_forward_blocked)(x, w, geo)
        if b is not None:
            add_bias(y, b)
        ctx.geo = geo
        ctx.wshape = w.shape
        nig = ctx.needs_input_grad
        ctx.save_for_backward(saved if nig and nig[1] else None, w)  # x or cols serve dW only
        return y

    @staticmethod
    def backward(ctx, gy):
        # y = cols @ W^T + b  =>  dW = gy^T cols,  dcols = gy W,  dx = col2im(dcols),  db = sum gy
        first_order_only("conv2d")
        x_or_cols, w = ctx.saved_arrays
        geo, g, algo = ctx.geo, gy._data, ctx.algo
        if algo == "planar":
            return _planar_backward(x_or_cols, w, g, geo, ctx.needs_input_grad)
        rows = _gy_rows(g, geo)
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = make_tensor(conv_grad_input_winograd(g, w, geo) if algo == "winograd"
                             else conv_grad_input(rows, w, geo))
        if ctx.needs_input_grad[1]:
            if algo == "im2col":
                gw = make_tensor(conv_grad_weight(x_or_cols, rows, geo, ctx.wshape))
            else:
                grad_weight = conv_grad_weight_winograd if algo == "winograd" else conv_grad_weight_blocked
                gw = make_tensor(grad_weight(x_or_cols, g, geo))
        gb = make_tensor(bias_grad(rows)) if ctx.needs_input_grad[2] else None
        return gx, gw, gb, None


def _planar_backward(cols_t, w, g, geo: _Geom, need):
    """Conv2d's gradients on the planar path (gy read as NCHW planes; dx by the reference col2im)."""
    gx = make_tensor(conv_grad_input(_gy_rows(g, geo), w, geo)) if need[0] else None
    rows = _planar_rows(g) if need[1] or need[2] else None
    gw = make_tensor(conv_grad_weight_planar(cols_t, rows, geo)) if need[1] else None
    gb = make_tensor(rows @ np.ones(rows.shape[1], dtype=rows.dtype)) if need[2] else None
    return gx, gw, gb, None


def _conv_pads(padding, k, dil, stride, op: str) -> tuple:
    """PyTorch's padding argument as ((top, bottom), (left, right))."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0), (0, 0))
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions")
            tot = [d * (kk - 1) for d, kk in zip(dil, k)]
            return tuple((t // 2, t - t // 2) for t in tot)
        raise ValueError(f"{op}: Invalid padding string '{padding}', should be one of ['valid', 'same']")
    p = _pair(padding, "padding")
    return ((p[0], p[0]), (p[1], p[1]))


def _check_conv(op: str, x: Tensor, weight: Tensor, bias, groups: int) -> None:
    if x.ndim != 4:
        raise RuntimeError(f"{op}: Expected 3D (unbatched) or 4D (batched) input, but got input of size: "
                           f"{list(x.shape)}")
    if weight.ndim != 4:
        raise RuntimeError(f"{op}: expected a 4-d weight, got weight of size {list(weight.shape)}")
    if x.shape[1] != weight.shape[1] * groups:
        raise RuntimeError(f"{op}: Given groups={groups}, weight of size {list(weight.shape)}, expected "
                           f"input{list(x.shape)} to have {weight.shape[1] * groups} channels, but got "
                           f"{x.shape[1]} channels instead")
    if weight.shape[0] % groups:
        raise RuntimeError(f"{op}: out_channels {weight.shape[0]} is not divisible by groups={groups}")
    if x.dtype != weight.dtype:
        raise RuntimeError(f"{op}: Input type ({x.dtype}) and weight type ({weight.dtype}) should be the "
                           f"same")


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation), as ``torch.nn.functional.conv2d``.

    Reference implementation: numtorch.nn.textbook.conv2d

    Args:
        input: (N, C, H, W) or unbatched (C, H, W).
        weight: (OC, C/groups, KH, KW).
        bias: (OC,) or None.
        stride, dilation: int or pair.  padding: int, pair, ``'valid'`` or ``'same'``.
        groups: split C and OC into this many independent convolutions (groups == C: depthwise).

    Returns:
        (N, OC, OH, OW) with OH = (H + 2p - d(KH-1) - 1) // s + 1.
    """
    if _autocast.active:
        input, weight, bias = _autocast.cast("conv2d", input, weight, bias)
    if input.ndim == 3:
        return conv2d(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0)
    _check_conv("conv2d", input, weight, bias, groups)
    stride, dil = _pair(stride, "stride"), _pair(dilation, "dilation")
    pads = _conv_pads(padding, weight.shape[2:], dil, stride, "conv2d")
    geo = _Geom(tuple(input.shape), tuple(weight.shape), stride, pads, dil, groups)
    if geo.oh <= 0 or geo.ow <= 0:
        raise RuntimeError(f"conv2d: Calculated output size: ({weight.shape[0]}x{geo.oh}x{geo.ow}) is too "
                           f"small for input of size {list(input.shape)} and kernel {list(weight.shape[2:])}")
    return Conv2d.apply(input, weight, bias, geo)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """1-D convolution: input (N, C, L), weight (OC, C/groups, K); computed as conv2d with height 1."""
    if _autocast.active:
        input, weight, bias = _autocast.cast("conv1d", input, weight, bias)
    if input.ndim == 2:
        return conv1d(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0)
    one = lambda v: v[0] if isinstance(v, (tuple, list)) else v  # noqa: E731
    pad = padding if isinstance(padding, str) else (0, one(padding))
    y = conv2d(input.unsqueeze(2), weight.unsqueeze(2), bias, (1, one(stride)), pad, (1, one(dilation)),
               groups)
    return y.squeeze(2)


# ---- transposed convolution: the adjoint of conv2d --------------------------------------

class ConvTranspose2d(Function):
    @staticmethod
    def forward(ctx, x, w, b, geo):
        # x plays the conv's gy (N, Cin, H, W); w (Cin, Cout/G, KH, KW) is the conv's weight
        rows = _gy_rows(x, geo)
        y = conv_grad_input(rows, w, geo)
        if b is not None:
            y += b.reshape(1, -1, 1, 1)
        ctx.geo, ctx.wshape = geo, w.shape
        ctx.save_for_backward(rows, w)
        return y

    @staticmethod
    def backward(ctx, gy):
        # y = conv2d^T(x, W)  =>  dx = conv2d(gy, W),  dW = grad_weight of conv2d(gy) w.r.t. gy-as-output x
        first_order_only("conv_transpose2d")
        rows, w = ctx.saved_tensors
        geo, g = ctx.geo, gy._data
        cols = im2col(g, geo)
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = make_tensor(conv_forward(cols, w._data, geo))
        if ctx.needs_input_grad[1]:
            gw = make_tensor(conv_grad_weight(cols, rows._data, geo, ctx.wshape))
        if ctx.needs_input_grad[2]:
            gb = make_tensor(g.sum(axis=(0, 2, 3)))
        return gx, gw, gb, None


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """Transposed 2-D convolution (the gradient of conv2d with respect to its input).

    Args:
        input: (N, Cin, H, W).  weight: (Cin, Cout/groups, KH, KW).
    Returns:
        (N, Cout, OH, OW), OH = (H-1)*s - 2p + d*(KH-1) + output_padding + 1.
    """
    if _autocast.active:
        input, weight, bias = _autocast.cast("conv_transpose2d", input, weight, bias)
    if input.ndim == 3:
        return conv_transpose2d(input.unsqueeze(0), weight, bias, stride, padding, output_padding, groups,
                                dilation).squeeze(0)
    s, p, op_, d = _pair(stride), _pair(padding), _pair(output_padding), _pair(dilation)
    n, cin, h, w = input.shape
    if cin != weight.shape[0]:
        raise RuntimeError(f"conv_transpose2d: Given transposed=1, weight of size {list(weight.shape)}, "
                           f"expected input{list(input.shape)} to have {weight.shape[0]} channels, but got "
                           f"{cin} channels instead")
    if any(o >= max(ss, dd) for o, ss, dd in zip(op_, s, d)):
        raise RuntimeError(f"conv_transpose2d: output padding must be smaller than either stride or "
                           f"dilation, but got output_padding={op_}, stride={s}, dilation={d}")
    kh, kw = weight.shape[2:]
    oh = (h - 1) * s[0] - 2 * p[0] + d[0] * (kh - 1) + op_[0] + 1
    ow = (w - 1) * s[1] - 2 * p[1] + d[1] * (kw - 1) + op_[1] + 1
    cout = weight.shape[1] * groups
    # the conv that this op transposes: input (N, Cout, OH, OW) -> output (N, Cin, H, W); output_padding
    # adds rows at the bottom/right that the conv never reads.
    pads = ((p[0], p[0]), (p[1], p[1]))
    geo = _Geom((n, cout, oh, ow), (cin, weight.shape[1], kh, kw), s, pads, d, groups)
    geo.oh, geo.ow = h, w  # output_padding >= stride (allowed when dilation is larger) must not add a row
    return ConvTranspose2d.apply(input, weight, bias, geo)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """Transposed 1-D convolution, computed as conv_transpose2d with height 1."""
    if _autocast.active:
        input, weight, bias = _autocast.cast("conv_transpose1d", input, weight, bias)
    one = lambda v: v[0] if isinstance(v, (tuple, list)) else v  # noqa: E731
    y = conv_transpose2d(input.unsqueeze(2), weight.unsqueeze(2), bias, (1, one(stride)), (0, one(padding)),
                         (0, one(output_padding)), groups, (1, one(dilation)))
    return y.squeeze(2)


# ---- unfold / fold (im2col / col2im as torch.nn.functional exposes them) -----------------

def _unfold_geo(shape, kernel_size, dilation, padding, stride) -> _Geom:
    k, d, p, s = _pair(kernel_size), _pair(dilation), _pair(padding), _pair(stride)
    n, c, h, w = shape
    return _Geom((n, c, h, w), (c, c, k[0], k[1]), s, ((p[0], p[0]), (p[1], p[1])), d, 1)


def _unfold_array(x, geo: _Geom):
    """(N, C, H, W) -> (N, C*KH*KW, L): column l holds the l-th receptive field, channel-major."""
    win = windows(pad_nhwc(x, geo.pads), geo.kh, geo.kw, geo.oh, geo.ow, geo.stride, geo.dil)
    win = win.transpose(0, 1, 4, 5, 2, 3)                     # (N, C, KH, KW, OH, OW)
    return win.reshape(geo.n, geo.c * geo.kh * geo.kw, geo.oh * geo.ow)


def _fold_array(cols, geo: _Geom):
    """(N, C*KH*KW, L) -> (N, C, H, W): sums each column back onto the pixels it came from."""
    xp = xp_of(cols)
    c6 = cols.reshape(geo.n, geo.c, geo.kh, geo.kw, geo.oh, geo.ow)
    (pt, pb), (pl, pr) = geo.pads
    buf = xp.zeros((geo.n, geo.c, geo.h + pt + pb, geo.w + pl + pr), dtype=cols.dtype)
    for i in range(geo.kh):
        for j in range(geo.kw):
            _col2im_add(buf, c6[:, :, i, j], i, j, geo.oh, geo.ow, geo.stride, geo.dil)
    return buf[:, :, pt:pt + geo.h, pl:pl + geo.w]


class Unfold(Function):
    @staticmethod
    def forward(ctx, x, geo):
        ctx.geo = geo
        return _unfold_array(x, geo)

    @staticmethod
    def backward(ctx, gy):
        return Fold.apply(gy, ctx.geo), None  # the adjoint of im2col is col2im


class Fold(Function):
    @staticmethod
    def forward(ctx, cols, geo):
        ctx.geo = geo
        return _fold_array(cols, geo)

    @staticmethod
    def backward(ctx, gy):
        return Unfold.apply(gy, ctx.geo), None  # the adjoint of col2im is im2col


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """im2col: (N, C, H, W) -> (N, C*KH*KW, L), L = OH*OW sliding blocks."""
    if input.ndim == 3:
        return unfold(input.unsqueeze(0), kernel_size, dilation, padding, stride).squeeze(0)
    if input.ndim != 4:
        raise RuntimeError(f"unfold: Input Error: Only 3D or 4D input Tensors are supported "
                           f"(got {input.ndim}D)")
    return Unfold.apply(input, _unfold_geo(tuple(input.shape), kernel_size, dilation, padding, stride))


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """col2im: (N, C*KH*KW, L) -> (N, C, H, W) summing overlapping values."""
    if input.ndim == 2:
        return fold(input.unsqueeze(0), output_size, kernel_size, dilation, padding, stride).squeeze(0)
    k = _pair(kernel_size)
    n, ck, length = input.shape
    if ck % (k[0] * k[1]):
        raise RuntimeError(f"fold: Expected size of input's dimension 1 to be divisible by the product of "
                           f"kernel_size, but got input.size(1)={ck} and kernel_size={k}")
    h, w = _pair(output_size)
    geo = _unfold_geo((n, ck // (k[0] * k[1]), h, w), k, dilation, padding, stride)
    if geo.oh * geo.ow != length:
        raise RuntimeError(f"fold: Given output_size={(h, w)}, kernel_size={k}, dilation={_pair(dilation)}, "
                           f"padding={_pair(padding)}, stride={_pair(stride)}, expected size of input's "
                           f"dimension 2 to match the calculated number of sliding blocks "
                           f"{geo.oh} * {geo.ow} = {geo.oh * geo.ow}, but got input.size(2)={length}.")
    return Fold.apply(input, geo)
