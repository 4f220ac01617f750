"""DataLoader(num_workers=N): worker processes with PyTorch's semantics.

Order, seeds, ``get_worker_info``, ``worker_init_fn``, ``prefetch_factor``, ``persistent_workers``,
``timeout``, errors raised again in the main process, IterableDataset replicas, and shutdown
without zombie processes.  Where torch is importable its DataLoader runs the same dataset as the
oracle.  The datasets are module-level classes so that spawned workers can import them.
"""
from __future__ import annotations

import gc
import mmap
import os
import random

import numpy as np
import pytest

import numtorch
from numtorch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset, get_worker_info
from numtorch.utils.data import _worker

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="worker tests fork (Linux/macOS)")


def _get_worker_info(lib):
    return lib.utils.data.get_worker_info()


class Squares(Dataset):
    """Sample i: (i*i as a tensor, the id of the worker that loaded it)."""

    def __init__(self, n: int = 10, lib=numtorch) -> None:
        self.n, self.lib = n, lib

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        info = _get_worker_info(self.lib)
        return self.lib.tensor(i * i), -1 if info is None else info.id


class Info(Dataset):
    """Sample i: what the worker knows (its info, its seeds' first draws, worker_init_fn's mark)."""

    def __init__(self, lib=numtorch) -> None:
        self.lib = lib

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i):
        info = _get_worker_info(self.lib)
        return {"id": info.id, "num_workers": info.num_workers, "seed": info.seed,
                "same_dataset_type": type(info.dataset) is Info, "pid": os.getpid(),
                "initial_seed": self.lib.initial_seed(), "random": random.random(),
                "numpy": float(np.random.random()), "mark": _MARK.get("worker", -1)}


_MARK: dict = {}


def mark_worker(worker_id: int) -> None:
    _MARK["worker"] = 100 + worker_id


class Broken(Dataset):
    def __init__(self, exc=ValueError) -> None:
        self.exc = exc

    def __len__(self) -> int:
        return 6

    def __getitem__(self, i):
        if i == 3:
            raise self.exc("sample 3 is broken")
        return i


class Stream(IterableDataset):
    """0 .. n-1, each worker taking every num_workers-th item from its id (PyTorch's sharding recipe)."""

    def __init__(self, n: int, lib=numtorch) -> None:
        self.n, self.lib = n, lib

    def __iter__(self):
        info = _get_worker_info(self.lib)
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))


class Slow(Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, i):
        import time
        time.sleep(0.6)
        return i


class Dies(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i):
        if i == 1:
            os._exit(3)
        return i


def _plain(b):
    return b.tolist() if hasattr(b, "tolist") else b


def _values(loader):
    return [[v.tolist() if isinstance(v, numtorch.Tensor) else v for v in b] for b in loader]


def _reaped(pid: int) -> bool:
    """True when ``pid`` is not a child of this process any more (exited and waited for: no zombie)."""
    try:
        os.waitpid(pid, os.WNOHANG)   # (0, 0): still running; (pid, status): it was a zombie
    except ChildProcessError:
        return True
    return False


# ---- order and types ----------------------------------------------------------------------------
@pytest.mark.parametrize("workers", [1, 3])
def test_batches_come_in_the_sampler_order_as_numtorch_tensors(workers, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(4)), raising=False)  # no warning
    serial = _values(DataLoader(Squares(10), batch_size=3))
    loader = DataLoader(Squares(10), batch_size=3, num_workers=workers)
    got = list(loader)
    assert all(isinstance(x, numtorch.Tensor) and isinstance(w, numtorch.Tensor) for x, w in got)
    assert [b[0].tolist() for b in got] == [b[0] for b in serial]
    ids = [w.tolist() for _, w in got]
    assert all(len(set(i)) == 1 for i in ids)      # a batch is loaded by one worker ...
    assert [i[0] for i in ids] == [k % workers for k in range(len(got))]  # ... round-robin


def test_shuffle_is_the_same_with_and_without_workers():
    """The base seed is drawn with or without workers, so one manual_seed gives one order."""
    def order(workers):
        numtorch.manual_seed(7)
        return [b[0].tolist() for b in DataLoader(Squares(12), batch_size=4, shuffle=True, num_workers=workers)]
    assert order(2) == order(0)


def test_tensor_dataset_fast_path_and_large_batches_through_shared_memory():
    x = numtorch.randn(64, 3, 32, 32)            # 12 KiB a sample: a batch of 16 is 192 KiB
    y = numtorch.arange(64)
    it = iter(DataLoader(TensorDataset(x, y), batch_size=16, num_workers=2))
    got = list(it)
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in got]), x.numpy())
    assert [b[1].tolist() for b in got] == [list(range(k, k + 16)) for k in range(0, 64, 16)]
    if _worker._shm_ok:                           # Linux: /dev/shm
        assert isinstance(got[0][0].numpy().base, mmap.mmap)   # the batch lives in the mapped file ...
        assert not [n for n in os.listdir(_worker.SHM_DIR) if n.startswith(it._prefix)]  # ... now unlinked


