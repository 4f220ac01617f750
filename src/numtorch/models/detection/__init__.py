"""``numtorch.models.detection``: a single-stage detector (CenterNet on a small ResNet-ish backbone).

>>> import numtorch
>>> from numtorch.models.detection import centernet_digits
>>> model = centernet_digits()
>>> images = numtorch.rand(2, 1, 96, 96)
>>> targets = [{"boxes": numtorch.tensor([[10.0, 12.0, 40.0, 44.0]]), "labels": numtorch.tensor([3])}] * 2
>>> losses = model(images, targets)              # training mode: a dict of losses
>>> sorted(losses)
['bbox_giou', 'heatmap', 'offset', 'size']
>>> _ = model.eval(); detections = model(images)  # eval mode: one dict per image
>>> sorted(detections[0])
['boxes', 'labels', 'scores']
"""
from numtorch.models.detection.backbone import BasicBlock, ConvBNReLU, TinyFPNBackbone  # noqa: F401
from numtorch.models.detection.centernet import (  # noqa: F401
    CenterNet, centernet_digits, encode_targets, gaussian_radius, heatmap_focal_loss)

__all__ = ["CenterNet", "centernet_digits", "TinyFPNBackbone", "BasicBlock", "ConvBNReLU", "encode_targets",
           "gaussian_radius", "heatmap_focal_loss"]
