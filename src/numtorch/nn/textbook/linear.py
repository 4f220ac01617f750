"""The affine layer: ``y = x W^T + b``, as ``numtorch.nn.functional.linear`` computes it."""
from __future__ import annotations

from numtorch.tensor import Tensor

__all__ = ["linear"]


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x @ W.T + b, for x = input, W = weight, b = bias.

    Shapes: x (*, in), W (out, in), b (out,), y (*, out).  PyTorch stores W as (out, in), so
    row i of W holds the weights into output i.
    Gradients (gy = dL/dy):  dL/dx = gy @ W,  dL/dW = gy^T @ x (summed over the leading dims),
    dL/db = gy summed over the leading dims.
    """
    x, W, b = input, weight, bias
    y = x @ W.T
    return y if b is None else y + b
