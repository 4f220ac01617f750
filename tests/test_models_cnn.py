"""Whole-model checks: with identical weights, SimpleConvNet, ResNet-20, ResNet-18 and DenseNet give PyTorch's
outputs and parameter gradients (PyTorch references written here; torchvision's when importable)."""
from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np
import pytest

import numtorch
from numtorch import models, nn


def _copy_weights(src: nn.Module, dst, torch) -> None:
    """Loads numtorch ``src``'s state_dict into the PyTorch module ``dst`` (same keys, same shapes)."""
    sd = src.state_dict()
    tsd = dst.state_dict()
    assert list(sd.keys()) == list(tsd.keys()), "state_dict keys differ from PyTorch's"
    for k, v in tsd.items():
        assert tuple(sd[k].shape) == tuple(v.shape), f"{k}: {tuple(sd[k].shape)} != {tuple(v.shape)}"
    dst.load_state_dict({k: torch.tensor(np.asarray(v.numpy())) for k, v in sd.items()})


def _compare(model: nn.Module, tmodel, torch, shape, train: bool = True, rtol: float = 1e-4) -> None:
    """Same float64 weights and batch: outputs, every parameter gradient and the running stats agree."""
    model.double()
    tmodel.double()
    _copy_weights(model, tmodel, torch)
    model.train(train), tmodel.train(train)
    x = np.random.default_rng(0).standard_normal(shape)
    y, ty = model(numtorch.tensor(x)), tmodel(torch.tensor(x))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=rtol, atol=1e-8)
    gy = np.random.default_rng(1).standard_normal(tuple(ty.shape))
    y.backward(numtorch.tensor(gy))
    ty.backward(torch.tensor(gy))
    tparams = dict(tmodel.named_parameters())
    for name, p in model.named_parameters():
        scale = np.abs(tparams[name].grad.numpy()).max() + 1e-12
        np.testing.assert_allclose(p.grad.numpy() / scale, tparams[name].grad.numpy() / scale,
                                   rtol=rtol, atol=rtol, err_msg=name)
    tsd = tmodel.state_dict()
    for k, v in model.state_dict().items():
        np.testing.assert_allclose(v.numpy(), tsd[k].numpy(), rtol=rtol, atol=1e-8, err_msg=k)


# ---- PyTorch references ------------------------------------------------------------------

def _torch_simple(torch):
    tnn = torch.nn

    class Ref(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.relu1, self.pool1 = tnn.Conv2d(1, 30, 5), tnn.ReLU(), tnn.MaxPool2d(2, 2)
            self.flatten = tnn.Flatten()
            self.fc1, self.relu2, self.fc2 = tnn.Linear(4320, 100), tnn.ReLU(), tnn.Linear(100, 10)

        def forward(self, x):
            return self.fc2(self.relu2(self.fc1(self.flatten(self.pool1(self.relu1(self.conv1(x)))))))
    return Ref()


def _torch_resnet_blocks(torch):
    tnn, F = torch.nn, torch.nn.functional

    class Shortcut(tnn.Module):
        def __init__(self, p):
            super().__init__()
            self.p = p

        def forward(self, x):
            return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.p, self.p))

    class Block(tnn.Module):
        expansion = 1

        def __init__(self, inp, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = tnn.Conv2d(inp, planes, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(planes)
            self.relu = tnn.ReLU(inplace=True)
            self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(planes)
            self.downsample = downsample

        def forward(self, x):
            idt = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += idt
            return self.relu(out)
    return Shortcut, Block


def _torch_resnet20(torch, shortcut):
    tnn = torch.nn
    Shortcut, Block = _torch_resnet_blocks(torch)

    class Ref(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1, self.relu = tnn.Conv2d(3, 16, 3, 1, 1, bias=False), tnn.BatchNorm2d(16), tnn.ReLU()
            inp, stages = 16, []
            for planes, stride in ((16, 1), (32, 2), (64, 2)):
                blocks = []
                for s in (stride, 1, 1):
                    ds = None
                    if s != 1 or inp != planes:
                        ds = Shortcut(planes // 4) if shortcut == "A" else tnn.Sequential(
                            tnn.Conv2d(inp, planes, 1, s, bias=False), tnn.BatchNorm2d(planes))
                    blocks.append(Block(inp, planes, s, ds))
                    inp = planes
                stages.append(tnn.Sequential(*blocks))
            self.layer1, self.layer2, self.layer3 = stages
            self.avgpool, self.fc = tnn.AdaptiveAvgPool2d(1), tnn.Linear(64, 10)

        def forward(self, x):
            x = self.layer3(self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x))))))
            return self.fc(self.avgpool(x).flatten(1))
    return Ref()


