"""DataLoader worker processes: ``DataLoader(num_workers=N)`` loads batches in N other processes.

PyTorch's design, kept: the main process sends each worker ``(batch number, indices)`` on the
worker's own index queue, round-robin, at most ``prefetch_factor * num_workers`` batches ahead;
a worker fetches the samples, collates them, and puts ``(batch number, batch)`` on the one result
queue the workers share; the main process hands the batches out in batch-number order.

Processes, not threads: a per-sample augmentation written in Python holds the GIL, so threads
would take turns (NumPy releases the GIL only inside its larger array operations).  Linux forks
the workers (the dataset is shared copy-on-write, nothing is pickled) unless CuPy has been used
in this process -- a CUDA context does not survive ``fork`` -- in which case, and on other
systems, they are spawned (the dataset, ``collate_fn`` and ``worker_init_fn`` are then pickled to
them, so they must be importable).

How a batch travels: the worker pickles it (``_BatchPickler``), and every array of at least
``SHM_MIN_BYTES`` (the data of tensors and NumPy arrays) goes through a shared-memory file in
``/dev/shm`` instead of the pipe: the worker writes the array there once, the main process maps the
file and unlinks it at once (the memory lives as long as the array does).  The main process turns
the tensors back into numtorch Tensors.  Pickle is used only between the loader and its own
worker processes, never for files.

Each worker seeds ``random``, NumPy's global generator and numtorch's default generator from
``base_seed + worker_id`` (NumPy's from PyTorch's ``_generate_state``), as PyTorch's workers do;
``base_seed`` is drawn from the loader's ``generator`` (or numtorch's default one) every epoch.
"""
from __future__ import annotations

import io
import itertools
import mmap
import multiprocessing
import os
import queue
import random
import sys
import traceback
import uuid
import warnings
from dataclasses import dataclass
from typing import Any
from multiprocessing.reduction import ForkingPickler

import numpy as np

from numtorch.tensor import Tensor, make_tensor
from numtorch.random import manual_seed

SHM_DIR = "/dev/shm"
SHM_MIN_BYTES = 1 << 16          # smaller arrays travel inside the pickle
STATUS_CHECK_INTERVAL = 5.0      # seconds between the main process's checks that workers live
POLL_S = 0.1                     # a worker looks this often whether it should stop (done_event)

__all__ = ["WorkerInfo", "get_worker_info"]


# ---- worker info -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker (read-only, PyTorch's fields): ``id``,
    ``num_workers``, ``seed`` (``base_seed + id``), ``dataset`` (this worker's copy), ``rng`` (None)
    and ``worker_method`` ("multiprocessing")."""

    id: int
    num_workers: int
    seed: int
    dataset: Any
    rng: Any = None
    worker_method: str | None = "multiprocessing"


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """This worker's ``WorkerInfo`` in a DataLoader worker process; ``None`` in the main process.

    An ``IterableDataset`` uses it to give each worker its own share of the stream::

        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
    """
    return _worker_info


# ---- seeds ---------------------------------------------------------------------------------------
def _generate_state(base_seed: int, worker_id: int) -> list[int]:
    """The four 32-bit words PyTorch seeds a worker's NumPy generator with (SeedSequence's hash
    of ``[worker_id, base_seed low, base_seed high, 0]``), so NumPy draws in workers match PyTorch's."""
    INIT_A, MULT_A, INIT_B, MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
    MIX_MULT_L, MIX_MULT_R, XSHIFT, MASK32 = 0xCA01F9DD, 0x4973F715, 16, 0xFFFFFFFF
    entropy = [worker_id, base_seed & MASK32, base_seed >> 32, 0]
    hash_const_a = INIT_A

    def hash_(value):
        nonlocal hash_const_a
        value = (value ^ hash_const_a) & MASK32
        hash_const_a = (hash_const_a * MULT_A) & MASK32
        value = (value * hash_const_a) & MASK32
        return (value ^ (value >> XSHIFT)) & MASK32

    def mix(x, y):
        result = ((MIX_MULT_L * x) & MASK32) - ((MIX_MULT_R * y) & MASK32)
        result &= MASK32
        return (result ^ (result >> XSHIFT)) & MASK32

    pool = [hash_(e) for e in entropy]
    for i_src in range(4):                      # every word of the pool affects every other
        for i_dst in range(4):
            if i_src != i_dst:
                pool[i_dst] = mix(pool[i_dst], hash_(pool[i_src]))
    hash_const_b, state = INIT_B, []
    for value in pool:
        value = (value ^ hash_const_b) & MASK32
        hash_const_b = (hash_const_b * MULT_B) & MASK32
        value = (value * hash_const_b) & MASK32
        state.append((value ^ (value >> XSHIFT)) & MASK32)
    return state


