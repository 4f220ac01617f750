"""dtypes: numtorch's names for NumPy's element types, and PyTorch's promotion rules.

A ``numtorch.dtype`` wraps a NumPy dtype.  float32 is the default floating type, as in
PyTorch; Python numbers never widen a tensor (``float32 tensor * 2.5`` stays float32).

bfloat16 (8 exponent bits like float32, 7 mantissa bits) is not a NumPy type: it is
``ml_dtypes.bfloat16``, a NumPy dtype whose ufuncs compute in float32 and round the result to
nearest-even, which is what PyTorch's CPU does for bfloat16 elementwise ops.  NumPy files it
under kind ``"V"``; ``kind()`` below reports it as ``"f"``, the kind it behaves as.
"""
from __future__ import annotations

import builtins

import ml_dtypes
import numpy as np

_BF16 = np.dtype(ml_dtypes.bfloat16)
_F32 = np.dtype(np.float32)


def kind(npd) -> str:
    """NumPy's kind letter of ``npd``, with bfloat16 as ``"f"`` (NumPy says ``"V"``)."""
    k = npd.kind
    return "f" if k == "V" and npd == _BF16 else k


def matmul(a, b):
    """``a @ b``; with bfloat16 operands, as PyTorch's CPU: the product in float32, rounded once.

    The operands widen exactly to float32 (``_bf16_to_f32``), float32 BLAS multiplies them, and the
    result rounds to nearest-even bfloat16.  Other dtypes: plain ``a @ b``.
    """
    if a.dtype is _BF16 or b.dtype is _BF16:
        return (widen(a) @ widen(b)).astype(_BF16)
    return a @ b


def widen(a):
    """A bfloat16 array as float32 (exactly); any other array unchanged."""
    return _bf16_to_f32(a) if a.dtype is _BF16 else a


def with_scalar(ufunc, a, s):
    """``ufunc(a, s)`` for a bfloat16 array ``a`` and a Python number ``s``, as PyTorch computes it:
    ``s`` is held in float32 (not first rounded to bfloat16), the result rounded once."""
    return ufunc(a, np.float32(s), dtype=_F32).astype(_BF16)


def _bf16_to_f32(a: np.ndarray) -> np.ndarray:
    """bfloat16 -> float32, exactly: a bfloat16 is the upper 16 bits of a float32 (about 10x
    faster than ml_dtypes' element-by-element cast)."""
    return (a.view(np.uint16).astype(np.uint32) << 16).view(np.float32)


def astype(a, npd, copy: bool = True):
    """``a.astype(npd)``; to bfloat16 through float32, as PyTorch converts.

    PyTorch casts float64 and integers to float32 first, then rounds float32 to bfloat16
    (nearest-even): two roundings, which can differ from one direct rounding in a tie.
    """
    if npd != _BF16:
        if a.dtype == _BF16 and npd == _F32 and a.__class__ is np.ndarray:
            return _bf16_to_f32(a)
        return a.astype(npd, copy=copy)
    # overflow to inf and NaN are values here, as in PyTorch
    with np.errstate(over="ignore", invalid="ignore"):
        if a.dtype != _F32 and a.dtype != _BF16:
            a = a.astype(_F32)
        return a.astype(npd, copy=copy)


class dtype:
    """An element type: ``numtorch.float32``, ``numtorch.int64``, ``numtorch.bool`` ..."""

    __slots__ = ("name", "np", "is_floating_point", "is_complex", "is_signed", "itemsize")

    def __init__(self, name: str, np_dtype) -> None:
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = kind(self.np) == "f"
        self.is_complex = self.np.kind == "c"
        self.is_signed = kind(self.np) in "fic"
        self.itemsize = self.np.itemsize

    def __repr__(self) -> str:
        return "numtorch." + self.name

    def __reduce__(self):
        return (_by_name, (self.name,))

    def to_real(self) -> "dtype":
        return {complex64: float32, complex128: float64}.get(self, self)


float16 = dtype("float16", np.float16)
float32 = dtype("float32", np.float32)
float64 = dtype("float64", np.float64)
bfloat16 = dtype("bfloat16", ml_dtypes.bfloat16)
complex64 = dtype("complex64", np.complex64)
complex128 = dtype("complex128", np.complex128)
uint8 = dtype("uint8", np.uint8)
int8 = dtype("int8", np.int8)
int16 = dtype("int16", np.int16)
int32 = dtype("int32", np.int32)
int64 = dtype("int64", np.int64)
bool_ = dtype("bool", np.bool_)

ALL = (float16, bfloat16, float32, float64, complex64, complex128, uint8, int8, int16, int32, int64, bool_)
_FROM_NP = {d.np: d for d in ALL}
_NAMES = {d.name: d for d in ALL}


