"""The affine layer's op (``linear``) and the activation functions of ``torch.nn.functional``.

Each op is a ``Function`` with its forward (on arrays) and backward (on Tensors) side by side, or a
short composite of such ops.  The derivative is written next to each backward.
"""
from __future__ import annotations

import math
import warnings

import numpy as np  # random draws (made on the CPU, see numtorch.random) and the float32 CPU GELU

from numtorch import _dtypes, _kernels
from numtorch._backend import xp_of
from numtorch.ops import _autocast
from numtorch.autograd.function import Function
from numtorch.autograd.grad_mode import GradMode
from numtorch.ops import linalg as _linalg
from numtorch.ops import reduce as _reduce
from numtorch.ops import shape as _shape
from numtorch.ops._util import (array_sum, in_float32_for_bfloat16, log1p_exp_neg_abs, ones_vector, quiet,
                               wrap_dim)
from numtorch.ops.elementwise import (sigmoid, tanh, relu as _relu_op, exp, erfc, where, abs as _abs, _erfc,
                                     _sigmoid_array)
from numtorch.ops.inplace import apply_inplace
from numtorch.tensor import Tensor, make_tensor

__all__ = ["linear", "bilinear", "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu",
           "selu_", "celu", "celu_", "gelu", "silu", "swish", "mish", "softplus", "hardtanh", "hardtanh_",
           "hardsigmoid", "hardswish", "softsign", "tanhshrink", "logsigmoid", "softmax", "log_softmax",
           "softmin", "prelu", "rrelu", "threshold", "threshold_", "hardshrink", "softshrink", "glu",
           "sigmoid", "tanh", "normalize", "cosine_similarity", "pairwise_distance", "gumbel_softmax",
           "rrelu_"]


# ---- the affine layer -------------------------------------------------------------------------

class Linear(Function):
    """y = x W^T + b for x of shape (*, in), W (out, in), b (out,) or None."""

    @staticmethod
    def forward(ctx, x, W, b):
        ctx.save_for_backward(x, W)
        return _affine(x, W, b)

    @staticmethod
    def backward(ctx, gy):
        # dy/dx = W, dy/dW = x, dy/db = 1, summed over every leading (batch) dim:
        # gx = gy W,  gW = gy^T x,  gb = sum of gy over the batch
        x, W = ctx.saved_tensors
        return _linear_backward_tensors(x, W, gy, ctx.needs_input_grad)

    @staticmethod
    def backward_arrays(ctx, gy):
        # the same three products on the arrays, straight to BLAS (first order, the usual case)
        x, W = ctx.saved_arrays
        return _linear_backward_arrays(x, W, gy, ctx.needs_input_grad)


def _linear_backward_tensors(x, W, gy, need):
    """``Linear.backward`` on tensors (create_graph: differentiable again)."""
    gx = _linalg.matmul(gy, W) if need[0] else None
    gW = gb = None
    if need[1] or need[2]:
        gy2 = gy if gy.ndim == 2 else _shape.reshape(gy, (math.prod(gy.shape[:-1]), gy.shape[-1]))
        if need[1]:
            x2 = x if x.ndim == 2 else _shape.reshape(x, (math.prod(x.shape[:-1]), x.shape[-1]))
            gW = _linalg.matmul(_shape.transpose(gy2, 0, 1), x2)
        if need[2]:
            gb = _reduce.sum(gy2, 0)
    return gx, gW, gb


def _affine(x, W, b):
    """x W^T + b as a fresh array."""
    if W.dtype is _BF16:
        return _affine_bf16(x, W, b)
    if x.ndim > 2:  # (*, in) as one (rows, in) GEMM: matmul would loop over the leading dims
        y = _rows(x) @ W.T
        y = y.reshape(x.shape[:-1] + (W.shape[0],))
    else:
        y = x @ W.T  # BLAS reads W transposed in place: no copy
    if b is not None:
        y += b  # y is a fresh array: adding in place saves one temporary
    return y


_BF16 = _dtypes.bfloat16.np


def _affine_bf16(x, W, b):
    """bfloat16 x W^T + b as PyTorch's CPU computes it: in float32 (the operands widen exactly),
    the sum with the bias included, rounded to bfloat16 once."""
    w = _dtypes.widen
    return _affine(w(x), w(W), None if b is None else w(b)).astype(_BF16)


