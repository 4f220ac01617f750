"""Datasets: what a ``DataLoader`` draws samples from (the names of ``torch.utils.data``).

A map-style ``Dataset`` has ``__getitem__(i)`` and ``__len__``; an ``IterableDataset`` has
``__iter__`` (a stream).  ``TensorDataset`` wraps tensors that share their first dimension; the
``DataLoader`` gathers its batches with one fancy index per tensor.
"""
from __future__ import annotations

import bisect
import math
import warnings
from itertools import accumulate
from typing import Iterable, Sequence

import numpy as np

from numtorch.random import rng_of
from numtorch.tensor import Tensor

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "ConcatDataset", "ChainDataset", "Subset",
           "random_split"]


class Dataset:
    """A map-style dataset: subclasses define ``__getitem__(index)`` and usually ``__len__()``.

    >>> class Squares(Dataset):
    ...     def __len__(self): return 10
    ...     def __getitem__(self, i): return i, i * i
    """

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset that is a stream of samples: subclasses define ``__iter__``."""

    def __iter__(self):
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")

    def __add__(self, other: "IterableDataset") -> "ChainDataset":
        return ChainDataset([self, other])


class TensorDataset(Dataset):
    """Sample ``i`` is ``tuple(t[i] for t in tensors)``; all tensors share their first dimension.

    >>> import numtorch as torch
    >>> ds = TensorDataset(torch.randn(100, 3), torch.randint(0, 2, (100,)))
    >>> x, y = ds[0]
    """

    def __init__(self, *tensors: Tensor) -> None:
        if any(t.size(0) != tensors[0].size(0) for t in tensors):
            raise ValueError("Size mismatch between tensors: first dimensions are "
                             f"{[t.size(0) for t in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].size(0)


class ConcatDataset(Dataset):
    """The datasets one after another: indices run through the first, then the second, ..."""

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = list(datasets)
        if len(self.datasets) == 0:
            raise ValueError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise ValueError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = list(accumulate(len(d) for d in self.datasets))

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int):
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[d - 1] if d > 0 else 0
        return self.datasets[d][idx - start]


class ChainDataset(IterableDataset):
    """Iterable datasets chained one after another."""

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list[int]) -> list:
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.dataset.__getitems__([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset: Dataset, lengths: Sequence[int | float], generator=None) -> list[Subset]:
    """Splits ``dataset`` at random into non-overlapping ``Subset``s of the given lengths.

    ``lengths`` may be counts summing to ``len(dataset)`` or fractions summing to 1 (each
    ``floor(frac * n)``, the remainder handed out one by one from the first subset on).

    >>> import numtorch as torch
    >>> train, val = random_split(range(10), [0.8, 0.2], generator=torch.Generator().manual_seed(0))
    >>> len(train), len(val)
    (8, 2)
    """
    n = len(dataset)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            counts.append(int(math.floor(n * frac)))
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, c in enumerate(counts):
            if c == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.")
        lengths = counts
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    perm = rng_of(generator).permutation(n).tolist()
    ends = list(accumulate(lengths))
    return [Subset(dataset, perm[end - length:end]) for end, length in zip(ends, lengths)]


def _tensor_source(dataset):
    """``(tensors, index_map)`` when ``dataset`` is a TensorDataset, possibly inside Subsets (as
    ``random_split`` makes them): sample ``i`` is ``tuple(t[index_map[i]] for t in tensors)``
    (``index_map`` None: the identity).  None for any other dataset."""
    index_map = None
    while type(dataset) is Subset:
        ind = np.asarray(dataset.indices, dtype=np.int64)
        index_map = ind if index_map is None else ind[index_map]
        dataset = dataset.dataset
    if type(dataset) is not TensorDataset or not all(isinstance(t, Tensor) for t in dataset.tensors):
        return None
    return dataset.tensors, index_map
