"""AlexNet (Krizhevsky et al. 2012), torchvision's one-GPU variant: five convs, three fully connected layers.

    features:   conv 11x11/4 (64) - pool - conv 5x5 (192) - pool - conv 3x3 (384, 256, 256) - pool
    avgpool:    adaptive to 6 x 6
    classifier: dropout - 9216 -> 4096 - dropout - 4096 -> 4096 - 4096 -> num_classes
"""
from __future__ import annotations

from typing import Any

from numtorch import nn
from numtorch.tensor import Tensor
from numtorch.vision.models._api import builder_with_weights, weights_enum
from numtorch.vision.models.resnet import _meta

__all__ = ["AlexNet", "AlexNet_Weights", "alexnet"]

AlexNet_Weights = weights_enum("AlexNet_Weights", {"IMAGENET1K_V1": _meta(61100840)})


class AlexNet(nn.Module):
    """Args: num_classes; dropout (the probability in the classifier).  Input (N, 3, H, W), H, W >= 63."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2))
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(p=dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


@builder_with_weights(AlexNet_Weights)
def alexnet(*, weights=None, progress: bool = True, **kwargs: Any) -> AlexNet:
    """AlexNet; kwargs: ``num_classes``, ``dropout``."""
    return AlexNet(**kwargs)
