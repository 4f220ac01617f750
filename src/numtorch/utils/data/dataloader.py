"""``DataLoader``: batches from a dataset, in the order a sampler gives, collated into tensors.

Single-process by default.  ``num_workers > 0`` starts one background *thread* that prepares
up to ``num_workers * prefetch_factor`` batches ahead while the model trains on the current
one (NumPy releases the GIL in its array work, so loading and training overlap); numtorch
starts no worker processes.

Fast path: for a ``TensorDataset`` with the default ``collate_fn``, each batch is gathered with
one fancy index per tensor (``X[idx]``) instead of indexing samples one by one and stacking.

>>> import numtorch as torch
>>> from numtorch.utils.data import TensorDataset, DataLoader
>>> ds = TensorDataset(torch.randn(10, 3), torch.arange(10))
>>> [len(x) for x, y in DataLoader(ds, batch_size=4)]
[4, 4, 2]
"""
from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterator

import numpy as np

from numtorch import _backend
from numtorch._backend import xp_of
from numtorch.tensor import Tensor, make_tensor
from numtorch.utils.data._collate import default_collate, default_convert
from numtorch.utils.data.dataset import IterableDataset, _tensor_source
from numtorch.utils.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "get_worker_info", "WorkerInfo"]


class WorkerInfo:
    """What ``get_worker_info()`` returns inside the loading thread: ``id``, ``num_workers``, ``seed``, ``dataset``."""

    def __init__(self, id: int, num_workers: int, seed: int, dataset) -> None:
        self.id, self.num_workers, self.seed, self.dataset = id, num_workers, seed, dataset

    def __repr__(self) -> str:
        return f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed})"


_worker_local = threading.local()


def get_worker_info() -> WorkerInfo | None:
    """The ``WorkerInfo`` of the background loading thread; ``None`` in the main thread."""
    return getattr(_worker_local, "info", None)


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
        num_workers: 0 loads in the main thread; > 0 prefetches in one background thread.
        collate_fn: turns a list of samples into a batch (default ``default_collate``).
        pin_memory: when a GPU is available, every tensor of a batch goes through ``Tensor.pin_memory()``
            (page-locked host memory, from which ``.to("cuda", non_blocking=True)`` copies asynchronously).
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        timeout: seconds to wait for a prefetched batch before raising (0: forever).
        worker_init_fn: called as ``worker_init_fn(0)`` in the loading thread before it starts.
        generator: the ``numtorch.Generator`` the default ``RandomSampler`` draws from.
        prefetch_factor: batches prefetched per worker (default 2 when num_workers > 0).
        persistent_workers: accepted for compatibility (a new thread starts every epoch).
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
        self.generator = generator
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle not in (None, False):
                raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle option, "
                                 f"but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler option, "
                                 f"but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified batch_sampler option, "
                                 f"but got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
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

    def __iter__(self) -> Iterator[Any]:
        batches = self._batches()
        if self.pin_memory and _backend.cuda_is_available():
            batches = map(_pin, batches)  # in the loading thread too, when there is one
        if self.num_workers == 0:
            return batches
        return _Prefetcher(batches, self.num_workers * self.prefetch_factor, self.timeout,
                           self.worker_init_fn, WorkerInfo(0, 1, 0, self.dataset))

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
            yield [make_tensor(a[idx] if isinstance(a, np.ndarray) else a[xp_of(a).asarray(idx)]) for a in arrays]

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
        raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
    if timeout < 0:
        raise ValueError("timeout option should be non-negative")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError("prefetch_factor option could only be specified in multiprocessing.let num_workers > 0 "
                         "to enable multiprocessing, otherwise set prefetch_factor to None.")
    if prefetch_factor is not None and prefetch_factor < 0:
        raise ValueError("prefetch_factor option should be non-negative")
    if persistent_workers and num_workers == 0:
        raise ValueError("persistent_workers option needs num_workers > 0")


_DONE = object()


class _Prefetcher:
    """Runs a batch iterator in a daemon thread, ``depth`` batches ahead; errors are re-raised here.

    The thread holds only the queue and the stop flag (not this object), so dropping the iterator
    (``break`` out of the loop) runs ``__del__``, which tells the thread to stop.
    """

    def __init__(self, batches: Iterator, depth: int, timeout: float, worker_init_fn, info: WorkerInfo) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._timeout = timeout
        self._thread = threading.Thread(target=_work, daemon=True,
                                        args=(self._queue, self._stop, batches, worker_init_fn, info))
        self._thread.start()

    def __iter__(self) -> "_Prefetcher":
        return self

    def __next__(self):
        try:
            batch, exc = self._queue.get(timeout=self._timeout or None)
        except queue.Empty:
            self._stop.set()
            raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds") from None
        if exc is not None:
            self._stop.set()
            raise exc
        if batch is _DONE:
            self._stop.set()
            raise StopIteration
        return batch

    def __del__(self) -> None:
        self._stop.set()


def _put(q: queue.Queue, stop: threading.Event, item) -> bool:
    """Puts ``item`` on the queue, giving up (False) once ``stop`` is set."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _work(q: queue.Queue, stop: threading.Event, batches: Iterator, worker_init_fn, info: WorkerInfo) -> None:
    """The loading thread: produce batches until done, stopped, or failed (the error is handed over)."""
    _worker_local.info = info
    try:
        if worker_init_fn is not None:
            worker_init_fn(0)
        for batch in batches:
            if not _put(q, stop, (batch, None)):
                return
        _put(q, stop, (_DONE, None))
    except BaseException as exc:
        _put(q, stop, (None, exc))
