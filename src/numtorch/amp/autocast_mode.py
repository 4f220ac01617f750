"""``autocast``: mixed precision regions, as ``torch.autocast`` / ``torch.amp.autocast``.

Inside ``with autocast("cpu"):`` matrix products, convolutions and linear layers run in bfloat16
(their inputs cast on the way in), losses run in float32, and everything else runs in the dtypes
it meets; the casts are differentiable, so float32 parameters get float32 gradients.  The op
lists and the casting live in ``numtorch.ops._autocast``; this file is the user's API.

>>> import numtorch as torch
>>> x, w = torch.randn(4, 3), torch.randn(2, 3)
>>> with torch.autocast("cpu"):
...     y = torch.nn.functional.linear(x, w)
>>> y.dtype
numtorch.bfloat16
"""
from __future__ import annotations

import functools
import warnings

from numtorch import _dtypes
from numtorch import _backend
from numtorch.ops import _autocast

__all__ = ["autocast", "is_autocast_available", "custom_fwd", "custom_bwd"]

_DEVICES = ("cpu", "cuda")
_LOWER_DTYPES = (_dtypes.bfloat16, _dtypes.float16)


def is_autocast_available(device_type: str) -> bool:
    """Whether autocast knows ``device_type`` ("cpu" and "cuda" here)."""
    return device_type in _DEVICES


def _check_device(device_type) -> str:
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if device_type not in _DEVICES:
        raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}'")
    return device_type


class autocast:
    """A region (context manager or decorator) where ops run in mixed precision.

    Args:
        device_type: "cpu" or "cuda": which tensors' ops are cast.
        dtype: the lower precision: bfloat16 (the CPU's default) or float16 (CUDA's default).
        enabled: False makes the region an exact no-op.
        cache_enabled: accepted for compatibility (each op casts its inputs; nothing is cached).
    """

    def __init__(self, device_type: str, dtype=None, enabled: bool = True, cache_enabled: bool | None = None):
        self.device = _check_device(device_type)
        self.fast_dtype = _autocast.state.dtype[self.device] if dtype is None else _dtypes.to_dtype(dtype)
        self._cache_enabled = _autocast.state.cache_enabled if cache_enabled is None else bool(cache_enabled)
        self._enabled = bool(enabled) and self._usable()
        self._prev: list[tuple] = []

    def _usable(self) -> bool:
        """PyTorch's checks: a supported dtype, and for CUDA a GPU (otherwise: a warning, disabled)."""
        if self.device == "cuda" and not _backend.cuda_is_available():
            warnings.warn("CUDA is not available. Disabling autocast.", stacklevel=3)
            return False
        if self.device == "cuda" and self.fast_dtype is _dtypes.bfloat16:
            raise RuntimeError("autocast('cuda', dtype=numtorch.bfloat16): CuPy has no bfloat16, so "
                               "numtorch's bfloat16 tensors live on the CPU; "
                               "use dtype=numtorch.float16 on a GPU")
        if self.fast_dtype not in _LOWER_DTYPES:
            name = "CPU" if self.device == "cpu" else "CUDA"
            warnings.warn(f"In {name} autocast, but the target dtype is not supported. Disabling autocast.\n"
                          f"{name} Autocast only supports dtypes of numtorch.bfloat16, "
                          "numtorch.float16 currently.",
                          stacklevel=3)
            return False
        return True

    def __enter__(self) -> "autocast":
        self._prev.append(_autocast.enter(self.device, self._enabled, self.fast_dtype, self._cache_enabled))
        return self

    def __exit__(self, *exc) -> bool:
        _autocast.leave(self.device, self._prev.pop())
        return False

    def __call__(self, func):
        """As a decorator: ``func`` runs inside this region."""
        @functools.wraps(func)
        def decorate_autocast(*args, **kwargs):
            with self:
                return func(*args, **kwargs)
        return decorate_autocast

    def __repr__(self) -> str:
        return f"autocast(device_type={self.device!r}, dtype={self.fast_dtype}, enabled={self._enabled})"


# ---- the state, as torch's functions read and set it ------------------------------------------

def is_autocast_enabled(device_type: str | None = None) -> bool:
    """Whether autocast is on for ``device_type`` (default "cuda", as PyTorch) in this thread."""
    return _autocast.state.enabled[_check_device("cuda" if device_type is None else device_type)]


def set_autocast_enabled(device_type, enabled=None) -> None:
    """``set_autocast_enabled(device_type, enabled)``; the old one-argument form means CUDA."""
    if enabled is None:
        device_type, enabled = "cuda", device_type
    _autocast.set_enabled(_check_device(device_type), enabled)


def get_autocast_dtype(device_type: str):
    """The lower-precision dtype autocast uses for ``device_type``."""
    return _autocast.state.dtype[_check_device(device_type)]


def set_autocast_dtype(device_type: str, dtype) -> None:
    _autocast.state.dtype[_check_device(device_type)] = _dtypes.to_dtype(dtype)


def is_autocast_cpu_enabled() -> bool:
    return is_autocast_enabled("cpu")


def get_autocast_cpu_dtype():
    return get_autocast_dtype("cpu")


def get_autocast_gpu_dtype():
    return get_autocast_dtype("cuda")


def is_autocast_cache_enabled() -> bool:
    return _autocast.state.cache_enabled


def set_autocast_cache_enabled(enabled: bool) -> None:
    _autocast.state.cache_enabled = bool(enabled)


def clear_autocast_cache() -> None:
    """Nothing to clear: numtorch's autocast casts per op and keeps no cache."""


# ---- custom autograd Functions ----------------------------------------------------------------

def custom_fwd(fwd=None, *, device_type: str, cast_inputs=None):
    """Decorator for a custom ``Function.forward``: with ``cast_inputs``, inside an enabled region
    the floating tensors are cast to it and forward runs with autocast off."""
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)
    _check_device(device_type)

    @functools.wraps(fwd)
    def decorate_fwd(*args, **kwargs):
        if cast_inputs is None or not is_autocast_enabled(device_type):
            return fwd(*args, **kwargs)
        target = _dtypes.to_dtype(cast_inputs)
        args = tuple(_autocast._cast_one(a, target) for a in args)
        kwargs = {k: _autocast._cast_one(v, target) for k, v in kwargs.items()}
        with autocast(device_type, enabled=False):
            return fwd(*args, **kwargs)
    return decorate_fwd


def custom_bwd(bwd=None, *, device_type: str):
    """Decorator for a custom ``Function.backward`` (backward runs in the autocast state it is called in)."""
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)
    _check_device(device_type)
    return bwd
