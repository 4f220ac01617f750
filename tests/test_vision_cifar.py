"""CIFAR-10/100 readers on small fake files of both releases; the restricted pickle reader refuses code."""
from __future__ import annotations

import pickle  # used only to WRITE fake Python-release files; loading goes through safe_unpickle

import numpy as np
import pytest

from numtorch.vision.datasets import CIFAR10, CIFAR100
from numtorch.vision.datasets.cifar import UnpicklingError, safe_unpickle


def _images(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)


def test_cifar10_binary(tmp_path):
    d = tmp_path / "cifar-10-batches-bin"
    d.mkdir()
    expected_imgs, expected_labels = [], []
    for i, name in enumerate([f"data_batch_{k}.bin" for k in range(1, 6)] + ["test_batch.bin"]):
        imgs, labels = _images(3, i), np.arange(3, dtype=np.uint8) + i
        rec = np.concatenate([labels[:, None], imgs.reshape(3, -1)], axis=1)
        rec.tofile(d / name)
        expected_imgs.append(imgs), expected_labels.append(labels)
    train = CIFAR10(tmp_path, train=True)
    test = CIFAR10(tmp_path, train=False)
    assert len(train) == 15 and len(test) == 3
    assert train.data.shape == (15, 32, 32, 3) and train.data.dtype == np.uint8
    np.testing.assert_array_equal(train.data[4], expected_imgs[1][1].transpose(1, 2, 0))
    assert train.targets[:6] == [0, 1, 2, 1, 2, 3]
    img, target = test[2]
    np.testing.assert_array_equal(_hwc(img), expected_imgs[5][2].transpose(1, 2, 0))
    assert target == 7


def test_cifar100_binary_fine_label(tmp_path):
    d = tmp_path / "cifar-100-binary"
    d.mkdir()
    imgs = _images(4, 0)
    coarse, fine = np.array([1, 2, 3, 4], np.uint8), np.array([50, 60, 70, 99], np.uint8)
    np.concatenate([coarse[:, None], fine[:, None], imgs.reshape(4, -1)], axis=1).tofile(d / "train.bin")
    (d / "fine_label_names.txt").write_text("\n".join(f"c{i}" for i in range(100)) + "\n")
    ds = CIFAR100(tmp_path, train=True, target_transform=lambda t: t + 1000)
    assert ds.targets == [50, 60, 70, 99] and ds[3][1] == 1099 and ds.classes[99] == "c99"
    np.testing.assert_array_equal(ds.data[0], imgs[0].transpose(1, 2, 0))


def _hwc(img):
    """A data set item (PIL image, or uint8 tensor C x H x W without Pillow) as an H x W x C array."""
    return img.numpy().transpose(1, 2, 0) if hasattr(img, "numpy") else np.asarray(img)


@pytest.mark.parametrize("protocol", [2, 4])
def test_cifar10_python_release(tmp_path, protocol):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        imgs = _images(2, i)
        batch = {b"batch_label": b"batch", b"labels": [i, 9 - i], b"data": imgs.reshape(2, -1),
                 b"filenames": [b"a.png", b"b.png"]}
        (d / name).write_bytes(pickle.dumps(batch, protocol=protocol))
    # items are PIL images, as torchvision's (uint8 tensors C x H x W without Pillow)
    ds = CIFAR10(tmp_path, train=False, transform=lambda a: _hwc(a).astype(np.float32) / 255)
    img, target = ds[1]
    assert target == 4 and img.dtype == np.float32
    np.testing.assert_allclose(img, _images(2, 5)[1].transpose(1, 2, 0) / 255, rtol=1e-6)
    assert CIFAR10(tmp_path).targets == [0, 9, 1, 8, 2, 7, 3, 6, 4, 5]


def test_safe_unpickle_plain_data_and_arrays():
    obj = {"a": [1, -2, 3.5, None, True], b"b": (b"xy", "é"), "big": 2 ** 70,
           "arr": np.arange(12, dtype=np.float32).reshape(3, 4), "f": np.asfortranarray(np.eye(2))}
    for protocol in (2, 3, 4, 5):
        out = safe_unpickle(pickle.dumps(obj, protocol=protocol))
        assert out["a"] == obj["a"] and out[b"b"] == obj[b"b"] and out["big"] == 2 ** 70
        np.testing.assert_array_equal(out["arr"], obj["arr"])
        assert out["arr"].dtype == np.float32
        np.testing.assert_array_equal(out["f"], np.eye(2))


class _Evil:
    def __reduce__(self):
        import os
        return (os.system, ("echo pwned",))


def test_safe_unpickle_refuses_code():
    with pytest.raises(UnpicklingError, match="refusing"):
        safe_unpickle(pickle.dumps({"x": _Evil()}, protocol=2))
    with pytest.raises(UnpicklingError):
        safe_unpickle(pickle.dumps(np.array([object()], dtype=object), protocol=2))


def test_missing_dataset_message(tmp_path):
    with pytest.raises(RuntimeError, match="download=True"):
        CIFAR10(tmp_path)


def test_image_folder(tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image
    from numtorch.vision.datasets import ImageFolder
    from numtorch.vision import transforms as T
    for cls, color in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.new("RGB", (5, 4), color).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    ds = ImageFolder(tmp_path, transform=T.ToTensor())
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    assert len(ds) == 4 and ds.targets == [0, 0, 1, 1]
    img, target = ds[3]
    assert target == 1 and tuple(img.shape) == (3, 4, 5)
    np.testing.assert_allclose(img.numpy()[:, 0, 0], [0, 0, 1])
