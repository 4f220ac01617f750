"""Adam and AdamW: momentum on the gradient, per-coordinate scaling by its second moment.

The update (PyTorch's; ``t`` the step count, ``m``/``v`` the first and second moments)::

    g <- -g if maximize
    Adam:   g <- g + weight_decay * p              (L2 penalty, coupled to the gradient)
    AdamW:  p <- p * (1 - lr * weight_decay)       (decoupled weight decay)
    m <- beta1 * m + (1 - beta1) * g
    v <- beta2 * v + (1 - beta2) * g^2
    amsgrad:  v_max <- max(v_max, v), used for v below
    p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

The two bias corrections ``1 - beta^t`` undo the pull of the zero initial moments towards 0.
"""
from __future__ import annotations

import math
from typing import Iterable

from numtorch import _kernels
from numtorch._backend import xp_of
from numtorch.optim.optimizer import (Optimizer, grad_for_update, check_nonnegative, step_tensor, next_step,
                                      zeros_state)

__all__ = ["Adam", "AdamW"]


def check_betas(betas) -> None:
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")


def check_adam_args(lr: float, eps: float, betas, weight_decay: float) -> None:
    """PyTorch's checks of the Adam family's arguments, in its order."""
    check_nonnegative("lr", lr, "learning rate")
    check_nonnegative("eps", eps, "epsilon value")
    check_betas(betas)
    check_nonnegative("weight_decay", weight_decay, "weight_decay value")


def update_moments(xp, g, m, v, beta1: float, beta2: float, tmp) -> None:
    """In place: m <- m + (1 - beta1)(g - m),  v <- beta2 v + (1 - beta2) g^2 (tmp: scratch like g)."""
    xp.subtract(g, m, out=tmp)
    tmp *= 1 - beta1
    m += tmp
    xp.multiply(g, g, out=tmp)
    tmp *= 1 - beta2
    v *= beta2
    v += tmp


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2014), with the AMSGrad variant and optional decoupled weight decay.

    Args:
        params: the tensors to optimize, or parameter groups.
        lr: learning rate (default 1e-3).
        betas: decay rates of the first and second moment averages (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty (default 0), added to the gradient unless decoupled_weight_decay.
        amsgrad: use the running maximum of the second moment (Reddi et al., 2018).
        maximize: maximize the objective instead of minimizing it.
        decoupled_weight_decay: shrink the weights directly, as AdamW does.

    >>> import numtorch as torch
    >>> w = torch.tensor([1.0, -1.0], requires_grad=True)
    >>> opt = torch.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> w                                 # the first Adam step moves each coordinate by lr
    tensor([ 0.9000, -0.9000], requires_grad=True)
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False) -> None:
        check_adam_args(lr, eps, betas, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=capturable,
                        differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _init_state(self, p, group) -> dict:
        state = self.state[p]
        if not state:
            state["step"] = step_tensor()
            state["exp_avg"] = zeros_state(p)
            state["exp_avg_sq"] = zeros_state(p)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = zeros_state(p)
        return state

    def _update(self, p, group) -> None:
        state = self._init_state(p, group)
        _adam_update(p, state, group, next_step(state), self._scratch)


def _adam_update(p, state: dict, group: dict, t: float, scratch) -> None:
    lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
    decoupled = group["decoupled_weight_decay"]
    if _kernels.fused(p._data, p.grad._data) and not (group["amsgrad"] or group["maximize"]):
        # GPU: the whole update in one kernel
        _kernels.adam(p.grad._data, lr, beta1, beta2, group["eps"], 0.0 if decoupled else wd,
                      1 - lr * wd if decoupled else 1.0, 1 - beta1 ** t, math.sqrt(1 - beta2 ** t),
                      p._data, state["exp_avg"]._data, state["exp_avg_sq"]._data)
        return
    g = grad_for_update(p, group["maximize"], 0 if decoupled else wd, scratch(p._data, 0))
    if decoupled and wd != 0:
        p._data *= 1 - lr * wd                       # AdamW: shrink the weights directly
    xp, m, v = xp_of(g), state["exp_avg"]._data, state["exp_avg_sq"]._data
    tmp = scratch(p._data, 1)
    update_moments(xp, g, m, v, beta1, beta2, tmp)  # the averages of g and g^2
    if group["amsgrad"]:
        v = xp.maximum(state["max_exp_avg_sq"]._data, v, out=state["max_exp_avg_sq"]._data)
    bias1, bias2 = 1 - beta1 ** t, 1 - beta2 ** t
    xp.sqrt(v, out=tmp)                              # denom = sqrt(v) / sqrt(1 - beta2^t) + eps
    tmp /= math.sqrt(bias2)
    tmp += group["eps"]
    xp.divide(m, tmp, out=tmp)                       # p <- p - lr / (1 - beta1^t) * m / denom
    tmp *= -lr / bias1
    p._data += tmp


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): ``p <- p (1 - lr wd)`` each step.

    Args: as ``Adam``, with ``weight_decay`` default 1e-2.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
