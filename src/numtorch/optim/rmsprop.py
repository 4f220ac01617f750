"""RMSprop: divide the gradient by a running root-mean-square of recent gradients.

The update (PyTorch's; ``v`` the square average, ``m`` the gradient average, ``b`` the buffer)::

    g <- -g if maximize;  g <- g + weight_decay * p
    v <- alpha * v + (1 - alpha) * g^2
    centered:  m <- alpha * m + (1 - alpha) * g;   d = sqrt(v - m^2) + eps
    else:      d = sqrt(v) + eps
    momentum > 0:  b <- momentum * b + g / d;  p <- p - lr * b
    else:          p <- p - lr * g / d
"""
from __future__ import annotations

from typing import Iterable

from numtorch import _kernels
from numtorch._backend import xp_of
from numtorch.optim.optimizer import (Optimizer, grad_for_update, check_nonnegative, step_tensor, next_step,
                                      zeros_state)

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture notes; ``centered`` as in Graves, 2013).

    Args:
        params: the tensors to optimize, or parameter groups.
        lr: learning rate (default 1e-2).
        alpha: smoothing constant of the square average (default 0.99).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty (default 0).
        momentum: momentum factor (default 0).
        centered: normalize by an estimate of the gradient's variance instead of its second moment.
        maximize: maximize the objective instead of minimizing it.
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 capturable: bool = False, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        check_nonnegative("lr", lr, "learning rate")
        check_nonnegative("eps", eps, "epsilon value")
        check_nonnegative("momentum", momentum, "momentum value")
        check_nonnegative("weight_decay", weight_decay, "weight_decay value")
        check_nonnegative("alpha", alpha, "alpha value")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach, maximize=maximize,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def _init_state(self, p, group) -> dict:
        state = self.state[p]
        if not state:
            state["step"] = step_tensor()
            state["square_avg"] = zeros_state(p)
            if group["momentum"] > 0:
                state["momentum_buffer"] = zeros_state(p)
            if group["centered"]:
                state["grad_avg"] = zeros_state(p)
        return state

    def _update(self, p, group) -> None:
        state = self._init_state(p, group)
        next_step(state)
        _rmsprop_update(p, state, group, self._scratch)


def _rmsprop_update(p, state: dict, group: dict, scratch) -> None:
    alpha, lr = group["alpha"], group["lr"]
    if _kernels.fused(p._data, p.grad._data) and not (group["centered"] or group["maximize"]):
        g, v, args = p.grad._data, state["square_avg"]._data, (lr, alpha, group["eps"], group["weight_decay"])
        if group["momentum"] > 0:  # GPU: the whole update in one kernel
            _kernels.rmsprop_momentum(g, *args, group["momentum"], p._data, v, state["momentum_buffer"]._data)
        else:
            _kernels.rmsprop(g, *args, p._data, v)
        return
    g = grad_for_update(p, group["maximize"], group["weight_decay"], scratch(p._data, 0))
    xp, v = xp_of(g), state["square_avg"]._data
    tmp = xp.multiply(g, g, out=scratch(p._data, 1))                        # v <- alpha v + (1 - alpha) g^2
    tmp *= 1 - alpha
    v *= alpha
    v += tmp
    if group["centered"]:
        m = state["grad_avg"]._data                  # m <- m + (1 - alpha)(g - m)
        xp.subtract(g, m, out=tmp)
        tmp *= 1 - alpha
        m += tmp
        xp.multiply(m, m, out=tmp)                   # d = sqrt(v - m^2) + eps
        xp.subtract(v, tmp, out=tmp)
        xp.sqrt(tmp, out=tmp)
    else:
        xp.sqrt(v, out=tmp)                          # d = sqrt(v) + eps
    tmp += group["eps"]
    xp.divide(g, tmp, out=tmp)                       # g / d
    if group["momentum"] > 0:
        b = state["momentum_buffer"]._data           # b <- momentum b + g / d
        b *= group["momentum"]
        b += tmp
        xp.multiply(b, -lr, out=tmp)
    else:
        tmp *= -lr
    p._data += tmp
