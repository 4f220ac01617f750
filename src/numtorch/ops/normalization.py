"""Normalization over the last dims of a tensor: ``layer_norm`` and ``rms_norm``.

layer_norm: y = (x - mean) / sqrt(var + eps) * weight + bias, mean and (biased) variance taken
over the trailing ``normalized_shape`` dims of each sample.

Its backward is fused: with x_hat = (x - mean) * rstd and g = gy * weight (N = elements normalised)::

    gx = rstd * (g - mean(g) - x_hat * mean(g * x_hat))
    gweight = sum over the leading dims of gy * x_hat;   gbias = sum of gy
"""
from __future__ import annotations

import math

import numpy as np

from numtorch import _kernels
from numtorch._backend import xp_of
from numtorch.ops import _autocast
from numtorch.autograd.function import Function
from numtorch.ops._util import in_float32_for_bfloat16
from numtorch.tensor import Tensor

__all__ = ["layer_norm", "rms_norm"]


def _check_shape(op: str, input: Tensor, normalized_shape) -> tuple:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or tuple(input.shape[input.ndim - k:]) != shape or input.ndim < k:
        raise RuntimeError(f"{op}: Given normalized_shape={list(shape)}, expected input with shape "
                           f"[*, {', '.join(map(str, shape))}], but got input of size {list(input.shape)}")
    return shape


@in_float32_for_bfloat16
class LayerNormFunction(Function):
    """y = x_hat * w + b over the last ``k`` dims; one op forward and one fused backward."""

    @staticmethod
    def forward(ctx, x, w, b, k, eps):
        xp = xp_of(x)
        axes = tuple(range(x.ndim - k, x.ndim))
        ctx.axes, ctx.eps = axes, eps
        ctx.cpu_rows = xp is np and x.dtype in _CPU_FLOATS and x.size > 0   # the NumPy fast path
        if ctx.cpu_rows:
            return _layer_norm_forward_cpu(ctx, x, w, b, k, eps)
        xc = x - x.mean(axis=axes, keepdims=True)
        var = (xc * xc).mean(axis=axes, keepdims=True)
        rstd = 1.0 / xp.sqrt(var + eps)            # Python eps keeps float32 float32
        xc *= rstd                                  # x_hat, in place
        if w is not None and _kernels.fused(x, w, b):     # GPU: y = x_hat * w + b in one kernel
            y = _kernels.scale_shift(xc, w, 0.0 if b is None else b)
        elif w is not None:
            y = xc * w
            if b is not None:
                y += b
        else:
            y = xc if b is None else xc + b
        ctx.save_for_backward(x, w, xc, rstd)
        return y

    @staticmethod
    def backward(ctx, gy):
        # the fused formula on tensors recomputed from x, so it differentiates again (create_graph)
        axes, eps = ctx.axes, ctx.eps
        lead = tuple(range(gy.ndim - len(axes)))
        x, w = ctx.saved_tensors[:2]
        mu = x.mean(axes, keepdim=True)
        xc = x - mu
        rstd = ((xc * xc).mean(axes, keepdim=True) + eps).rsqrt()
        xhat = xc * rstd
        g = gy if w is None else gy * w
        gx = rstd * (g - g.mean(axes, keepdim=True) - xhat * (g * xhat).mean(axes, keepdim=True))
        gw = (gy * xhat).sum(lead) if ctx.needs_input_grad[1] else None
        gb = gy.sum(lead) if ctx.needs_input_grad[2] else None
        return gx, gw, gb, None, None

    @staticmethod
    def backward_arrays(ctx, gy):
        """First order on arrays: NumPy rows from the saved mean and 1/std (x_hat recomputed), or the
        saved x_hat elsewhere; a bfloat16 input hands back to ``backward`` (its gradients are rounded)."""
        if ctx.__dict__.get("bf16"):
            return LayerNormFunction.backward_on_tensors(ctx, gy)
        if ctx.cpu_rows:
            return _layer_norm_backward_cpu(ctx, gy, *ctx.saved_arrays, ctx.normalized_shape)
        x, w, xhat, rstd = ctx.saved_arrays
        lead = tuple(range(gy.ndim - len(ctx.axes)))
        return _layer_norm_backward_arrays(ctx, gy, w, xhat, rstd, ctx.axes, lead)


_CPU_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_ONES: dict = {}   # (n, dtype) -> a read-only vector of ones


def _ones(n: int, dtype):
    """A vector of n ones: row and column sums of (R, N) rows as GEMVs (BLAS sums a row of 128 floats
    about 4x faster than NumPy's reduction along it)."""
    v = _ONES.get((n, dtype))
    if v is None:
        v = np.ones(n, dtype)
        v.flags.writeable = False
        _ONES[(n, dtype)] = v
    return v


def _outer(u, v):
    """u v^T as an (R, N) array: one K = 2 BLAS product [u 0] [v 0]^T.  Row and column broadcasts
    of a (R, N) array cost NumPy about 2-3x a contiguous pass (a (R, 1) operand is one inner loop per
    row), and NumPy's matmul computes K = 1 products itself, ~10x slower than BLAS's K = 2.  Exact:
    each entry is the one rounding of u_i v_j."""
    L = np.zeros((u.size, 2), u.dtype)
    L[:, 0] = u
    Rt = np.zeros((2, v.size), v.dtype)
    Rt[0] = v
    return L @ Rt


