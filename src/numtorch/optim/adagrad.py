"""Adagrad: each coordinate's step shrinks with the sum of its past squared gradients.

The update (PyTorch's; ``t`` the step count, ``s`` the running sum)::

    g <- -g if maximize;  g <- g + weight_decay * p
    clr = lr / (1 + (t - 1) * lr_decay)
    s <- s + g * g
    p <- p - clr * g / (sqrt(s) + eps)
"""
from __future__ import annotations

from typing import Iterable

from numtorch import _kernels
from numtorch._backend import xp_of
from numtorch.optim.optimizer import Optimizer, grad_for_update, check_nonnegative, step_tensor, next_step
from numtorch.tensor import make_tensor

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011).

    Args:
        params: the tensors to optimize, or parameter groups.
        lr: learning rate (default 1e-2).
        lr_decay: learning-rate decay per step (default 0).
        weight_decay: L2 penalty (default 0).
        initial_accumulator_value: starting value of the sum of squares (default 0).
        eps: added to the denominator for numerical stability (default 1e-10).
        maximize: maximize the objective instead of minimizing it.
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: bool | None = None) -> None:
        check_nonnegative("lr", lr, "learning rate")
        check_nonnegative("lr_decay", lr_decay, "lr_decay value")
        check_nonnegative("weight_decay", weight_decay, "weight_decay value")
        check_nonnegative("initial_accumulator_value", initial_accumulator_value,
                          "initial_accumulator_value value")
        check_nonnegative("eps", eps, "epsilon value")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        for group in self.param_groups:  # PyTorch creates Adagrad's state at construction
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p, group) -> dict:
        state = self.state[p]
        if "sum" not in state:
            state["step"] = step_tensor()
            state["sum"] = make_tensor(xp_of(p._data).full_like(p._data, group["initial_accumulator_value"]))
        return state

    def _update(self, p, group) -> None:
        state = self._init_state(p, group)
        t = next_step(state)
        clr = group["lr"] / (1 + (t - 1) * group["lr_decay"])
        if _kernels.fused(p._data, p.grad._data) and not group["maximize"]:  # GPU: one kernel
            _kernels.adagrad(p.grad._data, clr, group["eps"], group["weight_decay"], p._data,
                             state["sum"]._data)
            return
        g = grad_for_update(p, group["maximize"], group["weight_decay"], self._scratch(p._data, 0))
        xp, s = xp_of(g), state["sum"]._data
        tmp = xp.multiply(g, g, out=self._scratch(p._data, 1))   # s <- s + g^2
        s += tmp
        xp.sqrt(s, out=tmp)                       # p <- p - clr * g / (sqrt(s) + eps)
        tmp += group["eps"]
        xp.divide(g, tmp, out=tmp)
        tmp *= -clr
        p._data += tmp
