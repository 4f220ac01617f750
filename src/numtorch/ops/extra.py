"""Less common tensor ops that PyTorch scripts reach for: grids, distances, differences, quantiles,
block matrices, splits and rotations.

Most are compositions of differentiable ops (so their gradients come for free); ``logcumsumexp``
has its own backward. ``isin``, ``mode``'s indices, ``cummin``'s indices and the index helpers
return integers or booleans and have no gradient.
"""
from __future__ import annotations

import math
import warnings
from collections import namedtuple

import numpy as np

from numtorch._backend import xp_of
from numtorch.ops import _autocast
from numtorch.autograd.function import Function
from numtorch.ops import shape as _shape, reduce as _reduce
from numtorch.ops._util import accumulate, wrap_dim
from numtorch.ops.elementwise import where, clamp_min
from numtorch.ops.index import gather
from numtorch.ops.misc import sort
from numtorch.tensor import Tensor, make_tensor

__all__ = ["meshgrid", "cdist", "diff", "isin", "quantile", "nanquantile", "mode", "cartesian_prod",
           "block_diag", "tensor_split", "column_stack", "dstack", "atleast_3d", "rot90", "logcumsumexp",
           "cummin", "triu_indices", "tril_indices"]


def _as_tensor(x, like: Tensor | None = None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    xp = xp_of(like._data) if like is not None else None
    import numpy as np
    return make_tensor((xp or np).asarray(x))


def meshgrid(*tensors, indexing: str | None = None) -> tuple:
    """Coordinate grids from 1-D tensors: with ``indexing="ij"`` (PyTorch's default) output k varies
    along dim k; with "xy" the first two dims are swapped (NumPy's default)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the indexing "
                      "argument.", UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but received: "
                           f"{indexing}")
    for t in tensors:
        if t.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: "
                               f"{tuple(t.shape)}")
    ts = [t.reshape(-1) for t in tensors]
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = tuple(t.shape[0] for t in ts)
    n = len(ts)
    grids = [t.reshape((1,) * k + (-1,) + (1,) * (n - k - 1)).expand(shape) for k, t in enumerate(ts)]
    if swap:  # "xy": the grids of (y, x, ...) in "ij" order, handed back as (x, y, ...)
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0,
          compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """Distances between the rows of x1 (*, P, M) and x2 (*, R, M) -> (*, P, R).

    p = 2 expands ||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b (one matmul); the gradient is 0 where a
    distance is 0. Other p use the broadcast difference (memory P * R * M).
    """
    if _autocast.active:
        x1, x2 = _autocast.cast("cdist", x1, x2)
    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D and X2 got: "
                           f"{x2.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"cdist: X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} "
                           f"X2: {x2.shape[-1]}")
    if p < 0:
        raise RuntimeError(f"cdist only supports non-negative p values, got {p}")
    if p == 2:
        sq1 = (x1 * x1).sum(-1, keepdim=True)                  # (*, P, 1)
        sq2 = (x2 * x2).sum(-1, keepdim=True).transpose(-2, -1)  # (*, 1, R)
        d2 = clamp_min(sq1 + sq2 - 2 * (x1 @ x2.transpose(-2, -1)), 0.0)
        pos = d2 > 0
        return where(pos, where(pos, d2, 1.0).sqrt(), 0.0)  # d sqrt(u) = du / (2 sqrt u); 0 at u = 0
    diff_ = x1.unsqueeze(-2) - x2.unsqueeze(-3)  # (*, P, R, M)
    return _reduce.norm(diff_, p, -1)


def diff(input: Tensor, n: int = 1, dim: int = -1, prepend=None, append=None) -> Tensor:
    """The n-th forward difference along ``dim``: out[i] = x[i + 1] - x[i] (applied n times)."""
    d = wrap_dim(dim, input.ndim, "diff")
    parts = [t for t in (prepend, input, append) if t is not None]
    x = _shape.cat(parts, d) if len(parts) > 1 else input
    for _ in range(n):
        m = x.shape[d]
        if m == 0:
            break
        if x._data.dtype.kind == "b":
            x = _shape.narrow(x, d, 1, m - 1) ^ _shape.narrow(x, d, 0, m - 1)
        else:
            x = _shape.narrow(x, d, 1, m - 1) - _shape.narrow(x, d, 0, m - 1)
    return x


def isin(elements, test_elements, *, assume_unique: bool = False, invert: bool = False) -> Tensor:
    """A bool tensor of ``elements``' shape: whether each element occurs in ``test_elements``."""
    like = elements if isinstance(elements, Tensor) else test_elements
    e = _as_tensor(elements, like)._data
    t = _as_tensor(test_elements, like)._data
    xp = xp_of(e)
    return make_tensor(xp.isin(e, t, assume_unique=assume_unique, invert=invert))


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(op: str, input: Tensor, q, dim, keepdim: bool, interpolation: str, ignore_nan: bool) -> Tensor:
    """Sorts along ``dim`` and interpolates between the two order statistics around q (n - 1)."""
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(f"{op}() interpolation must be one of linear, lower, higher, midpoint or "
                           f"nearest. Got {interpolation}")
    if input._data.dtype.kind not in "fV":
        raise RuntimeError(f"{op}() input tensor must be either float or double dtype, got {input.dtype}")
    xp = xp_of(input._data)
    scalar_q = not isinstance(q, Tensor) or q.ndim == 0
    qh = q._data if isinstance(q, Tensor) else q
    # (a GPU q is not checked: that would wait, as in PyTorch)
    if not hasattr(qh, "__cuda_array_interface__"):
        qn = np.asarray(qh)
        if qn.size and (qn.min() < 0 or qn.max() > 1):
            raise RuntimeError(f"{op}() q values must be in the range [0, 1]")
    qa = xp.asarray(qh, dtype=input._data.dtype).reshape(-1)
    if dim is None:
        x, d, out_ndim = input.reshape(-1), 0, input.ndim
    else:
        d = wrap_dim(dim, max(input.ndim, 1), op)
        x = input.reshape(1) if input.ndim == 0 else input.movedim(d, -1)
    s = sort(x, -1).values                                       # NaNs sort last
    nan = xp.isnan(x._data)
    count = (~nan).sum(-1, keepdims=True) if ignore_nan else xp.full(x.shape[:-1] + (1,), x.shape[-1])
    rank = qa * xp.maximum(count - 1, 0)                          # (..., Q)
    lo = xp.floor(rank).astype(xp.int64)
    hi = xp.ceil(rank).astype(xp.int64)
    if interpolation == "lower":
        hi = lo
    elif interpolation == "higher":
        lo = hi
    elif interpolation == "nearest":
        lo = hi = xp.round(rank).astype(xp.int64)
    w = {"midpoint": 0.5}.get(interpolation, None)
    weight = make_tensor((rank - lo).astype(x._data.dtype) if w is None
                         else xp.full(rank.shape, w, x._data.dtype))
    v_lo, v_hi = gather(s, -1, make_tensor(lo)), gather(s, -1, make_tensor(hi))
    out = v_lo if interpolation in ("lower", "higher", "nearest") else v_lo + weight * (v_hi - v_lo)
    invalid = (count == 0) if ignore_nan else nan.any(-1, keepdims=True)
    if xp is not np or invalid.any():  # (on a GPU, asking would wait for the device: always mask)
        out = where(make_tensor(invalid), math.nan, out)
    out = out.movedim(-1, 0)                                      # (Q, ...)
    if keepdim:
        if dim is None:
            out = out.reshape((out.shape[0],) + (1,) * out_ndim)
        elif input.ndim:
            out = out.unsqueeze(d + 1)
    return out.squeeze(0) if scalar_q else out


def quantile(input: Tensor, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear") -> Tensor:
    """The q-th quantiles along ``dim`` (of all elements by default): q a float or a 1-D tensor in
    [0, 1] (a tensor q adds a leading dim). Rows containing NaN give NaN."""
    return _quantile("quantile", input, q, dim, keepdim, interpolation, ignore_nan=False)


def nanquantile(input: Tensor, q, dim=None, keepdim: bool = False, *,
                interpolation: str = "linear") -> Tensor:
    """``quantile`` ignoring NaNs (NaN only where a row is all NaN)."""
    return _quantile("nanquantile", input, q, dim, keepdim, interpolation, ignore_nan=True)


_mode = namedtuple("mode", ["values", "indices"])


def mode(input: Tensor, dim: int = -1, keepdim: bool = False):
    """``(values, indices)``: the most frequent value along ``dim`` (the smallest among ties) and the
    index of its last occurrence."""
    d = wrap_dim(dim, max(input.ndim, 1), "mode")
    x = input.reshape(1) if input.ndim == 0 else input
    xm = x.movedim(d, -1)
    xs, order = sort(xm, -1, stable=True)
    a = xs._data
    xp = xp_of(a)
    n = a.shape[-1]
    ar = xp.arange(n)
    start = xp.ones(a.shape, dtype=bool)
    start[..., 1:] = a[..., 1:] != a[..., :-1]
    run_start = accumulate("maximum", xp.where(start, ar, 0), -1)
    count = ar - run_start + 1                       # running length of each run of equal values
    best = count.argmax(-1)[..., None]               # first run end reaching the max: smallest value
    idx = xp.take_along_axis(order._data, best, -1)  # stable sort: the last occurrence
    values = gather(xm, -1, make_tensor(idx))
    idx_t = make_tensor(idx)
    if keepdim and input.ndim:
        return _mode(values.movedim(-1, d), idx_t.movedim(-1, d))
    return _mode(values.squeeze(-1), idx_t.squeeze(-1))


def cartesian_prod(*tensors) -> Tensor:
    """All tuples (a, b, ...) of elements of the 1-D inputs, as rows: (len(a) * len(b) * ..., k)."""
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return _shape.stack([g.reshape(-1) for g in grids], 1)


def block_diag(*tensors) -> Tensor:
    """A block-diagonal matrix from 0-, 1- or 2-D tensors (a 1-D tensor is one row)."""
    from numtorch._dtypes import from_numpy_dtype
    mats = [t.reshape(1, -1) if t.ndim < 2 else t for t in tensors]
    for i, m in enumerate(mats):
        if m.ndim != 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {i} "
                               f"has {m.ndim} dimensions")
    if not mats:
        return make_tensor(__import__("numpy").empty((1, 0), dtype="float32"))
    xp = xp_of(mats[0]._data)
    dt = from_numpy_dtype(xp.result_type(*[m._data.dtype for m in mats]))
    width = sum(m.shape[1] for m in mats)
    rows, left = [], 0
    for m in mats:
        c = m.shape[1]
        rows.append(_shape.constant_pad(m.to(dt), (left, width - left - c)))
        left += c
    return _shape.cat(rows, 0)


def tensor_split(input: Tensor, indices_or_sections, dim: int = 0) -> tuple:
    """Splits into n nearly equal parts (an int: the first size % n parts one longer) or at the
    given indices (a list), as views."""
    d = wrap_dim(dim, input.ndim, "tensor_split")
    size = input.shape[d]
    ios = indices_or_sections
    if isinstance(ios, Tensor):
        ios = ios.tolist()
    if isinstance(ios, int):
        if ios <= 0:
            raise RuntimeError(f"tensor_split(): number of sections must be larger than 0, got {ios}")
        q, r = divmod(size, ios)
        bounds, b = [], 0
        for k in range(ios - 1):
            b += q + (1 if k < r else 0)
            bounds.append(b)
    else:
        bounds = [int(i) for i in ios]
    edges = [0] + [min(max(b if b >= 0 else b + size, 0), size) for b in bounds] + [size]
    return tuple(_shape.narrow(input, d, s, max(e - s, 0)) for s, e in zip(edges[:-1], edges[1:]))


def column_stack(tensors) -> Tensor:
    """Stacks 0-/1-D tensors as columns (and 2-D ones as they are) side by side."""
    cols = [t.reshape(-1, 1) if t.ndim < 2 else t for t in tensors]
    return _shape.cat(cols, 1)


def atleast_3d(input) -> Tensor:
    """0-D -> (1, 1, 1), (n,) -> (1, n, 1), (m, n) -> (m, n, 1); 3-D and up unchanged."""
    if isinstance(input, (list, tuple)):
        return tuple(atleast_3d(t) for t in input)
    if input.ndim == 0:
        return input.reshape(1, 1, 1)
    if input.ndim == 1:
        return input.reshape(1, -1, 1)
    if input.ndim == 2:
        return input.unsqueeze(-1)
    return input


def dstack(tensors) -> Tensor:
    """Concatenates along the third dim (after ``atleast_3d``)."""
    return _shape.cat([atleast_3d(t) for t in tensors], 2)


def rot90(input: Tensor, k: int = 1, dims=(0, 1)) -> Tensor:
    """Rotates by k * 90 degrees in the plane ``dims``, from the first towards the second axis."""
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    d0, d1 = wrap_dim(dims[0], input.ndim, "rot90"), wrap_dim(dims[1], input.ndim, "rot90")
    if d0 == d1:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}")
    k %= 4
    if k == 1:
        return _shape.flip(input, (d1,)).transpose(d0, d1)
    if k == 2:
        return _shape.flip(input, (d0, d1))
    if k == 3:
        return _shape.flip(input, (d0,)).transpose(d0, d1)
    return input.clone()


