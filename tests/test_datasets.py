"""MNIST / Fashion-MNIST IDX reading and downloads, and the 8x8 digits."""
from __future__ import annotations

import gzip
import hashlib
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

import numtorch
from numtorch.vision import datasets, transforms
from numtorch.vision.datasets.mnist import read_idx

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _idx_bytes(a: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array, written from the format's definition."""
    header = bytes([0, 0, 0x08, a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape)
    return header + a.astype(np.uint8).tobytes()


def _write(folder: Path, stem: str, a: np.ndarray, gz: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (stem + (".gz" if gz else ""))
    payload = _idx_bytes(a)
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


@pytest.fixture
def small():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), rng.integers(0, 10, 5).astype(np.uint8)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("layout", ["torchvision", "flat"])
def test_reads_small_idx_files(tmp_path, small, gz, layout):
    images, labels = small
    folder = tmp_path / "MNIST" / "raw" if layout == "torchvision" else tmp_path
    _write(folder, "t10k-images-idx3-ubyte", images, gz)
    _write(folder, "t10k-labels-idx1-ubyte", labels, gz)
    ds = datasets.MNIST(tmp_path, train=False)
    assert ds.data.dtype == numtorch.uint8 and ds.data.shape == (5, 28, 28)
    assert ds.targets.dtype == numtorch.int64
    np.testing.assert_array_equal(ds.data.numpy(), images)
    np.testing.assert_array_equal(ds.targets.numpy(), labels)
    img, target = ds[3]  # a PIL image of mode "L", as torchvision's (a uint8 tensor without Pillow)
    if isinstance(img, numtorch.Tensor):
        assert img.dtype == numtorch.uint8 and img.shape == (1, 28, 28)
        np.testing.assert_array_equal(img.numpy()[0], images[3])
    else:
        assert img.mode == "L" and img.size == (28, 28)
        np.testing.assert_array_equal(np.asarray(img), images[3])
    assert target == int(labels[3]) and isinstance(target, int)
    assert len(ds) == 5


def test_transform_and_target_transform(tmp_path, small):
    images, labels = small
    _write(tmp_path, "train-images-idx3-ubyte", images, True)
    _write(tmp_path, "train-labels-idx1-ubyte", labels, True)
    ds = datasets.MNIST(tmp_path, transform=transforms.ToTensor(), target_transform=lambda t: t + 100)
    img, target = ds[0]
    assert img.shape == (1, 28, 28) and img.dtype == numtorch.float32
    np.testing.assert_allclose(img.numpy()[0], images[0] / 255.0, rtol=1e-6)
    assert target == int(labels[0]) + 100


def test_fashion_mnist_layout_and_classes(tmp_path, small):
    images, labels = small
    _write(tmp_path / "FashionMNIST" / "raw", "t10k-images-idx3-ubyte", images, False)
    _write(tmp_path / "FashionMNIST" / "raw", "t10k-labels-idx1-ubyte", labels, False)
    ds = datasets.FashionMNIST(tmp_path, train=False)
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot" and len(ds.classes) == 10
    np.testing.assert_array_equal(ds.data.numpy(), images)
    # an MNIST folder is not a Fashion-MNIST one
    with pytest.raises(RuntimeError, match="FashionMNIST"):
        datasets.FashionMNIST(tmp_path / "FashionMNIST", train=True)


def test_idx_header_errors(tmp_path, small):
    images, _ = small
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03\x04" + bytes(10))
    with pytest.raises(RuntimeError, match="not an IDX file"):
        read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(_idx_bytes(images)[:-7])
    with pytest.raises(RuntimeError, match="data bytes"):
        read_idx(short)


def test_missing_files_error_names_files_and_folder(tmp_path):
    from numtorch.vision.datasets.mnist import DatasetNotFoundError
    assert issubclass(DatasetNotFoundError, RuntimeError)
    with pytest.raises(DatasetNotFoundError) as info:
        datasets.MNIST(tmp_path, train=True)
    msg = str(info.value)
    assert "train-images-idx3-ubyte" in msg and "train-labels-idx1-ubyte" in msg
    assert str(tmp_path / "MNIST" / "raw") in msg and "download=True" in msg


def test_offline_download_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])  # nothing listens on port 9
    with pytest.raises(RuntimeError) as info:
        datasets.MNIST(tmp_path, train=False, download=True)
    msg = str(info.value)
    assert "could not download train-images-idx3-ubyte.gz" in msg
    assert str(tmp_path / "MNIST" / "raw") in msg
    assert not [p for p in (tmp_path / "MNIST" / "raw").iterdir()]  # no partial files left


