"""RAdam: Adam whose adaptive step is switched on gradually, as the variance estimate becomes reliable.

The update (PyTorch's; Liu et al., 2019)::

    g <- -g if maximize;  g <- g + weight_decay * p   (or p <- p (1 - lr wd) if decoupled)
    m <- beta1 * m + (1 - beta1) * g;   v <- beta2 * v + (1 - beta2) * g^2
    rho_inf = 2 / (1 - beta2) - 1;      rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
    rho_t > 5:  r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
                p <- p - lr * m / (1 - beta1^t) * r * sqrt(1 - beta2^t) / (sqrt(v) + eps)
    else:       p <- p - lr * m / (1 - beta1^t)            (plain momentum SGD while v is too noisy)
"""
from __future__ import annotations

import math
from typing import Iterable

from numtorch._backend import xp_of
from numtorch.optim.adam import check_adam_args, update_moments
from numtorch.optim.optimizer import Optimizer, grad_for_update, next_step, step_tensor, zeros_state

__all__ = ["RAdam"]


class RAdam(Optimizer):
    """Rectified Adam.

    Args:
        params: the tensors to optimize, or parameter groups.
        lr: learning rate (default 1e-3).
        betas: decay rates of the moment averages (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty (default 0).
        decoupled_weight_decay: shrink the weights directly, as AdamW does.
        maximize: maximize the objective instead of minimizing it.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        check_adam_args(lr, eps, betas, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable, decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def _update(self, p, group) -> None:
        state = self.state[p]
        if not state:
            state["step"] = step_tensor()
            state["exp_avg"] = zeros_state(p)
            state["exp_avg_sq"] = zeros_state(p)
        _radam_update(p, state, group, next_step(state), self._scratch)


def _radam_update(p, state: dict, group: dict, t: float, scratch) -> None:
    lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
    decoupled = group["decoupled_weight_decay"]
    g = grad_for_update(p, group["maximize"], 0 if decoupled else wd, scratch(p._data, 0))
    if decoupled and wd != 0:
        p._data *= 1 - lr * wd
    xp, m, v = xp_of(g), state["exp_avg"]._data, state["exp_avg_sq"]._data
    tmp = scratch(p._data, 1)
    update_moments(xp, g, m, v, beta1, beta2, tmp)  # the averages of g and g^2
    bias1, bias2 = 1 - beta1 ** t, 1 - beta2 ** t
    rho_inf = 2 / (1 - beta2) - 1                       # the length of the approximated SMA
    rho_t = rho_inf - 2 * t * beta2 ** t / bias2
    if rho_t > 5.0:                                     # variance tractable: rectified adaptive step
        rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        xp.sqrt(v, out=tmp)
        tmp += group["eps"]
        xp.divide(m, tmp, out=tmp)
        tmp *= -lr / bias1 * rect * math.sqrt(bias2)
    else:                                               # early steps: momentum SGD on the corrected mean
        xp.multiply(m, -lr / bias1, out=tmp)
    p._data += tmp
