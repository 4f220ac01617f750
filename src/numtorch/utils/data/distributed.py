"""``DistributedSampler``: each rank of a data-parallel job reads its own share of the dataset.

With ``num_replicas`` ranks, one epoch's index list (shuffled by ``seed + epoch``, the same on every
rank) is padded by repeating its first indices until its length divides evenly, and rank ``r``
takes every ``num_replicas``-th index starting at ``r``.  The ranks' shares are disjoint (up to the
padding), equally long, and together cover the dataset -- the same index lists as PyTorch's
sampler when not shuffling.  Call ``set_epoch(epoch)`` before each epoch so the order changes.

    sampler = DistributedSampler(train_set, shuffle=True, seed=0)
    loader = DataLoader(train_set, batch_size=64, sampler=sampler)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for x, y in loader: ...
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from numtorch.distributed.launch import LaunchContext
from numtorch.utils.data.sampler import Sampler

__all__ = ["DistributedSampler"]


class DistributedSampler(Sampler):
    """Restricts loading to this rank's share of ``dataset``.

    Args:
        dataset: anything with ``len()``.
        num_replicas: number of ranks (default: the world size of the default process group).
        rank: this rank (default: its rank in the default process group).
        shuffle: permute the indices each epoch (with ``seed + epoch``), identically on every rank.
        seed: the shuffle's base seed; must be the same on every rank.
        drop_last: drop the tail so every rank gets ``len(dataset) // num_replicas`` indices,
            instead of padding with repeated indices to ``ceil(len(dataset) / num_replicas)``.
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            import numtorch.distributed as dist
            if not dist.is_initialized():
                raise RuntimeError("DistributedSampler: pass num_replicas and rank, or call "
                                   "numtorch.distributed.init_process_group first")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas, self.rank = num_replicas, rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle, self.seed = shuffle, seed

    def _index_array(self) -> np.ndarray:
        """This rank's indices for the current epoch, as one int64 array."""
        n = len(self.dataset)
        if self.shuffle:
            rng = np.random.Generator(np.random.PCG64(self.seed + self.epoch))
            indices = rng.permutation(n)
        else:
            indices = np.arange(n)
        if self.drop_last:
            indices = indices[:self.total_size]
        elif self.total_size > n:  # pad by repeating from the start (several times if n is tiny)
            indices = np.resize(indices, self.total_size)
        return indices[self.rank:self.total_size:self.num_replicas].astype(np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self._index_array().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch whose permutation ``__iter__`` uses (call before each epoch when shuffling)."""
        self.epoch = epoch


LaunchContext.DistributedSampler = DistributedSampler  # what launch_context().sampler() builds