def test_download_checks_md5_and_renames_into_place(tmp_path, small, monkeypatch):
    images, labels = small
    mirror = tmp_path / "mirror"
    files = {"t10k-images-idx3-ubyte.gz": images, "t10k-labels-idx1-ubyte.gz": labels,
             "train-images-idx3-ubyte.gz": images, "train-labels-idx1-ubyte.gz": labels}
    resources = []
    for name, a in files.items():
        path = _write(mirror, name[:-3], a, gz=True)
        resources.append((name, hashlib.md5(path.read_bytes()).hexdigest()))
    monkeypatch.setattr(datasets.MNIST, "mirrors", [mirror.as_uri() + "/"])
    # a wrong checksum: the bad download is deleted and the error says so
    monkeypatch.setattr(datasets.MNIST, "resources", [(n, "0" * 32) for n, _ in resources])
    root = tmp_path / "root"
    with pytest.raises(RuntimeError, match="MD5 mismatch.*deleted"):
        datasets.MNIST(root, train=False, download=True)
    assert list((root / "MNIST" / "raw").iterdir()) == []
    # the right checksums: the files land in torchvision's layout and load
    monkeypatch.setattr(datasets.MNIST, "resources", resources)
    ds = datasets.MNIST(root, train=False, download=True)
    assert sorted(p.name for p in (root / "MNIST" / "raw").iterdir()) == sorted(files)
    np.testing.assert_array_equal(ds.targets.numpy(), labels)


@pytest.fixture
def mnist_dir():
    folder = DATA / "mnist"
    if not (folder / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("shared MNIST files not present")
    return folder


def test_real_mnist_test_files(mnist_dir):
    ds = datasets.MNIST(mnist_dir, train=False)
    assert ds.data.shape == (10000, 28, 28) and ds.data.dtype == numtorch.uint8
    assert ds.targets[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    counts = np.bincount(ds.targets.numpy(), minlength=10).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert int(ds.data.numpy().max()) == 255 and int(ds.data.numpy().min()) == 0
    assert ds.classes[7] == "7 - seven"


def test_digits_split():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits
    ref = load_digits()
    train, held = datasets.Digits(train=True), datasets.Digits(train=False)
    assert len(train) + len(held) == 1797 and len(held) == 355
    assert train.data.dtype == numtorch.uint8 and train.data.shape[1:] == (8, 8)
    counts = np.bincount(held.targets.numpy(), minlength=10)
    assert counts.min() >= 34 and counts.max() <= 36  # every fifth image of each class
    # the first held-out image is the earliest "fifth of its class" in scikit-learn's order,
    # rescaled from 0..16 to 0..255
    first = min(np.flatnonzero(ref.target == c)[4] for c in range(10))
    np.testing.assert_array_equal(held.data[0].numpy(), np.rint(ref.images[first] * 255 / 16))
    assert held[0][1] == ref.target[first]
    assert int(train.data.numpy().max()) == 255
    # the same split every time
    np.testing.assert_array_equal(datasets.Digits(train=False).targets.numpy(), held.targets.numpy())


def test_digits_without_scikit_learn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # as if not installed
    with pytest.raises(RuntimeError, match=r"pip install numtorch\[digits\]"):
        datasets.Digits()
