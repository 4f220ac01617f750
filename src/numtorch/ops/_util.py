"""Helpers shared by the op families: dims, broadcasting, promotion of operands."""
from __future__ import annotations

import numpy as np

from numtorch import _dtypes
from numtorch._backend import xp_of
from numtorch._errstate import quiet  # noqa: F401  (for the op files)
from numtorch.autograd.grad_mode import GradMode
from numtorch.ops._base import array_sum, reduce_to, sum_to_array, wrap_dim, wrap_dims, write_out  # noqa: F401  (for the op files)
from numtorch.tensor import Tensor, make_tensor

_ndarray = np.ndarray
_BF16_DT = _dtypes.bfloat16.np
_SCALARS = (int, float, bool, complex, np.number, np.bool_)


def as_tensor_operand(x):
    """A NumPy array operand becomes a tensor; tensors and Python numbers pass through."""
    if isinstance(x, Tensor) or isinstance(x, _SCALARS):
        return x
    if isinstance(x, (np.ndarray, list, tuple)) or hasattr(x, "__cuda_array_interface__"):
        from numtorch.creation import as_tensor
        return as_tensor(x)
    raise TypeError(f"unsupported operand type {type(x).__name__} for a numtorch op")


def promote(op: str, a, b, true_div: bool = False):
    """Casts operands to PyTorch's result dtype (Python numbers never widen a tensor)."""
    ca, cb = a.__class__, b.__class__
    if ca is Tensor:  # fast paths: same dtypes, or a float tensor with a Python number
        k = a._data.dtype.kind
        if cb is Tensor:
            if a._data.dtype == b._data.dtype and not (true_div and k in "iub"):
                return a, b
        elif (cb is float and k in "fc") or (cb is int and (k in "fc" or (k in "iu" and not true_div))):
            return a, b
    elif cb is Tensor and (ca is float or ca is int):
        k = b._data.dtype.kind
        if k in "fc" or (ca is int and k in "iu" and not true_div):
            return a, b
    a, b = as_tensor_operand(a), as_tensor_operand(b)
    ops = [(x._data.dtype, x._data.ndim) if isinstance(x, Tensor) else x for x in (a, b)]
    target = _dtypes.promote_types(*ops)
    if true_div and target.kind in "iub":
        target = _dtypes.get_default_dtype().np
    return cast(a, target), cast(b, target)


def cast(x, target):
    """``x`` in NumPy dtype ``target`` (Python numbers stay Python numbers unless they must change kind)."""
    if isinstance(x, Tensor):
        if x._data.dtype == target:
            return x
        from numtorch.ops.convert import to_copy
        return to_copy(x, _dtypes.from_numpy_dtype(target), None, False)
    if isinstance(x, np.generic):  # a NumPy scalar acts as a Python number: it never widens a tensor
        x = x.item()
    if target.kind == "f" and isinstance(x, complex):
        raise RuntimeError(f"result type {target} can't hold a complex number")
    if target.kind in "iu" and isinstance(x, float):
        return x
    return x


def sum_to(g: Tensor, shape):
    """Sums ``g`` down to ``shape``: the backward of broadcasting (``None`` shape: no gradient)."""
    if shape is None:
        return None
    if g._data.shape == shape:  # (both are tuples: shapes come from ndarray.shape)
        return g
    if not GradMode.enabled:  # first order: sum the array directly, nothing to record
        return make_tensor(sum_to_array(g._data, shape))
    from numtorch.ops.shape import SumTo
    return SumTo.apply(g, shape=shape)


def accumulate(ufunc: str, a, axis: int):
    """``np.<ufunc>.accumulate(a, axis)`` for an associative binary ufunc (maximum, minimum, logaddexp).

    CuPy's ufuncs accumulate only ``add`` and ``multiply``; elsewhere this is a log-step scan
    (Hillis-Steele): after the pass with shift k, element i combines elements i-2k+1 .. i, so
    ceil(log2 n) whole-array passes give the running result (the order of combination differs from
    a sequential loop, which only matters to rounding for logaddexp).
    """
    if a.__class__ is _ndarray:
        return getattr(np, ufunc).accumulate(a, axis=axis)
    xp = xp_of(a)
    f = getattr(xp, ufunc)
    out = xp.moveaxis(a, axis, -1).copy()
    n, k = out.shape[-1], 1
    while k < n:
        out[..., k:] = f(out[..., k:], out[..., :-k])  # the right side is a new array: old values only
        k *= 2
    return xp.moveaxis(out, -1, axis)


def shape_of(x):
    """The array shape of an operand (``None`` for a Python number)."""
    return x.shape if x.__class__ is _ndarray or hasattr(x, "shape") else None


