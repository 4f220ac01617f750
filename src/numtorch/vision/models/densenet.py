"""torchvision's DenseNet builders: ``densenet121``, ``densenet161``, ``densenet169``, ``densenet201``.

The network is ``numtorch.models.densenet.DenseNet`` (ImageNet stem: 7x7/2 conv, BN, ReLU, 3x3/2 max
pool), with torchvision's state-dict keys: ``features.conv0``, ``features.norm0``,
``features.denseblock1.denselayer1.norm1/conv1/norm2/conv2``, ``features.transition1.norm/conv``,
``features.norm5``, ``classifier``.

    densenet121: growth 32, blocks (6, 12, 24, 16), 64 stem channels
    densenet161: growth 48, blocks (6, 12, 36, 24), 96 stem channels
    densenet169: growth 32, blocks (6, 12, 32, 32), 64 stem channels
    densenet201: growth 32, blocks (6, 12, 48, 32), 64 stem channels
"""
from __future__ import annotations

from typing import Any

from numtorch.models.densenet import DenseNet
from numtorch.vision.models._api import builder_with_weights, weights_enum
from numtorch.vision.models.resnet import _meta

__all__ = ["DenseNet", "DenseNet121_Weights", "DenseNet161_Weights", "DenseNet169_Weights",
           "DenseNet201_Weights", "densenet121", "densenet161", "densenet169", "densenet201"]

DenseNet121_Weights = weights_enum("DenseNet121_Weights", {"IMAGENET1K_V1": _meta(7978856)})
DenseNet161_Weights = weights_enum("DenseNet161_Weights", {"IMAGENET1K_V1": _meta(28681000)})
DenseNet169_Weights = weights_enum("DenseNet169_Weights", {"IMAGENET1K_V1": _meta(14149480)})
DenseNet201_Weights = weights_enum("DenseNet201_Weights", {"IMAGENET1K_V1": _meta(20013928)})


def _densenet(growth_rate: int, block_config: tuple, num_init_features: int, **kwargs: Any) -> DenseNet:
    kwargs.pop("weights", None)
    kwargs.pop("progress", None)
    return DenseNet(growth_rate, block_config, num_init_features, **kwargs)


@builder_with_weights(DenseNet121_Weights)
def densenet121(*, weights=None, progress: bool = True, **kwargs: Any) -> DenseNet:
    """DenseNet-121 (Huang et al. 2017); kwargs: ``num_classes``, ``drop_rate``, ``bn_size``,
    ``memory_efficient``."""
    return _densenet(32, (6, 12, 24, 16), 64, **kwargs)


@builder_with_weights(DenseNet161_Weights)
def densenet161(*, weights=None, progress: bool = True, **kwargs: Any) -> DenseNet:
    """DenseNet-161."""
    return _densenet(48, (6, 12, 36, 24), 96, **kwargs)


@builder_with_weights(DenseNet169_Weights)
def densenet169(*, weights=None, progress: bool = True, **kwargs: Any) -> DenseNet:
    """DenseNet-169."""
    return _densenet(32, (6, 12, 32, 32), 64, **kwargs)


@builder_with_weights(DenseNet201_Weights)
def densenet201(*, weights=None, progress: bool = True, **kwargs: Any) -> DenseNet:
    """DenseNet-201."""
    return _densenet(32, (6, 12, 48, 32), 64, **kwargs)
