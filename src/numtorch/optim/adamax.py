"""Adamax: Adam with the infinity norm in place of the second moment (Kingma & Ba, 2014, sec. 7).

The update (PyTorch's; ``t`` the step count, ``u`` the exponentially weighted infinity norm)::

    g <- -g if maximize;  g <- g + weight_decay * p
    m <- beta1 * m + (1 - beta1) * g
    u <- max(beta2 * u, |g| + eps)
    p <- p - lr / (1 - beta1^t) * m / u
"""
from __future__ import annotations

from typing import Iterable

from numtorch._backend import xp_of
from numtorch.optim.adam import check_adam_args
from numtorch.optim.optimizer import Optimizer, grad_for_update, next_step, step_tensor, zeros_state

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """Adamax.

    Args:
        params: the tensors to optimize, or parameter groups.
        lr: learning rate (default 2e-3).
        betas: decay rates of the mean and of the infinity norm (default (0.9, 0.999)).
        eps: added to ``|g|`` (default 1e-8).
        weight_decay: L2 penalty (default 0).
        maximize: maximize the objective instead of minimizing it.
    """

    def __init__(self, params: Iterable, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, capturable: bool = False) -> None:
        check_adam_args(lr, eps, betas, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _update(self, p, group) -> None:
        lr, (beta1, beta2) = group["lr"], group["betas"]
        state = self.state[p]
        if not state:
            state["step"] = step_tensor()
            state["exp_avg"] = zeros_state(p)
            state["exp_inf"] = zeros_state(p)
        t = next_step(state)
        g = grad_for_update(p, group["maximize"], group["weight_decay"], self._scratch(p._data, 0))
        xp, m, u = xp_of(g), state["exp_avg"]._data, state["exp_inf"]._data
        tmp = xp.subtract(g, m, out=self._scratch(p._data, 1))   # m <- m + (1 - beta1)(g - m)
        tmp *= 1 - beta1
        m += tmp
        xp.abs(g, out=tmp)                      # u <- max(beta2 u, |g| + eps)
        tmp += group["eps"]
        u *= beta2
        xp.maximum(u, tmp, out=u)
        xp.divide(m, u, out=tmp)                # p <- p - lr / (1 - beta1^t) * m / u
        tmp *= -lr / (1 - beta1 ** t)
        p._data += tmp