def _torch_resnet18(torch, num_classes):
    """torchvision's resnet18, re-written (torchvision is not a dependency)."""
    tnn = torch.nn
    _, Block = _torch_resnet_blocks(torch)

    class Ref(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1, self.relu = tnn.BatchNorm2d(64), tnn.ReLU(inplace=True)
            self.maxpool = tnn.MaxPool2d(3, 2, 1)
            inp = 64
            for i, planes in enumerate((64, 128, 256, 512)):
                stride = 1 if i == 0 else 2
                ds = None
                if stride != 1 or inp != planes:
                    ds = tnn.Sequential(tnn.Conv2d(inp, planes, 1, stride, bias=False), tnn.BatchNorm2d(planes))
                setattr(self, f"layer{i + 1}", tnn.Sequential(Block(inp, planes, stride, ds), Block(planes, planes)))
                inp = planes
            self.avgpool, self.fc = tnn.AdaptiveAvgPool2d((1, 1)), tnn.Linear(512, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))
    return Ref()


def _torch_densenet(torch, growth, blocks, init, num_classes, small):
    """torchvision's DenseNet structure (same module names), re-written."""
    tnn, F = torch.nn, torch.nn.functional

    class Layer(tnn.Module):
        def __init__(self, nin):
            super().__init__()
            self.norm1, self.relu1 = tnn.BatchNorm2d(nin), tnn.ReLU(inplace=True)
            self.conv1 = tnn.Conv2d(nin, 4 * growth, 1, bias=False)
            self.norm2, self.relu2 = tnn.BatchNorm2d(4 * growth), tnn.ReLU(inplace=True)
            self.conv2 = tnn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

        def forward(self, feats):
            x = torch.cat(feats, 1)
            return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))

    class Block(tnn.ModuleDict):
        def __init__(self, n, nin):
            super().__init__()
            for i in range(n):
                self.add_module(f"denselayer{i + 1}", Layer(nin + i * growth))

        def forward(self, x):
            feats = [x]
            for layer in self.values():
                feats.append(layer(feats))
            return torch.cat(feats, 1)

    class Ref(tnn.Module):
        def __init__(self):
            super().__init__()
            stem = [("conv0", tnn.Conv2d(3, init, 3, 1, 1, bias=False))] if small else [
                ("conv0", tnn.Conv2d(3, init, 7, 2, 3, bias=False)), ("norm0", tnn.BatchNorm2d(init)),
                ("relu0", tnn.ReLU(inplace=True)), ("pool0", tnn.MaxPool2d(3, 2, 1))]
            self.features = tnn.Sequential(OrderedDict(stem))
            nf = init
            for i, n in enumerate(blocks):
                self.features.add_module(f"denseblock{i + 1}", Block(n, nf))
                nf += n * growth
                if i != len(blocks) - 1:
                    self.features.add_module(f"transition{i + 1}", tnn.Sequential(OrderedDict([
                        ("norm", tnn.BatchNorm2d(nf)), ("relu", tnn.ReLU(inplace=True)),
                        ("conv", tnn.Conv2d(nf, nf // 2, 1, bias=False)), ("pool", tnn.AvgPool2d(2, 2))])))
                    nf //= 2
            self.features.add_module("norm5", tnn.BatchNorm2d(nf))
            self.classifier = tnn.Linear(nf, num_classes)

        def forward(self, x):
            out = F.adaptive_avg_pool2d(F.relu(self.features(x)), (1, 1)).flatten(1)
            return self.classifier(out)
    return Ref()


# ---- tests -------------------------------------------------------------------------------

def test_simple_conv_net_vs_torch(torch):
    m = models.SimpleConvNet()
    assert [k for k, _ in m.named_parameters()] == ["conv1.weight", "conv1.bias", "fc1.weight", "fc1.bias",
                                                    "fc2.weight", "fc2.bias"]
    _compare(m, _torch_simple(torch), torch, (2, 1, 28, 28))


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_resnet20_vs_torch(torch, shortcut):
    m = models.resnet20(shortcut=shortcut)
    n_params = sum(p.numel() for p in m.parameters())
    convs = 3 * 16 * 9 + 6 * 16 * 16 * 9 + 16 * 32 * 9 + 5 * 32 * 32 * 9 + 32 * 64 * 9 + 5 * 64 * 64 * 9
    bns = 2 * (16 + 6 * 16 + 6 * 32 + 6 * 64)
    extra = 0 if shortcut == "A" else 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64  # option B: 1x1 conv + BN
    assert n_params == convs + bns + 64 * 10 + 10 + extra  # 269,722 for option A (He et al.: 0.27M)
    _compare(m, _torch_resnet20(torch, shortcut), torch, (2, 3, 16, 16))


def test_resnet20_eval_float32(torch):
    m, tm = models.resnet20(), _torch_resnet20(torch, "A")
    _copy_weights(m, tm, torch)
    for k in ("bn1.running_mean", "bn1.running_var"):  # non-trivial running stats
        v = np.random.default_rng(3).uniform(0.5, 1.5, 16).astype(np.float32)
        m.state_dict()[k]._data[...] = v
        tm.state_dict()[k].copy_(torch.tensor(v))
    m.eval(), tm.eval()
    x = np.random.default_rng(2).standard_normal((2, 3, 32, 32)).astype(np.float32)
    y, ty = m(numtorch.tensor(x)), tm(torch.tensor(x))
    assert y.dtype == numtorch.float32
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-4)


def test_resnet18_vs_torch(torch):
    m = models.resnet18(num_classes=7)
    assert sum(p.numel() for p in m.parameters()) == 11689512 - 513 * 1000 + 513 * 7
    _compare(m, _torch_resnet18(torch, 7), torch, (2, 3, 32, 32))


def test_resnet18_vs_torchvision(torch):
    tv = pytest.importorskip("torchvision")
    m = models.resnet18()
    _compare(m, tv.models.resnet18(), torch, (1, 3, 64, 64))


def test_densenet_vs_torch(torch):
    kw = dict(growth_rate=8, block_config=(2, 3), num_init_features=16, num_classes=5)
    m = models.DenseNet(**kw)
    _compare(m, _torch_densenet(torch, 8, (2, 3), 16, 5, False), torch, (2, 3, 32, 32))
    m = models.DenseNet(**kw, small_inputs=True)
    _compare(m, _torch_densenet(torch, 8, (2, 3), 16, 5, True), torch, (2, 3, 8, 8))


def test_densenet121_structure(torch):
    m = models.densenet121()
    assert sum(p.numel() for p in m.parameters()) == 7978856  # torchvision's count
    tm = _torch_densenet(torch, 32, (6, 12, 24, 16), 64, 1000, False)
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in tm.state_dict().items()]


def test_densenet121_vs_torchvision(torch):
    tv = pytest.importorskip("torchvision")
    _compare(models.densenet121(), tv.models.densenet121(), torch, (1, 3, 64, 64))


def test_resnet50_shapes():
    m = models.resnet50()
    assert sum(p.numel() for p in m.parameters()) == 25557032  # torchvision's count
    assert tuple(m.state_dict()["layer1.0.downsample.0.weight"].shape) == (256, 64, 1, 1)


def test_densenet_bc_100_and_lenet_shapes():
    with numtorch.no_grad():
        assert tuple(models.densenet_bc_100()(numtorch.zeros(1, 3, 32, 32)).shape) == (1, 10)
        assert tuple(models.LeNet5()(numtorch.zeros(2, 1, 28, 28)).shape) == (2, 10)


def test_repr_shows_structure():
    r = repr(models.resnet20())
    assert "LambdaShortcut(stride=2, pad_channels=8)" in r and "(layer3): Sequential(" in r
    assert "(denselayer16): _DenseLayer(" in repr(models.densenet_bc_100())


def test_weights_missing_file():
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        models.resnet20(weights="/nonexistent/resnet20.safetensors")


def test_weights_roundtrip(tmp_path):
    pytest.importorskip("safetensors")
    m = models.resnet20()
    path = tmp_path / "r20.nt"
    numtorch.save(m.state_dict(), path)
    m2 = models.resnet20(weights=str(path))
    for (k, v), (k2, v2) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert k == k2 and np.array_equal(v.numpy(), v2.numpy())


def _mnist(data_dir):
    import gzip
    d = data_dir / "mnist"
    with gzip.open(d / "t10k-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
    with gzip.open(d / "t10k-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return x, y


@pytest.mark.slow
def test_simple_conv_net_learns_mnist(data_dir):
    """SimpleConvNet on the MNIST 8k split reaches >= 0.97 held-out accuracy (the notes' result)."""
    x, y = _mnist(data_dir)
    xtr, ytr, xte, yte = x[:8000], y[:8000], x[8000:], y[8000:]
    numtorch.manual_seed(0)
    net = models.SimpleConvNet()
    opt = numtorch.optim.Adam(net.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    start = time.time()
    for epoch in range(6):
        perm = rng.permutation(8000)
        for i in range(0, 8000, 100):
            idx = perm[i:i + 100]
            loss = nn.functional.cross_entropy(net(numtorch.tensor(xtr[idx])), numtorch.tensor(ytr[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    with numtorch.no_grad():
        pred = np.concatenate([net(numtorch.tensor(xte[i:i + 500])).numpy().argmax(1) for i in range(0, 2000, 500)])
    acc = (pred == yte).mean()
    print(f"SimpleConvNet MNIST held-out accuracy {acc:.4f} in {time.time() - start:.1f} s")
    assert acc >= 0.97


def test_cli_summary(capsys):
    import argparse
    from numtorch.cli import summary
    parser = argparse.ArgumentParser()
    summary.add_parser(parser.add_subparsers())
    args = parser.parse_args(["summary", "simplecnn"])
    assert summary.run(args) == 0
    out = capsys.readouterr().out
    assert "conv1" in out and "(1, 30, 24, 24)" in out and "433,890" in out
    # conv1: 2 * (30*24*24 outputs) * (1*5*5) = 864,000 FLOPs; fc1: 2 * 100 * 4320 = 864,000
    assert out.count("864.00K") == 2


def test_simple_conv_net_with_tied_pool_windows(torch):
    """On MNIST-like images (a zero background, where every conv output is the bias exactly, so pool
    windows tie) SimpleConvNet's outputs and gradients are PyTorch's, first-maximum routing included."""
    m, tm = models.SimpleConvNet().double(), _torch_simple(torch).double()
    b = np.abs(m.conv1.bias.detach().numpy()) + 0.01
    b[:15] *= -1                                               # ties below and above zero
    m.conv1.bias.data = numtorch.tensor(b)
    _copy_weights(m, tm, torch)
    x = np.zeros((3, 1, 28, 28))
    x[:, :, 8:20, 10:16] = np.random.default_rng(2).random((3, 1, 12, 6))
    y, ty = m(numtorch.tensor(x)), tm(torch.tensor(x))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    gy = np.random.default_rng(3).standard_normal(tuple(ty.shape))
    y.backward(numtorch.tensor(gy))
    ty.backward(torch.tensor(gy))
    tparams = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=name)
