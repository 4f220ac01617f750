"""The two-layer net trains on MNIST, and its losses step by step match PyTorch's."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
import numtorch.nn.functional as F
from numtorch.cli import common
from numtorch.cli.train import train
from numtorch.models import MLP, TwoLayerNet
from numtorch.vision.datasets import MNIST


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """Small matrices run fastest on one BLAS thread (two threads on a busy machine are 10x slower)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    try:
        import torch
        before = torch.get_num_threads()
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    with threadpoolctl.threadpool_limits(1):
        yield
    if torch is not None:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def mnist(data_dir):
    """The project's MNIST convention: t10k's first 8,000 images train, the last 2,000 are held out
    (what ``numtorch train --data mnist`` does when the 60,000-image training files are absent)."""
    if not (data_dir / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("shared MNIST files not present")
    bundle = common.load_data("mnist", str(data_dir / "mnist"))
    labels = MNIST(data_dir / "mnist", train=False).targets.numpy()
    assert len(bundle.train) == 8000 and len(bundle.test) == 2000 and "8000" in bundle.note
    np.testing.assert_array_equal(bundle.test.y.numpy(), labels[8000:])
    assert bundle.train.x.shape == (8000, 1, 28, 28) and bundle.train.x.dtype == numtorch.float32
    assert float(bundle.train.x.max()) == 1.0 and float(bundle.train.x.min()) == 0.0
    return bundle


def _config(epochs: int, optimizer: str = "sgd", lr: float = 0.1) -> dict:
    return {"model": "mlp", "data": "mnist", "image_shape": [1, 28, 28], "hidden": 100, "classes": list("0123456789"),
            "epochs": epochs, "batch_size": 100, "lr": lr, "optimizer": optimizer, "weight_decay": 0.0, "seed": 0,
            "augment": False}


def test_two_layer_net_shapes_and_keys():
    net = TwoLayerNet()
    assert list(net.state_dict()) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert net(numtorch.zeros(3, 1, 28, 28)).shape == (3, 10)  # images are flattened
    mlp = MLP([64, 32, 16, 10], activation="tanh")
    assert list(mlp.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert type(mlp[1]).__name__ == "Tanh" and len(mlp) == 5
    with pytest.raises(ValueError, match="activation"):
        MLP([4, 2], activation="nope")


def test_two_layer_net_matches_pytorch_forward_backward(torch):
    net = TwoLayerNet(20, 7, 5)
    ref = torch.nn.Sequential(torch.nn.Linear(20, 7), torch.nn.ReLU(), torch.nn.Linear(7, 5))
    ref.load_state_dict({k.replace("fc1", "0").replace("fc2", "2"): torch.from_numpy(v.numpy().copy())
                         for k, v in net.state_dict().items()})
    x = np.random.default_rng(0).random((4, 20), dtype=np.float32)
    y = np.array([0, 3, 4, 1])
    loss = F.cross_entropy(net(numtorch.from_numpy(x)), numtorch.from_numpy(y))
    loss.backward()
    ref_loss = torch.nn.functional.cross_entropy(ref(torch.from_numpy(x)), torch.from_numpy(y))
    ref_loss.backward()
    assert loss.item() == pytest.approx(ref_loss.item(), abs=1e-6)
    np.testing.assert_allclose(net.fc1.weight.grad.numpy(), ref[0].weight.grad.numpy(), atol=1e-6)
    np.testing.assert_allclose(net.fc2.bias.grad.numpy(), ref[2].bias.grad.numpy(), atol=1e-6)


def test_one_epoch_on_mnist(mnist):
    history = train(_config(1), mnist, progress=False, log=lambda *a: None)["history"]
    assert history["test_acc"][0] >= 0.85
    assert history["step_loss"][-1] < history["step_loss"][0] / 3


def test_five_epochs_on_mnist_reach_092(mnist):
    """The notes' experiment: batch 100, SGD lr 0.1, 8k training images, 5 epochs."""
    history = train(_config(5), mnist, progress=False, log=lambda *a: None)["history"]
    assert history["test_acc"][-1] >= 0.92
    assert history["train_loss"][-1] < history["train_loss"][0]


OPTIMIZERS = [("sgd", {"lr": 0.1}), ("momentum", {"lr": 0.05, "momentum": 0.9}),
              ("adam", {"lr": 1e-3}), ("adamw", {"lr": 1e-3, "weight_decay": 0.05})]


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_losses_match_pytorch_for_20_steps(torch, mnist, name, kwargs):
    net = TwoLayerNet(784, 100, 10)
    ref = torch.nn.Sequential(torch.nn.Linear(784, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
    ref.load_state_dict({k.replace("fc1", "0").replace("fc2", "2"): torch.from_numpy(v.numpy().copy())
                         for k, v in net.state_dict().items()})
    nt_cls, th_cls = {"sgd": ("SGD", "SGD"), "momentum": ("SGD", "SGD"), "adam": ("Adam", "Adam"),
                      "adamw": ("AdamW", "AdamW")}[name]
    opt = getattr(numtorch.optim, nt_cls)(net.parameters(), **kwargs)
    ref_opt = getattr(torch.optim, th_cls)(ref.parameters(), **kwargs)
    x, y = mnist.train.x.numpy().reshape(-1, 784), mnist.train.y.numpy()
    order = np.random.default_rng(1).permutation(len(y))
    for step in range(20):
        idx = order[step * 100:(step + 1) * 100]
        xb, yb = x[idx], y[idx]
        loss = F.cross_entropy(net(numtorch.from_numpy(xb)), numtorch.from_numpy(yb))
        opt.zero_grad()
        loss.backward()
        opt.step()
        ref_loss = torch.nn.functional.cross_entropy(ref(torch.from_numpy(xb)), torch.from_numpy(yb))
        ref_opt.zero_grad()
        ref_loss.backward()
        ref_opt.step()
        assert abs(loss.item() - ref_loss.item()) < 1e-4, (name, step, loss.item(), ref_loss.item())
    np.testing.assert_allclose(net.fc2.weight.detach().numpy(), ref[2].weight.detach().numpy(), atol=1e-4)


def test_augment_batch_shifts_and_flips():
    x = np.arange(2 * 1 * 4 * 4, dtype=np.float32).reshape(2, 1, 4, 4) + 1
    rng = np.random.default_rng(3)
    out = common.augment_batch(numtorch.from_numpy(x), np.random.default_rng(3), flip=False, pad=1).numpy()
    dy, dx = rng.integers(0, 3, 2), rng.integers(0, 3, 2)  # the offsets augment_batch draws
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for i in range(2):  # each sample is its own window of the zero-padded image
        np.testing.assert_array_equal(out[i], padded[i, :, dy[i]:dy[i] + 4, dx[i]:dx[i] + 4])
    flipped = common.augment_batch(numtorch.from_numpy(x), np.random.default_rng(0), flip=True, pad=0).numpy()
    for i in range(2):
        assert np.array_equal(flipped[i], x[i]) or np.array_equal(flipped[i], x[i, :, :, ::-1])