# ---- worker info, seeds, worker_init_fn ---------------------------------------------------------
def test_worker_info_seeds_and_worker_init_fn():
    assert get_worker_info() is None
    loader = DataLoader(Info(), batch_size=None, num_workers=2, worker_init_fn=mark_worker,
                        generator=numtorch.Generator().manual_seed(3))
    rows = list(loader)
    assert [r["id"] for r in rows] == [0, 1, 0, 1] and all(r["num_workers"] == 2 for r in rows)
    assert all(r["same_dataset_type"] for r in rows) and "worker" not in _MARK
    assert [r["mark"] for r in rows] == [100, 101, 100, 101]   # worker_init_fn ran in each worker
    base = rows[0]["seed"]
    for r in rows[:2]:                            # each worker's first sample
        assert r["seed"] == base + r["id"] == r["initial_seed"]
        assert r["random"] == random.Random(r["seed"]).random()
        assert r["numpy"] == np.random.RandomState(_worker._generate_state(base, r["id"])).random_sample()
    again = list(DataLoader(Info(), batch_size=None, num_workers=2, generator=numtorch.Generator().manual_seed(3)))
    assert again[0]["seed"] == base               # the same generator gives the same seeds
    assert next(iter(loader))["seed"] != base     # a new epoch draws new ones


def test_numpy_seeds_match_pytorchs_generate_state(torch):
    from torch.utils.data._utils.worker import _generate_state
    for base in (0, 1, 2**32 + 5, 2**63 - 2, 123456789123):
        for w in (0, 1, 7):
            assert _worker._generate_state(base, w) == _generate_state(base, w)


def test_worker_info_fields_and_read_only_as_in_pytorch(torch):
    mine = next(iter(DataLoader(Info(), batch_size=None, num_workers=1)))
    theirs = next(iter(torch.utils.data.DataLoader(Info(torch), batch_size=None, num_workers=1)))
    assert set(mine) == set(theirs)
    assert (mine["id"], mine["num_workers"]) == (theirs["id"], theirs["num_workers"]) == (0, 1)
    assert mine["seed"] == mine["initial_seed"] and theirs["seed"] == theirs["initial_seed"]
    info = _worker.WorkerInfo(id=0, num_workers=1, seed=5, dataset=None)
    tinfo = torch.utils.data._utils.worker.WorkerInfo(id=0, num_workers=1, seed=5, dataset=None)
    assert repr(info) == repr(tinfo)
    for obj in (info, tinfo):
        with pytest.raises(AttributeError):   # frozen
            obj.id = 1


# ---- IterableDataset ------------------------------------------------------------------------------
@pytest.mark.parametrize("batch_size, drop_last", [(3, False), (3, True), (None, False)])
def test_iterable_dataset_replicas_shard_with_worker_info(torch, batch_size, drop_last):
    class TorchStream(torch.utils.data.IterableDataset):
        __iter__ = Stream.__iter__

        def __init__(self, n):
            self.n, self.lib = n, torch

    kw = dict(batch_size=batch_size, drop_last=drop_last, num_workers=2)
    mine = [_plain(b) for b in DataLoader(Stream(11), **kw)]
    theirs = [_plain(b) for b in torch.utils.data.DataLoader(TorchStream(11), **kw)]
    assert mine == theirs and len(mine) >= 3


def test_iterable_dataset_with_persistent_workers_restarts_each_epoch():
    loader = DataLoader(Stream(7), batch_size=2, num_workers=2, persistent_workers=True)
    first, second = [b.tolist() for b in loader], [b.tolist() for b in loader]
    assert first == second == [[0, 2], [1, 3], [4, 6], [5]]


# ---- prefetch, persistence, timeout --------------------------------------------------------------
def test_prefetch_factor_bounds_the_batches_requested():
    it = iter(DataLoader(Squares(40), batch_size=2, num_workers=2, prefetch_factor=3))
    assert it._send_idx == 6                       # prefetch_factor * num_workers requested at start
    next(it)
    assert it._send_idx == 7 and it._outstanding <= 6
    del it


def test_persistent_workers_keep_their_processes():
    loader = DataLoader(Info(), batch_size=None, num_workers=2, persistent_workers=True)
    pids1, pids2 = {r["pid"] for r in loader}, {r["pid"] for r in loader}
    assert pids1 == pids2 and len(pids1) == 2 and os.getpid() not in pids1
    pids3 = {r["pid"] for r in DataLoader(Info(), batch_size=None, num_workers=2)}
    assert not pids3 & pids1
    workers = [p.pid for p in loader._iterator._workers]
    del loader
    gc.collect()
    assert all(_reaped(pid) for pid in workers)


def test_timeout_raises_runtime_error():
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.2 seconds"):
        list(DataLoader(Slow(), num_workers=1, timeout=0.2))


def test_a_worker_that_dies_is_reported(monkeypatch):
    monkeypatch.setattr(_worker, "STATUS_CHECK_INTERVAL", 0.2)
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited unexpectedly"):
        list(DataLoader(Dies(), num_workers=2))


