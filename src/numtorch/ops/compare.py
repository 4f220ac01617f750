"""Comparisons and logic: results are bool tensors and carry no gradient."""
from __future__ import annotations

import numpy as np

from numtorch._backend import xp_of
from numtorch.ops._util import promote, as_tensor_operand, same_device
from numtorch.tensor import Tensor, make_tensor

__all__ = ["eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less", "less_equal",
           "not_equal", "logical_and", "logical_or", "logical_not", "logical_xor", "isnan", "isinf",
           "isfinite", "isposinf", "isneginf", "isreal", "allclose", "isclose", "equal", "bitwise_and",
           "bitwise_or", "bitwise_xor", "bitwise_not", "is_nonzero", "is_tensor", "is_floating_point",
           "is_complex", "numel", "nonzero", "argwhere"]


def _arrays(op, a, b):
    a, b = promote(op, a, b)
    x = a._data if isinstance(a, Tensor) else a
    y = b._data if isinstance(b, Tensor) else b
    return xp_of(x if isinstance(a, Tensor) else y), x, y


def _binary(name, ufunc):
    def op(input, other) -> Tensor:
        if other is None and name in ("eq", "ne"):  # x == None is False, as in PyTorch (not an error)
            return name == "ne"
        xp, x, y = _arrays(name, input, other)
        try:
            return make_tensor(getattr(xp, ufunc)(x, y))
        except (ValueError, TypeError) as e:
            same_device(name, input, other)  # a CPU tensor meeting a GPU one: PyTorch's error naming both
            if isinstance(e, TypeError):
                raise
            raise RuntimeError(f"{name}: the shapes {getattr(x, 'shape', ())} and {getattr(y, 'shape', ())} "
                               f"cannot be broadcast together") from e
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise {ufunc} (a bool tensor; no gradient)."
    return op


eq = _binary("eq", "equal")
ne = not_equal = _binary("ne", "not_equal")
lt = less = _binary("lt", "less")
le = less_equal = _binary("le", "less_equal")
gt = greater = _binary("gt", "greater")
ge = greater_equal = _binary("ge", "greater_equal")
logical_and = _binary("logical_and", "logical_and")
logical_or = _binary("logical_or", "logical_or")
logical_xor = _binary("logical_xor", "logical_xor")
bitwise_and = _binary("bitwise_and", "bitwise_and")
bitwise_or = _binary("bitwise_or", "bitwise_or")
bitwise_xor = _binary("bitwise_xor", "bitwise_xor")


def _unary(name, fn):
    def op(input) -> Tensor:
        x = as_tensor_operand(input)._data
        return make_tensor(fn(xp_of(x), x))
    op.__name__ = op.__qualname__ = name
    return op


logical_not = _unary("logical_not", lambda xp, x: xp.logical_not(x))
isnan = _unary("isnan", lambda xp, x: xp.isnan(x))
isinf = _unary("isinf", lambda xp, x: xp.isinf(x))
isfinite = _unary("isfinite", lambda xp, x: xp.isfinite(x))
isposinf = _unary("isposinf",
                  lambda xp, x: xp.isposinf(x) if x.dtype.kind in "fV" else xp.zeros(x.shape, bool))
isneginf = _unary("isneginf",
                  lambda xp, x: xp.isneginf(x) if x.dtype.kind in "fV" else xp.zeros(x.shape, bool))
isreal = _unary("isreal", lambda xp, x: xp.isreal(x))


def bitwise_not(input) -> Tensor:
    x = input._data
    if x.dtype.kind not in "iub":
        raise TypeError(f"bitwise_not: only integral and bool tensors are supported, got {input.dtype}")
    return make_tensor(xp_of(x).invert(x))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> Tensor:
    """|input - other| <= atol + rtol * |other|, elementwise."""
    same_device("isclose", input, other)
    xp, x, y = _arrays("isclose", input, other)
    return make_tensor(xp.isclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    return bool(isclose(input, other, rtol, atol, equal_nan).all())


def equal(input, other) -> bool:
    """True if both tensors have the same shape and elements."""
    same_device("equal", input, other)
    if tuple(input.shape) != tuple(other.shape):
        return False
    return bool(xp_of(input._data).array_equal(input._data, other._data))


def is_nonzero(input) -> bool:
    if input.numel() != 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(input.item())


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def is_floating_point(input) -> bool:
    return input._data.dtype.kind in "fV"


def is_complex(input) -> bool:
    return input._data.dtype.kind == "c"


def numel(input) -> int:
    return int(input._data.size)


def nonzero(input, *, as_tuple: bool = False):
    x = input._data
    idx = xp_of(x).nonzero(x)
    if as_tuple:
        return tuple(make_tensor(i) for i in idx)
    return make_tensor(xp_of(x).stack(idx, axis=1) if idx else xp_of(x).zeros((0, 0), dtype=np.int64))


def argwhere(input) -> Tensor:
    return nonzero(input)
