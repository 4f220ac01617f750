"""ASGD: SGD with a decaying step whose iterates are averaged (Polyak-Ruppert averaging).

The update (PyTorch's; ``eta`` the step, ``mu`` the averaging weight, ``ax`` the average)::

    g <- -g if maximize;  g <- g + weight_decay * p
    p <- p * (1 - lambd * eta) - eta * g
    ax <- ax + mu * (p - ax)        (ax <- p while mu = 1)
    eta <- lr / (1 + lambd * lr * t)^alpha,   mu <- 1 / max(1, t - t0)     (t: the step count)

``eta`` and ``mu`` are kept as 0-d float32 tensors, as PyTorch keeps them, so the step uses
``float32(eta)``.
"""
from __future__ import annotations

from typing import Iterable

from numtorch.optim.optimizer import (Optimizer, check_nonnegative, grad_for_update, next_step, step_tensor,
                                      zeros_state)

__all__ = ["ASGD"]


def _scalar_state(value: float):
    """A 0-d state tensor in the step counter's dtype (float32 unless the default dtype is float64)."""
    t = step_tensor()
    t._data[...] = value
    return t


class ASGD(Optimizer):
    """Averaged stochastic gradient descent (Polyak & Juditsky, 1992); the average is ``state[p]["ax"]``.

    Args:
        params: the tensors to optimize, or parameter groups.
        lr: learning rate (default 1e-2).
        lambd: decay term (default 1e-4).
        alpha: power of the eta update (default 0.75).
        t0: the step at which averaging starts (default 1e6).
        weight_decay: L2 penalty (default 0).
        maximize: maximize the objective instead of minimizing it.
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False, capturable: bool = False) -> None:
        check_nonnegative("lr", lr, "learning rate")
        check_nonnegative("weight_decay", weight_decay, "weight_decay value")
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _update(self, p, group) -> None:
        lr, lambd = float(group["lr"]), group["lambd"]
        state = self.state[p]
        if not state:
            state["step"] = step_tensor()
            state["eta"] = _scalar_state(lr)
            state["mu"] = _scalar_state(1.0)
            state["ax"] = zeros_state(p)
        step = next_step(state)
        g = grad_for_update(p, group["maximize"], group["weight_decay"], self._scratch(p._data, 0))
        eta, mu = float(state["eta"]._data), float(state["mu"]._data)
        a, ax = p._data, state["ax"]._data
        a *= 1 - lambd * eta          # decay term
        a -= eta * g                  # the step
        if mu != 1:
            ax += (a - ax) * mu
        else:
            ax[...] = a
        state["eta"]._data[...] = lr / ((1 + lambd * lr * step) ** group["alpha"])
        state["mu"]._data[...] = 1 / max(1, step - group["t0"])