def ensure_tensor(x, like: Tensor | None = None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    from numtorch.creation import tensor
    if like is not None and isinstance(x, _SCALARS):
        return tensor(x, dtype=like.dtype, device=like.device)
    return tensor(x)


def same_device(op: str, *tensors) -> None:
    """Raises PyTorch's error when the tensors (``None`` skipped) sit on different devices.

    Ops that hand raw index arrays to ``Function.apply`` call this first, so a CPU index meeting a
    CUDA input is named as such instead of surfacing as the array library's own complaint.  The
    check asks whether each array is a NumPy one (host) or not (device): no transfer, no device call.
    """
    ts = [t for t in tensors if isinstance(t, Tensor)]
    if len(ts) < 2:
        return
    host = isinstance(ts[0]._data, _ndarray)
    for t in ts[1:]:
        if isinstance(t._data, _ndarray) is not host:
            devs = sorted({str(x.device) for x in ts})
            raise RuntimeError(f"{op}: expected all tensors to be on the same device, but found at least "
                               f"two devices, {' and '.join(devs)}! Move them first, e.g. with "
                               f".to(\"{devs[-1]}\")")


# ---- bfloat16 ops computed in float32 ---------------------------------------------------------

_BF16 = _dtypes.bfloat16.np
_F32 = np.dtype(np.float32)


def _round_bf16(out):
    if out.__class__ is tuple:
        return tuple(_round_bf16(o) for o in out)
    return out.astype(_BF16) if getattr(out, "dtype", None) == _F32 else out


def in_float32_for_bfloat16(cls):
    """Class decorator for an op of several steps (softmax, layer_norm, ...): with a bfloat16 first
    input it computes in float32 and rounds its result to bfloat16 once, as PyTorch's CPU kernels
    do (their "opmath" type), instead of rounding after every step.

    Forward sees the bfloat16 array inputs as float32; what it saves for backward stays float32;
    the gradients backward returns are rounded to bfloat16, the dtype of the inputs.
    """
    forward, backward = cls.forward, cls.backward

    def forward_f32(ctx, x, *args, **kwargs):
        if x.__class__ is not _ndarray or x.dtype is not _BF16:
            return forward(ctx, x, *args, **kwargs)
        if ctx.needs_input_grad:
            ctx.bf16 = True
        args = tuple(a.astype(_F32) if a.__class__ is _ndarray and a.dtype is _BF16 else a for a in args)
        out = forward(ctx, x.astype(_F32), *args, **kwargs)
        rounded = _round_bf16(out)
        nd = ctx.__dict__.get("non_differentiable")
        if nd and out.__class__ is tuple:  # the outputs marked non-differentiable are now the rounded ones
            ctx.non_differentiable = tuple(r for o, r in zip(out, rounded) if any(o is a for a in nd))
        return rounded

    def backward_bf16(ctx, *grads):
        gx = backward(ctx, *grads)
        if not ctx.__dict__.get("bf16"):
            return gx
        from numtorch.ops.convert import to_copy
        cast = [to_copy(g, _dtypes.bfloat16) if isinstance(g, Tensor) and g._data.dtype == _F32 else g
                for g in (gx if isinstance(gx, tuple) else (gx,))]
        return tuple(cast) if isinstance(gx, tuple) else cast[0]

    forward_f32.__doc__, backward_bf16.__doc__ = forward.__doc__, backward.__doc__
    cls.forward, cls.backward = staticmethod(forward_f32), staticmethod(backward_bf16)
    return cls


def log1p_exp_neg_abs(x):
    """log(1 + e^-|x|), the bounded part of every softplus-like function (in (0, log 2]):

        softplus(x)   = log(1 + e^x)  = max(x, 0) + log1p(e^-|x|)
        logsigmoid(x) = -softplus(-x) = min(x, 0) - log1p(e^-|x|)

    e^-|x| never overflows, and log1p keeps its small values accurate."""
    xp = xp_of(x)
    return xp.log1p(xp.exp(-xp.abs(x)))


def softmax_in_place(z, axis: int):
    """z <- softmax(z) along ``axis``, in z's own memory (z: a fresh array nobody else reads).

        softmax(z)_i = e^(z_i - max z) / sum_j e^(z_j - max z)    (the shift keeps e^. <= 1)

    The fused attention ops use it; ``Softmax`` itself writes the same three steps out."""
    z -= z.max(axis=axis, keepdims=True)
    xp_of(z).exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z


def first_order_only(op: str) -> None:
    """Raises when a first-order-only backward is asked for a differentiable gradient."""
    if GradMode.enabled:
        raise RuntimeError(f"{op}: double backward (create_graph=True) is not supported; its backward "
                           f"computes on arrays (first-order only)")


_ONES: dict = {}  # (n, dtype) -> a read-only vector of n ones (NumPy); at most _ONES_KEPT entries
_ONES_KEPT = 32


def ones_vector(n: int, dtype):
    """A read-only NumPy vector of n ones, kept for reuse: row or column sums as GEMVs (``a @ ones``),
    which BLAS runs faster than NumPy's reduction along short rows, without making the vector anew
    (``np.ones`` is a Python function: 1.3 us for 10 floats)."""
    v = _ONES.get((n, dtype))
    if v is None:
        if len(_ONES) >= _ONES_KEPT:  # sizes that change from call to call: start again
            _ONES.clear()
        v = np.ones(n, dtype)
        v.flags.writeable = False
        _ONES[(n, dtype)] = v
    return v
