"""Activations and softmax written from their definitions, one numtorch op at a time.

Each function is the formula of its docstring and nothing else, so autograd differentiates the
formula itself; compare its gradients with the library's fused ops (``numtorch.sigmoid``, ...).
The plain formulas overflow where the library's do not (``exp(-x)`` for ``x < -709`` in float64):
they are for reading and checking, not for training.

>>> import numtorch as torch
>>> from numtorch.nn import textbook
>>> x = torch.tensor([-1.0, 0.0, 2.0])
>>> textbook.relu(x)
tensor([0., 0., 2.])
>>> [round(v, 4) for v in textbook.softmax(x, dim=0).tolist()]
[0.042, 0.1142, 0.8438]
"""
from __future__ import annotations

import math

import numtorch
from numtorch.tensor import Tensor

__all__ = ["sigmoid", "tanh", "relu", "silu", "gelu", "softmax", "log_softmax"]


def sigmoid(x: Tensor) -> Tensor:
    """sigmoid(x) = 1 / (1 + e^-x).   d/dx = sigmoid(x) (1 - sigmoid(x))."""
    return 1 / (1 + numtorch.exp(-x))


def tanh(x: Tensor) -> Tensor:
    """tanh(x) = (e^x - e^-x) / (e^x + e^-x).   d/dx = 1 - tanh(x)^2."""
    a, b = numtorch.exp(x), numtorch.exp(-x)
    return (a - b) / (a + b)


def relu(x: Tensor) -> Tensor:
    """relu(x) = max(x, 0).   d/dx = [x > 0] (0 at x = 0, as PyTorch)."""
    return numtorch.where(x > 0, x, 0.0)


def silu(x: Tensor) -> Tensor:
    """silu(x) = swish(x) = x sigmoid(x).   d/dx = sigmoid(x) (1 + x (1 - sigmoid(x)))."""
    return x * sigmoid(x)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """gelu(x) = x Phi(x), Phi the normal distribution function: Phi(x) = (1 + erf(x / sqrt 2)) / 2.

    ``approximate="tanh"``: Phi(x) ~ (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2.
    d/dx = Phi(x) + x phi(x), phi(x) = e^(-x^2/2) / sqrt(2 pi) the normal density.
    """
    if approximate == "tanh":
        return 0.5 * x * (1 + tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return 0.5 * x * (1 + numtorch.erf(x / math.sqrt(2)))


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """softmax(x)_i = e^(x_i - c) / sum_j e^(x_j - c), with c = max_j x_j.

    Any c gives the same value (it cancels between numerator and denominator); the largest x_j
    keeps every exponent <= 0, so e^(...) never overflows. Since the value does not depend on c,
    c is a constant for autograd (``detach``).
    d softmax_i / d x_j = softmax_i ([i = j] - softmax_j).
    """
    c = x.amax(dim=dim, keepdim=True).detach()
    e = numtorch.exp(x - c)
    return e / e.sum(dim=dim, keepdim=True)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """log_softmax(x)_i = x_i - c - log(sum_j e^(x_j - c)), c = max_j x_j (log-sum-exp).

    Stabler than log(softmax(x)): no log of a tiny probability that rounded to 0.
    d log_softmax_i / d x_j = [i = j] - softmax_j.
    """
    c = x.amax(dim=dim, keepdim=True).detach()
    z = x - c
    return z - numtorch.log(numtorch.exp(z).sum(dim=dim, keepdim=True))
