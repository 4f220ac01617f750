"""A small ResNet-ish backbone with a one-step feature pyramid, giving one stride-4 feature map.

::

    image (N, C, H, W)
      stem    conv3x3 s2 -> 16 ch                         H/2
      layer1  conv3x3 s2 -> 32 ch, BasicBlock(32)         H/4   (fine: where the digit is)
      layer2  conv3x3 s2 -> 64 ch, BasicBlock(64)         H/8   (coarse: what the digit is)
      neck    upsample2x(conv1x1(layer2) -> 32 ch) + layer1       H/4

Every conv is followed by BatchNorm and ReLU.  The receptive field of a stride-4 output cell is
about 70 pixels: enough to see a whole 40-pixel digit.
"""
from __future__ import annotations

from numtorch import nn
from numtorch.nn import functional as F
from numtorch.tensor import Tensor

__all__ = ["ConvBNReLU", "BasicBlock", "TinyFPNBackbone"]


class ConvBNReLU(nn.Sequential):
    """conv (no bias) -> BatchNorm2d -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU())


class BasicBlock(nn.Module):
    """ResNet's basic block with an identity shortcut: relu(x + bn(conv(relu(bn(conv(x))))))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(y)))


class TinyFPNBackbone(nn.Module):
    """Features at stride 4 with ``out_channels`` channels for an ``in_channels`` image.

    Args:
        in_channels: image channels (1 for digits).
        widths: channels at strides 2, 4 and 8.
    Shape:
        (N, in_channels, H, W) -> (N, widths[1], H/4, W/4); H and W must be multiples of 8.
    """

    stride = 4

    def __init__(self, in_channels: int = 1, widths=(16, 32, 64)) -> None:
        super().__init__()
        w2, w4, w8 = widths
        self.out_channels = w4
        self.stem = ConvBNReLU(in_channels, w2, 3, 2)
        self.layer1 = nn.Sequential(ConvBNReLU(w2, w4, 3, 2), BasicBlock(w4))
        self.layer2 = nn.Sequential(ConvBNReLU(w4, w8, 3, 2), BasicBlock(w8))
        self.lateral = ConvBNReLU(w8, w4, 1)

    def forward(self, x: Tensor) -> Tensor:
        c4 = self.layer1(self.stem(x))
        c8 = self.layer2(c4)
        return c4 + F.interpolate(self.lateral(c8), scale_factor=2, mode="nearest")
