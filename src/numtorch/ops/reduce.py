"""Reductions over ``dim`` (an int, a tuple or all dims) with ``keepdim``.

Backward spreads the gradient back over the reduced dims: ``sum`` copies it, ``mean`` divides
by the count, ``amax`` gives it to the maximal elements (ties share it).
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from numtorch._backend import xp_of
from numtorch.ops import _autocast
from numtorch.autograd.function import Function
from numtorch.autograd.grad_mode import GradMode
from numtorch.ops._util import accumulate, array_sum, wrap_dim, wrap_dims, in_float32_for_bfloat16, quiet
from numtorch import _dtypes
from numtorch.ops.shape import BroadcastTo, reshape
from numtorch.tensor import Tensor, make_tensor

__all__ = ["sum", "mean", "nansum", "nanmean", "prod", "max", "min", "amax", "amin", "aminmax", "argmax",
           "argmin", "var", "std", "var_mean", "std_mean", "logsumexp", "norm", "cumsum", "cumprod",
           "cummax", "all", "any", "count_nonzero", "median", "mode_values", "dist"]

_max_values = namedtuple("max", ["values", "indices"])
_min_values = namedtuple("min", ["values", "indices"])


def _kept_shape(shape, dims) -> tuple:
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _unreduce_array(g, in_shape, dims, keepdim):
    """``_unreduce`` on arrays (first order): a 0-d gradient filled into the input's shape, else a
    broadcast view."""
    if g.ndim == 0:
        out = xp_of(g).empty(in_shape, g.dtype)
        out[...] = g
        return out
    if not keepdim:
        g = g.reshape(_kept_shape(in_shape, dims))
    return xp_of(g).broadcast_to(g, in_shape) if g.shape != in_shape else g


def _unreduce(gy: Tensor, in_shape, dims, keepdim) -> Tensor:
    """Gradient of a reduction: reshape to keepdim form, broadcast back to the input's shape."""
    if gy._data.ndim == 0 and in_shape:
        return ExpandScalar.apply(gy, in_shape)
    if not keepdim:
        gy = reshape(gy, _kept_shape(in_shape, dims))
    return BroadcastTo.apply(gy, in_shape) if gy._data.shape != in_shape else gy


class ExpandScalar(Function):
    """A 0-d gradient copied into ``shape`` (a full reduction's backward; cheaper than a view)."""

    @staticmethod
    def forward(ctx, g, shape):
        y = xp_of(g).empty(shape, g.dtype)
        y[...] = g
        return y

    @staticmethod
    def backward(ctx, gy):
        return gy.sum(), None


_BF16 = _dtypes.bfloat16.np


class Sum(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim, dtype):
        ctx.args = (x.shape, dims, keepdim)
        if x.dtype == _BF16 and dtype is None:  # bfloat16 accumulates in float32, rounds once (PyTorch's CPU)
            return x.sum(axis=dims, keepdims=keepdim, dtype=np.float32).astype(_BF16)
        return array_sum(x, dims, dtype, keepdim)

    @staticmethod
    def backward(ctx, gy):
        return _unreduce(gy, *ctx.args), None, None, None

    @staticmethod
    def backward_arrays(ctx, gy):
        return _unreduce_array(gy, *ctx.args), None, None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.args = (x.shape, dims, keepdim)
        n = 1
        for d in dims:
            n *= x.shape[d]
        ctx.n = n
        if n == 0:  # the mean of nothing is NaN, as in PyTorch (NumPy's warns "Mean of empty slice")
            return xp_of(x).full_like(x.sum(axis=dims, keepdims=keepdim), np.nan)
        if x.dtype == _BF16:  # accumulates in float32, rounds once
            return x.mean(axis=dims, keepdims=keepdim, dtype=np.float32).astype(_BF16)
        return x.mean(axis=dims, keepdims=keepdim)

    @staticmethod
    def backward(ctx, gy):
        return _unreduce(gy / ctx.n, *ctx.args), None, None

    @staticmethod
    def backward_arrays(ctx, gy):
        return _unreduce_array(gy / ctx.n, *ctx.args), None, None


def _dims(input, dim, op):
    if dim == () or dim == []:  # PyTorch: an empty dim list reduces over every dim
        dim = None
    return wrap_dims(dim, input.ndim, op)


