"""Adadelta: a step whose units match the parameter's, from running averages of g^2 and of steps^2.

The update (PyTorch's; ``v`` the square average, ``u`` the accumulated squared update)::

    g <- -g if maximize;  g <- g + weight_decay * p
    v <- rho * v + (1 - rho) * g^2
    delta = sqrt(u + eps) / sqrt(v + eps) * g
    u <- rho * u + (1 - rho) * delta^2
    p <- p - lr * delta
"""
from __future__ import annotations

from typing import Iterable

from numtorch._backend import xp_of
from numtorch.optim.optimizer import (Optimizer, grad_for_update, check_nonnegative, step_tensor, next_step,
                                      zeros_state)

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012).

    Args:
        params: the tensors to optimize, or parameter groups.
        lr: scale of the step (default 1.0).
        rho: decay of the running averages (default 0.9).
        eps: added inside the square roots (default 1e-6).
        weight_decay: L2 penalty (default 0).
        maximize: maximize the objective instead of minimizing it.
    """

    def __init__(self, params: Iterable, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: bool | None = None, *, capturable: bool = False,
                 maximize: bool = False, differentiable: bool = False) -> None:
        check_nonnegative("lr", lr, "learning rate")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        check_nonnegative("eps", eps, "epsilon value")
        check_nonnegative("weight_decay", weight_decay, "weight_decay value")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def _update(self, p, group) -> None:
        rho, eps = group["rho"], group["eps"]
        state = self.state[p]
        if not state:
            state["step"] = step_tensor()
            state["square_avg"] = zeros_state(p)
            state["acc_delta"] = zeros_state(p)
        next_step(state)
        g = grad_for_update(p, group["maximize"], group["weight_decay"], self._scratch(p._data, 0))
        xp, v, u = xp_of(g), state["square_avg"]._data, state["acc_delta"]._data
        std = xp.multiply(g, g, out=self._scratch(p._data, 1))  # v <- rho v + (1 - rho) g^2
        std *= 1 - rho
        v *= rho
        v += std
        xp.add(v, eps, out=std)              # std = sqrt(v + eps)
        xp.sqrt(std, out=std)
        delta = xp.add(u, eps, out=self._scratch(p._data, 2))   # delta = sqrt(u + eps) / std * g
        xp.sqrt(delta, out=delta)
        delta /= std
        delta *= g
        xp.multiply(delta, delta, out=std)   # u <- rho u + (1 - rho) delta^2
        std *= 1 - rho
        u *= rho
        u += std
        delta *= -group["lr"]                # p <- p - lr * delta
        p._data += delta