def _by_name(name: str) -> dtype:
    return _NAMES[name]


class _Default:
    """The default floating dtype (``set_default_dtype``); float32 unless changed."""

    float = float32


def get_default_dtype() -> dtype:
    return _Default.float


def set_default_dtype(d) -> None:
    d = to_dtype(d)
    if d not in (float16, bfloat16, float32, float64):
        raise TypeError(f"set_default_dtype: only floating-point types are supported as the default type, "
                        f"got {d}")
    _Default.float = d


def from_numpy_dtype(npd) -> dtype:
    try:
        return _FROM_NP[npd]
    except KeyError:
        raise TypeError(f"numtorch has no dtype for NumPy's {npd}") from None


def to_dtype(d) -> dtype:
    """Accepts a numtorch dtype, a NumPy dtype or type, a Python type or a name."""
    if d.__class__ is dtype:
        return d
    if d is builtins.float:
        return float64
    if d is builtins.int:
        return int64
    if d is builtins.bool:
        return bool_
    if d is builtins.complex:
        return complex128
    if isinstance(d, str):
        if d in _NAMES:
            return _NAMES[d]
        d = d.replace("torch.", "").replace("numtorch.", "")
        if d in _NAMES:
            return _NAMES[d]
    try:
        return _FROM_NP[np.dtype(d)]
    except (TypeError, KeyError):
        raise TypeError(f"not a numtorch dtype: {d!r}") from None


def np_dtype(d):
    """The NumPy dtype for ``d`` (None stays None)."""
    return None if d is None else to_dtype(d).np


class finfo:
    """Machine limits of a floating dtype, like ``torch.finfo``."""

    def __init__(self, type=None) -> None:
        d = get_default_dtype() if type is None else to_dtype(type)
        if not (d.is_floating_point or d.is_complex):
            raise TypeError(f"finfo: {d} is not a floating point dtype")
        fi = ml_dtypes.finfo(d.np) if d is bfloat16 else np.finfo(d.np)
        self.dtype = d.name
        self.bits = fi.bits
        self.eps = float(fi.eps)
        self.max = float(fi.max)
        self.min = float(fi.min)
        self.tiny = self.smallest_normal = float(fi.smallest_normal)
        self.resolution = 10.0 ** -fi.precision  # as PyTorch (NumPy's is rounded to the dtype)

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution}, min={self.min}, max={self.max}, eps={self.eps}, "
                f"tiny={self.tiny}, dtype={self.dtype})")


class iinfo:
    """Machine limits of an integer dtype, like ``torch.iinfo``."""

    def __init__(self, type) -> None:
        d = to_dtype(type)
        if d.is_floating_point or d.is_complex:
            raise TypeError(f"iinfo: {d} is not an integer dtype")
        ii = np.iinfo(d.np) if d is not bool_ else None
        self.dtype = d.name
        self.bits = 8 if ii is None else ii.bits
        self.max = 1 if ii is None else int(ii.max)
        self.min = 0 if ii is None else int(ii.min)

    def __repr__(self) -> str:
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"


# ---- PyTorch's type promotion -------------------------------------------------
# Category order: bool < integer < floating < complex.  Within a category, tensors
# with dimensions outrank zero-dimensional tensors, which outrank Python numbers.

def _category(npd) -> int:
    return {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}[kind(npd)]


def _scalar_category(v) -> int:
    if isinstance(v, (builtins.bool, np.bool_)):
        return 0
    if isinstance(v, (builtins.int, np.integer)):
        return 1
    if isinstance(v, (builtins.float, np.floating)):
        return 2
    return 3


def _default_for(cat: int):
    return (np.dtype(np.bool_), np.dtype(np.int64), _Default.float.np,
            np.dtype(np.complex64) if _Default.float is float32 else np.dtype(np.complex128))[cat]


def promote_types(*operands):
    """The NumPy dtype PyTorch gives ``op(*operands)``.

    Each operand is ``(np_dtype, ndim)`` for a tensor or a Python number.
    """
    dims, zero_dims, scalars = [], [], []
    for o in operands:
        if o.__class__ is tuple:
            (dims if o[1] > 0 else zero_dims).append(o[0])
        else:
            scalars.append(_scalar_category(o))
    result = None
    cat = -1
    for group in (dims, zero_dims):
        if not group:
            continue
        gcat = max(_category(d) for d in group)
        g = np.result_type(*[d for d in group if _category(d) == gcat])
        if result is None:
            result, cat = g, gcat
        elif gcat > cat:
            result, cat = g, gcat
    for s in scalars:
        if s > cat:
            result, cat = _default_for(s), s
    return result
