"""``torch.multiprocessing``: Python's :mod:`multiprocessing` plus tensors in shared memory.

Everything of :mod:`multiprocessing` is here (``Process``, ``Queue``, ``Pool``, ``get_context``,
``set_start_method`` ...). What is added is PyTorch's part:

- ``Tensor.share_memory_()`` moves a CPU tensor's data into a POSIX shared-memory segment
  (``multiprocessing.shared_memory``) in place, and ``Module.share_memory()`` does so for all
  parameters and buffers. Processes started with ``fork`` then write to the same pages; so do
  processes started with ``spawn``, which receive such a tensor as the segment's name and map it.
  That is Hogwild training: several processes updating one model without locks.
- A tensor sent to another process (``Process(args=...)``, a ``Queue``) travels as shared memory:
  it is moved there first if needed, and only its name, dtype, shape and strides are sent.
- ``spawn(fn, args, nprocs)`` runs ``fn(i, *args)`` in ``nprocs`` processes.

Sending objects between processes is Python's own pickling of ``multiprocessing``; what a tensor
contributes is the segment's name, never its bytes. Files are another matter: ``numtorch.save``
never pickles.
"""
from __future__ import annotations

import multiprocessing
import os
import weakref
from multiprocessing import *  # noqa: F401,F403 - the whole of multiprocessing, as torch.multiprocessing
from multiprocessing import shared_memory
from multiprocessing.reduction import ForkingPickler

import numpy as np

__all__ = list(multiprocessing.__all__) + [
    "share_array", "is_shared_array", "spawn", "ProcessExitedException", "ProcessRaisedException",
    "get_sharing_strategy", "set_sharing_strategy", "get_all_sharing_strategies"]

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


# ---- tensors between processes -------------------------------------------------------------

def _rebuild_tensor(cls, name, dtype, shape, strides, offset, requires_grad):
    from numtorch.tensor import make_tensor
    segment = _attach(name)
    arr = _array_in(segment, np.dtype(dtype), shape, strides, offset)
    if cls.__name__ == "Parameter":
        return cls(make_tensor(arr), requires_grad=requires_grad)
    t = make_tensor(arr, requires_grad)
    return t if cls is type(t) else t.as_subclass(cls)


def _reduce_tensor(t):
    """How a tensor travels to another process: the name of its shared segment and its layout."""
    if t.grad_fn is not None:
        raise RuntimeError("Cowardly refusing to serialize non-leaf tensor which requires_grad, since "
                           "autograd does not support crossing process boundaries.  If you just want to "
                           "transfer the data, call detach() on the tensor before serializing (e.g., putting "
                           "it on the queue).")
    if t.device.type != "cpu":
        raise RuntimeError(f"numtorch.multiprocessing: only CPU tensors are shared between processes "
                           f"(got {t.device})")
    if not is_shared_array(t._data):
        t.share_memory_()
    arr = t._data
    name = _segment_of(arr)
    offset = _address(arr) - _SPANS[name][0]
    return _rebuild_tensor, (type(t), name, arr.dtype.str, arr.shape, arr.strides, offset, t.requires_grad)


def _register_reductions() -> None:
    from numtorch.nn.parameter import Buffer, Parameter
    from numtorch.tensor import Tensor
    for cls in (Tensor, Parameter, Buffer):
        ForkingPickler.register(cls, _reduce_tensor)


_register_reductions()


# ---- spawn ---------------------------------------------------------------------------------

class ProcessExitedException(Exception):
    """A process started by :func:`spawn` ended with a non-zero exit code."""

    def __init__(self, msg: str, error_index: int, exit_code: int) -> None:
        super().__init__(msg)
        self.error_index, self.exit_code = error_index, exit_code


ProcessRaisedException = ProcessExitedException


class ProcessContext:
    """The processes of :func:`spawn` with ``join=False``; ``join()`` waits for them."""

    def __init__(self, processes: list) -> None:
        self.processes = processes

    def pids(self) -> list:
        return [p.pid for p in self.processes]

    def join(self, timeout=None) -> bool:
        for p in self.processes:
            p.join(timeout)
        for i, p in enumerate(self.processes):
            if p.exitcode not in (0, None):
                raise ProcessExitedException(f"process {i} terminated with exit code {p.exitcode}", i,
                                             p.exitcode)
        return all(p.exitcode is not None for p in self.processes)


def _wrap(fn, i, args):
    fn(i, *args)


def spawn(fn, args=(), nprocs: int = 1, join: bool = True, daemon: bool = False, start_method: str = "spawn"):
    """Runs ``fn(i, *args)`` for ``i`` in ``range(nprocs)``, each in its own process."""
    ctx = multiprocessing.get_context(start_method)
    processes = [ctx.Process(target=_wrap, args=(fn, i, args), daemon=daemon) for i in range(nprocs)]
    for p in processes:
        p.start()
    context = ProcessContext(processes)
    if not join:
        return context
    context.join()
    return None


def start_processes(fn, args=(), nprocs: int = 1, join: bool = True, daemon: bool = False,
                    start_method: str = "spawn"):
    return spawn(fn, args, nprocs, join, daemon, start_method)


# ---- sharing strategies (one here: named shared-memory segments) ---------------------------

def get_all_sharing_strategies() -> set:
    return {"file_system"}


def get_sharing_strategy() -> str:
    return "file_system"


def set_sharing_strategy(new_strategy: str) -> None:
    if new_strategy not in get_all_sharing_strategies():
        raise ValueError(f"numtorch.multiprocessing: unknown sharing strategy {new_strategy!r} "
                         f"(available: {sorted(get_all_sharing_strategies())})")
