"""RandomSampler(replacement=True) draws its indices lazily: num_samples may exceed memory."""
import itertools
import time
import tracemalloc

import numpy as np

import numtorch as nt
from numtorch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset


def _first(iterable, k):
    return list(itertools.islice(iterable, k))


def test_huge_num_samples_is_instant_and_memory_flat():
    tracemalloc.start()
    t0 = time.perf_counter()
    s = RandomSampler(range(10), replacement=True, num_samples=10 ** 12)
    first = _first(iter(s), 5)
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(s) == 10 ** 12
    assert len(first) == 5 and all(0 <= i < 10 for i in first)
    assert peak < 1 << 20          # an eager draw would need 8 TB
    assert elapsed < 30.0          # an eager draw would never finish (8 TB)


def test_lazy_draws_are_the_generators_stream():
    # the indices equal one eager draw of the same generator: chunking does not change the stream
    g = nt.Generator().manual_seed(7)
    got = list(RandomSampler(range(13), replacement=True, num_samples=1000, generator=g))
    ref = np.random.Generator(np.random.PCG64(7)).integers(0, 13, size=1000)
    assert got == ref.tolist()


def test_generator_respected_and_epochs_differ():
    def draw(seed):
        return list(RandomSampler(range(100), replacement=True, num_samples=50,
                                  generator=nt.Generator().manual_seed(seed)))
    assert draw(1) == draw(1)
    assert draw(1) != draw(2)
    s = RandomSampler(range(100), replacement=True, num_samples=50, generator=nt.Generator().manual_seed(3))
    assert list(s) != list(s)       # the generator advances between epochs


def test_global_seed_makes_draws_reproducible():
    nt.manual_seed(11)
    a = list(RandomSampler(range(100), replacement=True, num_samples=40))
    nt.manual_seed(11)
    b = list(RandomSampler(range(100), replacement=True, num_samples=40))
    assert a == b


def test_batch_sampler_over_huge_lazy_sampler():
    s = RandomSampler(range(10), replacement=True, num_samples=10 ** 12)
    b = BatchSampler(s, batch_size=4, drop_last=False)
    assert len(b) == 10 ** 12 // 4
    batches = _first(iter(b), 3)
    assert [len(x) for x in batches] == [4, 4, 4]


def test_batches_across_chunks_match_sequence():
    # batch size that does not divide the chunk; the last batch shorter, or dropped
    g = lambda: nt.Generator().manual_seed(5)
    flat = list(RandomSampler(range(9), replacement=True, num_samples=1003, generator=g()))
    for drop_last in (False, True):
        b = BatchSampler(RandomSampler(range(9), replacement=True, num_samples=1003, generator=g()), 10, drop_last)
        got = list(b)
        ref = [flat[i:i + 10] for i in range(0, 1003, 10)]
        if drop_last:
            ref = ref[:-1]
        assert got == ref
        assert len(got) == len(b)


def test_dataloader_huge_lazy_sampler_first_batches():
    ds = TensorDataset(nt.arange(10).float())
    dl = DataLoader(ds, batch_size=8, sampler=RandomSampler(ds, replacement=True, num_samples=10 ** 12,
                                                                generator=nt.Generator().manual_seed(0)))
    (x,), (y,) = _first(iter(dl), 2)
    ref = np.random.Generator(np.random.PCG64(0)).integers(0, 10, size=16).astype(np.float32)
    np.testing.assert_array_equal(np.concatenate([x.numpy(), y.numpy()]), ref)
