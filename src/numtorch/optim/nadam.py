"""NAdam: Adam with Nesterov momentum (Dozat, 2016), with PyTorch's momentum-decay schedule.

The update (PyTorch's; ``t`` the step count)::

    g <- -g if maximize;  g <- g + weight_decay * p   (or p <- p (1 - lr wd) if decoupled)
    mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay)),   mu_{t+1} likewise
    P_t = mu_1 * ... * mu_t                              (kept in state as "mu_product")
    m <- beta1 * m + (1 - beta1) * g;   v <- beta2 * v + (1 - beta2) * g^2
    d = sqrt(v / (1 - beta2^t)) + eps
    p <- p - lr (1 - mu_t) / (1 - P_t) * g / d - lr mu_{t+1} / (1 - P_t mu_{t+1}) * m / d
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from numtorch._backend import xp_of
from numtorch.optim.adam import check_adam_args, update_moments
from numtorch.optim.optimizer import (Optimizer, grad_for_update, check_nonnegative, step_tensor, next_step,
                                      zeros_state)
from numtorch.tensor import make_tensor

__all__ = ["NAdam"]


class NAdam(Optimizer):
    """NAdam.

    Args:
        params: the tensors to optimize, or parameter groups.
        lr: learning rate (default 2e-3).
        betas: decay rates of the moment averages (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty (default 0).
        momentum_decay: the schedule's decay ``psi`` (default 4e-3).
        decoupled_weight_decay: shrink the weights directly, as AdamW does.
        maximize: maximize the objective instead of minimizing it.
    """

    def __init__(self, params: Iterable, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False) -> None:
        check_adam_args(lr, eps, betas, weight_decay)
        check_nonnegative("momentum_decay", momentum_decay, "momentum_decay value")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def _init_state(self, p) -> dict:
        state = self.state[p]
        if not state:
            state["step"] = step_tensor()
            # the product of the mu's, a CPU scalar in the step counter's dtype (as PyTorch keeps it)
            state["mu_product"] = make_tensor(np.ones((), dtype=state["step"]._data.dtype))
            state["exp_avg"] = zeros_state(p)
            state["exp_avg_sq"] = zeros_state(p)
        return state

    def _update(self, p, group) -> None:
        state = self._init_state(p)
        _nadam_update(p, state, group, next_step(state), self._scratch)


def _nadam_update(p, state: dict, group: dict, t: float, scratch) -> None:
    lr, (beta1, beta2), wd, psi = group["lr"], group["betas"], group["weight_decay"], group["momentum_decay"]
    decoupled = group["decoupled_weight_decay"]
    g = grad_for_update(p, group["maximize"], 0 if decoupled else wd, scratch(p._data, 0))
    if decoupled and wd != 0:
        p._data *= 1 - lr * wd
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
    mu_product = state["mu_product"]._data
    mu_product *= mu
    prod = float(mu_product)
    xp, m, v = xp_of(g), state["exp_avg"]._data, state["exp_avg_sq"]._data
    tmp = scratch(p._data, 1)
    update_moments(xp, g, m, v, beta1, beta2, tmp)  # the averages of g and g^2
    denom = xp.divide(v, 1 - beta2 ** t, out=scratch(p._data, 2))  # d = sqrt(v / (1 - beta2^t)) + eps
    xp.sqrt(denom, out=denom)
    denom += group["eps"]
    xp.divide(g, denom, out=tmp)                     # the gradient's share of the Nesterov step
    tmp *= -lr * (1.0 - mu) / (1.0 - prod)
    p._data += tmp
    xp.divide(m, denom, out=tmp)                     # the momentum's share, looking one step ahead
    tmp *= -lr * mu_next / (1.0 - prod * mu_next)
    p._data += tmp
