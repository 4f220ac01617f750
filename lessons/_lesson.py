"""What every lesson shares: where figures go, where data lives, and whether to run short.

* ``NUMTORCH_LESSON_OUT``: the folder for the figures (default ``lessons/out/``, ignored by git).
* ``NUMTORCH_DATA``: the folder holding ``mnist/`` and ``tinyshakespeare/`` (default ``../shared/data``
  next to the repository); lessons that need it fall back to scikit-learn's 8x8 digits.
* ``NUMTORCH_LESSON_FAST=1``: fewer training steps (the tests use it); the claims still hold.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FAST = os.environ.get("NUMTORCH_LESSON_FAST", "") not in ("", "0")


def out_dir() -> Path:
    """The folder for this lesson's figures, created if needed."""
    d = Path(os.environ.get("NUMTORCH_LESSON_OUT") or ROOT / "lessons" / "out")
    d.mkdir(parents=True, exist_ok=True)
    return d


def data_dir() -> Path:
    """``$NUMTORCH_DATA``, or ``../shared/data`` relative to the repository root."""
    return Path(os.environ.get("NUMTORCH_DATA") or ROOT.parent / "shared" / "data")


def save(fig, name: str) -> Path:
    """Writes ``fig`` as ``<out>/<name>`` (PNG, atomically) and says where."""
    from numtorch.viz import save_figure
    path = save_figure(fig, out_dir() / name)
    print("figure:", path)
    return path


def digits(flat: bool = True):
    """The 8x8 digits (float32 in [0, 1]) split as numtorch does: ``(x_train, t_train, x_test, t_test)``."""
    from numtorch.vision.datasets import held_out_mask, load_digits_arrays
    images, labels = load_digits_arrays()
    x = (images.astype(np.float32) / 255.0)
    x = x.reshape(len(x), -1) if flat else x[:, None]
    test = held_out_mask(labels)
    return x[~test], labels[~test], x[test], labels[test]


def mnist(n: int = 10000):
    """The first ``n`` MNIST test images as float32 (n, 784) in [0, 1] and their labels, or None."""
    from numtorch.vision.datasets import read_idx
    d = data_dir() / "mnist"
    images, labels = d / "t10k-images-idx3-ubyte.gz", d / "t10k-labels-idx1-ubyte.gz"
    if not (images.is_file() and labels.is_file()):
        return None
    x = np.asarray(read_idx(images))[:n].reshape(-1, 784).astype(np.float32) / 255.0
    return x, np.asarray(read_idx(labels))[:n].astype(np.int64)
