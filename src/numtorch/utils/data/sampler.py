"""Samplers: the order in which a ``DataLoader`` visits a dataset's indices.

Each sampler is an iterable of indices (``BatchSampler``: of lists of indices).  The random ones
draw from a ``numtorch.Generator`` (or, when none is given, from a generator seeded by the global
one, so ``numtorch.manual_seed`` makes shuffling reproducible).  ``_index_array()`` gives one
epoch's indices as a NumPy array in one call; the ``DataLoader`` uses it to batch without a
Python loop per sample.  ``_index_chunks()`` gives the same indices as a stream of arrays: a
``RandomSampler`` with replacement draws them lazily, a chunk at a time, so ``num_samples`` may be
far larger than memory (PyTorch draws in chunks of 32 as well).
"""
from __future__ import annotations

from typing import Iterable, Iterator, Sequence, Sized

import numpy as np

from numtorch.random import rng_of
from numtorch.creation import as_tensor
from numtorch.tensor import Tensor

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
           "BatchSampler"]


class Sampler:
    """Base class: subclasses define ``__iter__`` (indices) and, where they can, ``__len__``."""

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError


def _epoch_rng(generator) -> np.random.Generator:
    """The generator's NumPy stream; with no generator, a fresh one seeded from the global generator."""
    if generator is not None:
        return rng_of(generator)
    seed = int(rng_of(None).integers(0, 2 ** 63))
    return np.random.Generator(np.random.PCG64(seed))


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def _index_array(self) -> np.ndarray:
        return np.arange(len(self.data_source))

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random order: a permutation per epoch, or ``num_samples`` draws with ``replacement``.

    Args:
        data_source: the dataset (only its length is used).
        replacement: draw with replacement (default False: a permutation).
        num_samples: how many indices per epoch (default ``len(data_source)``).
        generator: a ``numtorch.Generator`` for reproducible orders.
    """

    def __init__(self, data_source: Sized, replacement: bool = False, num_samples: int | None = None,
                 generator=None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={replacement}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got "
                             f"num_samples={self.num_samples}")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _index_array(self) -> np.ndarray:
        chunks = list(self._index_chunks())
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)

    def _index_chunks(self, chunk: int = 32) -> Iterator[np.ndarray]:
        """One epoch's indices as arrays: with replacement, ``chunk`` draws at a time, drawn lazily.

        Drawing k indices in chunks gives the same indices as one call for k (the generator's
        stream is consumed in the same order), so a lazy epoch equals an eager one.
        """
        n, k = len(self.data_source), self.num_samples
        rng = _epoch_rng(self.generator)
        if self.replacement:
            for start in range(0, k, chunk):
                yield rng.integers(0, n, size=min(chunk, k - start))
            return
        for _ in range(k // n):
            yield rng.permutation(n)
        if k % n:
            yield rng.permutation(n)[:k % n]

    def __iter__(self) -> Iterator[int]:
        if self.replacement:
            return (i for c in self._index_chunks() for i in c.tolist())
        return iter(self._index_array().tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order (a new permutation each epoch)."""

    def __init__(self, indices: Sequence[int], generator=None) -> None:
        self.indices = indices
        self.generator = generator

    def _index_array(self) -> np.ndarray:
        order = _epoch_rng(self.generator).permutation(len(self.indices))
        return np.asarray(self.indices)[order] if len(self.indices) else np.zeros(0, dtype=np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self._index_array().tolist())

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """Draws ``num_samples`` indices with probabilities proportional to ``weights``.

    >>> list(WeightedRandomSampler([0.0, 1.0, 0.0], 3))
    [1, 1, 1]
    """

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator=None) -> None:
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got "
                             f"num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement}")
        w = np.asarray(weights.numpy(force=True) if isinstance(weights, Tensor) else weights,
                       dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape {tuple(w.shape)}")
        self.weights = as_tensor(w)
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def _index_array(self) -> np.ndarray:
        w = self.weights.numpy()
        if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise RuntimeError("WeightedRandomSampler: invalid multinomial distribution (weights must be "
                               "finite, non-negative and not all zero)")
        if not self.replacement and self.num_samples > np.count_nonzero(w):
            raise RuntimeError("WeightedRandomSampler: cannot sample n_sample > prob_dist.size(-1) samples "
                               "without replacement")
        return _epoch_rng(self.generator).choice(len(w), size=self.num_samples, replace=self.replacement,
                                                 p=w / w.sum())

    def __iter__(self) -> Iterator[int]:
        return iter(self._index_array().tolist())

    def __len__(self) -> int:
        return self.num_samples


def _has_index_array(sampler) -> bool:
    """Whether the sampler is one of ours, unchanged (a subclass may override ``__iter__``)."""
    return type(sampler) in (SequentialSampler, RandomSampler, SubsetRandomSampler, WeightedRandomSampler)


def _chunks_of(sampler, batch_size: int) -> Iterator[np.ndarray]:
    """The sampler's epoch as index arrays: lazily for a lazy sampler, else one array."""
    if isinstance(sampler, RandomSampler) and sampler.replacement:
        # chunks of at least a few batches, so the per-chunk cost is paid rarely
        return sampler._index_chunks(chunk=max(32, 8 * batch_size))
    return iter((np.asarray(sampler._index_array(), dtype=np.int64),))


def _rebatch(chunks: Iterable[np.ndarray], bs: int, drop_last: bool) -> Iterator[np.ndarray]:
    """Cuts a stream of index arrays into batches of ``bs`` (the last shorter unless ``drop_last``)."""
    rest = np.zeros(0, dtype=np.int64)
    for c in chunks:
        idx = np.concatenate((rest, c)) if len(rest) else np.asarray(c, dtype=np.int64)
        stop = len(idx) - len(idx) % bs
        for start in range(0, stop, bs):
            yield idx[start:start + bs]
        rest = idx[stop:]
    if len(rest) and not drop_last:
        yield rest


class BatchSampler(Sampler):
    """Groups another sampler's indices into lists of ``batch_size`` (the last one shorter unless
    ``drop_last``).

    >>> list(BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=False))
    [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    """

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def _index_batches(self) -> Iterator[np.ndarray]:
        """The batches as NumPy index arrays: one draw from the sampler, then slices."""
        if _has_index_array(self.sampler):
            yield from _rebatch(_chunks_of(self.sampler, self.batch_size), self.batch_size, self.drop_last)
        else:
            for batch in self:
                yield np.asarray(batch, dtype=np.int64)

    def __iter__(self) -> Iterator[list[int]]:
        if _has_index_array(self.sampler):
            for batch in self._index_batches():
                yield batch.tolist()
            return
        batch = []
        for idx in self.sampler:
            batch.append(idx)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size
