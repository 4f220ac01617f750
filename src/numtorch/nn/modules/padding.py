"""Padding layers: ``ZeroPad2d``, ``ConstantPad1d/2d``, ``ReflectionPad1d/2d``, ``ReplicationPad1d/2d``,
``CircularPad2d`` -- each a call of ``F.pad`` with its mode."""
from __future__ import annotations

from numtorch.nn.modules.module import Module
from numtorch.ops.padding import pad
from numtorch.tensor import Tensor

__all__ = ["ZeroPad2d", "ConstantPad1d", "ConstantPad2d", "ReflectionPad1d", "ReflectionPad2d",
           "ReplicationPad1d", "ReplicationPad2d", "CircularPad2d"]


class _PadNd(Module):
    mode = "constant"
    _n = 2

    def __init__(self, padding, value: float = 0.0) -> None:
        super().__init__()
        self.padding = (tuple(padding) if isinstance(padding, (tuple, list))
                        else (int(padding),) * (2 * self._n))
        if self.mode == "constant":
            self.value = value

    def forward(self, input: Tensor) -> Tensor:
        if self.mode == "constant":
            return pad(input, self.padding, "constant", self.value)
        return pad(input, self.padding, self.mode)

    def extra_repr(self) -> str:
        if self.mode == "constant":
            return f"padding={self.padding}, value={self.value}"
        return f"{self.padding}"


class ConstantPad2d(_PadNd):
    """Pads the last two dims with ``value``: ``padding`` an int or (left, right, top, bottom)."""

    def __init__(self, padding, value: float) -> None:
        super().__init__(padding, value)


class ConstantPad1d(ConstantPad2d):
    """Pads the last dim with ``value``: ``padding`` an int or (left, right)."""

    _n = 1


class ZeroPad2d(ConstantPad2d):
    """Pads the last two dims with zeros."""

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad2d(_PadNd):
    """Mirrors the last two dims at their edges (the edge itself not repeated)."""

    mode = "reflect"


class ReflectionPad1d(ReflectionPad2d):
    _n = 1


class ReplicationPad2d(_PadNd):
    """Repeats the edge values of the last two dims."""

    mode = "replicate"


class ReplicationPad1d(ReplicationPad2d):
    _n = 1


class CircularPad2d(_PadNd):
    """Wraps the last two dims around (periodic padding)."""

    mode = "circular"
