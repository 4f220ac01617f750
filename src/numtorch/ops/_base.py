"""Helpers below every op family: dims, the sum of a broadcast array, ``out=``. They call no op, so the
modules that define the most basic ops (``shape``) can use them; ``ops._util`` re-exports them."""
from __future__ import annotations

import numpy as np

from numtorch import _dtypes
from numtorch._grad_mode import GradMode
from numtorch.tensor import Tensor

_BF16_DT = _dtypes.bfloat16.np
_ndarray = np.ndarray
_add_reduce = np.add.reduce


def wrap_dim(dim: int, ndim: int, op: str = "op") -> int:
    """A dim in ``[-ndim, ndim)`` as a non-negative index (0-d tensors accept 0 and -1)."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    return dim % n


def wrap_dims(dim, ndim: int, op: str = "op") -> tuple:
    """``dim`` (None, int or a sequence) as a sorted tuple of non-negative dims."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (int, np.integer)):
        return (wrap_dim(int(dim), ndim, op),) if ndim else ()
    dims = tuple(sorted(wrap_dim(int(d), ndim, op) for d in dim))
    if len(set(dims)) != len(dims):
        raise RuntimeError(f"{op}: dim {list(dim)} appears multiple times in the list of dims")
    return dims


def array_sum(a, axis, dtype=None, keepdims: bool = False):
    """``a.sum(axis, dtype, keepdims=keepdims)``; for a NumPy array straight through ``np.add.reduce``,
    which ``ndarray.sum`` reaches through a Python function of NumPy's (a small sum costs half as much)."""
    if a.__class__ is _ndarray:
        return _add_reduce(a, axis, dtype, None, keepdims)
    return a.sum(axis=axis, dtype=dtype, keepdims=keepdims)


def sum_to_array(a, shape: tuple):
    """Sums array ``a`` down to ``shape`` (leading dims, and dims where ``shape`` has 1)."""
    if a.dtype is _BF16_DT:  # bfloat16 sums accumulate in float32 (NumPy's would in bfloat16), rounded once
        return sum_to_array(_dtypes.widen(a), shape).astype(_BF16_DT)
    lead = a.ndim - len(shape)
    if shape and 1 not in shape:  # the common case: broadcasting only added leading dims
        return array_sum(a, tuple(range(lead))) if lead else a
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape)
                                      if s == 1 and a.shape[i + lead] != 1)
    y = array_sum(a, axes, keepdims=True) if axes else a
    return y.reshape(shape) if lead else y


def reduce_to(a, shape):
    """``a`` summed down to ``shape`` (the backward of broadcasting, on arrays); None for no shape."""
    if shape is None:
        return None
    return a if a.shape == shape else sum_to_array(a, shape)


def write_out(result: Tensor, out: Tensor, op: str) -> Tensor:
    """PyTorch's ``out=``: ``result`` written into ``out`` (resized if its shape differs); not
    differentiable."""
    if GradMode.enabled and (result.requires_grad or out.requires_grad):
        raise RuntimeError(f"{op}(): functions with out=... arguments don't support automatic "
                           "differentiation, but one of the arguments requires grad.")
    if out._data.dtype.kind in "iub" and result._data.dtype.kind in "fcV":
        raise RuntimeError(f"{op}(): result type {result.dtype} can't be cast to the desired output type "
                           f"{out.dtype}")
    if out._data.shape == result._data.shape:
        out._data[...] = result._data
    else:
        out._data = result._data.astype(out._data.dtype)
    out._bump_version()
    return out
