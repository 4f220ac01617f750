"""``numtorch.models.detection``: a single-stage detector (CenterNet on a small ResNet-ish backbone).

>>> from numtorch.models.detection import centernet_digits     # doctest: +SKIP
>>> model = centernet_digits()                                  # doctest: +SKIP
>>> losses = model(images, targets)              # training mode: a dict of losses
>>> model.eval(); detections = model(images)     # eval mode: [{"boxes", "scores", "labels"}, ...]
"""
from numtorch.models.detection.backbone import BasicBlock, ConvBNReLU, TinyFPNBackbone  # noqa: F401
from numtorch.models.detection.centernet import (  # noqa: F401
    CenterNet, centernet_digits, encode_targets, gaussian_radius, heatmap_focal_loss)

__all__ = ["CenterNet", "centernet_digits", "TinyFPNBackbone", "BasicBlock", "ConvBNReLU", "encode_targets",
           "gaussian_radius", "heatmap_focal_loss"]
