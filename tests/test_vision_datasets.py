"""numtorch.vision.datasets with torchvision's classes, signatures and on-disk layouts.

MNIST is read from the project's real t10k files (linked into torchvision's ``root/MNIST/raw/``
layout in a temporary folder); CIFAR files are written here with Python's own pickle module and read
back by numtorch's restricted reader; ImageFolder trees are PNGs written with Pillow.
"""
import os
import pickle

import numpy as np
import pytest

import numtorch
from numtorch.vision import datasets, transforms
from numtorch.vision.datasets.cifar import UnpicklingError

Image = pytest.importorskip("PIL.Image")


@pytest.fixture
def mnist_root(tmp_path, data_dir):
    src = data_dir / "mnist"
    if not (src / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("shared MNIST files not present")
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        os.symlink(src / name, raw / name)
    return tmp_path


def _no_network(monkeypatch):
    import urllib.request

    def refuse(*args, **kwargs):
        raise AssertionError("the data set tried to use the network")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_mnist_torchvision_layout_items_are_pil(mnist_root, monkeypatch):
    _no_network(monkeypatch)
    ds = datasets.MNIST(mnist_root, train=False, download=True)   # files present: download does nothing
    assert len(ds) == 10000 and ds.data.shape == (10000, 28, 28) and ds.data.dtype == numtorch.uint8
    assert ds.targets[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    img, target = ds[0]
    assert isinstance(img, Image.Image) and img.mode == "L" and img.size == (28, 28) and target == 7
    np.testing.assert_array_equal(np.asarray(img), ds.data.numpy()[0])
    tensor_ds = datasets.MNIST(mnist_root, train=False, transform=transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]))
    x, _ = tensor_ds[1]
    assert x.shape == (1, 28, 28) and x.dtype == numtorch.float32
    np.testing.assert_allclose(x.numpy()[0], (ds.data.numpy()[1] / 255.0 - 0.1307) / 0.3081, rtol=1e-5, atol=1e-5)
    # what PyTorch's examples do with the attributes
    assert ds.data.unsqueeze(1).clone().shape == (10000, 1, 28, 28)
    assert ds.class_to_idx["7 - seven"] == 7


def test_mnist_missing_files_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])  # nothing listens there
    with pytest.raises(RuntimeError) as err:
        datasets.MNIST(tmp_path, train=True, download=True)
    msg = str(err.value)
    assert "train-images-idx3-ubyte" in msg and str(tmp_path / "MNIST" / "raw") in msg
    with pytest.raises(RuntimeError, match="train-images-idx3-ubyte"):
        datasets.MNIST(tmp_path, train=True)


def test_fashion_mnist_layout(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    imgs = np.arange(2 * 28 * 28, dtype=np.uint32).reshape(2, 28, 28).astype(np.uint8)
    header = bytes([0, 0, 8, 3]) + np.array([2, 28, 28], ">u4").tobytes()
    (raw / "t10k-images-idx3-ubyte").write_bytes(header + imgs.tobytes())
    (raw / "t10k-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + np.array([2], ">u4").tobytes() + bytes([9, 3]))
    ds = datasets.FashionMNIST(tmp_path, train=False)
    img, target = ds[0]
    assert target == 9 and ds.classes[9] == "Ankle boot"
    np.testing.assert_array_equal(np.asarray(img), imgs[0])


def _cifar_tree(root, n=3):
    d = root / "cifar-10-batches-py"
    d.mkdir()
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        batches[name] = (data, labels)
        with open(d / name, "wb") as f:   # the original is a Python 2 pickle of a dict with bytes keys
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data,
                         b"filenames": [b"x.png"] * n}, f, protocol=2)
    return batches


def test_cifar10_python_pickles_read_without_unpickling(tmp_path):
    batches = _cifar_tree(tmp_path)
    train = datasets.CIFAR10(tmp_path, train=True, download=True)    # present: nothing downloaded
    test = datasets.CIFAR10(tmp_path, train=False, transform=transforms.ToTensor())
    assert len(train) == 15 and train.data.shape == (15, 32, 32, 3) and train.data.dtype == np.uint8
    assert train.targets == sum((batches[f"data_batch_{k}"][1] for k in range(1, 6)), [])
    img, label = train[4]   # batch 2, row 1: R plane, G plane, B plane of 32 x 32
    expected = batches["data_batch_2"][0][1].reshape(3, 32, 32).transpose(1, 2, 0)
    assert isinstance(img, Image.Image) and img.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(img), expected)
    x, _ = test[0]
    np.testing.assert_allclose(x.numpy(), batches["test_batch"][0][0].reshape(3, 32, 32) / 255.0, rtol=1e-6)
    assert train.classes[3] == "cat" and train.class_to_idx["truck"] == 9


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo unsafe",))