class LogCumSumExp(Function):
    @staticmethod
    def forward(ctx, x, dim):
        y = accumulate("logaddexp", x, dim)
        ctx.dim = dim
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, gy):
        # y_j = log sum_{i<=j} e^{x_i}  =>  gx_i = sum_{j>=i} gy_j e^{x_i - y_j}; the sum is taken in
        # log space (split by the sign of gy) with a reversed logcumsumexp, so nothing overflows.
        from numtorch.autograd.grad_mode import GradMode
        x, y = ctx.saved_tensors
        d = ctx.dim
        if GradMode.enabled:  # create_graph: y must be differentiable in x too
            y = LogCumSumExp.apply(x, d)
        y = where(y == -math.inf, 0.0, y)  # there every x_i <= j is -inf, so the terms are 0 anyway

        def rev(t):
            return LogCumSumExp.apply(t.flip((d,)), d).flip((d,))

        def log_part(g):  # log(g) where g > 0, -inf elsewhere
            pos = g > 0
            return where(pos, where(pos, g, 1.0).log(), -math.inf)

        return (x + rev(log_part(gy) - y)).exp() - (x + rev(log_part(-gy) - y)).exp(), None


def logcumsumexp(input: Tensor, dim: int) -> Tensor:
    """log(cumsum(exp(x))) along ``dim``, computed stably."""
    if input._data.dtype.kind not in "fV":
        input = input.float()
    if input.ndim == 0:
        return input.clone()
    return LogCumSumExp.apply(input, wrap_dim(dim, input.ndim, "logcumsumexp"))


