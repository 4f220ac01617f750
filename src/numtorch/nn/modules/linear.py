"""The affine layer: ``Linear`` (the notes' ``Affine``) and ``Identity``."""
from __future__ import annotations

import math

from numtorch.nn import init
from numtorch.nn.modules.module import Module
from numtorch.nn.parameter import Parameter
from numtorch.ops.activation import linear
from numtorch.tensor import Tensor
from numtorch.creation import empty
from numtorch.ops import einsum

__all__ = ["Identity", "Linear", "Affine", "Bilinear", "LazyLinear", "NonDynamicallyQuantizableLinear"]


class Identity(Module):
    """Returns its input unchanged (a placeholder layer); accepts and ignores any arguments."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """The affine (fully connected) layer: ``y = x W^T + b``.

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias (default ``True``).
    Shapes:
        input (*, in_features) -> output (*, out_features).
    Attributes:
        weight: (out_features, in_features), initialised from U(-1/sqrt(in_features), 1/sqrt(in_features))
            (``kaiming_uniform_`` with ``a=sqrt(5)``, as in PyTorch).
        bias: (out_features,), from the same uniform distribution.

    >>> import numtorch as torch
    >>> fc = torch.nn.Linear(784, 100)
    >>> fc(torch.randn(32, 784)).shape
    numtorch.Size([32, 100])
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(empty((out_features, in_features), device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


Affine = Linear  # the name of the affine layer in the notes this project grew from


class NonDynamicallyQuantizableLinear(Linear):
    """The ``out_proj`` of ``MultiheadAttention`` (a ``Linear``; the name matches PyTorch's)."""


class LazyLinear(Linear):
    """A ``Linear`` whose ``in_features`` is read from the first input it sees."""

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None) -> None:
        Module.__init__(self)
        self.in_features = 0
        self.out_features = out_features
        self._lazy = (bias, device, dtype)
        self.weight = Parameter(empty(0, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(empty(0, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)

    def forward(self, input: Tensor) -> Tensor:
        if self._lazy is not None:
            # materialise where the module is now (it may have been moved with .to() since __init__)
            device, dtype = self.weight.device, self.weight.dtype
            self.in_features = input.shape[-1]
            self.weight._data = empty((self.out_features, self.in_features), device=device,
                                               dtype=dtype)._data
            if self.bias is not None:
                self.bias._data = empty(self.out_features, device=device, dtype=dtype)._data
            self.reset_parameters()
            self._lazy = None
        return linear(input, self.weight, self.bias)


class Bilinear(Module):
    """y = x1^T A x2 + b for each output feature; weight (out, in1, in2)."""

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        self.weight = Parameter(empty((out_features, in1_features, in2_features), device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.size(1))
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        y = einsum("...i,oij,...j->...o", input1, self.weight, input2)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