def _seed_worker(base_seed: int, worker_id: int) -> int:
    seed = base_seed + worker_id
    random.seed(seed)
    manual_seed(seed)
    np.random.seed(_generate_state(base_seed, worker_id))
    return seed


# ---- moving batches ----------------------------------------------------------------------------
def _rebuild_tensor(array, requires_grad: bool) -> Tensor:
    return make_tensor(array, requires_grad=requires_grad)


def _reduce_tensor(t: Tensor):
    """A CPU tensor crosses a process boundary as its array (leaves only, as in PyTorch)."""
    if t.grad_fn is not None:
        raise RuntimeError("Cowardly refusing to serialize non-leaf tensor which requires_grad, since "
                           "autograd does not support crossing process boundaries.  If you just want to "
                           "transfer the data, call detach() on the tensor before serializing")
    if not isinstance(t._data, np.ndarray):
        raise TypeError("DataLoader workers: a CUDA tensor cannot leave a worker process; return CPU "
                        "tensors from the dataset and move batches to the GPU in the main process")
    return _rebuild_tensor, (t._data, bool(t.requires_grad))


# numtorch tensors refuse plain pickling (checkpoints are safetensors); between the processes of
# one program (multiprocessing's pickler only) they travel as their arrays
ForkingPickler.register(Tensor, _reduce_tensor)

_shm_ok = os.path.isdir(SHM_DIR) and os.access(SHM_DIR, os.W_OK)


class _Segments:
    """Names the shared-memory files one worker writes: ``<prefix><counter>``."""

    prefix = None
    counter = itertools.count()


def _attach_array(name: str, shape: tuple, dtype: str) -> np.ndarray:
    """The array a worker left in ``SHM_DIR/name``: mapped, and the file unlinked at once."""
    path = os.path.join(SHM_DIR, name)
    dt = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    fd = os.open(path, os.O_RDWR)
    try:
        mm = mmap.mmap(fd, nbytes)
    finally:
        os.close(fd)
        os.unlink(path)
    return np.ndarray(shape, dt, buffer=mm)


def _reduce_array(a: np.ndarray):
    """Large plain arrays go through a shared-memory file; the rest as NumPy pickles them."""
    if (_Segments.prefix is None or a.nbytes < SHM_MIN_BYTES or a.dtype.hasobject
            or a.dtype.fields is not None or type(a) is not np.ndarray):
        return a.__reduce_ex__(5)
    path = os.path.join(SHM_DIR, f"{_Segments.prefix}{next(_Segments.counter)}")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.posix_fallocate(fd, 0, a.nbytes)  # reserved now: a full /dev/shm is an error, not SIGBUS
        mm = mmap.mmap(fd, a.nbytes)
    except OSError:
        os.unlink(path)
        return a.__reduce_ex__(5)            # no room in shared memory: through the pipe
    finally:
        os.close(fd)
    dst = np.ndarray(a.shape, a.dtype, buffer=mm)
    dst[...] = a
    del dst
    mm.close()
    return _attach_array, (os.path.basename(path), a.shape, a.dtype.str)


