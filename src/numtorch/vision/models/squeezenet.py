"""SqueezeNet (Iandola et al. 2016): "Fire" modules -- a 1x1 squeeze, then 1x1 and 3x3 expands concatenated.

    Fire(x) = cat(relu(conv1x1(s)), relu(conv3x3(s))),  s = relu(squeeze1x1(x))

Version 1_0 starts with a 7x7/2 conv (96), 1_1 with a 3x3/2 conv (64) and pools earlier (2.4x less
computation, the same accuracy).  The classifier is a 1x1 conv to ``num_classes`` and a global average.
"""
from __future__ import annotations

from typing import Any

import numtorch
from numtorch import nn
from numtorch.tensor import Tensor
from numtorch.vision.models._api import builder_with_weights, weights_enum
from numtorch.vision.models.resnet import _meta

__all__ = ["SqueezeNet", "SqueezeNet1_0_Weights", "SqueezeNet1_1_Weights", "squeezenet1_0", "squeezenet1_1"]

SqueezeNet1_0_Weights = weights_enum("SqueezeNet1_0_Weights", {"IMAGENET1K_V1": _meta(1248424)})
SqueezeNet1_1_Weights = weights_enum("SqueezeNet1_1_Weights", {"IMAGENET1K_V1": _meta(1235496)})


class Fire(nn.Module):
    """Squeeze to ``squeeze_planes`` with 1x1, expand to ``expand1x1_planes + expand3x3_planes`` channels."""

    def __init__(self, inplanes: int, squeeze_planes: int, expand1x1_planes: int,
                 expand3x3_planes: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        s = self.squeeze_activation(self.squeeze(x))
        return numtorch.cat([self.expand1x1_activation(self.expand1x1(s)),
                             self.expand3x3_activation(self.expand3x3(s))], 1)


def _features(version: str) -> nn.Sequential:
    pool = lambda: nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)  # noqa: E731
    if version == "1_0":
        return nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=7, stride=2), nn.ReLU(inplace=True), pool(),
            Fire(96, 16, 64, 64), Fire(128, 16, 64, 64), Fire(128, 32, 128, 128), pool(),
            Fire(256, 32, 128, 128), Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
            Fire(384, 64, 256, 256), pool(), Fire(512, 64, 256, 256))
    if version == "1_1":
        return nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=3, stride=2), nn.ReLU(inplace=True), pool(),
            Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), pool(),
            Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), pool(),
            Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256),
            Fire(512, 64, 256, 256))
    raise ValueError(f"Unsupported SqueezeNet version {version}: 1_0 or 1_1 expected")


class SqueezeNet(nn.Module):
    """Args: version "1_0" or "1_1"; num_classes; dropout before the final 1x1 conv."""

    def __init__(self, version: str = "1_0", num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.features = _features(version)
        final_conv = nn.Conv2d(512, num_classes, kernel_size=1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), final_conv, nn.ReLU(inplace=True),
                                        nn.AdaptiveAvgPool2d((1, 1)))
        for m in self.modules():  # torchvision's init
            if isinstance(m, nn.Conv2d):
                if m is final_conv:
                    nn.init.normal_(m.weight, mean=0.0, std=0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x)).flatten(1)


def _squeezenet(version: str, **kwargs: Any) -> SqueezeNet:
    kwargs.pop("weights", None)
    kwargs.pop("progress", None)
    return SqueezeNet(version, **kwargs)


@builder_with_weights(SqueezeNet1_0_Weights)
def squeezenet1_0(*, weights=None, progress: bool = True, **kwargs: Any) -> SqueezeNet:
    """SqueezeNet 1.0."""
    return _squeezenet("1_0", **kwargs)


@builder_with_weights(SqueezeNet1_1_Weights)
def squeezenet1_1(*, weights=None, progress: bool = True, **kwargs: Any) -> SqueezeNet:
    """SqueezeNet 1.1."""
    return _squeezenet("1_1", **kwargs)