def _rows(a):
    """(*, n) -> (prod(*), n) (a view when a is contiguous; explicit rows: n may be 0)."""
    return a.reshape(math.prod(a.shape[:-1]), a.shape[-1])


def _linear_backward_arrays(x, W, gy, need):
    """The same three products as ``Linear.backward``, on arrays (no graph is being recorded)."""
    gy2 = gy if gy.ndim == 2 else _rows(gy)  # one 2-D GEMM, not one per leading index
    gx = _dtypes.matmul(gy2, W).reshape(gy.shape[:-1] + (W.shape[1],)) if need[0] else None
    gW = _dtypes.matmul(gy2.T, x if x.ndim == 2 else _rows(x)) if need[1] else None
    gb = _bias_grad(gy2) if need[2] else None
    return gx, gW, gb


def _bias_grad(gy2):
    """gb = sum of gy's rows.  On NumPy as the GEMV 1^T gy: BLAS's column sums are faster than NumPy's
    reduction over axis 0 (1.3 against 3.2 us at (100, 100)) and more accurate (several accumulators
    per column, where NumPy adds the rows in sequence); bfloat16: summed in float32, rounded once."""
    if gy2.__class__ is _ndarray and gy2.dtype in _BLAS_FLOATS:
        return ones_vector(gy2.shape[0], gy2.dtype) @ gy2
    if gy2.dtype is _BF16:
        return _dtypes.matmul(gy2.T, xp_of(gy2).ones(gy2.shape[0], gy2.dtype))
    return array_sum(gy2, 0)


_ndarray = np.ndarray
_BLAS_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """The affine transform ``input @ weight.T + bias`` (one fused op).

    Reference implementation: numtorch.nn.textbook.linear

    Args:
        input: (*, in_features); weight: (out_features, in_features); bias: (out_features,) or None.
    Returns:
        (*, out_features)
    """
    if _autocast.active:
        input, weight, bias = _autocast.cast("linear", input, weight, bias)
    _check_linear(input, weight, bias)
    return Linear.apply(input, weight, bias)


def _check_linear(input: Tensor, weight: Tensor, bias: Tensor | None) -> None:
    x, W = input._data, weight._data
    if x.shape[-1] != W.shape[-1] or W.ndim != 2:
        rows = x.size // x.shape[-1] if x.ndim and x.shape[-1] else (1 if x.ndim == 1 else 0)
        raise RuntimeError(f"linear: mat1 and mat2 shapes cannot be multiplied "
                           f"({rows}x{x.shape[-1] if x.ndim else 0} "
                           f"and {'x'.join(str(s) for s in W.shape[::-1])})")
    if x.dtype != W.dtype or (bias is not None and bias._data.dtype != W.dtype):
        raise RuntimeError(f"linear: expected all inputs to have the same dtype, but got input "
                           f"{input.dtype}, weight {weight.dtype}"
                           + ("" if bias is None else f", bias {bias.dtype}"))


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y_o = x1^T A_o x2 + b_o; weight (out, in1, in2)."""
    from numtorch.ops.linalg import einsum
    y = einsum("...i,oij,...j->...o", input1, weight, input2)
    return y if bias is None else y + bias


# ---- piecewise-linear activations: the slope is a constant of forward ---------------------------
# For a piecewise-linear f the second derivative is 0, so backward gy * f'(x) with f'(x) saved as a
# constant array is exact to every order (double backward included).

def _save_slope(ctx, x, slope) -> None:
    """Saves f'(x) as a constant array of x's dtype; only a recorded call pays for it."""
    if ctx.needs_input_grad:
        ctx.save_for_backward(slope.astype(x.dtype, copy=False))


def _times_slope(ctx, gy):
    """The backward of every piecewise-linear op below: dL/dx = dL/dy * f'(x)."""
    d, = ctx.saved_tensors
    return gy * d


class LeakyRelu(Function):
    """y = x for x > 0, slope * x otherwise;  f'(x) = 1 right of 0, slope left of it."""

    @staticmethod
    def forward(ctx, x, slope):
        xp = xp_of(x)
        _save_slope(ctx, x, xp.where(x > 0, 1.0, slope))
        return xp.where(x > 0, x, x * x.dtype.type(slope))

    backward = staticmethod(_times_slope)


