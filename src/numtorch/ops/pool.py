"""Pooling: ``max_pool1d/2d``, ``avg_pool1d/2d``, ``adaptive_avg_pool1d/2d``, ``adaptive_max_pool2d``.

Two ways to see the windows of a pooling op:

- when the windows tile the input exactly (stride == kernel, no padding, no dilation, the size
  divisible), a reshape (N, C, OH, KH, OW, KW) shows them without a copy;
- otherwise a strided view (N, C, OH, OW, KH, KW) of the padded input (see ``ops._window.windows``).

Max-pool backward sends each gradient to the argmax of its window (the first maximum, as PyTorch):
a one-hot mask multiply for tiled windows, a sum over kernel offsets into a padded buffer when
windows overlap.  These backwards compute on arrays: first-order only.
"""
from __future__ import annotations

import numpy as np

from numtorch._backend import xp_of
from numtorch.autograd.function import Function
from numtorch.ops._util import first_order_only
from numtorch.ops._window import _col2im_add, _pair, pad_nhwc
from numtorch.ops.index import scatter_sum
from numtorch.tensor import Tensor, make_tensor

__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d", "lp_pool2d"]


class _PoolGeom:
    """Window geometry of a 2-d pooling: kernel, stride, padding, dilation and the output size."""

    __slots__ = ("n", "c", "h", "w", "k", "s", "p", "d", "oh", "ow", "pads", "tiled")

    def __init__(self, shape, k, s, p, d, ceil_mode: bool, op: str) -> None:
        self.n, self.c, self.h, self.w = shape
        self.k, self.s, self.p, self.d = k, s, p, d
        if any(pp > kk // 2 for pp, kk in zip(p, k)):
            raise RuntimeError(f"{op}: pad should be at most half of effective kernel size, but got pad={p}, "
                               f"kernel_size={k}")
        self.oh = _pool_out(self.h, k[0], s[0], p[0], d[0], ceil_mode)
        self.ow = _pool_out(self.w, k[1], s[1], p[1], d[1], ceil_mode)
        if self.oh <= 0 or self.ow <= 0:
            raise RuntimeError(f"{op}: Given input size: ({self.c}x{self.h}x{self.w}). Calculated output "
                               f"size: ({self.c}x{self.oh}x{self.ow}). Output size is too small")
        # right/bottom padding: whatever the last window needs (ceil_mode may reach past p)
        need_h = (self.oh - 1) * s[0] + d[0] * (k[0] - 1) + 1 - self.h - p[0]
        need_w = (self.ow - 1) * s[1] + d[1] * (k[1] - 1) + 1 - self.w - p[1]
        self.pads = ((p[0], max(need_h, 0)), (p[1], max(need_w, 0)))
        self.tiled = (k == s and p == (0, 0) and d == (1, 1) and self.h == self.oh * k[0]
                      and self.w == self.ow * k[1])


def _pool_out(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    eff = size + 2 * p - d * (k - 1) - 1
    out = (-(-eff // s) if ceil_mode else eff // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:  # the last window must start inside the input or left pad
        out -= 1
    return out


def _offset(a, i: int, j: int, geo: _PoolGeom):
    """The strided view a[:, :, i*d + s*oh, j*d + s*ow] (N, C, OH, OW): kernel tap (i, j) of every window."""
    r0, c0 = i * geo.d[0], j * geo.d[1]
    return a[:, :, r0:r0 + geo.s[0] * (geo.oh - 1) + 1:geo.s[0], c0:c0 + geo.s[1] * (geo.ow - 1) + 1:geo.s[1]]


def _max_pool_arrays(x, geo: _PoolGeom):
    """(y, arg): the max of each window and which kernel tap (0 .. KH*KW-1, the first maximum) gave it.

    A running maximum over the KH*KW kernel taps, each tap a strided view of the (-inf padded)
    input: elementwise passes over output-sized arrays, no window copy.  NaN wins, as in PyTorch.
    """
    xp = xp_of(x)
    a = pad_nhwc(x, geo.pads, -xp.inf)
    tap0 = _offset(a, 0, 0, geo)
    best = xp.empty_like(tap0)                                    # order "K": the taps' memory order
    best[...] = tap0
    kind = np.uint8 if geo.k[0] * geo.k[1] < 256 else np.int64
    arg = xp.zeros_like(tap0, dtype=kind)
    for k in range(1, geo.k[0] * geo.k[1]):
        tap = _offset(a, k // geo.k[1], k % geo.k[1], geo)
        better = tap > best                                       # strict: the first maximum wins
        better |= tap != tap                                      # a NaN wins (and stays: NaN > x is False)
        best = xp.maximum(best, tap)                              # maximum propagates NaN too
        arg = xp.where(better, kind(k), arg)
    return best, arg


def _pick(a0, a1, better):
    """``a1 where better else a0`` for integer numbers or arrays of one dtype, by arithmetic (wrapping
    is harmless): NumPy's masked ``where``/``copyto`` run ~15x slower on these strided arrays."""
    out = better * (a1 - a0)
    out += a0
    return out


def _running_max(taps, args, xp):
    """(best, arg) over same-shaped tap arrays: arg is ``args[t]`` (a number or an array) of the first
    maximum's tap t.  NaN is not handled here (see ``_max_pool_tiled_cl``)."""
    better = taps[1] > taps[0]                                    # strict: the first maximum wins
    best = xp.maximum(taps[0], taps[1])
    arg = _pick(args[0], args[1], better)
    for tap, a in zip(taps[2:], args[2:]):
        better = tap > best
        xp.maximum(best, tap, out=best)
        arg = _pick(arg, a, better)
    return best, arg


# The layouts the tiled path reads in place: the axis order of memory, as a transpose of (N, C, H, W).
# "cl" is a convolution's channels-last output, "nlast" the planar convolution's (C, H, W, N) one.
_LAYOUT_PERM = {"nchw": (0, 1, 2, 3), "cl": (0, 2, 3, 1), "nlast": (1, 2, 3, 0)}
_LAYOUT_INV = {"nchw": (0, 1, 2, 3), "cl": (0, 3, 1, 2), "nlast": (3, 0, 1, 2)}


def _tiled_rows(a, geo: _PoolGeom, layout: str):
    """The windows of ``a`` (memory in ``layout``'s order, e.g. (N, H, W, C) for "cl") as
    (R, KH, OW, KW, *L) whole runs of memory: tap (i, j) is [:, i, :, j].

    "cl" gives R = N*OH and a trailing L = C (each tap a block of channel vectors), "nlast" R = C*OH
    and L = N; "nchw" gives R = N*C*OH and no trailing axis (one of 1 would make NumPy's loops 1.6x slower).
    """
    kh, kw = geo.k
    if layout == "nchw":
        return a.reshape(geo.n * geo.c * geo.oh, kh, geo.ow, kw)
    lead, last = (geo.n, geo.c) if layout == "cl" else (geo.c, geo.n)
    return a.reshape(lead * geo.oh, kh, geo.ow, kw, last)


def _from_tiled(t, geo: _PoolGeom, layout: str):
    """(R, OW, *L) output rows of ``_tiled_rows`` as the (N, C, OH, OW) array they hold."""
    dims = (geo.n, geo.c, geo.oh, geo.ow)
    return t.reshape(tuple(dims[i] for i in _LAYOUT_PERM[layout])).transpose(_LAYOUT_INV[layout])


def _max_pool_tiled(x, geo: _PoolGeom, layout: str):
    """(y, arg) of ``_max_pool_arrays`` for tiled windows of an input in ``layout``, out in the same layout.

    Two running maxima over tap arrays that are whole runs of memory: first over the KW taps of every
    window row, then over the KH rows.  The row's first maximum, then the first row, is the first
    maximum in (i, j) order.  A NaN anywhere in the output sends the call to the general path, which
    gives NaN PyTorch's precedence.
    """
    xp = xp_of(x)
    kh, kw = geo.k
    kind = np.uint8 if kh * kw < 256 else np.int64
    b = _tiled_rows(x.transpose(_LAYOUT_PERM[layout]), geo, layout)
    if kw > 1:
        row_best, row_arg = _running_max([b[:, :, :, j] for j in range(kw)], [kind(j) for j in range(kw)], xp)
    else:
        row_best, row_arg = b[:, :, :, 0], xp.zeros(b.shape[:3] + b.shape[4:], dtype=kind)
    if kh > 1:
        row_arg += (kw * xp.arange(kh, dtype=kind)).reshape((1, -1) + (1,) * (b.ndim - 3))  # i * KW + j
        best, arg = _running_max([row_best[:, i] for i in range(kh)], [row_arg[:, i] for i in range(kh)], xp)
    else:
        best, arg = row_best[:, 0], row_arg[:, 0]
    if xp.isnan(best).any():
        return _max_pool_arrays(x, geo)
    return _from_tiled(best, geo, layout), _from_tiled(arg, geo, layout)


def _tiled_layout(x, geo: _PoolGeom):
    """The layout ("nchw", "cl" or "nlast") when the NumPy tiled path serves x (tiled windows larger
    than 1x1 over an input in one of those memory orders), else None.  (Its NaN fallback asks the
    host whether the output holds a NaN, which on a GPU would wait for the device.)"""
    if not (geo.tiled and geo.k[0] * geo.k[1] > 1 and x.__class__ is np.ndarray and x.ndim == 4):
        return None
    for layout, perm in _LAYOUT_PERM.items():
        if x.transpose(perm).flags.c_contiguous:
            return layout
    return None


class MaxPool2d(Function):
    """y = the maximum of each window; dx[argmax] = gy, zero elsewhere (one masked pass per tap)."""

    @staticmethod
    def forward(ctx, x, geo):
        ctx.tiled = _tiled_layout(x, geo)
        ctx.geo = geo
        # backward writes dx in the memory order the taps were read in (NCHW input without padding
        # is read in place; everything else through a channels-last padded copy)
        ctx.nchw = x.flags.c_contiguous and geo.pads == ((0, 0), (0, 0))
        if ctx.tiled:
            y, ctx.arg = _max_pool_tiled(x, geo, ctx.tiled)
        else:
            y, ctx.arg = _max_pool_arrays(x, geo)
        return y

    @staticmethod
    def backward(ctx, gy):
        first_order_only("max_pool2d")
        if ctx.tiled:
            return make_tensor(_max_pool_tiled_backward(gy._data, ctx.arg, ctx.geo, ctx.tiled)), None
        return make_tensor(_max_pool_backward(gy._data, ctx.arg, ctx.geo, ctx.nchw)), None


def _max_pool_backward(g, arg, geo: _PoolGeom, nchw: bool):
    """dx: gy sent to each window's argmax tap (``arg`` holds the tap number k of each maximum)."""
    xp = xp_of(g)
    (pt, pb), (pl, pr) = geo.pads
    alloc = xp.empty if geo.tiled else xp.zeros
    if nchw:
        buf = alloc((geo.n, geo.c, geo.h, geo.w), dtype=g.dtype)
    else:
        buf = alloc((geo.n, geo.h + pt + pb, geo.w + pl + pr, geo.c), dtype=g.dtype).transpose(0, 3, 1, 2)
    for k in range(geo.k[0] * geo.k[1]):
        mask = arg == k
        view = _offset(buf, k // geo.k[1], k % geo.k[1], geo)
        if geo.tiled:  # every input element is in exactly one window: write, don't add
            xp.multiply(g, mask, out=view)
        else:
            view += g * mask
    return buf[:, :, pt:pt + geo.h, pl:pl + geo.w]


def _max_pool_tiled_backward(g, arg, geo: _PoolGeom, layout: str):
    """The same for tiled windows, in the layout of ``_max_pool_tiled``: each tap of dx is a block
    of whole runs of memory (channel vectors, image vectors or row segments)."""
    xp = xp_of(g)
    perm, dims = _LAYOUT_PERM[layout], (geo.n, geo.c, geo.h, geo.w)
    buf = xp.empty(tuple(dims[i] for i in perm), dtype=g.dtype)
    taps = _tiled_rows(buf, geo, layout)
    shape = taps.shape[:1] + taps.shape[2:3] + taps.shape[4:]            # (R, OW, *L)
    g = xp.ascontiguousarray(g.transpose(perm)).reshape(shape)
    arg = arg.transpose(perm).reshape(shape)
    for k in range(geo.k[0] * geo.k[1]):
        xp.multiply(g, arg == k, out=taps[:, k // geo.k[1], :, k % geo.k[1]])
    return buf.transpose(_LAYOUT_INV[layout])


def _max_indices(arg, geo: _PoolGeom):
    """Flat indices (into each H*W plane) of the window maxima, as ``return_indices`` gives them."""
    xp = xp_of(arg)
    arg = arg.astype(np.int64)
    ki, kj = arg // geo.k[1], arg % geo.k[1]
    rows = xp.arange(geo.oh).reshape(1, 1, -1, 1) * geo.s[0] - geo.p[0] + ki * geo.d[0]
    cols = xp.arange(geo.ow).reshape(1, 1, 1, -1) * geo.s[1] - geo.p[1] + kj * geo.d[1]
    return rows * geo.w + cols


def _pool_args(kernel_size, stride, padding, dilation):
    k = _pair(kernel_size, "kernel_size")
    s = k if (stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0)) else _pair(stride)
    return k, s, _pair(padding, "padding"), _pair(dilation, "dilation")


def _batched(op: str, input: Tensor, fn):
    """Runs ``fn`` on a 4-d input, adding and removing the batch dim of an unbatched (C, H, W) input."""
    if input.ndim == 3:
        out = fn(input.unsqueeze(0))
        return tuple(o.squeeze(0) for o in out) if isinstance(out, tuple) else out.squeeze(0)
    if input.ndim != 4:
        raise RuntimeError(f"{op}: Expected 3D or 4D input tensor, but got input of size {list(input.shape)}")
    return fn(input)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """2-D max pooling over (N, C, H, W); ``return_indices`` also gives the argmax as flat H*W indices.

    Reference implementation: numtorch.nn.textbook.max_pool2d
    """
    k, s, p, d = _pool_args(kernel_size, stride, padding, dilation)

    def run(x):
        geo = _PoolGeom(tuple(x.shape), k, s, p, d, ceil_mode, "max_pool2d")
        y = MaxPool2d.apply(x, geo)
        if not return_indices:
            return y
        return y, make_tensor(_max_indices(_max_pool_arrays(x._data, geo)[1], geo))
    return _batched("max_pool2d", input, run)


def _as_2d(fn, input: Tensor, kernel_size, stride, padding, dilation, *rest, **kw):
    """A 1-d pooling over (N, C, L) as the 2-d one with height 1."""
    one = lambda v: v[0] if isinstance(v, (tuple, list)) else v  # noqa: E731
    stride = None if stride is None or stride == [] or stride == () else (1, one(stride))
    x = input.unsqueeze(-2)
    out = fn(x, (1, one(kernel_size)), stride, (0, one(padding)), *([(1, one(dilation))] if dilation else []),
             *rest, **kw)
    return tuple(o.squeeze(-2) for o in out) if isinstance(out, tuple) else out.squeeze(-2)


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """1-D max pooling over (N, C, L)."""
    return _as_2d(max_pool2d, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


# ---- average pooling ------------------------------------------------------------------------

def _divisor_axis(size: int, k: int, s: int, p: int, out: int, include_pad: bool):
    """How many elements each window along one axis averages (PyTorch's rule)."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, size + p)
    if include_pad:
        return end - start
    return np.minimum(end, size) - np.maximum(start, 0)


class AvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, geo, div):
        xp = xp_of(x)
        a = pad_nhwc(x, geo.pads)
        tap0 = _offset(a, 0, 0, geo)
        y = xp.empty_like(tap0)                                   # order "K": the taps' memory order
        y[...] = tap0
        for k in range(1, geo.k[0] * geo.k[1]):                   # a sum over the kernel taps
            y += _offset(a, k // geo.k[1], k % geo.k[1], geo)
        # a per-window divisor table: one copy to the device, kept for backward
        if not isinstance(div, float):
            div = xp.asarray(div)
        y /= div
        ctx.geo, ctx.div = geo, div
        return y

    @staticmethod
    def backward(ctx, gy):
        # y = sum(window) / div  =>  every element of a window gets gy / div
        first_order_only("avg_pool2d")
        geo = ctx.geo
        g = gy._data / ctx.div
        xp = xp_of(g)
        (pt, pb), (pl, pr) = geo.pads
        buf = xp.zeros((geo.n, geo.h + pt + pb, geo.w + pl + pr, geo.c), dtype=g.dtype).transpose(0, 3, 1, 2)
        for i in range(geo.k[0]):
            for j in range(geo.k[1]):
                _col2im_add(buf, g, i, j, geo.oh, geo.ow, geo.s, geo.d)
        return make_tensor(buf[:, :, pt:pt + geo.h, pl:pl + geo.w]), None, None


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """2-D average pooling over (N, C, H, W)."""
    k, s, p, _ = _pool_args(kernel_size, stride, padding, 1)

    def run(x):
        geo = _PoolGeom(tuple(x.shape), k, s, p, (1, 1), ceil_mode, "avg_pool2d")
        if geo.tiled:  # a reshape and a mean: composite, so it is differentiable to any order
            y = x.reshape(geo.n, geo.c, geo.oh, k[0], geo.ow, k[1]).sum((3, 5))
            return y / (divisor_override or k[0] * k[1])
        if divisor_override:
            div = np.full((geo.oh, geo.ow), float(divisor_override))
        else:
            dh = _divisor_axis(geo.h, k[0], s[0], p[0], geo.oh, count_include_pad)
            dw = _divisor_axis(geo.w, k[1], s[1], p[1], geo.ow, count_include_pad)
            div = np.outer(dh, dw)
        if div.min() == div.max():  # one divisor for every window: a number, nothing to copy to a GPU
            return AvgPool2d.apply(x, geo, float(div.flat[0]))
        return AvgPool2d.apply(x, geo, div.astype(x._data.dtype))
    return _batched("avg_pool2d", input, run)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """1-D average pooling over (N, C, L)."""
    one = lambda v: v[0] if isinstance(v, (tuple, list)) else v  # noqa: E731
    stride = None if stride is None else (1, one(stride))
    y = avg_pool2d(input.unsqueeze(-2), (1, one(kernel_size)), stride, (0, one(padding)), ceil_mode,
                   count_include_pad)
    return y.squeeze(-2)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """Power-average pooling: (sum over the window of x^p)^(1/p)."""
    k = _pair(kernel_size)
    y = avg_pool2d(input.pow(norm_type), k, stride, 0, ceil_mode)
    return (y.sign() * y.abs().relu() * (k[0] * k[1])).pow(1.0 / norm_type)


# ---- adaptive pooling --------------------------------------------------------------------

def _bins(size: int, out: int):
    """PyTorch's adaptive bins along one axis: [floor(i*size/out), ceil((i+1)*size/out))."""
    i = np.arange(out)
    return (i * size) // out, -(-((i + 1) * size) // out)


def _adaptive_sizes(output_size, in_hw) -> tuple:
    o = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    return tuple(int(n if v is None else v) for v, n in zip(o, in_hw))


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Averages over PyTorch's adaptive bins so the output is ``output_size``.

    Tiled bins are a reshape-mean; other bins are a separable linear map ``P_h @ x @ P_w^T`` with
    averaging matrices, so backward is the transposed map (both composite, any order).
    """
    from numtorch.creation import as_tensor

    def run(x):
        n, c, h, w = x.shape
        oh, ow = _adaptive_sizes(output_size, (h, w))
        if (oh, ow) == (1, 1):
            return x.mean((2, 3), keepdim=True)
        if h % oh == 0 and w % ow == 0:
            return x.reshape(n, c, oh, h // oh, ow, w // ow).mean((3, 5))
        mats = []
        for size, out in ((h, oh), (w, ow)):
            a = np.zeros((out, size))
            for i, (s0, e0) in enumerate(zip(*_bins(size, out))):  # a tiny (out, size) table
                a[i, s0:e0] = 1.0 / (e0 - s0)
            mats.append(as_tensor(a.astype(x._data.dtype), device=x.device))
        return mats[0] @ (x @ mats[1].t())
    return _batched("adaptive_avg_pool2d", input, run)


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """Adaptive average pooling over (N, C, L)."""
    o = output_size[0] if isinstance(output_size, (tuple, list)) else output_size
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, o)).squeeze(-2)


def _adaptive_max(x, oh: int, ow: int):
    """(y, flat argmax indices into each H*W plane) of adaptive max pooling, on arrays."""
    xp = xp_of(x)
    n, c, h, w = x.shape
    (hs, he), (ws, we) = _bins(h, oh), _bins(w, ow)
    lh, lw = int((he - hs).max()), int((we - ws).max())
    # bin i covers rows hs[i] .. he[i]-1; shorter bins repeat their last row (harmless for a max)
    rows = np.minimum(hs[:, None] + np.arange(lh), he[:, None] - 1)           # (OH, LH)
    cols = np.minimum(ws[:, None] + np.arange(lw), we[:, None] - 1)           # (OW, LW)
    win = x[:, :, xp.asarray(rows)[:, :, None, None], xp.asarray(cols)[None, None, :, :]]
    win = win.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, oh, ow, lh * lw)     # (N, C, OH, OW, LH*LW)
    arg = win.argmax(axis=-1)
    y = xp.take_along_axis(win, arg[..., None], axis=-1)[..., 0]
    r = xp.asarray(rows)[xp.arange(oh)[:, None], arg // lw]                   # absolute row of each max
    cc = xp.asarray(cols)[xp.arange(ow), arg % lw]                            # absolute column
    return y, (r * w + cc).astype(np.int64)


class AdaptiveMaxPool2d(Function):
    @staticmethod
    def forward(ctx, x, oh, ow):
        y, ctx.idx = _adaptive_max(x, oh, ow)
        ctx.shape = x.shape
        return y

    @staticmethod
    def backward(ctx, gy):
        # dx[argmax] += gy; bins may overlap, so the scatter sums repeated flat indices
        first_order_only("adaptive_max_pool2d")
        xp = xp_of(gy._data)
        n, c, h, w = ctx.shape
        base = (xp.arange(n * c) * (h * w)).reshape(n, c, 1, 1)
        gx = scatter_sum(xp, ctx.idx + base, gy._data, n * c * h * w, gy._data.dtype)
        return make_tensor(gx.reshape(ctx.shape)), None, None


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max over PyTorch's adaptive bins; tiled bins go to ``max_pool2d``."""
    def run(x):
        n, c, h, w = x.shape
        oh, ow = _adaptive_sizes(output_size, (h, w))
        if h % oh == 0 and w % ow == 0:
            return max_pool2d(x, (h // oh, w // ow), (h // oh, w // ow), return_indices=return_indices)
        y = AdaptiveMaxPool2d.apply(x, oh, ow)
        return (y, make_tensor(_adaptive_max(x._data, oh, ow)[1])) if return_indices else y
    return _batched("adaptive_max_pool2d", input, run)


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """Adaptive max pooling over (N, C, L)."""
    o = output_size[0] if isinstance(output_size, (tuple, list)) else output_size
    out = adaptive_max_pool2d(input.unsqueeze(-2), (1, o), return_indices)
    return tuple(t.squeeze(-2) for t in out) if isinstance(out, tuple) else out.squeeze(-2)
