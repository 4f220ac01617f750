"""numtorch.utils.data against torch.utils.data semantics: batch counts, collate structure and dtypes,
sampler orders, random_split, reproducible shuffling."""
import collections
import threading
import time

import numpy as np
import pytest

import numtorch as nt
from numtorch.utils.data import (BatchSampler, ConcatDataset, DataLoader, Dataset, IterableDataset, RandomSampler,
                                 SequentialSampler, Subset, SubsetRandomSampler, TensorDataset,
                                 WeightedRandomSampler, default_collate, default_convert, get_worker_info,
                                 random_split)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _dtype_name(t):
    return str(t.dtype).split(".")[-1]


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return {"x": np.full(2, i, np.float32), "y": i, "w": float(i) / 2, "name": f"s{i}"}


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


# ---- batch counts and lengths ------------------------------------------------------------

@pytest.mark.parametrize("n,bs,drop_last", [(10, 3, False), (10, 3, True), (9, 3, True), (5, 8, False),
                                            (5, 8, True), (1, 1, False)])
def test_batch_counts_match_torch(torch, n, bs, drop_last):
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    ours = DataLoader(TensorDataset(nt.tensor(x), nt.arange(n)), batch_size=bs, drop_last=drop_last)
    ref = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(x), torch.arange(n)),
                                      batch_size=bs, drop_last=drop_last)
    assert len(ours) == len(ref)
    got, want = list(ours), list(ref)
    assert len(got) == len(want) == len(ours)
    for (xb, yb), (rxb, ryb) in zip(got, want):
        assert _dtype_name(xb) == "float32" and _dtype_name(yb) == "int64"
        np.testing.assert_array_equal(xb.numpy(), rxb.numpy())
        np.testing.assert_array_equal(yb.numpy(), ryb.numpy())


@pytest.mark.parametrize("bs,drop_last", [(3, False), (3, True), (None, False)])
def test_iterable_dataset_matches_torch(torch, bs, drop_last):
    class TStream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(range(10))

        def __len__(self):
            return 10

    ours = DataLoader(Stream(10), batch_size=bs, drop_last=drop_last)
    ref = torch.utils.data.DataLoader(TStream(), batch_size=bs, drop_last=drop_last)
    assert len(ours) == len(ref)
    got = [b.tolist() if bs else b for b in ours]
    assert got == [b.tolist() if bs else b for b in ref]
    if bs is None:
        assert all(type(b) is int for b in ours)      # default_convert leaves Python ints alone


# ---- collate ------------------------------------------------------------------------------

def _structure(obj):
    """(type, dtype/shape) tree of a batch, comparable between numtorch and torch."""
    if hasattr(obj, "shape") and hasattr(obj, "dtype") and not isinstance(obj, np.ndarray):
        return ("tensor", _dtype_name(obj), tuple(obj.shape))
    if isinstance(obj, dict):
        return ("dict", {k: _structure(v) for k, v in obj.items()})
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return (type(obj).__name__, [_structure(v) for v in obj])
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, [_structure(v) for v in obj])
    return (type(obj).__name__, obj)


Point = collections.namedtuple("Point", ["x", "y"])


def _samples(lib):
    """The same samples built with numtorch or torch tensors."""
    return [
        [(lib.tensor([1.0, 2.0]), 1), (lib.tensor([3.0, 4.0]), 0)],                   # tuples
        [[np.float32(1.5), np.int32(2)], [np.float32(2.5), np.int32(3)]],           # lists of numpy scalars
        [{"a": 1.5, "b": True, "s": "x"}, {"a": 2.5, "b": False, "s": "y"}],        # dict: float64, bool, str
        [np.zeros((2, 3), np.float64), np.ones((2, 3), np.float64)],                # numpy arrays
        [np.zeros((2,), np.uint8), np.ones((2,), np.uint8)],
        [Point(1, 2.0), Point(3, 4.0)],                                             # namedtuple
        [(1, (2.0, "a")), (3, (4.0, "b"))],                                         # nested
        [b"ab", b"cd"],
        [3, 4, 5],                                                                  # ints -> int64
        [lib.tensor(1), lib.tensor(2)],                                             # 0-d tensors
    ]


