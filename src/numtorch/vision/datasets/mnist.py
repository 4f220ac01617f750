"""MNIST and Fashion-MNIST: 28x28 grayscale images of digits / clothes, 10 classes.

The files are in the IDX format (Yann LeCun's): a big-endian header -- two zero bytes, a type
byte (0x08 = uint8), the number of dimensions, then one 4-byte size per dimension -- followed by
the raw array.  Image files have magic 2051 (3 dims: N, 28, 28), label files 2049 (1 dim: N).

Where the files are looked for, in order (gzipped ``.gz`` or not):

* ``root/MNIST/raw/`` (``root/FashionMNIST/raw/``) -- torchvision's layout, where ``download=True``
  writes;
* ``root/`` itself -- a flat folder holding the four files.

>>> from numtorch.vision.datasets import MNIST          # doctest: +SKIP
>>> test = MNIST("data", train=False)                  # doctest: +SKIP
>>> image, label = test[0]; image.size, label            # doctest: +SKIP
((28, 28), 7)
"""
from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional

import numpy as np

import numtorch
from numtorch.vision.datasets._image import to_item
from numtorch.vision.datasets.vision import VisionDataset

__all__ = ["MNIST", "FashionMNIST", "read_idx"]

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path) -> np.ndarray:
    """Reads an IDX file (gzipped when its name ends in ``.gz``) into a NumPy array.

    Args:
        path: the file.
    Returns:
        an array of the file's shape (N, 28, 28 for images; N for labels), native byte order.
    Raises:
        RuntimeError: the file is not IDX or is truncated (its name is in the message).
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise RuntimeError(f"read_idx: cannot read {path}: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise RuntimeError(f"read_idx: {path} is not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise RuntimeError(f"read_idx: {path} holds {len(raw) - offset} data bytes, but its header "
                           f"{list(dims)} ({dtype}) needs {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(dims).astype(dtype.newbyteorder("="))


class DatasetNotFoundError(RuntimeError):
    """The data files are not where the data set looks for them (a ``RuntimeError``, as torchvision's)."""


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class MNIST(VisionDataset):
    """The MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28, uint8.

    Args:
        root: the folder holding ``MNIST/raw/`` (torchvision's layout) or the IDX files themselves.
        train: the training files (``train-*``) when True, the test files (``t10k-*``) when False.
        transform: applied to each image (a 28x28 PIL image, mode "L"), e.g. ``ToTensor()``.
        target_transform: applied to each label (an int).
        download: fetch missing files from the mirrors into ``root/MNIST/raw/``, checking MD5s.

    Attributes:
        data: uint8 tensor (N, 28, 28).  targets: int64 tensor (N,).  classes: the class names.
    """

    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/",
               "http://yann.lecun.com/exdb/mnist/"]
    resources = [("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                 ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
                 ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
                 ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")]
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root, train: bool = True, transform: Optional[Callable] = None,
                 target_transform: Optional[Callable] = None, download: bool = False) -> None:
        super().__init__(Path(root), transform=transform, target_transform=target_transform)
        self.train = train
        if download:
            self.download()
        images, labels = (self._find(stem) for stem in self._stems())
        self.data = numtorch.from_numpy(read_idx(images))
        self.targets = numtorch.from_numpy(read_idx(labels).astype(np.int64))
        if len(self.data) != len(self.targets):
            raise RuntimeError(f"{type(self).__name__}: {images} holds {len(self.data)} images but "
                               f"{labels} holds {len(self.targets)} labels")

    # ---- files ---------------------------------------------------------------------------
    @property
    def raw_folder(self) -> Path:
        """``root/<ClassName>/raw``, torchvision's place for the downloaded files."""
        return self.root / type(self).__name__ / "raw"

    @property
    def class_to_idx(self) -> dict:
        return {c: i for i, c in enumerate(self.classes)}

    def _stems(self) -> tuple:
        split = "train" if self.train else "t10k"
        return f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte"

    def _candidates(self, stem: str) -> list:
        return [folder / (stem + ext) for folder in (self.raw_folder, self.root) for ext in ("", ".gz")]

    def _find(self, stem: str) -> Path:
        for path in self._candidates(stem):
            if path.is_file():
                return path
        names = " and ".join(f"{s}[.gz]" for s in self._stems())
        raise DatasetNotFoundError(
            f"{type(self).__name__}: dataset not found: put {names} in {self.raw_folder} or in "
            f"{self.root}, or pass download=True (needs internet access)")

    def _check_exists(self) -> bool:
        return all(any(p.is_file() for p in self._candidates(s)) for s in self._stems())

    def download(self) -> None:
        """Fetches the four files into ``raw_folder`` unless they are already there.

        Each file goes to a temporary file, its MD5 is checked, and only then is it renamed into
        place; a file with the wrong checksum is deleted and the next mirror is tried.
        """
        if self._check_exists():
            return
        self.raw_folder.mkdir(parents=True, exist_ok=True)
        for filename, md5 in self.resources:
            target = self.raw_folder / filename
            if not target.is_file():
                self._download_one(filename, md5, target)

    def _download_one(self, filename: str, md5: str, target: Path) -> None:
        errors = []
        for mirror in self.mirrors:
            url = mirror + filename
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{filename}.", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as response:
                    for block in iter(lambda: response.read(1 << 20), b""):
                        out.write(block)
                got = _md5(Path(tmp))
                if got != md5:
                    errors.append(f"{url}: MD5 mismatch (got {got}, expected {md5}); the bad download "
                                  f"was deleted")
                    continue
                os.replace(tmp, target)
                return
            except (urllib.error.URLError, OSError) as e:
                errors.append(f"{url}: {getattr(e, 'reason', e)}")
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
        raise RuntimeError(
            f"{type(self).__name__}: could not download {filename} ({'; '.join(errors)}). Offline? Put "
            f"the files {', '.join(n for n, _ in self.resources)} in {self.raw_folder}")

    # ---- the Dataset protocol -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        """``(image, target)``: image a 28x28 ``PIL.Image`` of mode "L", as torchvision's (a uint8 tensor
        (1, 28, 28) when Pillow is not installed), passed through ``transform``."""
        return self._transform_item(to_item(self.data._data[index]), int(self.targets._data[index]))

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train else 'Test'}"


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: the same format and sizes as MNIST, ten kinds of clothes."""

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                 ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
                 ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
                 ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310")]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
               "Bag", "Ankle boot"]