def _layer_norm_forward_cpu(ctx, x, w, b, k, eps):
    """NumPy forward on rows x2 (R, N), N = the normalised elements.  Saves x, the row means and
    1/std (as PyTorch does) instead of x_hat: less memory held for backward, which recomputes x_hat.

        mean = x2 1 / N,  var = sum((x2 - mean)^2) / N  (per row, two passes),
        y = (x2 - mean) * (rstd w^T) + b      (rstd w^T: one (R, N) product, see ``_outer``)
    """
    N = math.prod(x.shape[x.ndim - k:])
    x2 = x.reshape(-1, N)
    inv = x.dtype.type(1.0 / N)
    ones = _ones(N, x.dtype)
    mu = x2 @ ones                                  # row sums
    mu *= inv
    y = _outer(-mu, ones)
    y += x2                                         # x - mean: the one array of x's size
    rstd = np.einsum("ij,ij->i", y, y)              # row sums of squares, no squared temporary
    rstd *= inv
    rstd += x.dtype.type(eps)
    np.sqrt(rstd, out=rstd)
    np.reciprocal(rstd, out=rstd)
    y *= _outer(rstd, ones if w is None else w.reshape(-1))    # x_hat w
    if b is not None:
        y += b.reshape(-1)
    ctx.save_for_backward(x, w, mu, rstd)
    ctx.normalized_shape = x.shape[x.ndim - k:]
    return y.reshape(x.shape)


def _layer_norm_backward_cpu(ctx, gy, x, w, mu, rstd, shape):
    """First-order backward on NumPy rows (R, N), from forward's saved mean and r = 1/std, with
    xc = x - mean (x_hat = r xc) and g = gy w:

        gw = sum_i gy xc r,   gb = sum_i gy,   a = mean_j g,   c = mean_j g x_hat = r mean_j gy xc w
        gx = r (g - a - x_hat c) = gy * (r w^T) - xc * (r^2 c) 1^T - (r a) 1^T

    The sums are GEMVs; the row and column broadcasts are ``_outer`` products."""
    need = ctx.needs_input_grad
    N = math.prod(shape)
    g2 = gy.reshape(-1, N)
    ones = _ones(N, g2.dtype)
    xc = _outer(-mu, ones)
    xc += x.reshape(-1, N)                          # x - mean
    p = g2 * xc                                     # gy xc
    gw = (p.T @ rstd).reshape(shape) if need[1] else None
    gb = (_ones(g2.shape[0], g2.dtype) @ g2).reshape(shape) if need[2] else None   # column sums
    gx = None
    if need[0]:
        inv = x.dtype.type(1.0 / N)
        wv = ones if w is None else w.reshape(-1)
        a = g2 @ wv
        a *= -inv
        a *= rstd                                   # -r mean(g)
        c = p @ wv
        c *= -inv
        c *= rstd
        c *= rstd
        c *= rstd                                   # -r^2 c
        gx = _outer(rstd, wv)
        gx *= g2                                    # r g
        xc *= _outer(c, ones)
        gx += xc
        gx += _outer(a, ones)
        gx = gx.reshape(x.shape)
    return gx, gw, gb, None, None


def _layer_norm_backward_arrays(ctx, gy, w, xhat, rstd, axes, lead):
    """First-order backward on raw arrays: fewer temporaries than the tensor form."""
    need = ctx.needs_input_grad
    gw = (gy * xhat).sum(axis=lead) if need[1] else None
    gb = gy.sum(axis=lead) if need[2] else None
    gx = None
    # GPU: the elementwise tail in one kernel
    if need[0] and w is not None and _kernels.fused(gy, w, xhat, rstd):
        g = gy * w
        gx = _kernels.layer_norm_backward(gy, w, xhat, g.mean(axis=axes, keepdims=True),
                                          (g * xhat).mean(axis=axes, keepdims=True), rstd)
        return gx, gw, gb, None, None
    if need[0]:
        g = gy if w is None else gy * w
        gx = g - g.mean(axis=axes, keepdims=True)
        gx -= xhat * (g * xhat).mean(axis=axes, keepdims=True)
        gx *= rstd
    return gx, gw, gb, None, None


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Layer normalization over the trailing ``normalized_shape`` dims (``torch.nn.functional.layer_norm``).

    Reference implementation: numtorch.nn.textbook.layer_norm

    Args:
        input: (*, *normalized_shape).
        normalized_shape: int or tuple: the trailing dims normalised together.
        weight, bias: optional, of shape ``normalized_shape`` (elementwise scale and shift).
        eps: added to the variance.

    >>> import numtorch as torch
    >>> torch.nn.functional.layer_norm(torch.tensor([[1.0, 3.0]]), (2,))
    tensor([[-1.0000,  1.0000]])
    """
    if _autocast.active:
        input, weight, bias = _autocast.cast("layer_norm", input, weight, bias)
    shape = _check_shape("layer_norm", input, normalized_shape)
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != shape:
            raise RuntimeError(f"layer_norm: expected {name} of shape {list(shape)}, but got {list(p.shape)}")
        if p is not None and p.dtype != input.dtype:
            raise RuntimeError(f"layer_norm: mixed dtype: expect {name} to have scalar type {input.dtype}, "
                               f"got {p.dtype}")
    return LayerNormFunction.apply(input, weight, bias, len(shape), float(eps))


def rms_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:
    """y = x / sqrt(mean(x^2) + eps) * weight over the trailing dims (``torch.nn.functional.rms_norm``).

    ``eps`` defaults to the machine epsilon of the input's dtype, as in PyTorch.
    """
    shape = _check_shape("rms_norm", input, normalized_shape)
    if eps is None:
        import numpy as np
        eps = float(np.finfo(input._data.dtype).eps)
    dims = tuple(range(input.ndim - len(shape), input.ndim))
    y = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    return y if weight is None else y * weight