def test_default_collate_matches_torch(torch):
    from torch.utils.data import default_collate as ref_collate
    for ours, ref in zip(_samples(nt), _samples(torch)):
        got, want = default_collate(ours), ref_collate(ref)
        assert _structure(got) == _structure(want), ours


def test_default_collate_values():
    x, y = default_collate([(nt.tensor([1.0, 2.0]), 1), (nt.tensor([3.0, 4.0]), 0)])
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]] and y.tolist() == [1, 0]
    out = default_collate([{"a": 1.5}, {"a": 2.5}])
    assert out["a"].dtype == nt.float64 and out["a"].tolist() == [1.5, 2.5]


def test_default_collate_errors(torch):
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="default_collate"):
        default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        default_collate([nt.zeros(2), nt.zeros(3)])


def test_default_convert_matches_torch(torch):
    from torch.utils.data import default_convert as ref_convert
    data = [(np.zeros(2, np.float32), 1), {"a": np.int16(3), "s": "x"}, [np.ones(3), 2.0]]
    for d in data:
        assert _structure(default_convert(d)) == _structure(ref_convert(d))


def test_map_dataset_collate_structure(torch):
    class TSquares(torch.utils.data.Dataset):
        def __len__(self):
            return 7

        def __getitem__(self, i):
            return Squares(7)[i]

    got = list(DataLoader(Squares(7), batch_size=3))
    want = list(torch.utils.data.DataLoader(TSquares(), batch_size=3))
    assert [_structure(b) for b in got] == [_structure(b) for b in want]
    assert got[0]["w"].dtype == nt.float64 and got[0]["y"].dtype == nt.int64 and got[0]["x"].dtype == nt.float32
    assert got[2]["name"] == ["s6"]


def test_batch_size_none_converts_samples():
    out = list(DataLoader(Squares(3), batch_size=None))
    assert len(out) == 3 and out[1]["y"] == 1 and isinstance(out[1]["x"], nt.Tensor)


def test_custom_collate_fn_and_batch_sampler():
    loader = DataLoader(Squares(6), batch_sampler=[[0, 5], [1, 2, 3]], collate_fn=lambda b: [s["y"] for s in b])
    assert list(loader) == [[0, 5], [1, 2, 3]]


# ---- fast path and shuffling ----------------------------------------------------------------

def test_tensor_dataset_fast_path_equals_slow_path():
    g = nt.Generator().manual_seed(3)
    X, y = nt.randn(50, 4, generator=g), nt.randint(0, 5, (50,), generator=g)
    ds = TensorDataset(X, y)
    fast = list(DataLoader(ds, batch_size=8, shuffle=True, generator=nt.Generator().manual_seed(1)))
    slow = list(DataLoader(ds, batch_size=8, shuffle=True, generator=nt.Generator().manual_seed(1),
                           collate_fn=default_collate))       # explicit collate_fn: no fast path
    assert len(fast) == len(slow) == 7
    for (a, b), (c, d) in zip(fast, slow):
        np.testing.assert_array_equal(a.numpy(), c.numpy())
        np.testing.assert_array_equal(b.numpy(), d.numpy())
    # every sample exactly once, and batches are copies, not views of the dataset
    seen = np.concatenate([b.numpy() for _, b in fast])
    np.testing.assert_array_equal(np.sort(np.concatenate([x.numpy()[:, 0] for x, _ in fast])),
                                  np.sort(X.numpy()[:, 0]))
    assert len(seen) == 50
    fast[0][0]._data[...] = 0
    assert not (X.numpy() == 0).all(axis=1).any()


def test_shuffle_reproducible_with_generator():
    ds = TensorDataset(nt.arange(20))

    def order(seed):
        return [int(v) for (b,) in DataLoader(ds, batch_size=4, shuffle=True,
                                               generator=nt.Generator().manual_seed(seed)) for v in b]

    assert order(0) == order(0)
    assert order(0) != order(1)
    assert sorted(order(0)) == list(range(20))
    nt.manual_seed(5)
    a = [int(v) for (b,) in DataLoader(ds, batch_size=4, shuffle=True) for v in b]
    nt.manual_seed(5)
    b = [int(v) for (b,) in DataLoader(ds, batch_size=4, shuffle=True) for v in b]
    assert a == b