class Hardtanh(Function):
    """y = clip(x, lo, hi);  f'(x) = 1 strictly inside (lo, hi), 0 outside and at the ends."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        xp = xp_of(x)
        _save_slope(ctx, x, (x > lo) & (x < hi))
        return xp.clip(x, lo, hi).astype(x.dtype, copy=False)

    backward = staticmethod(_times_slope)


class Hardsigmoid(Function):
    """y = clip(x / 6 + 1/2, 0, 1);  f'(x) = 1/6 on (-3, 3), 0 elsewhere."""

    @staticmethod
    def forward(ctx, x):
        xp = xp_of(x)
        _save_slope(ctx, x, ((x > -3) & (x < 3)) * (1 / 6))
        return xp.clip(x * x.dtype.type(1 / 6) + x.dtype.type(0.5), 0, 1).astype(x.dtype, copy=False)

    backward = staticmethod(_times_slope)


class Threshold(Function):
    """y = x where x > threshold, else value;  f'(x) = 1 where x > threshold, else 0."""

    @staticmethod
    def forward(ctx, x, threshold, value):
        xp = xp_of(x)
        _save_slope(ctx, x, x > threshold)
        return xp.where(x > threshold, x, x.dtype.type(value))

    backward = staticmethod(_times_slope)


class Hardshrink(Function):
    """y = x where |x| > lambd, else 0;  f'(x) = 1 where |x| > lambd, else 0."""

    @staticmethod
    def forward(ctx, x, lambd):
        xp = xp_of(x)
        keep = xp.abs(x) > lambd
        _save_slope(ctx, x, keep)
        return xp.where(keep, x, x.dtype.type(0))

    backward = staticmethod(_times_slope)


class Softshrink(Function):
    """y = x - lambd (x > lambd), x + lambd (x < -lambd), 0 between;  f'(x) = 1 where |x| > lambd."""

    @staticmethod
    def forward(ctx, x, lambd):
        xp = xp_of(x)
        _save_slope(ctx, x, xp.abs(x) > lambd)
        lam, zero = x.dtype.type(lambd), x.dtype.type(0)
        return xp.where(x > lambd, x - lam, xp.where(x < -lambd, x + lam, zero))

    backward = staticmethod(_times_slope)


def _inplace(input: Tensor, fn, inplace: bool, **kwargs) -> Tensor:
    """``fn(input)``, or written back into ``input`` when ``inplace`` (PyTorch's ``inplace=True``)."""
    if inplace:
        return apply_inplace(input, fn, **kwargs)
    return fn(input, **kwargs)


# ---- ReLU family ------------------------------------------------------------------------------

