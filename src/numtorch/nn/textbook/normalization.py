"""Layer norm and batch norm from their definitions: normalise, then scale and shift.

    x_hat = (x - mean) / sqrt(var + eps),    y = gamma * x_hat + beta

with ``mean`` and the biased ``var`` (divided by n) taken over the last dims of each sample (layer
norm) or over every axis but the channels (batch norm).  Autograd differentiates through the mean
and the variance; the library's ops have the closed-form backward
dx = (1/sigma) (g - mean(g) - x_hat mean(g x_hat)), g = gamma * gy.
"""
from __future__ import annotations

import numtorch
from numtorch.tensor import Tensor

__all__ = ["layer_norm", "batch_norm"]


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalises each sample over its last ``len(normalized_shape)`` dims (a token's features)."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    dims = tuple(range(-len(normalized_shape), 0))
    mean = input.mean(dim=dims, keepdim=True)
    var = ((input - mean) ** 2).mean(dim=dims, keepdim=True)     # biased: divides by n
    y = (input - mean) / numtorch.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    return y if bias is None else y + bias


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalises each channel (dim 1) of (N, C, *) over the batch and the spatial dims.

    Training: the batch's mean and biased variance normalise, and the running statistics move
    towards them, as PyTorch does: running = (1 - momentum) running + momentum batch, with the
    *unbiased* variance (times n / (n - 1)) for ``running_var``.  Evaluation: the running
    statistics normalise and nothing is updated.
    """
    dims = [0] + list(range(2, input.ndim))         # every axis but the channels
    shape = [1, -1] + [1] * (input.ndim - 2)        # a per-channel vector, broadcast over (N, C, *)
    if training:
        n = input.numel() // input.shape[1]
        if n <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                             f"{tuple(input.shape)}")
        mean = input.mean(dim=dims)
        var = ((input - mean.reshape(shape)) ** 2).mean(dim=dims)
        with numtorch.no_grad():
            if running_mean is not None:
                running_mean.mul_(1 - momentum).add_(momentum * mean)
            if running_var is not None:
                running_var.mul_(1 - momentum).add_(momentum * var * (n / (n - 1)))
    else:
        mean, var = running_mean, running_var
    y = (input - mean.reshape(shape)) / numtorch.sqrt(var.reshape(shape) + eps)
    if weight is not None:
        y = y * weight.reshape(shape)
    return y if bias is None else y + bias.reshape(shape)
