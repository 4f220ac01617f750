"""The loss functions exactly as the notes write them, for learners comparing with the library.

``sum_squared_error(y, t) = 0.5 * sum((y - t)^2)``: the library's ``mse_loss(y, t, reduction="sum") / 2``.

``cross_entropy_error(y, t) = -sum(t * log(y + 1e-7)) / batch_size`` on *probabilities* ``y`` (after
softmax) and one-hot (or label) targets ``t``: the library's ``cross_entropy`` on the *logits*, up to
the 1e-7 that keeps log away from 0.  The library version is preferred in real code: it is stable
(never takes log of 0) and its fused backward is cheaper.

>>> import numtorch as torch
>>> from numtorch.nn.textbook import cross_entropy_error
>>> y = torch.tensor([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
>>> t = torch.tensor([0., 0., 1., 0., 0., 0., 0., 0., 0., 0.])
>>> round(cross_entropy_error(y, t).item(), 4)
0.5108
"""
from __future__ import annotations

import numtorch
from numtorch.tensor import Tensor

__all__ = ["sum_squared_error", "cross_entropy_error"]


def sum_squared_error(y: Tensor, t: Tensor) -> Tensor:
    """0.5 * sum((y - t)^2) (the notes' 均方误差 / sum of squared errors); the 0.5 makes its gradient y - t."""
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
