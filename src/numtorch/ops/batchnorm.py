"""Normalization over batches and groups: ``batch_norm``, ``instance_norm``, ``group_norm``.

Batch norm in training, per channel c over the M = N*H*W values of the batch::

    mean = sum(x) / M,   var = sum((x - mean)^2) / M,   xhat = (x - mean) / sqrt(var + eps)
    y    = gamma * xhat + beta

and its fused backward (one pass instead of the dozen ops of the composite)::

    dbeta  = sum(dy)          dgamma = sum(dy * xhat)
    dx     = gamma / sqrt(var + eps) / M * (M * dy - dbeta - xhat * dgamma)

In eval mode the running statistics are constants, so y is an affine map of x (composite ops).
The fused backwards compute on arrays: first-order only (``create_graph=True`` raises).
"""
from __future__ import annotations

import math

from numtorch import _kernels
from numtorch._backend import xp_of
from numtorch.ops import _autocast
from numtorch.autograd.function import Function
from numtorch.ops._util import in_float32_for_bfloat16
from numtorch.autograd.grad_mode import no_grad
from numtorch.ops._util import first_order_only
from numtorch.tensor import Tensor, make_tensor

__all__ = ["batch_norm", "instance_norm", "group_norm"]


def _channel_shape(ndim: int) -> tuple:
    """Shape that broadcasts a (C,) vector against (N, C, *)."""
    return (1, -1) + (1,) * (ndim - 2)


def _to_rows(x, k: int = 1):
    """x (N, C, *) as a C-contiguous (M/k, k*C) array, M = N * prod(*): each row holds k positions'
    channel vectors.  A view when x lives channels-last (the output of a convolution), else one
    transposing copy.  Per-channel work is then on columns, with a channel vector tiled k times."""
    perm = (0,) + tuple(range(2, x.ndim)) + (1,)
    t = x.transpose(perm)
    if not t.flags.c_contiguous:
        t = xp_of(x).ascontiguousarray(t)
    return t.reshape(-1, k * x.shape[1])


def _from_rows(rows, shape):
    """The inverse of ``_to_rows``: the rows seen as (N, C, *) (a channels-last view, no copy)."""
    nd = len(shape)
    t = rows.reshape((shape[0],) + tuple(shape[2:]) + (shape[1],))
    return t.transpose((0, nd - 1) + tuple(range(1, nd - 1)))


