"""CPU arrays in POSIX shared-memory segments: what ``Tensor.share_memory_()`` and
``numtorch.multiprocessing`` build on (array level, below ``Tensor``)."""
from __future__ import annotations

import os
import weakref
from multiprocessing import shared_memory

import numpy as np

_SEGMENTS: dict[str, shared_memory.SharedMemory] = {}  # name -> segment this process maps
_SPANS: dict[str, tuple[int, int]] = {}                   # name -> (first address, end address)


def _address(arr: np.ndarray) -> int:
    return arr.__array_interface__["data"][0]


def _segment_of(arr: np.ndarray):
    """The name of the shared-memory segment ``arr``'s data lies in, or None."""
    if not isinstance(arr, np.ndarray) or arr.size == 0 and arr.base is None:
        return None
    a = _address(arr)
    return next((name for name, (lo, hi) in _SPANS.items() if lo <= a < hi), None)


def _array_in(segment: shared_memory.SharedMemory, dtype, shape, strides=None, offset: int = 0) -> np.ndarray:
    """An ndarray over the segment's bytes (no copy)."""
    if segment.name not in _SPANS:
        lo = _address(np.frombuffer(segment.buf, dtype=np.uint8))
        _SPANS[segment.name] = (lo, lo + segment.size)
    return np.ndarray(shape, dtype=dtype, buffer=segment.buf, offset=offset, strides=strides)


def _unlink_when_done(name: str, pid: int) -> None:
    """Removes the segment's name when the creating process drops its array or exits; the pages
    stay mapped in every process that still uses them."""
    segment = _SEGMENTS.get(name)
    if os.getpid() == pid and segment is not None:
        try:
            segment.unlink()
        except FileNotFoundError:
            pass


def share_array(arr: np.ndarray) -> np.ndarray:
    """``arr``'s values in a new shared-memory array of the same shape and dtype (C order)."""
    segment = shared_memory.SharedMemory(create=True, size=max(arr.nbytes, 1))
    _SEGMENTS[segment.name] = segment
    out = _array_in(segment, arr.dtype, arr.shape)
    out[...] = arr
    weakref.finalize(out, _unlink_when_done, segment.name, os.getpid())
    return out


def is_shared_array(arr) -> bool:
    """Whether ``arr``'s data lies in a shared-memory segment of :func:`share_array`."""
    return _segment_of(arr) is not None


def _attach(name: str) -> shared_memory.SharedMemory:
    """Maps the segment ``name`` (once per process). The child registers it with the resource tracker
    it shares with its parent, which already holds the name: nothing is removed until the creator unlinks
    it."""
    segment = _SEGMENTS.get(name)
    if segment is None:
        segment = _SEGMENTS[name] = shared_memory.SharedMemory(name=name)
    return segment