def sum(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Sum over ``dim`` (all dims when None); integers and bools sum to int64."""
    npd = None if dtype is None else _dtypes.np_dtype(dtype)
    if npd is None and input._data.dtype.kind in "bui":
        npd = _dtypes.int64.np
    dims = tuple(range(input._data.ndim)) if dim is None else _dims(input, dim, "sum")  # None: the usual loss
    return Sum.apply(input, dims, keepdim, npd)


def mean(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    if dtype is not None:
        input = input.to(dtype)
    if _dtypes.kind(input._data.dtype) not in "fc":
        raise RuntimeError("mean(): could not infer output dtype. Input dtype must be either a floating "
                           f"point or complex dtype. Got: {input.dtype}")
    return Mean.apply(input, _dims(input, dim, "mean"), keepdim)


def nansum(input, dim=None, keepdim=False) -> Tensor:
    from numtorch.ops.elementwise import where
    from numtorch.ops.compare import isnan
    return sum(where(isnan(input), 0.0, input), dim, keepdim)


def nanmean(input, dim=None, keepdim=False) -> Tensor:
    from numtorch.ops.compare import isnan
    keep = ~isnan(input)
    return nansum(input, dim, keepdim) / sum(keep, dim, keepdim)


def prod(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Product over ``dim``; the gradient of each factor is the product of the others."""
    if _autocast.active:
        input, = _autocast.cast("prod", input)
    from numtorch.ops.elementwise import where
    if dtype is not None:
        input = input.to(dtype)
    dims = _dims(input, dim, "prod") if dim is not None else tuple(range(input.ndim))
    if input._data.dtype.kind not in "fcV" or not input.requires_grad:
        x = input._data
        dt = "int64" if x.dtype.kind in "bui" else None
        return make_tensor(x.prod(axis=dims, keepdims=keepdim, dtype=dt))
    zero = input == 0
    nonzero_prod = Prod.apply(where(zero, 1.0, input), dims, True)
    nzeros = sum(zero, dims, True)
    # others(i) = y / x_i when x_i != 0; for the zero entry it is the product of the non-zeros
    # if it is the only zero, else 0.
    y_keep = nonzero_prod * (nzeros == 0)
    others = where(zero, nonzero_prod * (nzeros == 1), y_keep / where(zero, 1.0, input))
    y = _ProdWithGrad.apply(input, others, dims, keepdim)
    return y


class Prod(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.args = (x.shape, dims, keepdim)
        ctx.save_for_backward(x)
        return x.prod(axis=dims, keepdims=keepdim)

    @staticmethod
    def backward(ctx, gy):
        # only used on inputs without zeros (prod() replaces them): d/dx_i = prod / x_i
        x, = ctx.saved_tensors
        y = Prod.apply(x, ctx.args[1], True)
        return _unreduce(gy, *ctx.args) * (y / x), None, None


class _ProdWithGrad(Function):
    """prod(x) whose gradient w.r.t. x is ``gy * others`` (``others`` computed by ``prod``)."""

    @staticmethod
    def forward(ctx, x, others, dims, keepdim):
        ctx.args = (x.shape, dims, keepdim)
        ctx.save_for_backward(others)
        return x.prod(axis=dims, keepdims=keepdim)

    @staticmethod
    def backward(ctx, gy):
        others, = ctx.saved_tensors
        return _unreduce(gy, *ctx.args) * others, None, None, None


class Amax(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim, is_min):
        ctx.args = (x.shape, dims, keepdim)
        y = x.min(axis=dims, keepdims=keepdim) if is_min else x.max(axis=dims, keepdims=keepdim)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, gy):
        # the gradient goes to the elements equal to the extreme value, shared evenly among ties
        x, y = ctx.saved_tensors
        shape, dims, keepdim = ctx.args
        y_b = _unreduce(y, shape, dims, keepdim)
        mask = (x == y_b)
        count = sum(mask, dims, True)
        return _unreduce(gy, shape, dims, keepdim) * mask / count, None, None, None


def _check_nonempty(input, dims, op):
    for d in dims:
        if input.shape[d] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")
    if not dims and input.numel() == 0:
        raise RuntimeError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
                           "Specify the reduction dim with the 'dim' argument.")


def amax(input, dim=(), keepdim: bool = False) -> Tensor:
    dims = _dims(input, None if dim == () else dim, "amax")
    _check_nonempty(input, dims, "amax")
    return Amax.apply(input, dims, keepdim, False)