def _row_factor(m: int, c: int) -> int:
    """k positions per row so rows are ~1024 wide: NumPy broadcasts a short (C,) vector a row at a
    time, so 16-wide rows run 2-4x slower than wide ones."""
    return math.gcd(m, max(1, 1024 // c))


def _col_sum(rows, c: int):
    """Per-channel sums of wide rows (M/k, k*C) as one matrix-vector product (about 10x faster than
    ``rows.sum(axis=0)``, which NumPy reduces a short row at a time), then the k tiles folded."""
    s = xp_of(rows).ones(rows.shape[0], dtype=rows.dtype) @ rows
    return s.reshape(-1, c).sum(axis=0)


def _col_dot(a, b, c: int):
    """Per-channel sums of a * b for wide rows, without the (M/k, k*C) temporary."""
    return xp_of(a).einsum("ij,ij->j", a, b).reshape(-1, c).sum(axis=0)


@in_float32_for_bfloat16
class BatchNorm(Function):
    """Training-mode batch norm: returns (y, batch mean, biased batch var); the stats carry no gradient.

    Computed on wide channels-last rows of x (``_to_rows``): column sums are matrix-vector products,
    and the centered rows xc = x - mean are saved (xhat = xc * invstd is never stored).
    """

    @staticmethod
    def forward(ctx, x, gamma, beta, eps):
        xp = xp_of(x)
        c = x.shape[1]
        m = x.size // c
        k = _row_factor(m, c)
        rows = _to_rows(x, k)
        mean = _col_sum(rows, c) / m
        xc = rows - xp.tile(mean, k)
        var = _col_dot(xc, xc, c) / m
        invstd = 1.0 / xp.sqrt(var + eps)
        a = invstd if gamma is None else invstd * gamma
        if _kernels.fused(x, a, beta):                          # GPU: one kernel
            y = _kernels.scale_shift(xc, xp.tile(a, k), 0.0 if beta is None else xp.tile(beta, k))
        else:
            y = xc * xp.tile(a, k)                              # y = gamma * xhat + beta
            if beta is not None:
                y += xp.tile(beta, k)
        ctx.shape, ctx.invstd, ctx.k = x.shape, invstd, k
        ctx.save_for_backward(xc, gamma)
        ctx.mark_non_differentiable(mean, var)
        return _from_rows(y, x.shape), mean, var

    @staticmethod
    def backward(ctx, gy, _gmean=None, _gvar=None):
        # dbeta = sum(dy),  dgamma = sum(dy * xhat),  xhat = xc * invstd
        # dx = gamma * invstd / M * (M dy - dbeta - xhat * dgamma)
        first_order_only("batch_norm")
        xc, gamma = ctx.saved_tensors
        xc, invstd, k = xc._data, ctx.invstd, ctx.k
        xp = xp_of(xc)
        c = ctx.shape[1]
        g = _to_rows(gy._data, k)
        m = g.size // c
        dbeta = _col_sum(g, c)
        dgamma = _col_dot(g, xc, c) * invstd
        gx = None
        if ctx.needs_input_grad[0]:
            scale = invstd if gamma is None else gamma._data * invstd
            s1, s2 = xp.tile(scale, k), xp.tile(scale * invstd * dgamma / m, k)
            s3 = xp.tile(scale * dbeta / m, k)
            if _kernels.fused(g, xc, s1, s2, s3):
                rows = _kernels.batch_norm_backward(g, xc, s1, s2, s3)
            else:
                rows = g * s1
                rows -= xc * s2
                rows -= s3
            gx = make_tensor(_from_rows(rows, ctx.shape))
        gg = make_tensor(dgamma) if ctx.needs_input_grad[1] else None
        gb = make_tensor(dbeta) if ctx.needs_input_grad[2] else None
        return gx, gg, gb, None


def _update_running(running, batch_stat, momentum: float) -> None:
    """running <- (1 - momentum) * running + momentum * batch_stat, in place (not recorded)."""
    r = running._data
    r *= 1.0 - momentum
    r += momentum * batch_stat.astype(r.dtype, copy=False)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalization over (N, C, *), per channel.

    Reference implementation: numtorch.nn.textbook.batch_norm

    In training the batch statistics normalize and (when given) update the running ones in place:
    ``running_var`` gets the unbiased variance ``var * M / (M - 1)``.  In eval the running ones normalize.
    """
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected 2D or more input (got {input.ndim}D input)")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise RuntimeError(f"batch_norm: {name} should contain {c} elements not {t.numel()}")
        if t is not None and name in ("weight", "bias") and t.dtype != input.dtype:
            raise RuntimeError(f"batch_norm: mixed dtype: expect {name} to have scalar type {input.dtype}, "
                               f"got {t.dtype}")
    if training:
        m = input.numel() // c if c else 0
        if m == 0:  # an empty batch: an empty result, the running statistics untouched (as PyTorch)
            return _empty_batch_norm(input, weight, bias)
        if m == 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                             f"{list(input.shape)}")
        y, mean, var = BatchNorm.apply(input, weight, bias, eps)
        if running_mean is not None:
            _update_running(running_mean, mean._data, momentum)
        if running_var is not None:
            _update_running(running_var, var._data * (m / (m - 1)), momentum)
        return y
    if running_mean is None or running_var is None:
        raise RuntimeError("batch_norm: running_mean and running_var must be defined in evaluation mode")
    cs = _channel_shape(input.ndim)
    scale = (running_var + eps).rsqrt()
    if weight is not None:
        scale = scale * weight
    shift = -running_mean * scale
    if bias is not None:
        shift = shift + bias
    return input * scale.reshape(cs) + shift.reshape(cs)


def _empty_batch_norm(input: Tensor, weight, bias) -> Tensor:
    """``input`` (with no elements) through the affine part: gradients of weight and bias are 0."""
    cs = _channel_shape(input.ndim)
    y = input * 1.0
    if weight is not None:
        y = y * weight.reshape(cs)
    if bias is not None:
        y = y + bias.reshape(cs)
    return y


class _Standardize(Function):
    """xhat = (x - mean) / sqrt(var + eps) over the trailing axes ``axes`` (biased var)."""

    @staticmethod
    def forward(ctx, x, axes, eps):
        xp = xp_of(x)
        mean = x.mean(axis=axes, keepdims=True)
        xhat = x - mean
        var = (xhat * xhat).mean(axis=axes, keepdims=True)
        invstd = 1.0 / xp.sqrt(var + eps)
        xhat *= invstd
        ctx.axes, ctx.invstd = axes, invstd
        ctx.save_for_backward(xhat)
        ctx.mark_non_differentiable(mean, var)
        return xhat, mean, var

    @staticmethod
    def backward(ctx, g, _gm=None, _gv=None):
        # dx = invstd * (g - mean(g) - xhat * mean(g * xhat))
        first_order_only("group_norm/instance_norm")
        xhat, = ctx.saved_tensors
        xhat, g = xhat._data, g._data
        gx = xhat * (g * xhat).mean(axis=ctx.axes, keepdims=True)
        gx += g.mean(axis=ctx.axes, keepdims=True)
        gx = g - gx
        gx *= ctx.invstd
        return make_tensor(gx), None, None


def _affine(y: Tensor, weight, bias) -> Tensor:
    cs = _channel_shape(y.ndim)
    if weight is not None:
        y = y * weight.reshape(cs)
    if bias is not None:
        y = y + bias.reshape(cs)
    return y


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalizes (N, C, *) over each group of C/num_groups channels and all positions, per sample."""
    if _autocast.active:
        input, weight, bias = _autocast.cast("group_norm", input, weight, bias)
    n, c = input.shape[0], input.shape[1]
    if c % num_groups:
        raise RuntimeError(f"group_norm: Expected number of channels in input to be divisible by num_groups, "
                           f"but got input of shape {list(input.shape)} and num_groups={num_groups}")
    xhat, _, _ = _Standardize.apply(input.reshape(n, num_groups, -1), (2,), eps)
    return _affine(xhat.reshape(tuple(input.shape)), weight, bias)


def instance_norm(input: Tensor, running_mean: Tensor | None = None, running_var: Tensor | None = None,
                  weight: Tensor | None = None, bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalizes (N, C, *) per sample and channel over the positions."""
    if not use_input_stats:
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    axes = tuple(range(2, input.ndim))
    m = 1
    for s in input.shape[2:]:
        m *= s
    if m <= 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size "
                         f"{list(input.shape)}")
    xhat, mean, var = _Standardize.apply(input, axes, eps)
    with no_grad():
        c = input.shape[1]
        if running_mean is not None:
            _update_running(running_mean, mean._data.reshape(-1, c).mean(axis=0), momentum)
        if running_var is not None:
            _update_running(running_var, var._data.reshape(-1, c).mean(axis=0) * (m / (m - 1)), momentum)
    return _affine(xhat, weight, bias)
