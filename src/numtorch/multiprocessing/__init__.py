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
from multiprocessing import *  # noqa: F401,F403 - the whole of multiprocessing, as torch.multiprocessing
from multiprocessing.reduction import ForkingPickler

import numpy as np

from numtorch._shared_memory import (  # noqa: F401  (share_array, is_shared_array: public here)
    _SPANS, _address, _array_in, _attach, _segment_of, is_shared_array, share_array)

__all__ = list(multiprocessing.__all__) + [
    "share_array", "is_shared_array", "spawn", "ProcessExitedException", "ProcessRaisedException",
    "get_sharing_strategy", "set_sharing_strategy", "get_all_sharing_strategies"]

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
                           "transfer the data, call detach() on the tensor before serializing "
                           "(e.g., putting it on the queue).")
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