def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(0, x): passes positive inputs, zeroes the rest (the notes' ReLU layer)."""
    return _relu_inplace(input) if inplace else _relu_op(input)


def relu_(input: Tensor) -> Tensor:
    return _relu_inplace(input)


def _relu_inplace(input: Tensor) -> Tensor:
    """relu_ without the snapshot clone of the general in-place path: ReLU's backward needs only its
    output, never the overwritten input (and the result keeps the input's memory layout)."""
    from numtorch.ops.inplace import _check_leaf, _is_indexed_view, _records, _take_over
    if _records(input, ()) and input.requires_grad and not _is_indexed_view(input):
        _check_leaf(input)
        return _take_over(input, _relu_op(input), "relu_")
    return apply_inplace(input, _relu_op)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, negative_slope * x otherwise."""
    return _inplace(input, _leaky, inplace, negative_slope=negative_slope)


def _leaky(input, negative_slope=0.01):
    return LeakyRelu.apply(input, slope=negative_slope)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return leaky_relu(input, negative_slope, True)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """x clipped to [min_val, max_val]."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _inplace(input, _hardtanh, inplace, lo=min_val, hi=max_val)


def _hardtanh(input, lo, hi):
    return Hardtanh.apply(input, lo=lo, hi=hi)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return hardtanh(input, min_val, max_val, True)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(0, x), 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else value."""
    return _inplace(input, _threshold, inplace, threshold=threshold, value=value)


def _threshold(input, threshold, value):
    return Threshold.apply(input, threshold=threshold, value=value)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    return _inplace(input, _threshold, True, threshold=threshold, value=value)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0."""
    return Hardshrink.apply(input, lambd=lambd)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x - lambd above lambd, x + lambd below -lambd, else 0."""
    return Softshrink.apply(input, lambd=lambd)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """clip(x / 6 + 1/2, 0, 1): a piecewise-linear sigmoid."""
    return _inplace(input, Hardsigmoid.apply, inplace)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> Tensor:
    """Randomised leaky ReLU: a random slope in [lower, upper] per element in training, the mean in eval."""
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    from numtorch._backend import to_device
    from numtorch.random import rng_of
    a = rng_of(None).uniform(lower, upper, tuple(input.shape)).astype(input._data.dtype)
    slopes = make_tensor(to_device(a, input.device))
    fn = lambda x: where(x >= 0, x, x * slopes)  # noqa: E731
    return apply_inplace(input, fn) if inplace else fn(input)


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False) -> Tensor:
    return rrelu(input, lower, upper, training, True)


# ---- smooth activations ----------------------------------------------------------------------

class Elu(Function):
    @staticmethod
    def forward(ctx, x, alpha):
        xp = xp_of(x)
        y = xp.where(x > 0, x, x.dtype.type(alpha) * xp.expm1(xp.minimum(x, 0)))
        ctx.save_for_backward(x, y)
        ctx.alpha = alpha
        return y

    @staticmethod
    def backward(ctx, gy):
        # d/dx elu = 1 for x > 0, alpha e^x = y + alpha otherwise
        x, y = ctx.saved_tensors
        return gy * where(x > 0, 1.0, y + ctx.alpha), None


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha (e^x - 1) otherwise."""
    return apply_inplace(input, Elu.apply, alpha) if inplace else Elu.apply(input, alpha)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return elu(input, alpha, True)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants of Klambauer et al. (2017)."""
    fn = lambda x: Elu.apply(x, _SELU_ALPHA) * _SELU_SCALE  # noqa: E731
    return apply_inplace(input, fn) if inplace else fn(input)


def selu_(input: Tensor) -> Tensor:
    return selu(input, True)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha (e^(x / alpha) - 1) otherwise (= alpha * elu(x / alpha))."""
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: celu: alpha cannot be 0")
    fn = (lambda x: Elu.apply(x, 1.0)) if alpha == 1.0 else (lambda x: Elu.apply(x / alpha, 1.0) * alpha)
    return apply_inplace(input, fn) if inplace else fn(input)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return celu(input, alpha, True)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


class Gelu(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.gpu_kernel = _kernels.fused(x)   # GPU: one kernel each way, backward recomputes from x
        if ctx.gpu_kernel:
            ctx.save_for_backward(x)
            return _kernels.gelu_forward(x)
        y, slope = _gelu_and_slope(x)  # slope dy/dx is kept for a first-order backward (one product)
        ctx.save_for_backward(x, slope)
        return y

    @staticmethod
    def backward(ctx, gy):
        # y = x Phi(x):  dy/dx = Phi(x) + x phi(x), phi(x) = e^(-x^2/2) / sqrt(2 pi)
        x = ctx.saved_tensors[0]  # recomputed on tensors, so it differentiates again (create_graph)
        cdf = 0.5 * erfc(x * (-1 / math.sqrt(2.0)))
        pdf = exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
        return gy * (cdf + x * pdf)

    @staticmethod
    def backward_arrays(ctx, gy):
        """First order: gx = gy * slope, the slope kept by forward (GPU: one kernel from x)."""
        saved = ctx.saved_arrays
        if not ctx.gpu_kernel:
            return (gy * saved[1],)
        if _kernels.fused(saved[0], gy):
            return (_kernels.gelu_backward(saved[0], gy),)
        return Gelu.backward_on_tensors(ctx, gy)


def _gelu_and_slope(x):
    """y = x Phi(x) and dy/dx = Phi(x) + x phi(x) (Phi, phi: the standard normal CDF and density)."""
    if x.dtype == np.float32 and xp_of(x) is np:
        return _gelu_and_slope_f32(x)
    cdf, pdf = _normal_cdf_pdf(x)
    pdf *= x
    pdf += cdf
    return x * cdf, pdf


def _normal_cdf_pdf(x):
    """Phi(x) = erfc(-x / sqrt 2) / 2 (accurate in relative terms for x < 0, where 1 + erf cancels)
    and phi(x) = e^(-x^2/2) / sqrt(2 pi)."""
    c = x.dtype.type
    z = x * c(1 / math.sqrt(2.0))
    return c(0.5) * _erfc(-z), xp_of(x).exp(-(z * z)) * c(1 / math.sqrt(2 * math.pi))


_F32 = np.float32
# Phi(-a) for a = |x| >= 0, accurate in relative terms (no 1 + erf(x / sqrt 2) cancellation), as
#   Phi(-a) = R(a) phi(a),   R(a) ~ v H(v),   v = 1 / (3.8 + a),
# R the Mills ratio Phi(-a) / phi(a) and H a degree-8 polynomial, a relative minimax fit over
# a in [0, 14.5] (fit error 2.9e-8 with these float32 coefficients; beyond, phi(a) < 1e-45 underflows
# and H stays bounded: v -> 0 as a -> inf).  The shift 3.8 was chosen by scanning fits.  Lowest first.
_MILLS_K = tuple(_F32(c) for c in (
    1.0002336502075195, 3.780865430831909, 14.112512588500977, 30.182270050048828,
    286.9991455078125, -954.4696044921875, 6544.7275390625, -15978.7705078125, 12657.640625))
_MILLS_SHIFT = _F32(3.8)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)   # (a Python float: the float64 product below)
_SIGN_BIT = np.int32(-2 ** 31)  # float32's sign bit, as an int32 mask
_HALF_BITS = np.float32(0.5).view(np.int32)
_GELU_CHUNK = 32768  # elements per block: the block's temporaries (about 768 KiB) stay in the L2 cache


def _gelu_and_slope_f32(x):
    """``_gelu_and_slope`` for float32 NumPy arrays, a few ulps from the exact values everywhere.

    With a = |x|, P = Phi(-a) = R(a) phi(a) (see ``_MILLS_K``) and s = sign(x):
      Phi(x) = [x >= 0] - s P,   dy/dx = Phi(x) + x phi(x),
    so for x < 0 both are sums of terms computed in relative precision, never 1 - (1 - P).
    phi(x) = e^(-x^2/2) / sqrt(2 pi) is taken in float64 from the exact square x^2 and rounded once
    (a float32 e^(-x^2/2) of a rounded x^2 would be a^2/2 ulps off, 40 at a = 9).
    Signs are bit operations on the float32 words (faster than np.copysign or np.where).

    Computed in blocks through small scratch arrays: every pass reads and writes cache, not main
    memory, and nothing of the size of ``x`` is allocated but the two results.  About 35 NumPy
    passes per block; SciPy's erf alone costs about 3x this whole function (15 ns per element).
    """
    flat = x.reshape(-1)
    n = flat.size
    y, slope = np.empty(n, _F32), np.empty(n, _F32)
    m0 = min(n, _GELU_CHUNK)
    v, e, h, p = (np.empty(m0, _F32) for _ in range(4))
    q = np.empty(m0, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):   # x = +-inf: inf * 0 = nan, as PyTorch's
        for s in range(0, n, _GELU_CHUNK):
            xs = flat[s:s + _GELU_CHUNK]
            m = xs.size
            if m != m0:
                v, e, h, p, q = v[:m], e[:m], h[:m], p[:m], q[:m]
            _normal_pdf_f32(xs, q, e)                   # e = phi(x)
            np.abs(xs, out=v)
            v += _MILLS_SHIFT
            np.divide(_F32(1), v, out=v)                # v = 1 / (3.8 + a)
            np.multiply(v, _MILLS_K[-1], out=h)         # Horner: R(a) = v H(v)
            for coef in _MILLS_K[-2::-1]:
                h += coef
                h *= v
            h *= e                                      # P = Phi(-a) = R(a) phi(a)
            np.multiply(xs, e, out=p)                   # x phi(x)
            xi, ei = xs.view(np.int32), e.view(np.int32)
            np.bitwise_and(xi, _SIGN_BIT, out=ei)       # s: x's sign bit
            np.bitwise_xor(h.view(np.int32), ei, out=h.view(np.int32))   # s P
            np.bitwise_or(ei, _HALF_BITS, out=ei)
            e += _F32(0.5)                              # [x >= 0] = 1/2 + copysign(1/2, x)
            np.subtract(e, h, out=h)                    # Phi(x)
            np.multiply(xs, h, out=y[s:s + m])          # y = x Phi(x)
            np.add(h, p, out=slope[s:s + m])            # dy/dx = Phi(x) + x phi(x)
            if not np.isfinite(np.add.reduce(p)):       # x = +-inf or nan: x phi(x) is nan there;
                y[s:s + m][np.isnan(p)] = np.nan        # y too, as PyTorch's (inf Phi(inf) would be inf)
    return y.reshape(x.shape), slope.reshape(x.shape)


def _normal_pdf_f32(x, q, out):
    """out = phi(x) = e^(-x^2/2) / sqrt(2 pi) for float32 x, computed in float64 (``q``: scratch) from
    the exact square and rounded once to float32."""
    np.copyto(q, x)
    np.multiply(q, q, out=q)                        # x^2, exact: 48 significant bits at most
    np.multiply(q, -0.5, out=q)
    np.exp(q, out=q)
    np.multiply(q, _INV_SQRT_2PI, out=out, casting="same_kind")


class GeluTanh(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        # x/2 (1 + tanh u) = x sigmoid(2u), u = k x (1 + 0.044715 x^2): 1 + tanh u would cancel for u < 0
        c = x.dtype.type
        two_u = x * x
        two_u *= c(0.044715)
        two_u += c(1)
        two_u *= x
        two_u *= c(2 * _SQRT_2_OVER_PI)
        return x * _sigmoid_array(two_u)

    @staticmethod
    def backward(ctx, gy):
        # y = x/2 (1 + t), t = tanh(u), u = k (x + 0.044715 x^3):
        # dy/dx = (1 + t)/2 + x/2 (1 - t^2) k (1 + 3 * 0.044715 x^2)
        x, = ctx.saved_tensors
        if not GradMode.enabled and _kernels.fused(x._data, gy._data):
            return make_tensor(_kernels.gelu_tanh_backward(x._data, gy._data))
        x2 = x * x
        t = tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x2 * x))
        return gy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x2))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x) (Phi: the standard normal CDF, via erfc); ``approximate="tanh"`` uses the tanh formula."""
    if approximate == "none":
        return Gelu.apply(input)
    if approximate == "tanh":
        return GeluTanh.apply(input)
    raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate!r}")


def _stable_sigmoid(xp, x):
    """1 / (1 + e^-x): never overflows, accurate in relative terms in both tails."""
    return _sigmoid_array(x)


@in_float32_for_bfloat16
class Silu(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * _stable_sigmoid(xp_of(x), x)

    @staticmethod
    def backward(ctx, gy):
        # d/dx x s(x) = s (1 + x (1 - s)), s = sigmoid(x)
        x, = ctx.saved_tensors
        s = sigmoid(x)
        return gy * (s * (1 + x * (1 - s)))


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (also called swish with beta = 1)."""
    return apply_inplace(input, Silu.apply) if inplace else Silu.apply(input)