def amin(input, dim=(), keepdim: bool = False) -> Tensor:
    dims = _dims(input, None if dim == () else dim, "amin")
    _check_nonempty(input, dims, "amin")
    return Amax.apply(input, dims, keepdim, True)


def aminmax(input, *, dim=None, keepdim=False):
    return namedtuple("aminmax", ["min", "max"])(amin(input, () if dim is None else dim, keepdim),
                                                 amax(input, () if dim is None else dim, keepdim))


def _max_min(input, dim, keepdim, is_min, op):
    if isinstance(dim, Tensor):  # max(a, b) is maximum(a, b)
        from numtorch.ops.elementwise import maximum, minimum
        return (minimum if is_min else maximum)(input, dim)
    if dim is None:
        _check_nonempty(input, (), op)
        return Amax.apply(input, tuple(range(input.ndim)), False, is_min)
    d = wrap_dim(dim, input.ndim, op)
    _check_nonempty(input, (d,), op)
    from numtorch.ops.index import gather
    x = input._data
    idx = x.argmin(axis=d, keepdims=True) if is_min else x.argmax(axis=d, keepdims=True)
    idx_t = make_tensor(idx)
    values = gather(input, d, idx_t)
    if not keepdim:
        values = values.squeeze(d)
        idx_t = make_tensor(idx.squeeze(d) if input.ndim else idx.reshape(()))
    return (_min_values if is_min else _max_values)(values, idx_t)


def max(input, dim=None, keepdim: bool = False, *, out=None):
    """The largest element, or ``(values, indices)`` along ``dim``, or ``maximum(input, other)``."""
    return _max_min(input, dim, keepdim, False, "max")


def min(input, dim=None, keepdim: bool = False, *, out=None):
    return _max_min(input, dim, keepdim, True, "min")


def _check_arg_reduction(x, dim, op: str) -> None:
    """argmax/argmin of nothing has no answer: PyTorch's IndexError (NumPy raises ValueError)."""
    if x.size:
        return
    if dim is None:
        raise IndexError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0.")
    d = wrap_dim(dim, x.ndim, op)
    if x.ndim and x.shape[d] == 0:
        raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")


def argmax(input, dim=None, keepdim: bool = False) -> Tensor:
    x = input._data
    _check_arg_reduction(x, dim, "argmax")
    if dim is None:
        i = x.argmax()
        return make_tensor(i.reshape((1,) * x.ndim) if keepdim else i)
    return make_tensor(x.argmax(axis=wrap_dim(dim, x.ndim, "argmax"), keepdims=keepdim))


def argmin(input, dim=None, keepdim: bool = False) -> Tensor:
    x = input._data
    _check_arg_reduction(x, dim, "argmin")
    if dim is None:
        i = x.argmin()
        return make_tensor(i.reshape((1,) * x.ndim) if keepdim else i)
    return make_tensor(x.argmin(axis=wrap_dim(dim, x.ndim, "argmin"), keepdims=keepdim))


