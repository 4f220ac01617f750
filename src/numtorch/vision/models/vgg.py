"""VGG (Simonyan & Zisserman 2014): stacks of 3x3 convs and 2x2 max pools, then three fully connected layers.

Configurations (numbers: conv output channels, M: max pool), with or without BatchNorm after each conv::

    A  vgg11: 64 M 128 M 256 256 M 512 512 M 512 512 M
    B  vgg13: 64 64 M 128 128 M 256 256 M 512 512 M 512 512 M
    D  vgg16: 64 64 M 128 128 M 256 256 256 M 512 512 512 M 512 512 512 M
    E  vgg19: 64 64 M 128 128 M 256 256 256 256 M 512 512 512 512 M 512 512 512 512 M

``features`` indexes count every layer (conv, [bn,] relu, pool), so the keys are torchvision's
(``features.0.weight``, ``features.3.weight`` ... ``classifier.6.weight``).
"""
from __future__ import annotations

from typing import Any

from numtorch import nn
from numtorch.tensor import Tensor
from numtorch.vision.models._api import builder_with_weights, weights_enum
from numtorch.vision.models.resnet import _meta

__all__ = ["VGG", "VGG11_Weights", "VGG11_BN_Weights", "VGG13_Weights", "VGG13_BN_Weights", "VGG16_Weights",
           "VGG16_BN_Weights", "VGG19_Weights", "VGG19_BN_Weights",
           "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]

cfgs = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


class VGG(nn.Module):
    """``features`` (from ``make_layers``), adaptive average pool to 7 x 7, classifier 25088 -> 4096 -> 4096
    -> classes.

    Init as torchvision: convs He-normal (fan_out), BatchNorm 1 / 0, linear layers N(0, 0.01), biases 0.
    """

    def __init__(self, features: nn.Module, num_classes: int = 1000, init_weights: bool = True,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes))
        if init_weights:
            _init_vgg(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def _init_vgg(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.constant_(m.bias, 0)


def make_layers(cfg: list, batch_norm: bool = False) -> nn.Sequential:
    """The conv stack of one configuration: each number a 3x3 conv (+ BatchNorm) + ReLU, each "M" a 2x2
    pool."""
    layers, in_channels = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        in_channels = v
    return nn.Sequential(*layers)


def _vgg(cfg: str, batch_norm: bool, **kwargs: Any) -> VGG:
    kwargs.pop("weights", None)
    kwargs.pop("progress", None)
    return VGG(make_layers(cfgs[cfg], batch_norm=batch_norm), **kwargs)


def _enum(name: str, n: int, extra: dict | None = None) -> type:
    return weights_enum(name, {"IMAGENET1K_V1": _meta(n), **(extra or {})})


VGG11_Weights = _enum("VGG11_Weights", 132863336)
VGG11_BN_Weights = _enum("VGG11_BN_Weights", 132868840)
VGG13_Weights = _enum("VGG13_Weights", 133047848)
VGG13_BN_Weights = _enum("VGG13_BN_Weights", 133053736)
VGG16_Weights = _enum("VGG16_Weights", 138357544, {"IMAGENET1K_FEATURES": _meta(138357544)})
VGG16_BN_Weights = _enum("VGG16_BN_Weights", 138365992)
VGG19_Weights = _enum("VGG19_Weights", 143667240)
VGG19_BN_Weights = _enum("VGG19_BN_Weights", 143678248)


@builder_with_weights(VGG11_Weights)
def vgg11(*, weights=None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-11 (configuration A)."""
    return _vgg("A", False, **kwargs)


@builder_with_weights(VGG11_BN_Weights)
def vgg11_bn(*, weights=None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-11 with BatchNorm."""
    return _vgg("A", True, **kwargs)


@builder_with_weights(VGG13_Weights)
def vgg13(*, weights=None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-13 (configuration B)."""
    return _vgg("B", False, **kwargs)


@builder_with_weights(VGG13_BN_Weights)
def vgg13_bn(*, weights=None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-13 with BatchNorm."""
    return _vgg("B", True, **kwargs)


@builder_with_weights(VGG16_Weights)
def vgg16(*, weights=None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-16 (configuration D)."""
    return _vgg("D", False, **kwargs)


@builder_with_weights(VGG16_BN_Weights)
def vgg16_bn(*, weights=None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-16 with BatchNorm."""
    return _vgg("D", True, **kwargs)


@builder_with_weights(VGG19_Weights)
def vgg19(*, weights=None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-19 (configuration E)."""
    return _vgg("E", False, **kwargs)


@builder_with_weights(VGG19_BN_Weights)
def vgg19_bn(*, weights=None, progress: bool = True, **kwargs: Any) -> VGG:
    """VGG-19 with BatchNorm."""
    return _vgg("E", True, **kwargs)
