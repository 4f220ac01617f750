"""Rprop: each weight has its own step size, grown while the gradient keeps its sign, shrunk when it flips.

The update (PyTorch's; ``prev`` the last gradient used, ``s`` the per-weight step size)::

    g <- -g if maximize
    f = eta_plus  where g * prev > 0   (same sign: accelerate)
        eta_minus where g * prev < 0   (sign flipped: we jumped over a minimum)
        1         where g * prev = 0
    s <- clamp(s * f, step_size_min, step_size_max)
    g <- 0 where the sign flipped       (no step there, and no flip detected next time)
    p <- p - sign(g) * s;   prev <- g
"""
from __future__ import annotations

from typing import Iterable

from numtorch._backend import xp_of
from numtorch.optim.optimizer import Optimizer, check_nonnegative, next_step, step_tensor, zeros_state
from numtorch.tensor import make_tensor

__all__ = ["Rprop"]


class Rprop(Optimizer):
    """Resilient backpropagation (Riedmiller & Braun, 1993); only the gradient's sign is used.

    Args:
        params: the tensors to optimize, or parameter groups.
        lr: the initial step size of every weight (default 1e-2).
        etas: (eta_minus, eta_plus), the factors that shrink and grow a step (default (0.5, 1.2)).
        step_sizes: (min, max) bounds of a step (default (1e-6, 50)).
        maximize: maximize the objective instead of minimizing it.
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, etas: tuple = (0.5, 1.2),
                 step_sizes: tuple = (1e-6, 50), *, capturable: bool = False, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False) -> None:
        check_nonnegative("lr", lr, "learning rate")
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = dict(lr=lr, etas=etas, step_sizes=step_sizes, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _update(self, p, group) -> None:
        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]
        state = self.state[p]
        g = p.grad._data
        xp = xp_of(g)
        if not state:
            state["step"] = step_tensor()
            state["prev"] = zeros_state(p)
            state["step_size"] = make_tensor(xp.full_like(g, float(group["lr"])))
        next_step(state)
        if group["maximize"]:
            g = -g
        prev, s = state["prev"]._data, state["step_size"]._data
        product = g * prev
        flipped = product < 0
        factor = xp.where(product > 0, etaplus, xp.where(flipped, etaminus, 1.0)).astype(g.dtype)
        s *= factor
        xp.clip(s, step_size_min, step_size_max, out=s)
        g = xp.where(flipped, 0, g).astype(g.dtype)   # no step where the sign flipped
        p._data -= xp.sign(g) * s
        prev[...] = g
