"""PyTorch's legacy typed constructors (``torch.FloatTensor([1, 2])``, ``torch.LongTensor(3)``) and
``set_default_device``.

``FloatTensor(data)`` makes a float32 tensor from data (a list, an ndarray or a tensor);
``FloatTensor(2, 3)`` or ``FloatTensor(torch.Size([2, 3]))`` an uninitialised one of that shape.
``isinstance(x, torch.FloatTensor)`` checks the dtype, as in PyTorch.
"""
from __future__ import annotations

from numtorch import _dtypes
from numtorch.creation import empty, tensor
from numtorch.tensor import Size, Tensor

__all__ = ["FloatTensor", "DoubleTensor", "HalfTensor", "BFloat16Tensor", "LongTensor", "IntTensor",
           "ShortTensor", "CharTensor", "BoolTensor", "ByteTensor", "set_default_device",
           "get_default_device"]


class _LegacyTensorType(type):
    """The metaclass of ``FloatTensor`` & co: calling makes a tensor, isinstance checks the dtype."""

    def __call__(cls, *args, device=None):
        if not args:
            return empty(0, dtype=cls.dtype, device=device)
        if all(isinstance(a, int) and not isinstance(a, bool) for a in args):
            return empty(args, dtype=cls.dtype, device=device)
        if len(args) == 1 and isinstance(args[0], Size):
            return empty(tuple(args[0]), dtype=cls.dtype, device=device)
        if len(args) == 1:
            data = args[0]
            if isinstance(data, Tensor):
                return data.to(cls.dtype)
            return tensor(data, dtype=cls.dtype, device=device)
        raise TypeError(f"{cls.__name__}(): expected sizes (ints) or one sequence of data, got "
                        f"{tuple(type(a).__name__ for a in args)}")

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype


def _legacy(name: str, dtype) -> type:
    return _LegacyTensorType(name, (), {"dtype": dtype, "__doc__": f"A {dtype} tensor (legacy constructor)."})


FloatTensor = _legacy("FloatTensor", _dtypes.float32)
DoubleTensor = _legacy("DoubleTensor", _dtypes.float64)
HalfTensor = _legacy("HalfTensor", _dtypes.float16)
BFloat16Tensor = _legacy("BFloat16Tensor", _dtypes.bfloat16)
LongTensor = _legacy("LongTensor", _dtypes.int64)
IntTensor = _legacy("IntTensor", _dtypes.int32)
ShortTensor = _legacy("ShortTensor", _dtypes.int16)
CharTensor = _legacy("CharTensor", _dtypes.int8)
BoolTensor = _legacy("BoolTensor", _dtypes.bool_)
ByteTensor = _legacy("ByteTensor", _dtypes.uint8)


def set_default_device(device) -> None:
    """Accepts "cpu" (or None), numtorch's only default. A GPU default device is not supported yet:
    create tensors with ``device="cuda"`` or move them with ``.to("cuda")``."""
    from numtorch._backend import device as _device
    if device is None or _device(device).type == "cpu":
        return
    raise RuntimeError(f"set_default_device: numtorch supports only 'cpu' as the default device, got "
                       f"'{device}'; create tensors with device='{device}' or move them with .to('{device}')")


def get_default_device():
    """``device('cpu')``."""
    from numtorch._backend import device as _device
    return _device("cpu")