def swish(input: Tensor, beta: "float | Tensor" = 1.0) -> Tensor:
    """x * sigmoid(beta * x) (Ramachandran et al., 2017); ``beta`` may be a learnable tensor."""
    if not isinstance(beta, Tensor) and beta == 1.0:
        return Silu.apply(input)
    return input * sigmoid(input * beta)


@in_float32_for_bfloat16
class Softplus(Function):
    @staticmethod
    def forward(ctx, x, beta, threshold):
        xp = xp_of(x)
        bx = x * x.dtype.type(beta) if beta != 1 else x
        # log(1 + e^bx) = max(bx, 0) + log1p(e^-|bx|): no overflow; linear above the threshold
        y = xp.maximum(bx, 0) + log1p_exp_neg_abs(bx)
        if beta != 1:
            y /= x.dtype.type(beta)
        y = xp.where(bx > threshold, x, y)
        ctx.save_for_backward(x)
        ctx.params = (beta, threshold)
        return y

    @staticmethod
    def backward(ctx, gy):
        # d/dx softplus = sigmoid(beta x) (1 above the threshold)
        x, = ctx.saved_tensors
        beta, threshold = ctx.params
        bx = x * beta if beta != 1 else x
        return gy * where(bx > threshold, 1.0, sigmoid(bx)), None, None


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(beta x)) / beta, computed stably; linear where beta x > threshold."""
    return Softplus.apply(input, beta, threshold)


class Mish(Function):
    @staticmethod
    def forward(ctx, x):
        xp = xp_of(x)
        sp = xp.maximum(x, 0) + log1p_exp_neg_abs(x)
        ctx.save_for_backward(x)
        return x * xp.tanh(sp)

    @staticmethod
    def backward(ctx, gy):
        # y = x t, t = tanh(softplus(x)):  dy/dx = t + x (1 - t^2) sigmoid(x)
        x, = ctx.saved_tensors
        t = tanh(softplus(x))
        return gy * (t + x * (1 - t * t) * sigmoid(x))


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x)) (Misra, 2019)."""
    return apply_inplace(input, Mish.apply) if inplace else Mish.apply(input)


