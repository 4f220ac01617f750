"""torchvision's ResNet builders: ``resnet18 .. resnet152``, ``resnext*``, ``wide_resnet*``.

The network itself (``ResNet``, ``BasicBlock``, ``Bottleneck``) is ``numtorch.models.resnet``: the
same modules, attribute names and therefore state-dict keys and shapes as torchvision's
(``conv1``, ``bn1``, ``layer1.0.conv1`` ... ``layer2.0.downsample.0/1`` ... ``fc``).  This module adds
torchvision's builder signatures, ``builder(*, weights=None, progress=True, **kwargs)``::

    ResNet-18/34:   BasicBlock  (two 3x3 convs),             layers [2,2,2,2] / [3,4,6,3]
    ResNet-50..152: Bottleneck  (1x1 reduce, 3x3, 1x1 x4),   layers [3,4,6,3] / [3,4,23,3] / [3,8,36,3]
    ResNeXt:        Bottleneck with groups=32 or 64 and width_per_group=4 or 8
    Wide ResNet:    Bottleneck with width_per_group=128 (twice the inner width)
"""
from __future__ import annotations

from typing import Any

from numtorch.models.resnet import BasicBlock, Bottleneck, ResNet
from numtorch.vision.models._api import builder_with_weights, weights_enum

__all__ = ["ResNet", "BasicBlock", "Bottleneck",
           "ResNet18_Weights", "ResNet34_Weights", "ResNet50_Weights", "ResNet101_Weights",
           "ResNet152_Weights",
           "ResNeXt50_32X4D_Weights", "ResNeXt101_32X8D_Weights", "ResNeXt101_64X4D_Weights",
           "Wide_ResNet50_2_Weights", "Wide_ResNet101_2_Weights",
           "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
           "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2"]


def _meta(num_params: int) -> dict:
    return {"num_params": num_params, "min_size": (1, 1), "categories": None,
            "_docs": "torchvision's member name only: numtorch ships no pretrained parameters."}


def _v1_v2(num_params: int) -> dict:
    """Members IMAGENET1K_V1 and IMAGENET1K_V2, DEFAULT = V2 (torchvision's newer training recipe)."""
    return {"IMAGENET1K_V1": _meta(num_params), "IMAGENET1K_V2": _meta(num_params),
            "DEFAULT": "IMAGENET1K_V2"}


ResNet18_Weights = weights_enum("ResNet18_Weights", {"IMAGENET1K_V1": _meta(11689512)})
ResNet34_Weights = weights_enum("ResNet34_Weights", {"IMAGENET1K_V1": _meta(21797672)})
ResNet50_Weights = weights_enum("ResNet50_Weights", _v1_v2(25557032))
ResNet101_Weights = weights_enum("ResNet101_Weights", _v1_v2(44549160))
ResNet152_Weights = weights_enum("ResNet152_Weights", _v1_v2(60192808))
ResNeXt50_32X4D_Weights = weights_enum("ResNeXt50_32X4D_Weights", _v1_v2(25028904))
ResNeXt101_32X8D_Weights = weights_enum("ResNeXt101_32X8D_Weights", _v1_v2(88791336))
ResNeXt101_64X4D_Weights = weights_enum("ResNeXt101_64X4D_Weights", {"IMAGENET1K_V1": _meta(83455272)})
Wide_ResNet50_2_Weights = weights_enum("Wide_ResNet50_2_Weights", _v1_v2(68883240))
Wide_ResNet101_2_Weights = weights_enum("Wide_ResNet101_2_Weights", _v1_v2(126886696))


def _resnet(block, layers: list, **kwargs: Any) -> ResNet:
    kwargs.pop("weights", None)
    kwargs.pop("progress", None)
    return ResNet(block, layers, **kwargs)


def _set(kwargs: dict, name: str, value: Any) -> dict:
    """torchvision's ``_ovewrite_named_param``: a builder's fixed option may be passed only with its value."""
    if kwargs.get(name, value) != value:
        raise ValueError(f"The parameter '{name}' expected value {value} but got {kwargs[name]} instead.")
    kwargs[name] = value
    return kwargs


@builder_with_weights(ResNet18_Weights)
def resnet18(*, weights=None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-18 (He et al. 2015): BasicBlock, [2, 2, 2, 2]; 11.7M parameters at 1000 classes."""
    return _resnet(BasicBlock, [2, 2, 2, 2], **kwargs)


@builder_with_weights(ResNet34_Weights)
def resnet34(*, weights=None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-34: BasicBlock, [3, 4, 6, 3]."""
    return _resnet(BasicBlock, [3, 4, 6, 3], **kwargs)


@builder_with_weights(ResNet50_Weights)
def resnet50(*, weights=None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-50 (V1.5: the stride sits on the 3x3 conv): Bottleneck, [3, 4, 6, 3]."""
    return _resnet(Bottleneck, [3, 4, 6, 3], **kwargs)


@builder_with_weights(ResNet101_Weights)
def resnet101(*, weights=None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-101: Bottleneck, [3, 4, 23, 3]."""
    return _resnet(Bottleneck, [3, 4, 23, 3], **kwargs)


@builder_with_weights(ResNet152_Weights)
def resnet152(*, weights=None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-152: Bottleneck, [3, 8, 36, 3]."""
    return _resnet(Bottleneck, [3, 8, 36, 3], **kwargs)


@builder_with_weights(ResNeXt50_32X4D_Weights)
def resnext50_32x4d(*, weights=None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNeXt-50 32x4d (Xie et al. 2017): 32 groups of width 4 in each bottleneck's 3x3 conv."""
    _set(kwargs, "groups", 32)
    _set(kwargs, "width_per_group", 4)
    return _resnet(Bottleneck, [3, 4, 6, 3], **kwargs)


@builder_with_weights(ResNeXt101_32X8D_Weights)
def resnext101_32x8d(*, weights=None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNeXt-101 32x8d."""
    _set(kwargs, "groups", 32)
    _set(kwargs, "width_per_group", 8)
    return _resnet(Bottleneck, [3, 4, 23, 3], **kwargs)


@builder_with_weights(ResNeXt101_64X4D_Weights)
def resnext101_64x4d(*, weights=None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNeXt-101 64x4d."""
    _set(kwargs, "groups", 64)
    _set(kwargs, "width_per_group", 4)
    return _resnet(Bottleneck, [3, 4, 23, 3], **kwargs)


@builder_with_weights(Wide_ResNet50_2_Weights)
def wide_resnet50_2(*, weights=None, progress: bool = True, **kwargs: Any) -> ResNet:
    """Wide ResNet-50-2 (Zagoruyko & Komodakis 2016): bottlenecks twice as wide inside."""
    _set(kwargs, "width_per_group", 64 * 2)
    return _resnet(Bottleneck, [3, 4, 6, 3], **kwargs)


@builder_with_weights(Wide_ResNet101_2_Weights)
def wide_resnet101_2(*, weights=None, progress: bool = True, **kwargs: Any) -> ResNet:
    """Wide ResNet-101-2."""
    _set(kwargs, "width_per_group", 64 * 2)
    return _resnet(Bottleneck, [3, 4, 23, 3], **kwargs)
