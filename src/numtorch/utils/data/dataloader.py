"""``DataLoader``: batches from a dataset, in the order a sampler gives, collated into tensors.

Single-process by default.  ``num_workers > 0`` loads in that many worker *processes*, as
PyTorch does (``_worker.py``): up to ``num_workers * prefetch_factor`` batches ahead, handed out in
the sampler's order, each worker seeded ``base_seed + worker_id`` and able to call
``get_worker_info()``; an error in a worker is raised again here, naming the worker.

Fast path: for a ``TensorDataset`` with the default ``collate_fn``, each batch is gathered with
one fancy index per tensor (``X[idx]``) instead of indexing samples one by one and stacking.

>>> import numtorch as torch
>>> from numtorch.utils.data import TensorDataset, DataLoader
>>> ds = TensorDataset(torch.randn(10, 3), torch.arange(10))
>>> [len(x) for x, y in DataLoader(ds, batch_size=4)]
[4, 4, 2]
"""
from __future__ import annotations

import itertools
import os
import queue
from typing import Any, Callable, Iterator

import numpy as np

from numtorch import _backend
from numtorch._backend import xp_of
from numtorch.tensor import Tensor, make_tensor
from numtorch.utils.data import _worker
from numtorch.utils.data._collate import default_collate, default_convert
from numtorch.utils.data._worker import WorkerInfo, get_worker_info
from numtorch.utils.data.dataset import IterableDataset, _tensor_source
from numtorch.utils.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler
from numtorch._dtypes import int64
from numtorch.creation import randint

__all__ = ["DataLoader", "get_worker_info", "WorkerInfo"]


class _InfiniteConstantSampler(Sampler):
    """The sampler of an IterableDataset: the indices are ignored, the dataset streams."""

    def __iter__(self):
        while True:
            yield None


class DataLoader:
    """Iterates over a dataset in batches.

    Args:
        dataset: a map-style ``Dataset`` (``__getitem__``/``__len__``) or an ``IterableDataset``.
        batch_size: samples per batch (default 1); ``None`` turns batching off.
        shuffle: a new random order every epoch (default False).
        sampler: the order of the indices (excludes ``shuffle``).
        batch_sampler: yields lists of indices (excludes batch_size, shuffle, sampler, drop_last).
        num_workers: 0 loads in the main process; N > 0 in N worker processes.
        collate_fn: turns a list of samples into a batch (default ``default_collate``).
        pin_memory: when a GPU is available, every tensor of a batch goes through ``Tensor.pin_memory()``
            (page-locked host memory, from which ``.to("cuda", non_blocking=True)`` copies asynchronously).
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        timeout: seconds to wait for a batch from the workers before raising RuntimeError (0: forever).
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker, after seeding.
        multiprocessing_context: "fork", "spawn", "forkserver" or a ``multiprocessing`` context (default:
            fork on Linux unless CuPy is in use, else spawn).
        generator: the ``numtorch.Generator`` the default ``RandomSampler`` and the workers' base seed
            are drawn from.
        prefetch_factor: batches prefetched per worker (default 2 when num_workers > 0).
        persistent_workers: keep the worker processes from one epoch to the next.
        pin_memory_device: accepted (deprecated in PyTorch; the current GPU is used).
        in_order: False hands batches out as the workers finish them, not in the sampler's order.
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None, sampler=None,
                 batch_sampler=None, num_workers: int = 0, collate_fn: Callable | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable | None = None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True) -> None:
        _check_worker_options(num_workers, timeout, prefetch_factor, persistent_workers)
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.persistent_workers = persistent_workers
        self.pin_memory_device = pin_memory_device
        self.in_order = in_order
        self.generator = generator
        if multiprocessing_context is not None and num_workers == 0:
            raise ValueError("multiprocessing_context can only be used with multi-process loading "
                             f"(num_workers > 0), but got num_workers={num_workers}")
        self.multiprocessing_context = _worker.resolve_context(multiprocessing_context)
        self._iterator = None  # the persistent workers' iterator
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle not in (None, False):
                raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle option, "
                                 f"but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler option, "
                                 f"but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified batch_sampler "
                                 f"option, but got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, "
                                 "sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with "
                             "drop_last")
        if sampler is None:
            if self._iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self._default_collate = collate_fn is None
        if collate_fn is None:
            collate_fn = default_collate if batch_sampler is not None else default_convert
        self.collate_fn = collate_fn

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self.batch_sampler) if self._auto_collation else len(self.sampler)

    @property
    def _index_sampler(self):
        """What the workers are sent: lists of indices (auto-collation) or single indices."""
        return self.batch_sampler if self._auto_collation else self.sampler

    def __iter__(self) -> Iterator[Any]:
        if self.num_workers > 0:
            if not self.persistent_workers:
                _worker.check_worker_number(self.num_workers)
                return _MultiProcessingIter(self)
            if self._iterator is None or self._iterator._shutdown:
                _worker.check_worker_number(self.num_workers)
                self._iterator = _MultiProcessingIter(self)
            else:
                self._iterator._reset(self)
            return self._iterator
        self._base_seed()  # drawn and unused, as PyTorch does: a shuffle is the same with workers
        batches = self._batches()
        if self.pin_memory and _backend.cuda_is_available():
            batches = map(_pin, batches)
        return batches

    def _base_seed(self) -> int:
        """The workers' base seed, from ``generator`` or the default generator; drawn for every new
        iterator (not for a persistent workers' new epoch), with or without workers, as in PyTorch."""
        return int(randint(0, 2**63 - 1, (), dtype=int64, generator=self.generator))

    def _worker_fetch(self) -> _worker.Fetch:
        tensor_source = None
        if self._default_collate and type(self.batch_sampler) is BatchSampler and not self._iterable:
            source = _tensor_source(self.dataset)
            if source is not None and all(isinstance(t._data, np.ndarray) for t in source[0]):
                tensor_source = ([t._data for t in source[0]], source[1])
        return _worker.Fetch(self.dataset, self._iterable, self._auto_collation, self.collate_fn,
                             self.batch_size, self.drop_last, tensor_source)

    # ---- producing batches ----------------------------------------------------------------
    def _batches(self) -> Iterator[Any]:
        if self._iterable:
            return self._iterable_batches()
        if not self._auto_collation:
            return (self.collate_fn(self.dataset[i]) for i in self.sampler)
        if self._default_collate and type(self.batch_sampler) is BatchSampler:
            source = _tensor_source(self.dataset)
            if source is not None:
                return self._tensor_batches(*source)
        return (self.collate_fn(self._fetch(indices)) for indices in self.batch_sampler)

    def _fetch(self, indices: list) -> list:
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            return getitems(indices)
        return [self.dataset[i] for i in indices]

    def _tensor_batches(self, tensors, index_map) -> Iterator[list]:
        """TensorDataset fast path: one gather per tensor per batch (what default_collate would build)."""
        arrays = [t._data for t in tensors]
        for idx in self.batch_sampler._index_batches():
            if index_map is not None:
                idx = index_map[idx]
            yield [make_tensor(a[idx] if isinstance(a, np.ndarray) else a[xp_of(a).asarray(idx)])
                   for a in arrays]

    def _iterable_batches(self) -> Iterator[Any]:
        if not self._auto_collation:
            for sample in self.dataset:
                yield self.collate_fn(sample)
            return
        batch = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)