class _BatchPickler(ForkingPickler):
    """The workers' pickler: multiprocessing's, with large arrays in shared memory."""

    _extra_reducers = {**ForkingPickler._extra_reducers, np.ndarray: _reduce_array}

    @classmethod
    def dumps(cls, obj, protocol=5) -> bytes:
        buf = io.BytesIO()
        cls(buf, protocol).dump(obj)
        return buf.getvalue()


def unlink_segments(prefix: str) -> None:
    """Removes the shared-memory files of batches that were made but never received."""
    try:
        names = [n for n in os.listdir(SHM_DIR) if n.startswith(prefix)]
    except OSError:
        return
    for name in names:
        try:
            os.unlink(os.path.join(SHM_DIR, name))
        except OSError:
            pass


def new_segment_prefix() -> str | None:
    return f"numtorch_dl_{os.getpid()}_{uuid.uuid4().hex[:12]}_" if _shm_ok else None


# ---- errors ----------------------------------------------------------------------------------------
class _KeyErrorMessage(str):
    """A KeyError's message shown as is (KeyError would show the repr of a multi-line string)."""

    def __repr__(self) -> str:
        return self


class ExceptionWrapper:
    """An exception raised in a worker, carried to the main process and raised there again as the
    same type: ``Caught ValueError in DataLoader worker process 0.`` and the original traceback."""

    def __init__(self, exc_info, where: str) -> None:
        self.exc_type = exc_info[0]
        self.type_name = exc_info[0].__name__
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self):
        msg = f"Caught {self.type_name} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = _KeyErrorMessage(msg)
        elif getattr(self.exc_type, "message", None):
            raise self.exc_type(message=msg)
        try:
            exception = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise exception


TAKEN = object()  # in the main process: a batch handed out before its turn (in_order=False)


class IterationEnd:
    """A worker's IterableDataset replica is exhausted."""

    def __init__(self, worker_id: int) -> None:
        self.worker_id = worker_id


class ResumeIteration:
    """Sent to persistent workers at a new epoch: start the dataset's iterator again."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed


# ---- fetching ------------------------------------------------------------------------------------
class Fetch:
    """What a worker needs to turn indices into a batch (picklable, for spawned workers)."""

    def __init__(self, dataset, iterable: bool, auto_collation: bool, collate_fn, batch_size, drop_last: bool,
                 tensor_source) -> None:
        self.dataset, self.iterable, self.auto_collation = dataset, iterable, auto_collation
        self.collate_fn, self.batch_size, self.drop_last = collate_fn, batch_size, drop_last
        self.tensor_source = tensor_source  # (arrays, index map) for the TensorDataset fast path
        self._it = None

    def start(self) -> None:
        if self.iterable:
            self._it = iter(self.dataset)

    def __call__(self, index):
        if self.iterable:
            return self._next_batch()
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        if self.tensor_source is not None:
            arrays, index_map = self.tensor_source
            idx = np.asarray(index, dtype=np.int64)
            if index_map is not None:
                idx = index_map[idx]
            return [make_tensor(a[idx]) for a in arrays]
        getitems = getattr(self.dataset, "__getitems__", None)
        samples = getitems(index) if callable(getitems) else [self.dataset[i] for i in index]
        return self.collate_fn(samples)

    def _next_batch(self):
        if not self.auto_collation:
            return self.collate_fn(next(self._it))
        batch = list(itertools.islice(self._it, self.batch_size))
        if not batch or (self.drop_last and len(batch) < self.batch_size):
            raise StopIteration
        return self.collate_fn(batch)


# ---- the worker process ----------------------------------------------------------------------
def _send(result_queue, idx, data) -> None:
    """Pickles here (not in the queue's feeder thread, where an error would be lost)."""
    try:
        payload = _BatchPickler.dumps((idx, data))
    except Exception:
        if isinstance(data, ExceptionWrapper):  # a class the main process cannot import: RuntimeError
            data.exc_type = RuntimeError
        else:
            data = ExceptionWrapper(sys.exc_info(), f"in DataLoader worker process {_worker_info.id}")
        payload = _BatchPickler.dumps((idx, data))
    result_queue.put(payload)


def worker_loop(fetch: Fetch, index_queue, result_queue, done_event, base_seed: int, worker_init_fn,
                worker_id: int, num_workers: int, segment_prefix, parent_pid: int) -> None:
    """The body of worker ``worker_id``: seed, ``worker_init_fn``, then answer index batches until
    told to stop (``None``), the main process is gone, or ``done_event`` is set."""
    global _worker_info
    try:
        _Segments.prefix, _Segments.counter = (
            None if segment_prefix is None else f"{segment_prefix}{worker_id}_", itertools.count())
        seed = _seed_worker(base_seed, worker_id)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=fetch.dataset)
        where = f"in DataLoader worker process {worker_id}"
        init_error = None
        try:
            if worker_init_fn is not None:
                worker_init_fn(worker_id)
            fetch.start()
        except Exception:
            init_error = ExceptionWrapper(sys.exc_info(), where)
        ended = False
        while os.getppid() == parent_pid and not done_event.is_set():
            try:
                r = index_queue.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if isinstance(r, ResumeIteration):
                if r.seed is not None:
                    _seed_worker(r.seed, worker_id)
                ended = False
                fetch.start()
                result_queue.put(_BatchPickler.dumps((r, None)))
                continue
            if r is None:
                break
            if done_event.is_set() or ended:
                continue
            idx, index = r
            if init_error is not None:
                data, init_error = init_error, None
            else:
                try:
                    data = fetch(index)
                except StopIteration:
                    if not fetch.iterable:
                        data = ExceptionWrapper(sys.exc_info(), where)
                    else:
                        data, ended = IterationEnd(worker_id), True
                except Exception:
                    data = ExceptionWrapper(sys.exc_info(), where)
            _send(result_queue, idx, data)
            del data, idx, index, r
    except KeyboardInterrupt:
        pass
    if done_event.is_set():  # the main process reads no more: do not wait to flush the pipe
        result_queue.cancel_join_thread()
        result_queue.close()


