"""Copies and conversions: ``clone``, ``to(dtype / device)``; both differentiable."""
from __future__ import annotations

from numtorch import _dtypes
from numtorch._backend import device_of, to_device
from numtorch._errstate import quiet
from numtorch.autograd.function import Function
from numtorch.tensor import Tensor

__all__ = ["clone", "to_copy"]


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, gy):
        return gy


def clone(input, *, memory_format=None) -> Tensor:
    """A copy with its own memory (NumPy's ``copy()``); the gradient flows through."""
    return Clone.apply(input)


class ToCopy(Function):
    @staticmethod
    @quiet   # nan or inf to an integer type: PyTorch casts silently (NumPy warns "invalid value")
    def forward(ctx, x, npd, dev, non_blocking=False):
        ctx.src = (x.dtype, device_of(x))
        y = x if dev is None else to_device(x, dev, non_blocking)
        if npd is not None and y.dtype != npd:
            y = _dtypes.astype(y, npd)
        return y.copy() if y is x else y

    @staticmethod
    def backward(ctx, gy):
        src_dtype, src_dev = ctx.src
        return ToCopy.apply(gy, src_dtype, src_dev), None, None, None


def to_copy(input: Tensor, dtype=None, device=None, copy: bool = False, non_blocking: bool = False) -> Tensor:
    """``input`` in ``dtype`` on ``device``; ``input`` itself when nothing changes and not ``copy``."""
    npd = None if dtype is None else _dtypes.to_dtype(dtype).np
    same_dtype = npd is None or input._data.dtype == npd
    same_device = device is None or device_of(input._data) == device
    if same_dtype and same_device and not copy:
        return input
    return ToCopy.apply(input, None if same_dtype else npd, None if same_device else device, non_blocking)