def _pin(batch):
    """``batch`` with every CPU tensor in page-locked memory (lists, tuples, named tuples, dicts kept)."""
    if isinstance(batch, Tensor):
        return batch.pin_memory() if batch.device.type == "cpu" else batch
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(_pin(b) for b in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(_pin(b) for b in batch)
    if isinstance(batch, dict):
        return type(batch)((k, _pin(v)) for k, v in batch.items())
    return batch


def _check_worker_options(num_workers, timeout, prefetch_factor, persistent_workers) -> None:
    if num_workers < 0:
        raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                         "multiprocessing.")
    if timeout < 0:
        raise ValueError("timeout option should be non-negative")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError("prefetch_factor option could only be specified in multiprocessing.let "
                         "num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None.")
    if prefetch_factor is not None and prefetch_factor < 0:
        raise ValueError("prefetch_factor option should be non-negative")
    if persistent_workers and num_workers == 0:
        raise ValueError("persistent_workers option needs num_workers > 0")


class _MultiProcessingIter:
    """The batches of one epoch, loaded by worker processes (``_worker.py``), in the sampler's order.

    Keeps at most ``prefetch_factor * num_workers`` batches requested and not yet handed out;
    batches that arrive early wait in ``_task_info`` until their turn.  With ``persistent_workers``
    the loader keeps this object and ``_reset`` starts the next epoch on the same processes.
    """

    def __init__(self, loader: "DataLoader") -> None:
        self._num_workers = loader.num_workers
        self._prefetch = loader.prefetch_factor * loader.num_workers
        self._timeout = loader.timeout
        self._persistent = loader.persistent_workers
        self._in_order = loader.in_order
        self._iterable = loader._iterable
        self._pin = loader.pin_memory and _backend.cuda_is_available()
        self._shutdown = False
        ctx = loader.multiprocessing_context or _worker.default_context()
        self._prefix = _worker.new_segment_prefix()
        self._done_event = ctx.Event()
        self._result_queue = ctx.Queue()
        self._index_queues, self._workers = [], []
        fetch = loader._worker_fetch()
        base_seed = loader._base_seed()
        try:
            for w in range(self._num_workers):
                q = ctx.Queue()
                q.cancel_join_thread()  # never wait at exit to flush indices nobody will read
                p = ctx.Process(target=_worker.worker_loop, daemon=True, name=f"numtorch-dataloader-{w}",
                                args=(fetch, q, self._result_queue, self._done_event, base_seed,
                                      loader.worker_init_fn, w, self._num_workers, self._prefix, os.getpid()))
                p.start()
                self._index_queues.append(q)
                self._workers.append(p)
        except BaseException:
            self._shutdown_workers()
            raise
        self._reset(loader, first=True)

    def _reset(self, loader: "DataLoader", first: bool = False) -> None:
        """A new epoch: a new pass of the sampler (persistent workers restart their dataset's iterator)."""
        self._sampler_iter = iter(loader._index_sampler)
        self._send_idx = self._rcvd_idx = self._outstanding = 0
        self._task_info: dict = {}  # batch number -> (worker,) while requested, (worker, data) once here
        self._active = [True] * self._num_workers
        self._cycle = itertools.cycle(range(self._num_workers))
        if not first:  # persistent workers (seeded once): wait until each has restarted
            for q in self._index_queues:
                q.put(_worker.ResumeIteration())
            for _ in range(self._num_workers):
                while not isinstance(self._get()[0], _worker.ResumeIteration):
                    pass
        for _ in range(self._prefetch):
            self._request()

    def __iter__(self) -> "_MultiProcessingIter":
        return self

    def __next__(self):
        while True:
            while self._rcvd_idx < self._send_idx:  # skip batches of workers whose stream ended
                worker, *got = self._task_info[self._rcvd_idx]
                if got or self._active[worker]:
                    break
                del self._task_info[self._rcvd_idx]
                self._rcvd_idx += 1
            else:
                if not self._persistent:
                    self._shutdown_workers()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:
                data = self._task_info.pop(self._rcvd_idx)[1]
                if data is _worker.TAKEN:  # handed out already (in_order=False)
                    self._rcvd_idx += 1
                    continue
                return self._hand_out(data)
            idx, data = self._get()
            self._outstanding -= 1
            if isinstance(data, _worker.IterationEnd):
                self._retire(data.worker_id)
                self._request()
            elif idx != self._rcvd_idx and not self._in_order:  # hand it out now, skip it later
                self._task_info[idx] = (self._task_info[idx][0], _worker.TAKEN)
                return self._hand_out(data, advance=False)
            elif idx != self._rcvd_idx:
                self._task_info[idx] += (data,)  # early: keep it until its turn
            else:
                del self._task_info[idx]
                return self._hand_out(data)

    def _hand_out(self, data, advance: bool = True):
        if advance:
            self._rcvd_idx += 1
        self._request()
        if isinstance(data, _worker.ExceptionWrapper):
            data.reraise()
        return _pin(data) if self._pin else data

    def _request(self) -> None:
        """Sends the sampler's next index batch to the next active worker (round-robin)."""
        if self._outstanding >= self._prefetch:
            return
        try:
            index = next(self._sampler_iter)
        except StopIteration:
            return
        for _ in range(self._num_workers):
            w = next(self._cycle)
            if self._active[w]:
                break
        else:
            return
        self._index_queues[w].put((self._send_idx, index))
        self._task_info[self._send_idx] = (w,)
        self._outstanding += 1
        self._send_idx += 1

    def _retire(self, w: int) -> None:
        """Worker ``w``'s dataset replica is exhausted: no more requests go to it this epoch."""
        self._active[w] = False
        if not self._persistent:
            self._index_queues[w].put(None)

    def _get(self):
        """The next (batch number, data) from any worker; raises on ``timeout`` or a dead worker."""
        wait = self._timeout if self._timeout > 0 else _worker.STATUS_CHECK_INTERVAL
        while True:
            try:
                return _worker.loads(self._result_queue.get(timeout=wait))
            except queue.Empty:
                if self._timeout > 0:
                    self._shutdown_workers()
                    raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds") from None
                dead = [p for p in self._workers if not p.is_alive()]
                if dead:
                    self._shutdown_workers()
                    pids = ", ".join(str(p.pid) for p in dead)
                    raise RuntimeError(f"DataLoader worker (pid(s) {pids}) exited unexpectedly") from None

    def _shutdown_workers(self) -> None:
        """Stops and reaps every worker (no zombies), then removes unread shared-memory batches."""
        if self._shutdown:
            return
        self._shutdown = True
        try:
            self._done_event.set()
            for q in self._index_queues:
                q.put(None)
            for p in self._workers:
                p.join(timeout=_worker.STATUS_CHECK_INTERVAL)
        finally:
            for p in self._workers:
                if p.is_alive():
                    p.terminate()
                    p.join()
            for q in (*self._index_queues, self._result_queue):
                q.cancel_join_thread()
                q.close()
            if self._prefix is not None:
                _worker.unlink_segments(self._prefix)

    def __del__(self) -> None:
        if hasattr(self, "_shutdown"):
            self._shutdown_workers()
