"""``numtorch.cuda``: NVIDIA GPUs through CuPy (``pip install numtorch[gpu]``).

Availability is decided by ``cupy.cuda.is_available()``, not by whether CuPy imports: on a
machine without a GPU CuPy may import fine while no device exists.
"""
from __future__ import annotations

from numtorch import _backend


def is_available() -> bool:
    return _backend.cuda_is_available()


def device_count() -> int:
    if not is_available():
        return 0
    return _backend.cupy_module().cuda.runtime.getDeviceCount()


def current_device() -> int:
    return _backend.cuda_current_device()


def set_device(device) -> None:
    idx = device if isinstance(device, int) else _backend.device(device).index or 0
    cp = _backend.cupy_module()
    cp.cuda.Device(idx).use()
    _backend._Cuda.current = idx


class device:
    """Context manager that makes a GPU current: ``with numtorch.cuda.device(1): ...``."""

    def __init__(self, device) -> None:
        self.idx = device if isinstance(device, int) else (_backend.device(device).index or 0)

    def __enter__(self):
        self.prev = current_device()
        set_device(self.idx)
        return self

    def __exit__(self, *exc) -> bool:
        set_device(self.prev)
        return False


def synchronize(device=None) -> None:
    if is_available():
        _backend.cupy_module().cuda.Device(current_device() if device is None else device).synchronize()


def manual_seed(seed: int) -> None:
    """Random numbers are drawn on the CPU and copied, so this is the same as numtorch.manual_seed."""
    from numtorch.random import manual_seed as _seed
    _seed(seed)


manual_seed_all = manual_seed


def _pool():
    return _backend.cupy_module().get_default_memory_pool()


def memory_allocated(device=None) -> int:
    return int(_pool().used_bytes()) if is_available() else 0


def memory_reserved(device=None) -> int:
    return int(_pool().total_bytes()) if is_available() else 0


class _Peak:
    value = 0


def max_memory_allocated(device=None) -> int:
    """The largest ``memory_allocated()`` seen by this function and ``reset_peak_memory_stats`` --
    sampled when they are called, not tracked at every allocation as PyTorch's caching allocator
    does (a CuPy memory hook on every allocation would slow every op)."""
    _Peak.value = max(_Peak.value, memory_allocated(device))
    return _Peak.value


def reset_peak_memory_stats(device=None) -> None:
    _Peak.value = memory_allocated(device)


def empty_cache() -> None:
    if is_available():
        _pool().free_all_blocks()


def get_device_name(device=None) -> str:
    cp = _backend.cupy_module()
    idx = current_device() if device is None else device
    return cp.cuda.runtime.getDeviceProperties(idx)["name"].decode()