def test_new_order_each_epoch():
    loader = DataLoader(TensorDataset(nt.arange(30)), batch_size=30, shuffle=True,
                        generator=nt.Generator().manual_seed(0))
    e1, e2 = next(iter(loader))[0].tolist(), next(iter(loader))[0].tolist()
    assert e1 != e2 and sorted(e1) == sorted(e2) == list(range(30))


# ---- samplers -------------------------------------------------------------------------------

def test_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    g = nt.Generator().manual_seed(0)
    perm = list(RandomSampler(range(10), generator=g))
    assert sorted(perm) == list(range(10)) and all(isinstance(i, int) for i in perm)
    over = list(RandomSampler(range(4), num_samples=10, generator=g))     # 2 full permutations + 2
    assert len(over) == 10 and sorted(over[:4]) == sorted(over[4:8]) == [0, 1, 2, 3]
    rep = list(RandomSampler(range(3), replacement=True, num_samples=50, generator=g))
    assert len(rep) == 50 and set(rep) <= {0, 1, 2}
    sub = list(SubsetRandomSampler([5, 7, 9], generator=g))
    assert sorted(sub) == [5, 7, 9]
    w = list(WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 200, generator=g))
    assert set(w) == {1, 3} and 100 < w.count(3) < 190
    nw = list(WeightedRandomSampler([1.0, 1.0, 1.0, 0.0], 3, replacement=False, generator=g))
    assert sorted(nw) == [0, 1, 2]
    assert list(BatchSampler(SequentialSampler(range(7)), 3, False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(range(7), 3, True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, True)) == 2 and len(BatchSampler(range(7), 3, False)) == 3


def test_sampler_lengths_match_torch(torch):
    T = torch.utils.data
    assert len(RandomSampler(range(7), num_samples=20)) == len(T.RandomSampler(range(7), num_samples=20))
    assert len(WeightedRandomSampler([1.0, 2.0], 9)) == len(T.WeightedRandomSampler([1.0, 2.0], 9))
    for drop in (True, False):
        assert len(BatchSampler(range(10), 4, drop)) == len(T.BatchSampler(range(10), 4, drop))


def test_sampler_errors():
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="weights should be a 1d sequence"):
        WeightedRandomSampler([[1.0]], 1)


# ---- datasets -------------------------------------------------------------------------------

def test_tensor_dataset_and_errors():
    ds = TensorDataset(nt.arange(4), nt.arange(4) * 10)
    assert len(ds) == 4 and [int(v) for v in ds[2]] == [2, 20]
    with pytest.raises(ValueError, match="Size mismatch between tensors"):
        TensorDataset(nt.zeros(3), nt.zeros(4))


def test_concat_and_subset():
    a, b = Squares(3), Squares(4)
    c = a + b
    assert isinstance(c, ConcatDataset) and len(c) == 7 and c.cumulative_sizes == [3, 7]
    assert c[3]["y"] == 0 and c[-1]["y"] == 3 and c[2]["y"] == 2
    with pytest.raises(ValueError, match="absolute value of index"):
        c[-8]
    s = Subset(b, [3, 1])
    assert len(s) == 2 and s[0]["y"] == 3
    assert [d["y"] for d in s.__getitems__([1, 0])] == [1, 3]
    with pytest.raises(ValueError, match="ConcatDataset does not support IterableDataset"):
        ConcatDataset([Stream(2)])


@pytest.mark.parametrize("n,lengths", [(10, [3, 7]), (10, [0.5, 0.5]), (11, [0.3, 0.3, 0.4]), (7, [0.1, 0.9]),
                                       (5, [1.0])])
