"""Datasets over encoded text: fixed-length (x, y) windows where y is x shifted by one token."""
from __future__ import annotations

from pathlib import Path

import numpy as np

import numtorch
from numtorch.utils.data.dataset import Dataset

__all__ = ["TextWindows", "split_text", "load_text"]


def load_text(path) -> str:
    """The whole file as text (UTF-8), with a clear error when it is missing."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"text file not found: {p}")
    return p.read_text(encoding="utf-8")


def split_text(data, train_fraction: float = 0.9):
    """(first ``train_fraction`` of ``data``, the rest): the held-out part is the end, never shuffled in."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"split_text: train_fraction must be in (0, 1), got {train_fraction}")
    n = int(len(data) * train_fraction)
    return data[:n], data[n:]


class TextWindows(Dataset):
    """All windows of ``block_size`` consecutive tokens: item i is (data[i:i+T], data[i+1:i+T+1]).

    Args:
        data: encoded text (a list, a 1-D integer array or tensor).
        block_size: T, the window length.
    Items are int64 tensors of shape (T,).  ``sample_batch(batch_size, generator)`` draws a batch of
    random windows in one vectorised gather (what a language-model training loop needs).
    """

    def __init__(self, data, block_size: int) -> None:
        arr = data.numpy() if hasattr(data, "numpy") else np.asarray(data)
        self.data = arr.astype(np.int64, copy=False).reshape(-1)
        if block_size < 1:
            raise ValueError(f"TextWindows: block_size must be >= 1, got {block_size}")
        if len(self.data) <= block_size:
            raise ValueError(f"TextWindows: the text ({len(self.data)} tokens) must be longer than "
                             f"block_size ({block_size})")
        self.block_size = block_size

    def __len__(self) -> int:
        return len(self.data) - self.block_size

    def __getitem__(self, i: int):
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"TextWindows: index {i} out of range for {n} windows")
        i %= n
        T = self.block_size
        return (numtorch.from_numpy(self.data[i:i + T].copy()),
                numtorch.from_numpy(self.data[i + 1:i + T + 1].copy()))

    def batch(self, starts):
        """(x, y) of shape (len(starts), T) for the windows starting at ``starts``."""
        starts = np.asarray(starts, dtype=np.int64)
        idx = starts[:, None] + np.arange(self.block_size)
        return numtorch.from_numpy(self.data[idx]), numtorch.from_numpy(self.data[idx + 1])

    def sample_batch(self, batch_size: int, generator=None):
        """``batch_size`` windows at uniformly random starts, drawn from ``generator`` (or the global one)."""
        from numtorch.random import rng_of
        return self.batch(rng_of(generator).integers(0, len(self), size=batch_size))
