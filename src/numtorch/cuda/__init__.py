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


def is_initialized() -> bool:
    return _backend._Cuda.cupy is not None


def get_device_capability(device=None) -> tuple[int, int]:
    p = get_device_properties(device)
    return p.major, p.minor


class _DeviceProperties:
    """What ``torch.cuda.get_device_properties`` gives: name, total_memory, major, minor,
    multi_processor_count."""

    def __init__(self, props: dict) -> None:
        name = props.get("name", b"")
        self.name = name.decode() if isinstance(name, bytes) else str(name)
        self.total_memory = int(props.get("totalGlobalMem", 0))
        self.major, self.minor = int(props.get("major", 0)), int(props.get("minor", 0))
        self.multi_processor_count = int(props.get("multiProcessorCount", 0))

    def __repr__(self) -> str:
        return (f"_CudaDeviceProperties(name='{self.name}', major={self.major}, minor={self.minor}, "
                f"total_memory={self.total_memory // 2 ** 20}MB, "
                f"multi_processor_count={self.multi_processor_count})")


def get_device_properties(device=None) -> _DeviceProperties:
    cp = _backend.cupy_module()
    idx = current_device() if device is None else (device if isinstance(device, int)
                                                   else _backend.device(device).index or 0)
    return _DeviceProperties(cp.cuda.runtime.getDeviceProperties(idx))


def mem_get_info(device=None) -> tuple[int, int]:
    """(free bytes, total bytes) on the GPU, as CUDA reports them."""
    cp = _backend.cupy_module()
    with cp.cuda.Device(current_device() if device is None else device):
        free, total = cp.cuda.runtime.memGetInfo()
    return int(free), int(total)


def max_memory_reserved(device=None) -> int:
    return memory_reserved(device)


# ---- streams and events (for timing GPU work, as in PyTorch) ----------------------------------

class Stream:
    """A CUDA stream: a queue of GPU work. ``with numtorch.cuda.stream(s):`` queues work on ``s``."""

    def __init__(self, device=None, priority: int = 0, *, _cupy_stream=None) -> None:
        self._stream = _cupy_stream if _cupy_stream is not None else \
            _backend.cupy_module().cuda.Stream(non_blocking=True)

    def synchronize(self) -> None:
        self._stream.synchronize()

    def query(self) -> bool:
        return bool(self._stream.done)

    def wait_event(self, event: "Event") -> None:
        self._stream.wait_event(event._event)

    def wait_stream(self, other: "Stream") -> None:
        self.wait_event(other.record_event())

    def record_event(self, event: "Event | None" = None) -> "Event":
        event = Event() if event is None else event
        event.record(self)
        return event

    def __enter__(self):
        self._outer = _backend.cupy_module().cuda.get_current_stream()
        self._stream.use()
        return self

    def __exit__(self, *exc) -> bool:
        self._outer.use()
        return False


def current_stream(device=None) -> Stream:
    return Stream(_cupy_stream=_backend.cupy_module().cuda.get_current_stream())


def stream(s: Stream | None):
    """``with numtorch.cuda.stream(s):`` -- queue the block's GPU work on ``s`` (None: no change)."""
    return s if s is not None else _backend._NULL_CONTEXT


class Event:
    """A marker in a stream; two timed events measure the GPU time between them:

    >>> start, end = Event(enable_timing=True), Event(enable_timing=True)  # doctest: +SKIP
    >>> start.record(); work(); end.record(); end.synchronize()             # doctest: +SKIP
    >>> start.elapsed_time(end)  # milliseconds                             # doctest: +SKIP
    """

    def __init__(self, enable_timing: bool = False, blocking: bool = False,
                 interprocess: bool = False) -> None:
        self._event = _backend.cupy_module().cuda.Event(block=blocking, disable_timing=not enable_timing,
                                                        interprocess=interprocess)

    def record(self, stream: Stream | None = None) -> None:
        self._event.record(None if stream is None else stream._stream)

    def synchronize(self) -> None:
        self._event.synchronize()

    def query(self) -> bool:
        return bool(self._event.done)

    def wait(self, stream: Stream | None = None) -> None:
        (current_stream() if stream is None else stream).wait_event(self)

    def elapsed_time(self, end_event: "Event") -> float:
        """Milliseconds between this event and ``end_event`` (both recorded, both timed)."""
        return float(_backend.cupy_module().cuda.get_elapsed_time(self._event, end_event._event))
