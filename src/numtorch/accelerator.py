"""``torch.accelerator``: the device-neutral view of the accelerator, which for numtorch is CUDA (CuPy).

>>> import numtorch as torch
>>> device = (torch.accelerator.current_accelerator() if torch.accelerator.is_available()
...           else torch.device("cpu"))
"""
from __future__ import annotations

from numtorch import cuda
from numtorch._backend import device as _device

__all__ = ["is_available", "current_accelerator", "device_count", "current_device_index", "set_device_index",
           "synchronize", "device_index"]


def is_available() -> bool:
    """Whether an accelerator (an NVIDIA GPU with CuPy) can be used."""
    return cuda.is_available()


def current_accelerator(check_available: bool = False):
    """``device("cuda")`` where CUDA exists (with ``check_available``: only if usable), else None."""
    if check_available and not is_available():
        return None
    return _device("cuda") if is_available() else None


def device_count() -> int:
    return cuda.device_count() if is_available() else 0


def current_device_index() -> int:
    return cuda.current_device() if is_available() else -1


def set_device_index(device) -> None:
    cuda.set_device(device)


set_device_idx = set_device_index
current_device_idx = current_device_index


def synchronize(device=None) -> None:
    """Waits for the accelerator's queued work (nothing to wait for without one)."""
    if is_available():
        cuda.synchronize(device)


class device_index:
    """``with torch.accelerator.device_index(i):`` runs the block on accelerator ``i``."""

    def __init__(self, device, /) -> None:
        self._ctx = cuda.device(device) if device is not None and is_available() else None

    def __enter__(self):
        if self._ctx is not None:
            self._ctx.__enter__()
        return self

    def __exit__(self, *exc) -> bool:
        return bool(self._ctx is not None and self._ctx.__exit__(*exc))
