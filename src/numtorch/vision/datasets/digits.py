"""The 8x8 handwritten digits that scikit-learn ships: a data set that needs no download.

1,797 images of the digits 0-9, each 8x8 pixels with 17 grey levels (0..16).  They are small
enough that the two-layer net trains on them in seconds, which makes them numtorch's default for
``numtorch train``.

The split is fixed and documented, so every run sees the same held-out images: within each class,
taken in scikit-learn's order, every fifth image (the 5th, 10th, 15th, ...) is **held out** and the
others form the **training** split -- 1,442 training and 355 held-out images, 34 to 36 of each
digit held out.

The pixels are rescaled from 0..16 to 0..255 (``round(v * 255 / 16)``) and stored as uint8, so the
same transforms as for MNIST apply (``ToTensor`` gives floats in [0, 1]).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Callable, Optional

import numpy as np

import numtorch
from numtorch.vision.datasets.vision import VisionDataset

__all__ = ["Digits", "load_digits_arrays", "held_out_mask"]


def load_digits_arrays() -> tuple:
    """All 1,797 digits as ``(images uint8 (N, 8, 8) in 0..255, labels int64 (N,))``.

    The data is the CSV file scikit-learn ships (``sklearn/datasets/data/digits.csv.gz``: one row
    per image, 64 pixels then the label); reading it directly skips importing scikit-learn, which
    takes seconds.  Where that file is not found, ``sklearn.datasets.load_digits`` is used.
    Raises:
        RuntimeError: scikit-learn is not installed (one line naming the pip extra).
    """
    missing = "the digits data set needs scikit-learn: pip install numtorch[digits]"
    try:
        spec = importlib.util.find_spec("sklearn")
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        raise RuntimeError(missing)
    csv = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    if csv.is_file():
        table = np.loadtxt(csv, delimiter=",", dtype=np.float64)
        pixels, labels = table[:, :64].reshape(-1, 8, 8), table[:, 64]
    else:
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise RuntimeError(missing) from None
        bunch = load_digits()
        pixels, labels = bunch.images, bunch.target
    images = np.rint(pixels * (255.0 / 16.0)).astype(np.uint8)
    return images, labels.astype(np.int64)


def held_out_mask(labels: np.ndarray) -> np.ndarray:
    """True for every fifth sample of each class (ranks 4, 9, 14, ... within the class)."""
    mask = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        mask[idx[4::5]] = True
    return mask


class Digits(VisionDataset):
    """The 8x8 digits as a data set with torchvision's signature.

    Args:
        root: unused (the data comes with scikit-learn); accepted so code written for MNIST runs.
        train: the 1,442 training images when True, the 355 held-out images when False.
        transform: applied to each image (a uint8 tensor of shape (8, 8)).
        target_transform: applied to each label (an int).
        download: unused (nothing to download).

    Attributes:
        data: uint8 tensor (N, 8, 8).  targets: int64 tensor (N,).  classes: "0" ... "9".
    """

    classes = [str(d) for d in range(10)]

    def __init__(self, root=None, train: bool = True, transform: Optional[Callable] = None,
                 target_transform: Optional[Callable] = None, download: bool = False) -> None:
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        images, labels = load_digits_arrays()
        held_out = held_out_mask(labels)
        keep = ~held_out if train else held_out
        self.data = numtorch.from_numpy(np.ascontiguousarray(images[keep]))
        self.targets = numtorch.from_numpy(np.ascontiguousarray(labels[keep]))

    @property
    def class_to_idx(self) -> dict:
        return {c: i for i, c in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        """``(image, target)``: image a uint8 tensor (8, 8) passed through ``transform``."""
        return self._transform_item(self.data[index], int(self.targets._data[index]))

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train else 'Test'}"