# ---- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("exc", [ValueError, KeyError, ZeroDivisionError])
def test_worker_errors_are_raised_again_naming_the_worker(torch, exc):
    texts = []
    for loader in (DataLoader(Broken(exc), batch_size=1, num_workers=2),
                   torch.utils.data.DataLoader(Broken(exc), batch_size=1, num_workers=2)):
        it = iter(loader)
        try:
            with pytest.raises(exc) as e:
                list(it)
            texts.append(str(e.value))
        finally:
            it._shutdown_workers()   # now: a traceback keeping PyTorch's iterator costs it 10 s later
        del e
    for text in texts:
        assert text.startswith(f"Caught {exc.__name__} in DataLoader worker process 1.\nOriginal Traceback")
        assert "sample 3 is broken" in text


def test_errors_of_worker_init_fn_and_unimportable_exception_classes():
    def bad_init(worker_id):
        raise OSError(f"no data for worker {worker_id}")
    with pytest.raises(OSError, match="Caught OSError in DataLoader worker process 0"):
        list(DataLoader(Squares(4), num_workers=1, worker_init_fn=bad_init))

    class Local(Exception):
        pass
    with pytest.raises(RuntimeError, match="(?s)Caught Local in DataLoader worker process 0.*sample 3"):
        list(DataLoader(Broken(Local), batch_size=2, num_workers=1))


# ---- shutdown ----------------------------------------------------------------------------------------
def test_break_and_garbage_collection_leave_no_zombies():
    it = iter(DataLoader(TensorDataset(numtorch.randn(400, 3, 32, 32)), batch_size=20, num_workers=2))
    next(it)
    pids, prefix = [p.pid for p in it._workers], it._prefix
    del it                                         # a `break` out of the loop drops the iterator
    assert all(_reaped(pid) for pid in pids)
    if prefix is not None:                        # prefetched, never read: removed
        assert not [n for n in os.listdir(_worker.SHM_DIR) if n.startswith(prefix)]
    for i, _ in enumerate(DataLoader(Squares(50), num_workers=2)):
        if i == 2:
            break
    gc.collect()
    import multiprocessing
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("numtorch-dataloader")]


# ---- the arguments PyTorch takes -------------------------------------------------------------------
def test_pin_memory_generator_and_multiprocessing_context_are_accepted(torch):
    ds = TensorDataset(numtorch.arange(6))
    kw = dict(batch_size=4, num_workers=1, pin_memory=True, generator=numtorch.Generator().manual_seed(0),
              shuffle=True)
    assert sorted(sum((b.tolist() for (b,) in DataLoader(ds, multiprocessing_context="fork", **kw)), [])) == \
        list(range(6))
    import multiprocessing
    ctx = multiprocessing.get_context("fork")
    assert DataLoader(ds, num_workers=1, multiprocessing_context=ctx).multiprocessing_context is ctx
    tds = torch.utils.data.TensorDataset(torch.arange(6))
    for lib, d in ((numtorch, ds), (torch, tds)):
        with pytest.raises(ValueError, match="multiprocessing_context can only be used with multi-process"):
            lib.utils.data.DataLoader(d, multiprocessing_context="fork")
        with pytest.raises(ValueError, match="multiprocessing_context option should specify a valid start"):
            lib.utils.data.DataLoader(d, num_workers=1, multiprocessing_context="threads")
        with pytest.raises(TypeError, match="multiprocessing_context option should be a valid context"):
            lib.utils.data.DataLoader(d, num_workers=1, multiprocessing_context=3)


def test_spawned_workers_get_the_dataset_pickled():
    """spawn (the default off Linux, or with CuPy in use): tensors of the dataset travel as arrays."""
    ds = TensorDataset(numtorch.arange(10.0).reshape(5, 2), numtorch.arange(5))
    got = list(DataLoader(ds, batch_size=2, num_workers=1, multiprocessing_context="spawn"))
    assert [b[1].tolist() for b in got] == [[0, 1], [2, 3], [4]]
    assert got[2][0].tolist() == [[8.0, 9.0]] and got[0][0].dtype == numtorch.float32


class SlowFirst(Dataset):
    """Sample 0 takes 0.5 s: with two workers, batch 1 is ready before batch 0."""

    def __len__(self) -> int:
        return 6

    def __getitem__(self, i):
        if i == 0:
            import time
            time.sleep(0.5)
        return i


def test_in_order_false_hands_out_batches_as_they_are_ready():
    got = [b.tolist() for b in DataLoader(SlowFirst(), batch_size=2, num_workers=2, in_order=False)]
    assert sorted(got) == [[0, 1], [2, 3], [4, 5]] and got[0] != [0, 1]
    assert [b.tolist() for b in DataLoader(SlowFirst(), batch_size=2, num_workers=2)] == [[0, 1], [2, 3], [4, 5]]


def test_more_workers_than_cores_warn_as_in_pytorch(torch, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    for lib, ds in ((numtorch, TensorDataset(numtorch.arange(4))),
                    (torch, torch.utils.data.TensorDataset(torch.arange(4)))):
        with pytest.warns(UserWarning, match="This DataLoader will create 2 worker processes in total. Our "
                                             "suggested max number of worker in current system is 1, which"):
            it = iter(lib.utils.data.DataLoader(ds, num_workers=2))
        it._shutdown_workers()
