"""Densely connected networks (Huang et al. 2017): torchvision's ``densenet121/161/169/201`` and the CIFAR
``densenet_bc_100``.

In a dense block every layer sees the concatenation of all earlier feature maps and adds
``growth_rate`` new channels: ``x_l = H_l(cat(x_0, ..., x_{l-1}))``.  ``H_l`` is the BC bottleneck
``BN-ReLU-Conv1x1(bn_size*k)-BN-ReLU-Conv3x3(k)``; transitions ``BN-ReLU-Conv1x1-AvgPool2`` halve the
channels (compression 0.5) and the resolution between blocks.

State dict keys are torchvision's: ``features.conv0``, ``features.norm0``,
``features.denseblock1.denselayer1.norm1/conv1/norm2/conv2``, ``features.transition1.norm/conv``,
``features.norm5``, ``classifier``.
"""
from __future__ import annotations

from collections import OrderedDict

import numtorch
from numtorch import nn
from numtorch.models.resnet import _load_weights
from numtorch.tensor import Tensor

__all__ = ["DenseNet", "densenet121", "densenet161", "densenet169", "densenet201", "densenet_bc_100"]


class _DenseLayer(nn.Module):
    """BN-ReLU-Conv1x1-BN-ReLU-Conv3x3 on the concatenation of all earlier features: ``growth_rate`` new
    maps."""

    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int, drop_rate: float,
                 memory_efficient: bool = False) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, 1, stride=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, stride=1, padding=1, bias=False)
        self.drop_rate = float(drop_rate)
        self.memory_efficient = memory_efficient

    def forward(self, features) -> Tensor:
        x = numtorch.cat(features, 1) if isinstance(features, (list, tuple)) else features
        out = self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))
        if self.drop_rate > 0:
            out = nn.functional.dropout(out, p=self.drop_rate, training=self.training)
        return out


class _DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers; returns the input and every new feature map, concatenated."""

    def __init__(self, num_layers: int, num_input_features: int, bn_size: int, growth_rate: int,
                 drop_rate: float, memory_efficient: bool = False) -> None:
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"denselayer{i + 1}",
                            _DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size, drop_rate,
                                        memory_efficient))

    def forward(self, init_features: Tensor) -> Tensor:
        features = [init_features]
        for layer in self.values():
            features.append(layer(features))
        return numtorch.cat(features, 1)


class _Transition(nn.Sequential):
    """BN-ReLU-Conv1x1-AvgPool2: fewer channels, half the resolution."""

    def __init__(self, num_input_features: int, num_output_features: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(num_input_features)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(num_input_features, num_output_features, 1, stride=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)


class DenseNet(nn.Module):
    """DenseNet-BC.

    Args:
        growth_rate: k, new maps per layer.  block_config: layers per dense block.
        num_init_features: channels of the stem.  bn_size: bottleneck width factor (bn_size * k).
        drop_rate: dropout after each layer.  num_classes: classes.
        small_inputs: CIFAR stem (one 3x3 conv, no pooling) instead of the ImageNet 7x7/2 conv + max pool.
    """

    def __init__(self, growth_rate: int = 32, block_config=(6, 12, 24, 16), num_init_features: int = 64,
                 bn_size: int = 4, drop_rate: float = 0, num_classes: int = 1000,
                 memory_efficient: bool = False, small_inputs: bool = False) -> None:
        super().__init__()
        if small_inputs:
            stem = [("conv0", nn.Conv2d(3, num_init_features, 3, stride=1, padding=1, bias=False))]
        else:
            stem = [("conv0", nn.Conv2d(3, num_init_features, 7, stride=2, padding=3, bias=False)),
                    ("norm0", nn.BatchNorm2d(num_init_features)), ("relu0", nn.ReLU(inplace=True)),
                    ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1))]
        self.features = nn.Sequential(OrderedDict(stem))
        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            block = _DenseBlock(num_layers, num_features, bn_size, growth_rate, drop_rate, memory_efficient)
            self.features.add_module(f"denseblock{i + 1}", block)
            num_features += num_layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module(f"transition{i + 1}", _Transition(num_features, num_features // 2))
                num_features //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(num_features))
        self.classifier = nn.Linear(num_features, num_classes)
        for m in self.modules():  # torchvision's init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.constant_(m.bias, 0)

    def forward(self, x: Tensor) -> Tensor:
        out = nn.functional.relu(self.features(x))
        out = nn.functional.adaptive_avg_pool2d(out, (1, 1)).flatten(1)
        return self.classifier(out)


def _densenet(growth_rate, block_config, num_init_features, weights, **kwargs) -> DenseNet:
    return _load_weights(DenseNet(growth_rate, block_config, num_init_features, **kwargs), weights)


def densenet121(*, weights=None, progress: bool = True, **kwargs) -> DenseNet:
    """DenseNet-121: k=32, blocks (6, 12, 24, 16), 64 stem channels."""
    return _densenet(32, (6, 12, 24, 16), 64, weights, **kwargs)


def densenet161(*, weights=None, progress: bool = True, **kwargs) -> DenseNet:
    """DenseNet-161: k=48, blocks (6, 12, 36, 24), 96 stem channels."""
    return _densenet(48, (6, 12, 36, 24), 96, weights, **kwargs)


def densenet169(*, weights=None, progress: bool = True, **kwargs) -> DenseNet:
    """DenseNet-169: k=32, blocks (6, 12, 32, 32)."""
    return _densenet(32, (6, 12, 32, 32), 64, weights, **kwargs)


def densenet201(*, weights=None, progress: bool = True, **kwargs) -> DenseNet:
    """DenseNet-201: k=32, blocks (6, 12, 48, 32)."""
    return _densenet(32, (6, 12, 48, 32), 64, weights, **kwargs)


def densenet_bc_100(*, weights=None, num_classes: int = 10, **kwargs) -> DenseNet:
    """DenseNet-BC-100 for 32x32 images: k=12, three blocks of 16 layers, 24 stem channels (0.8M
    parameters)."""
    return _load_weights(DenseNet(12, (16, 16, 16), 24, num_classes=num_classes, small_inputs=True, **kwargs),
                         weights)
