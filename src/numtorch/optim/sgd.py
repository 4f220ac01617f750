"""SGD: stochastic gradient descent, with momentum, Nesterov momentum and weight decay.

The update (PyTorch's, ``g`` the gradient, ``b`` the momentum buffer, ``mu`` the momentum)::

    g <- -g if maximize                        (ascend instead of descend)
    g <- g + weight_decay * p                  (L2 penalty)
    b <- g                                     on the first step (no dampening)
    b <- mu * b + (1 - dampening) * g          afterwards
    g <- g + mu * b  if nesterov  else  b      (only when momentum != 0)
    p <- p - lr * g
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from numtorch import _kernels
from numtorch._backend import xp_of
from numtorch.optim.optimizer import Optimizer, grad_for_update, check_nonnegative
from numtorch.tensor import make_tensor

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent (optionally with momentum).

    Args:
        params: the tensors to optimize, or parameter groups (dicts).
        lr: learning rate (default 1e-3).
        momentum: momentum factor ``mu`` (default 0: plain gradient descent).
        dampening: dampening of the gradient added to the momentum buffer (default 0).
        weight_decay: L2 penalty (default 0).
        nesterov: Nesterov momentum (needs momentum > 0 and dampening = 0).
        maximize: maximize the objective instead of minimizing it.
        foreach, differentiable, fused: accepted for compatibility; numtorch has one implementation.

    >>> import numtorch as torch
    >>> w = torch.tensor([1.0], requires_grad=True)
    >>> opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        check_nonnegative("lr", lr, "learning rate")
        check_nonnegative("momentum", momentum, "momentum value")
        check_nonnegative("weight_decay", weight_decay, "weight_decay value")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach, differentiable=differentiable,
                        fused=fused)
        super().__init__(params, defaults)

    def step(self, closure=None):
        """One update of every parameter with a gradient; plain SGD (no momentum, weight decay or
        maximize) runs ``_plain_sgd_foreach``, one loop over the group (PyTorch's foreach)."""
        loss = self._begin_step(closure)
        for group in self.param_groups:
            plain = not (group["momentum"] or group["weight_decay"] or group["maximize"])
            _plain_sgd_foreach(self, group) if plain else self._step_group(group)
        return loss

    def _step_group(self, group) -> None:
        """The reference loop: ``_update`` per parameter, then the version bump."""
        for p in self._params_with_grad(group):
            self._update(p, group)
            p._bump_version()

    def _update(self, p, group) -> None:
        # the momentum buffer is the only state; plain SGD keeps none (as in PyTorch)
        _sgd_update(p, self.state[p] if group["momentum"] != 0 else None, group, self._scratch)


def _plain_sgd_foreach(opt: SGD, group: dict) -> None:
    """``p <- p - lr * g`` for each parameter of a plain group, the same two passes as
    ``_sgd_update`` (``tmp = -lr * g``, then ``p += tmp`` into one work array) with one lookup of
    the hyperparameters per group; parameters not in NumPy arrays take the reference update."""
    neg_lr = -group["lr"]
    work = None
    for p in group["params"]:
        grad = p.grad
        if grad is None:
            continue
        d, g = p._data, grad._data
        if d.__class__ is not np.ndarray or g.__class__ is not np.ndarray:
            opt._step_group({**group, "params": [p]})  # a GPU parameter: its fused kernel
            continue
        if work is None or work.size < d.size or work.dtype != d.dtype:
            work = opt._scratch(d, 1).reshape(-1)
        tmp = work[:d.size].reshape(d.shape)
        np.multiply(g, neg_lr, out=tmp)
        d += tmp
        p._bump_version()


def _sgd_update(p, state: dict | None, group: dict, scratch) -> None:
    lr, mu, damp = group["lr"], group["momentum"], group["dampening"]
    if _kernels.fused(p._data, p.grad._data) and not group["maximize"]:
        _sgd_fused(p, state, group)
        return
    maximize, wd = group["maximize"], group["weight_decay"]
    g = grad_for_update(p, maximize, wd, scratch(p._data, 0)) if maximize or wd else p.grad._data
    xp, tmp = xp_of(g), scratch(p._data, 1)
    if mu != 0:
        buf = state.get("momentum_buffer")
        if buf is None:                              # first step: the buffer starts at g
            buf = make_tensor(g.copy())
            state["momentum_buffer"] = buf
        else:
            b = buf._data
            b *= mu
            if damp == 0:
                b += g
            else:
                xp.multiply(g, 1 - damp, out=tmp)
                b += tmp
        if group["nesterov"]:                        # look ahead: g <- g + mu * b
            xp.multiply(buf._data, mu, out=tmp)
            tmp += g
            g = tmp
        else:
            g = buf._data
    xp.multiply(g, -lr, out=tmp)                     # p <- p - lr * g
    p._data += tmp


def _sgd_fused(p, state: dict | None, group: dict) -> None:
    """The same update as one GPU kernel per parameter (numtorch._kernels.sgd / sgd_momentum)."""
    g, lr, wd, mu = p.grad._data, group["lr"], group["weight_decay"], group["momentum"]
    if mu == 0:
        _kernels.sgd(g, lr, wd, p._data)
        return
    buf = state.get("momentum_buffer")
    damp = group["dampening"]
    if buf is None:  # first step: buf = d, which the kernel gives from a zero buffer without dampening
        buf = state["momentum_buffer"] = make_tensor(xp_of(g).zeros_like(p._data))
        damp = 0.0
    _kernels.sgd_momentum(g, lr, wd, mu, damp, int(group["nesterov"]), p._data, buf._data)