# ---- the main process's side ---------------------------------------------------------------------
def default_context():
    """fork on Linux while CuPy is unused in this process; spawn otherwise."""
    from numtorch._backend import _Cuda
    if sys.platform.startswith("linux") and _Cuda.cupy is None:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def resolve_context(ctx):
    """``multiprocessing_context`` as PyTorch takes it: None, a start method's name, or a context."""
    if ctx is None:
        return None
    if isinstance(ctx, str):
        methods = multiprocessing.get_all_start_methods()
        if ctx not in methods:
            raise ValueError("multiprocessing_context option should specify a valid start method in "
                             f"{methods!r}, but got multiprocessing_context={ctx!r}")
        return multiprocessing.get_context(ctx)
    if not isinstance(ctx, multiprocessing.context.BaseContext):
        raise TypeError("multiprocessing_context option should be a valid context object or a string "
                        f"specifying the start method, but got multiprocessing_context={ctx}")
    return ctx


def check_worker_number(num_workers: int) -> None:
    """PyTorch's warning when a loader starts more workers than this process may run on cores."""
    cpuset_checked = hasattr(os, "sched_getaffinity")
    suggest = len(os.sched_getaffinity(0)) if cpuset_checked else os.cpu_count()
    if suggest is not None and num_workers <= suggest:
        return
    if suggest is None:
        hint = "DataLoader is not able to compute a suggested max number of worker in current system."
    else:
        hint = (f"Our suggested max number of worker in current system is {suggest}"
                f"{'' if cpuset_checked else ' (`cpuset` is not taken into account)'}, which is smaller "
                "than what this DataLoader is going to create.")
    warnings.warn(f"This DataLoader will create {num_workers} worker processes in total. {hint} Please be "
                  "aware that excessive worker creation might get DataLoader running slow or even freeze, "
                  "lower the worker number to avoid potential slowness/freeze if necessary.", stacklevel=3)


def loads(payload: bytes):
    """A worker's message, as the main process receives it (large arrays mapped from shared memory)."""
    return ForkingPickler.loads(payload)