def test_random_split_sizes_match_torch(torch, n, lengths):
    ours = random_split(range(n), lengths, generator=nt.Generator().manual_seed(0))
    ref = torch.utils.data.random_split(range(n), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in ref]
    assert sorted(i for s in ours for i in s) == list(range(n))   # disjoint and complete


def test_random_split_reproducible_and_errors():
    a = [list(s) for s in random_split(range(20), [5, 15], generator=nt.Generator().manual_seed(4))]
    b = [list(s) for s in random_split(range(20), [5, 15], generator=nt.Generator().manual_seed(4))]
    assert a == b
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        random_split(range(5), [2, 2])


# ---- DataLoader options -----------------------------------------------------------------------

def test_dataloader_option_errors():
    ds = Squares(4)
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(ds, sampler=SequentialSampler(ds), shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_sampler=[[0]], batch_size=2)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified"):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(ds, persistent_workers=True)
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        DataLoader(Stream(3), shuffle=True)
    with pytest.raises(ValueError, match="disables auto-batching"):
        DataLoader(ds, batch_size=None, drop_last=True)


def test_num_workers_same_batches_as_single_process():
    ds = TensorDataset(nt.arange(23))
    serial = [b.tolist() for (b,) in DataLoader(ds, batch_size=5)]
    ids = []
    loader = DataLoader(ds, batch_size=5, num_workers=2, worker_init_fn=ids.append, persistent_workers=True)
    assert [b.tolist() for (b,) in loader] == serial == [b.tolist() for (b,) in loader]
    assert ids == []   # worker_init_fn runs in the worker processes (tests/test_dataloader_workers.py)
    assert get_worker_info() is None


def test_num_workers_propagates_errors_and_stops_early():
    class Bad(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            if i == 2:
                raise KeyError("sample 2 is broken")
            return i

    with pytest.raises(KeyError, match="sample 2 is broken"):
        list(DataLoader(Bad(), batch_size=1, num_workers=1))
    before = threading.active_count()
    for i, _ in enumerate(DataLoader(TensorDataset(nt.arange(1000)), batch_size=1, num_workers=1)):
        if i == 3:
            break
    time.sleep(0.5)
    assert threading.active_count() <= before


def test_worker_info_inside_worker():
    class Info(IterableDataset):
        def __iter__(self):
            info = get_worker_info()
            yield -1 if info is None else info.id
            yield 0 if info is None else info.num_workers

    assert [int(b) for b in DataLoader(Info(), batch_size=None, num_workers=1)] == [0, 1]
    assert [int(b) for b in DataLoader(Info(), batch_size=None)] == [-1, 0]


def test_timeout():
    class Slow(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            time.sleep(1.0)
            return i

    with pytest.raises(RuntimeError, match="timed out after 0.1 seconds"):
        list(DataLoader(Slow(), num_workers=1, timeout=0.1))


def test_fast_path_through_random_split_subsets():
    """Subsets (from random_split, nested) of a TensorDataset batch by one gather, same as per sample."""
    X = nt.arange(40).reshape(20, 2)
    y = nt.arange(20) * 10
    train, _ = random_split(TensorDataset(X, y), [0.75, 0.25], generator=nt.Generator().manual_seed(2))
    inner = Subset(train, [4, 0, 9, 9, 3])
    for ds in (train, inner):
        fast = list(DataLoader(ds, batch_size=4))
        slow = list(DataLoader(ds, batch_size=4, collate_fn=default_collate))
        expect = [ds[i] for i in range(len(ds))]
        assert len(fast) == len(slow) == -(-len(ds) // 4)
        for (a, b), (c, d) in zip(fast, slow):
            assert a.tolist() == c.tolist() and b.tolist() == d.tolist()
        assert [int(v) for _, b in fast for v in b] == [int(e[1]) for e in expect]


def test_sampler_subclass_iter_is_respected():
    class Reversed(SequentialSampler):
        def __iter__(self):
            return iter(reversed(range(len(self.data_source))))

    ds = TensorDataset(nt.arange(5))
    assert [int(v) for (b,) in DataLoader(ds, batch_size=2, sampler=Reversed(ds)) for v in b] == [4, 3, 2, 1, 0]