def cummin(input: Tensor, dim: int):
    """``(values, indices)``: the running minimum along ``dim`` and where it was last attained."""
    x = input._data
    xp = xp_of(x)
    d = wrap_dim(dim, max(input.ndim, 1), "cummin")
    if input.ndim == 0:
        return namedtuple("cummin", ["values", "indices"])(input.clone(), make_tensor(xp.zeros((), xp.int64)))
    vals = accumulate("minimum", x, d)
    ar = xp.arange(x.shape[d]).reshape((-1,) + (1,) * (x.ndim - d - 1))
    idx = accumulate("maximum", xp.where(x == vals, ar, 0), d)
    return namedtuple("cummin", ["values", "indices"])(gather(input, d, make_tensor(idx)), make_tensor(idx))


def _tri_indices(which: str, row: int, col: int, offset: int, dtype) -> Tensor:
    import numpy as np
    r, c = (np.triu_indices if which == "triu" else np.tril_indices)(row, offset, col)
    out = make_tensor(np.stack([r, c]).astype(np.int64))
    return out if dtype is None else out.to(dtype)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, device="cpu", layout=None) -> Tensor:
    """(2, N) indices of the upper triangle (from diagonal ``offset``) of a row x col matrix."""
    return _tri_indices("triu", row, col, offset, dtype).to(device)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, device="cpu", layout=None) -> Tensor:
    """(2, N) indices of the lower triangle (to diagonal ``offset``) of a row x col matrix."""
    return _tri_indices("tril", row, col, offset, dtype).to(device)