def var(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> Tensor:
    """Variance: sum((x - mean)^2) / (N - correction); ``correction=1`` (Bessel) by default."""
    if isinstance(unbiased, bool):
        correction = 1 if unbiased else 0
    elif unbiased is not None and not isinstance(unbiased, bool) and dim is None:
        dim = unbiased
    correction = 1 if correction is None else correction
    dims = _dims(input, dim, "var")
    n = 1
    for d in dims:
        n *= input.shape[d]
    return Var.apply(input, dims, keepdim, builtins_max(n - correction, 0))


def builtins_max(a, b):
    return a if a > b else b


@in_float32_for_bfloat16
class Var(Function):
    @staticmethod
    @quiet
    def forward(ctx, x, dims, keepdim, denom):
        ctx.args = (x.shape, dims, keepdim)
        ctx.denom = denom
        ctx.save_for_backward(x)
        c = x - x.mean(axis=dims, keepdims=True)
        return (c * c).sum(axis=dims, keepdims=keepdim) * (1.0 / denom if denom else float("inf"))

    @staticmethod
    def backward(ctx, gy):
        # d/dx_i sum_j (x_j - mean)^2 / (N - correction) = 2 (x_i - mean) / (N - correction)
        # (the mean's own derivative drops out: the deviations sum to zero)
        x, = ctx.saved_tensors
        shape, dims, keepdim = ctx.args
        scale = 2.0 / ctx.denom if ctx.denom else float("inf")
        return _unreduce(gy, shape, dims, keepdim) * (x - mean(x, dims, True)) * scale, None, None, None


class StdFromVar(Function):
    """sqrt(var) whose gradient is 0 where the deviation is 0 (PyTorch's std backward), not inf."""

    @staticmethod
    def forward(ctx, v):
        y = xp_of(v).sqrt(v)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        from numtorch.ops.elementwise import where
        y, = ctx.saved_tensors
        zero = y == 0
        return where(zero, 0.0, gy / (2 * where(zero, 1.0, y)))


def std(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> Tensor:
    return StdFromVar.apply(var(input, dim, unbiased, keepdim, correction=correction))


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return var(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return std(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


@in_float32_for_bfloat16
class LogSumExp(Function):
    @staticmethod
    @quiet
    def forward(ctx, x, dims, keepdim):
        xp = xp_of(x)
        if x.size == 0:  # over an empty dim the sum is 0 and its log -inf (NumPy's max has no identity)
            m = xp.zeros(tuple(1 if i in dims else s for i, s in enumerate(x.shape)), x.dtype)
        else:
            m = x.max(axis=dims, keepdims=True)
            m = xp.where(xp.isfinite(m), m, 0)
        y = xp.log(xp.exp(x - m).sum(axis=dims, keepdims=True)) + m
        ctx.args = (x.shape, dims, keepdim)
        ctx.save_for_backward(x, y)
        return y if keepdim else y.reshape(tuple(s for i, s in enumerate(x.shape) if i not in dims))

    @staticmethod
    def backward(ctx, gy):
        # d/dx log sum exp(x) = softmax(x) = exp(x - logsumexp(x))
        x, y = ctx.saved_tensors
        if GradMode.enabled:  # create_graph: y (kept with keepdim) must be differentiable in x too
            y = LogSumExp.apply(x, ctx.args[1], True)
        return _unreduce(gy, *ctx.args) * (x - y).exp(), None, None


def logsumexp(input, dim=None, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) computed stably (the max is subtracted first)."""
    if _autocast.active:
        input, = _autocast.cast("logsumexp", input)
    if input._data.dtype.kind not in "fcV":
        input = input.float()
    return LogSumExp.apply(input, _dims(input, dim, "logsumexp"), keepdim)


class Norm2(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        xp = xp_of(x)
        y = xp.sqrt((x * x).sum(axis=dims, keepdims=True))
        ctx.args = (x.shape, dims, keepdim)
        ctx.save_for_backward(x, y)
        return y if keepdim else y.reshape(tuple(s for i, s in enumerate(x.shape) if i not in dims))

    @staticmethod
    def backward(ctx, gy):
        # d||x||/dx = x / ||x|| (0 at x = 0, PyTorch's subgradient)
        from numtorch.ops.elementwise import where
        x, y = ctx.saved_tensors
        if GradMode.enabled:  # create_graph: y (kept with keepdim) must be differentiable in x too
            y = Norm2.apply(x, ctx.args[1], True)
        return _unreduce(gy, *ctx.args) * x / where(y == 0, 1.0, y), None, None


def norm(input, p="fro", dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """The p-norm over ``dim`` (all elements by default): 2 / "fro", 1, inf, -inf, 0 or any p."""
    if dtype is not None:
        input = input.to(dtype)
    dims = _dims(input, dim, "norm")
    if p in ("fro", 2, 2.0, None):
        return Norm2.apply(input, dims, keepdim)
    if p == "nuc":
        raise NotImplementedError("norm: the nuclear norm is not implemented")
    if p == math.inf:
        return amax(input.abs(), dims, keepdim)
    if p == -math.inf:
        return amin(input.abs(), dims, keepdim)
    if p == 0:
        return sum(input != 0, dims, keepdim).to(input.dtype)
    if p == 1:
        return sum(input.abs(), dims, keepdim)
    return sum(input.abs() ** p, dims, keepdim) ** (1.0 / p)


class Cumsum(Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        return x.cumsum(axis=dim)

    @staticmethod
    def backward(ctx, gy):
        # y_j = sum_{i<=j} x_i  =>  dL/dx_i = sum_{j>=i} gy_j: a reversed cumulative sum
        d = ctx.dim
        return Cumsum.apply(gy.flip((d,)), d).flip((d,)), None


def cumsum(input, dim: int, *, dtype=None) -> Tensor:
    if _autocast.active:
        input, = _autocast.cast("cumsum", input)
    if dtype is not None:
        input = input.to(dtype)
    elif input._data.dtype.kind in "bui":
        input = input.long()
    return Cumsum.apply(input, wrap_dim(dim, input.ndim, "cumsum"))


class Cumprod(Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        y = x.cumprod(axis=dim)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, gy):
        # y_j = prod_{m<=j} x_m  =>  dL/dx_i = sum_{j>=i} gy_j y_j / x_i  (where x_i != 0)
        from numtorch.ops.elementwise import where
        x, y = ctx.saved_tensors
        d = ctx.dim

        def sum_from_i(t):  # sum over j >= i: a reversed cumulative sum
            return Cumsum.apply(t.flip((d,)), d).flip((d,))

        if x._data.__class__ is np.ndarray and not (x._data == 0).any():  # (a GPU takes the general path:
            return sum_from_i(gy * y) / x, None                            # asking would wait for it)
        # With zeros only x_i up to the first zero k along dim get a gradient; at k it is
        # sum_{j>=k} gy_j prod_{m<=j, m!=k} x_m: the same sum over a cumprod with x_k set to 1.
        is_zero = x == 0
        before = Cumsum.apply(is_zero, d) == 0
        first = is_zero & (Cumsum.apply(is_zero, d) == 1)
        y_skip = Cumprod.apply(where(first, 1.0, x), d)
        g_before = sum_from_i(gy * y) / where(before, x, 1.0)
        return where(before, g_before, where(first, sum_from_i(gy * y_skip), 0.0)), None


def cumprod(input, dim: int, *, dtype=None) -> Tensor:
    if _autocast.active:
        input, = _autocast.cast("cumprod", input)
    if dtype is not None:
        input = input.to(dtype)
    return Cumprod.apply(input, wrap_dim(dim, input.ndim, "cumprod"))


def cummax(input, dim: int):
    x = input._data
    xp = xp_of(x)
    d = wrap_dim(dim, input.ndim, "cummax")
    vals = accumulate("maximum", x, d)
    n = x.shape[d]
    ar = xp.arange(n).reshape((-1,) + (1,) * (x.ndim - d - 1))
    idx = accumulate("maximum", xp.where(x == vals, ar, 0), d)
    from numtorch.ops.index import gather
    return namedtuple("cummax", ["values", "indices"])(gather(input, d, make_tensor(idx)), make_tensor(idx))


def all(input, dim=None, keepdim: bool = False) -> Tensor:
    x = input._data
    return make_tensor(x.all(axis=None if dim is None else wrap_dims(dim, x.ndim, "all"), keepdims=keepdim))


def any(input, dim=None, keepdim: bool = False) -> Tensor:
    x = input._data
    return make_tensor(x.any(axis=None if dim is None else wrap_dims(dim, x.ndim, "any"), keepdims=keepdim))


def count_nonzero(input, dim=None) -> Tensor:
    x = input._data
    return make_tensor(xp_of(x).count_nonzero(x, axis=None if dim is None else wrap_dims(dim, x.ndim)))


def median(input, dim=None, keepdim: bool = False):
    """The lower median (as PyTorch); with ``dim``, ``(values, indices)``."""
    from numtorch.ops.misc import sort
    if dim is None:
        flat = input.reshape(-1)
        s = sort(flat).values
        return s[(flat.shape[0] - 1) // 2]
    d = wrap_dim(dim, input.ndim, "median")
    s, i = sort(input, d)
    k = (input.shape[d] - 1) // 2
    values = s.narrow(d, k, 1)
    idx = i.narrow(d, k, 1)
    if not keepdim:
        values, idx = values.squeeze(d), idx.squeeze(d)
    return namedtuple("median", ["values", "indices"])(values, idx)


def mode_values(input, dim=-1):
    raise NotImplementedError("mode is not implemented in numtorch")


def dist(input, other, p=2) -> Tensor:
    """The p-norm of ``input - other`` (broadcast)."""
    return norm(input - other, p)
