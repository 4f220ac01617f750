"""Loss functions as the notes write them, and the library's losses from their definitions.

``sum_squared_error(y, t) = 0.5 * sum((y - t)^2)``: the library's ``mse_loss(y, t, reduction="sum") / 2``.

``cross_entropy_error(y, t) = -sum(t * log(y + 1e-7)) / batch_size`` on *probabilities* ``y`` (after
softmax) and one-hot (or label) targets ``t``: the library's ``cross_entropy`` on the *logits*, up to
the 1e-7 that keeps log away from 0.  The library version is preferred in real code: it is stable
(never takes log of 0) and its fused backward is cheaper.

``mse_loss`` and ``cross_entropy`` are the library's losses (mean reduction) written out.

>>> import numtorch as torch
>>> from numtorch.nn.textbook import cross_entropy_error
>>> y = torch.tensor([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
>>> t = torch.tensor([0., 0., 1., 0., 0., 0., 0., 0., 0., 0.])
>>> round(cross_entropy_error(y, t).item(), 4)
0.5108
"""
from __future__ import annotations

import numtorch
from numtorch.nn.textbook.activations import log_softmax
from numtorch.tensor import Tensor

__all__ = ["sum_squared_error", "cross_entropy_error", "mse_loss", "cross_entropy"]


def sum_squared_error(y: Tensor, t: Tensor) -> Tensor:
    """0.5 * sum((y - t)^2) (the notes' 均方误差 / sum of squared errors).

    The 0.5 makes its gradient y - t.
    """
    d = y - t
    return 0.5 * (d * d).sum()


def cross_entropy_error(y: Tensor, t: Tensor) -> Tensor:
    """-sum(t * log(y + 1e-7)) / batch_size (the notes' 交叉熵误差).

    Args:
        y: probabilities, (N, C) or (C,).
        t: one-hot targets shaped like ``y``, or class labels (N,) / ().
    """
    if y.ndim == 1:
        y = y.reshape(1, -1)
        t = t.reshape(1, -1) if t.ndim == 1 else t.reshape(1)
    batch_size = y.shape[0]
    if t.numel() == y.numel() and t.ndim == y.ndim:  # one-hot: sum over all entries
        return -(t * numtorch.log(y + 1e-7)).sum() / batch_size
    picked = y[numtorch.arange(batch_size), t.long()]  # labels: the probability of the right class
    return -numtorch.log(picked + 1e-7).sum() / batch_size


def mse_loss(input: Tensor, target: Tensor) -> Tensor:
    """mean((input - target)^2) over every element.   d/d input = 2 (input - target) / numel."""
    d = input - target
    return (d * d).mean()


def cross_entropy(input: Tensor, target: Tensor) -> Tensor:
    """-(1/N) sum_n log softmax(input_n)[target_n]: logits (N, C), class labels (N,) (mean reduction).

    With p = softmax(input_n), d/d input_n = (p - onehot(target_n)) / N: the prediction minus the
    target, the famous backward of "Softmax-with-Loss".
    """
    n = input.shape[0]
    logp = log_softmax(input, dim=1)
    return -logp[numtorch.arange(n), target].mean()