def test_cifar10_refuses_a_pickle_that_calls_code(tmp_path):
    _cifar_tree(tmp_path)
    evil = {b"labels": [0], b"data": np.zeros((1, 3072), np.uint8), b"x": _Payload()}
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(UnpicklingError, match="refusing"):
        datasets.CIFAR10(tmp_path, train=False)


def test_cifar_missing_is_a_runtime_error(tmp_path):
    with pytest.raises(RuntimeError, match="cifar-10-batches"):
        datasets.CIFAR10(tmp_path / "none", train=False)


def test_fake_data_is_deterministic_and_torchvision_shaped():
    before = numtorch.rand(1)
    ds = datasets.FakeData(size=6, image_size=(3, 10, 12), num_classes=4, transform=transforms.ToTensor())
    x0, y0 = ds[0]
    x0b, y0b = ds[0]
    assert len(ds) == 6 and x0.shape == (3, 10, 12) and x0.dtype == numtorch.float32
    np.testing.assert_array_equal(x0.numpy(), x0b.numpy())
    assert y0 == y0b and all(0 <= ds[i][1] < 4 for i in range(6)) and isinstance(y0, int)
    assert not np.array_equal(ds[1][0].numpy(), x0.numpy())
    shifted = datasets.FakeData(size=6, image_size=(3, 10, 12), num_classes=4, transform=transforms.ToTensor(),
                                random_offset=1)
    np.testing.assert_array_equal(shifted[0][0].numpy(), ds[1][0].numpy())   # item i seeds i + offset
    img, _ = datasets.FakeData(2, (1, 5, 7))[1]
    assert isinstance(img, Image.Image) and img.mode == "L" and img.size == (7, 5)
    with pytest.raises(IndexError, match="out of range"):
        ds[6]
    # the global generator is not disturbed by reading items
    numtorch.manual_seed(0)
    a = numtorch.rand(3).numpy()
    numtorch.manual_seed(0)
    ds[2]
    np.testing.assert_array_equal(numtorch.rand(3).numpy(), a)
    assert before.shape == (1,)


def test_image_folder(tmp_path):
    rng = np.random.default_rng(0)
    pixels = {}
    for cls, names in {"dog": ["b.png", "a.png"], "cat": ["z.png"]}.items():
        (tmp_path / cls).mkdir()
        for name in names:
            a = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
            Image.fromarray(a).save(tmp_path / cls / name)
            pixels[(cls, name)] = a
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    ds = datasets.ImageFolder(str(tmp_path), transform=transforms.ToTensor())
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    assert [(os.path.relpath(p, tmp_path), t) for p, t in ds.samples] == [
        (os.path.join("cat", "z.png"), 0), (os.path.join("dog", "a.png"), 1), (os.path.join("dog", "b.png"), 1)]
    assert ds.targets == [0, 1, 1] and len(ds) == 3 and ds.imgs == ds.samples
    x, t = ds[1]
    np.testing.assert_allclose(x.numpy(), pixels[("dog", "a.png")].transpose(2, 0, 1) / 255.0, rtol=1e-6)
    only_b = datasets.ImageFolder(tmp_path, is_valid_file=lambda p: p.endswith("b.png") or p.endswith("z.png"))
    assert len(only_b) == 2 and isinstance(only_b[0][0], Image.Image)
    with pytest.raises(FileNotFoundError):
        datasets.ImageFolder(tmp_path / "dog")   # no class folders inside


def test_vision_dataset_base_class():
    class Squares(datasets.VisionDataset):
        def __getitem__(self, i):
            return self.transforms(i, i * i) if self.transforms else (i, i * i)

        def __len__(self):
            return 4

    ds = Squares("~/x", transform=lambda v: v + 1, target_transform=lambda t: -t)
    assert ds[3] == (4, -9) and ds.root == os.path.expanduser("~/x")
    assert "Number of datapoints: 4" in repr(ds)
    assert Squares(None)[2] == (2, 4)
    with pytest.raises(ValueError, match="Only transforms or transform/target_transform"):
        Squares("r", transforms=lambda a, b: (a, b), transform=lambda v: v)