class Hardswish(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        c = x.dtype.type
        return x * xp_of(x).clip(x + c(3), 0, 6).astype(x.dtype, copy=False) * c(1 / 6)

    @staticmethod
    def backward(ctx, gy):
        # y = x relu6(x + 3) / 6:  dy/dx = 0 up to -3, x/3 + 1/2 inside (-3, 3), 1 from 3 on (PyTorch's ends)
        x, = ctx.saved_tensors
        return gy * where(x <= -3, 0.0, where(x < 3, x * (1 / 3) + 0.5, 1.0))


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6 (Howard et al., 2019)."""
    return apply_inplace(input, Hardswish.apply) if inplace else Hardswish.apply(input)


@in_float32_for_bfloat16
class LogSigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        xp = xp_of(x)
        ctx.save_for_backward(x)
        return xp.minimum(x, 0) - log1p_exp_neg_abs(x)  # log(1/(1+e^-x)), no overflow

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return gy * sigmoid(-x)  # d/dx log sigmoid(x) = 1 - sigmoid(x) = sigmoid(-x)


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)), stable for large |x|."""
    return LogSigmoid.apply(input)


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    return input / (_abs(input) + 1)


def tanhshrink(input: Tensor) -> Tensor:
    """x - tanh(x)."""
    return input - tanh(input)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """a * sigmoid(b) where a, b are the two halves of ``input`` along ``dim``."""
    if input.shape[dim] % 2:
        raise RuntimeError(f"glu: Halving dimension must be even, but dimension {wrap_dim(dim, input.ndim)} "
                           f"is size {input.shape[dim]}")
    a, b = _shape.chunk(input, 2, dim)
    return a * sigmoid(b)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x for x > 0, a * x otherwise, with a learnable slope ``weight`` per channel (dim 1) or shared."""
    if _autocast.active:
        input, weight = _autocast.cast("prelu", input, weight)
    if weight.numel() != 1:
        if input.ndim < 2 or input.shape[1] != weight.numel():
            raise RuntimeError(f"prelu: mismatch of parameter numbers and input channel size. Found "
                               f"parameter numbers = {weight.numel()} and channel size = "
                               f"{input.shape[1] if input.ndim >= 2 else 1}.")
        weight = _shape.reshape(weight, (-1,) + (1,) * (input.ndim - 2))
    elif weight.ndim:
        weight = _shape.reshape(weight, ())
    return where(input > 0, input, weight * input)


# ---- softmax family -------------------------------------------------------------------------

def _softmax_dim(name: str, ndim: int) -> int:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
                  "dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def _row_max(x, dim):
    """The max along ``dim`` (kept); an empty tensor has none, and needs none (its result is empty)."""
    return x.max(axis=dim, keepdims=True) if x.size else x.sum(axis=dim, keepdims=True)


@in_float32_for_bfloat16
class Softmax(Function):
    @staticmethod
    @quiet
    def forward(ctx, x, dim):
        xp = xp_of(x)
        e = xp.exp(x - _row_max(x, dim))  # subtracting the max: exp never overflows
        e /= e.sum(axis=dim, keepdims=True)
        ctx.dim = dim
        ctx.save_for_backward(e)
        return e

    @staticmethod
    def backward(ctx, gy):
        # dy_i/dx_j = y_i (delta_ij - y_j):  gx = y * (gy - sum(gy * y))
        y, = ctx.saved_tensors
        if not GradMode.enabled:  # first order: the same formula on arrays, two temporaries
            yd, g = y._data, gy._data
            gx = g * yd
            gx -= yd * gx.sum(axis=ctx.dim, keepdims=True)
            return make_tensor(gx), None
        return y * (gy - _reduce.sum(gy * y, ctx.dim, keepdim=True)), None


@in_float32_for_bfloat16
class LogSoftmax(Function):
    @staticmethod
    @quiet
    def forward(ctx, x, dim):
        xp = xp_of(x)
        shifted = x - _row_max(x, dim)
        shifted -= xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))  # x - logsumexp(x)
        ctx.dim = dim
        ctx.save_for_backward(shifted)
        return shifted

    @staticmethod
    def backward(ctx, gy):
        # y = x - logsumexp(x):  gx = gy - softmax(x) * sum(gy), softmax = e^y
        y, = ctx.saved_tensors
        if not GradMode.enabled:  # first order: the same formula on arrays
            g = gy._data
            gx = xp_of(g).exp(y._data)
            gx *= g.sum(axis=ctx.dim, keepdims=True)
            return make_tensor(g - gx), None
        return gy - exp(y) * _reduce.sum(gy, ctx.dim, keepdim=True), None


def _prepare(input: Tensor, dim, dtype, name: str):
    if dtype is not None:
        input = input.to(dtype)
    elif input._data.dtype.kind not in "fcV":
        raise RuntimeError(f"{name}: expected a floating-point input, got {input.dtype}")
    if dim is None:
        dim = _softmax_dim(name, input.ndim)
    return input, (wrap_dim(dim, input.ndim, name) if input.ndim else None)


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """exp(x_i) / sum_j exp(x_j) along ``dim`` (the max is subtracted first, so it never overflows).

    Reference implementation: numtorch.nn.textbook.softmax

    >>> import numtorch as torch
    >>> torch.softmax(torch.tensor([1000., 1001.]), dim=0)
    tensor([0.2689, 0.7311])
    """
    if _autocast.active:
        input, = _autocast.cast("softmax", input)
    input, dim = _prepare(input, dim, dtype, "softmax")
    return Softmax.apply(input, dim)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """log(softmax(x)) = x - logsumexp(x), computed without forming softmax (stable, exact backward).

    Reference implementation: numtorch.nn.textbook.log_softmax
    """
    if _autocast.active:
        input, = _autocast.cast("log_softmax", input)
    input, dim = _prepare(input, dim, dtype, "log_softmax")
    return LogSoftmax.apply(input, dim)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """softmax(-x)."""
    input, dim = _prepare(input, dim, dtype, "softmin")
    return Softmax.apply(-input, dim)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out=None) -> Tensor:
    """x / max(||x||_p, eps) along ``dim``."""
    from numtorch.ops.elementwise import clamp_min
    norm = _reduce.norm(input, p, dim, keepdim=True)
    return input / clamp_min(norm, eps)


# ---- similarities ------------------------------------------------------------------------------

def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """x1 . x2 / (max(||x1||, eps) max(||x2||, eps)) along ``dim`` (inputs broadcast first)."""
    from numtorch.ops.elementwise import clamp_min
    x1, x2 = _shape.broadcast_tensors(x1, x2)
    n1 = clamp_min(_reduce.norm(x1, 2, dim, keepdim=True), eps)
    n2 = clamp_min(_reduce.norm(x2, 2, dim, keepdim=True), eps)
    return _reduce.sum((x1 / n1) * (x2 / n2), dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p over the last dim."""
    return _reduce.norm(x1 - x2 + eps, p, -1, keepdim=keepdim)


def gumbel_softmax(logits: Tensor, tau: float = 1.0, hard: bool = False, eps: float = 1e-10,
                   dim: int = -1) -> Tensor:
    """A differentiable sample from the categorical distribution softmax(logits) (Jang et al., 2016).

    With ``hard=True`` the result is one-hot, with the soft sample's gradient (straight-through).
    """
    from numtorch._backend import to_device
    from numtorch.random import rng_of
    g = -np.log(rng_of(None).exponential(1.0, tuple(logits.shape))).astype(logits._data.dtype)  # Gumbel(0, 1)
    gumbels = make_tensor(to_device(g, logits.device))
    y_soft = softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y_soft
    xp = xp_of(y_soft._data)
    d = wrap_dim(dim, y_soft.ndim)
    index = xp.expand_dims(y_soft._data.argmax(axis=d), d)
    positions = xp.arange(y_soft.shape[d]).reshape((-1,) + (1,) * (y_soft.ndim - d - 1))
    y_hard = (positions == index).astype(y_soft._data.dtype)  # one-hot at the argmax
    return make_tensor(y_hard) - y_soft.detach() + y_soft

