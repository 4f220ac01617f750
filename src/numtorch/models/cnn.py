"""Small convolutional nets: the notes' ``SimpleConvNet`` and ``LeNet5``.

``SimpleConvNet`` is the network the notes build by hand for MNIST::

    Conv(30 filters 5x5) -> ReLU -> MaxPool(2) -> Affine(4320 -> 100) -> ReLU -> Affine(100 -> 10)

(4320 = 30 * 12 * 12: a 28x28 image gives 24x24 after the 5x5 convolution, 12x12 after pooling.)

>>> import numtorch
>>> from numtorch.models import SimpleConvNet
>>> SimpleConvNet()(numtorch.zeros(2, 1, 28, 28)).shape
numtorch.Size([2, 10])
"""
from __future__ import annotations

from numtorch import nn
from numtorch.tensor import Tensor

__all__ = ["SimpleConvNet", "LeNet5", "LeNet"]


class SimpleConvNet(nn.Module):
    """``conv1 -> relu1 -> pool1 -> fc1 -> relu2 -> fc2`` (the notes' Conv-ReLU-Pool-Affine-ReLU-Affine).

    Args:
        input_dim: (C, H, W) of one image.
        conv_param: ``filter_num``, ``filter_size``, ``pad``, ``stride`` of the convolution (the notes' dict).
        hidden_size: units of the hidden affine layer.
        output_size: classes.
    Shapes: input (N, C, H, W) -> logits (N, output_size).
    State dict keys: ``conv1.*``, ``fc1.*``, ``fc2.*``.
    """

    def __init__(self, input_dim=(1, 28, 28), conv_param: dict | None = None, hidden_size: int = 100,
                 output_size: int = 10) -> None:
        super().__init__()
        p = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1}
        p.update(conv_param or {})
        c, h, w = input_dim
        k, pad, s = p["filter_size"], p["pad"], p["stride"]
        oh, ow = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
        self.conv1 = nn.Conv2d(c, p["filter_num"], k, stride=s, padding=pad)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2, 2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(p["filter_num"] * (oh // 2) * (ow // 2), hidden_size)
        self.relu2 = nn.ReLU()
        self.fc2 = nn.Linear(hidden_size, output_size)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        return self.fc2(self.relu2(self.fc1(self.flatten(x))))


class LeNet5(nn.Module):
    """LeCun et al. (1998) for 1x28x28 (padded to 32x32 by the first conv) with ReLU and max pooling.

    ``features``: conv(1->6, 5, pad 2) - ReLU - pool - conv(6->16, 5) - ReLU - pool;
    ``classifier``: 400 -> 120 -> 84 -> num_classes.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


LeNet = LeNet5