class _Counted:
    """A transform that counts its calls and has a repr, as torchvision's transforms do."""

    def __init__(self, name, fn):
        self.name, self.fn, self.calls = name, fn, 0

    def __call__(self, v):
        self.calls += 1
        return self.fn(v)

    def __repr__(self):
        return f"{self.name}()"


def _class_folder(root):
    for c in ("cat", "dog"):
        (root / c).mkdir()
        Image.fromarray(np.zeros((2, 3, 3), np.uint8)).save(root / c / "a.png")
    return root


@pytest.mark.parametrize("make", ["FakeData", "CIFAR10", "ImageFolder", "MNIST"])
def test_every_classification_set_is_a_vision_dataset(make, tmp_path, request):
    """One base: transform and target_transform once per item, read at call time; torchvision's repr."""
    img_t, tgt_t = _Counted("Img", lambda v: ("img", v)), _Counted("Plus1", lambda t: t + 1)
    if make == "MNIST":
        root = request.getfixturevalue("mnist_root")
        ds = datasets.MNIST(root, train=False, transform=img_t, target_transform=tgt_t)
    elif make == "CIFAR10":
        _cifar_tree(tmp_path)
        ds = datasets.CIFAR10(tmp_path, train=False, transform=img_t, target_transform=tgt_t)
    elif make == "ImageFolder":
        ds = datasets.ImageFolder(_class_folder(tmp_path), transform=img_t, target_transform=tgt_t)
    else:
        ds = datasets.FakeData(size=3, image_size=(1, 2, 2), transform=img_t, target_transform=tgt_t)
    assert isinstance(ds, datasets.VisionDataset) and isinstance(ds, numtorch.utils.data.Dataset)
    plain = type(ds).__new__(type(ds))
    plain.__dict__.update(ds.__dict__, transform=None, target_transform=None)
    (tag, raw_img), target = ds[1]
    assert tag == "img" and img_t.calls == 1 and tgt_t.calls == 1 and target == plain[1][1] + 1
    assert np.array_equal(np.asarray(raw_img), np.asarray(plain[1][0]))
    ds.transform = None                       # assigned later: the next item takes it
    assert not isinstance(ds[0][0], tuple) and img_t.calls == 1
    lines = repr(ds).splitlines()
    assert lines[0] == f"Dataset {type(ds).__name__}" and lines[1] == f"    Number of datapoints: {len(ds)}"
    assert lines[-3:] == ["    StandardTransform", "Transform: Img()", "Target transform: Plus1()"]
    assert ("    Root location: " + str(tmp_path) in lines) == (make != "FakeData")
    assert ("    Split: Test" in lines) == (make in ("CIFAR10", "MNIST"))
    assert len(ds + ds) == 2 * len(ds)        # a Dataset: + concatenates


def test_detection_sets_take_transforms_or_the_pair_not_both(tmp_path):
    from numtorch.vision.datasets import CocoDetection
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(tmp_path / "a.png")
    ann = {"images": [{"id": 1, "file_name": "a.png"}], "annotations": [], "categories": []}
    (tmp_path / "ann.json").write_text(__import__("json").dumps(ann))
    img_t, tgt_t = _Counted("Img", lambda v: "img"), _Counted("Tgt", lambda t: "tgt")
    ds = CocoDetection(tmp_path, tmp_path / "ann.json", transform=img_t, target_transform=tgt_t)
    assert ds[0] == ("img", "tgt") and img_t.calls == 1 and tgt_t.calls == 1
    joint = CocoDetection(tmp_path, tmp_path / "ann.json", transforms=lambda i, t: (i.size, len(t)))
    assert joint[0] == ((5, 4), 0)
    with pytest.raises(ValueError, match="Only transforms or transform/target_transform"):
        CocoDetection(tmp_path, tmp_path / "ann.json", transforms=lambda i, t: (i, t), transform=img_t)
    canvases = datasets.DigitCanvases(images=np.full((2, 28, 28), 255, np.uint8), labels=[1, 2],
                                      num_canvases=2, transforms=lambda i, t: (tuple(i.shape), t["image_id"]))
    assert canvases[1] == ((1, 96, 96), 1) and isinstance(canvases, datasets.VisionDataset)
