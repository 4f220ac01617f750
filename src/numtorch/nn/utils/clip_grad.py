"""Gradient clipping: ``clip_grad_norm_`` (rescale all gradients together) and ``clip_grad_value_``.

Both work on the gradient arrays in place, without recording (as PyTorch's run under ``no_grad``).
"""
from __future__ import annotations

import math
import types
import warnings
from typing import Iterable

from numtorch._backend import xp_of, to_device
from numtorch.tensor import Tensor, make_tensor

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]


def _as_list(tensors) -> list:
    if isinstance(tensors, Tensor):
        return [tensors]
    is_generator = isinstance(tensors, types.GeneratorType)
    tensors = list(tensors)
    if is_generator and not tensors:
        warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=4)
    return tensors


def _vector_norm(a, norm_type: float):
    """The p-norm of all elements of array ``a`` (computed in ``a``'s dtype)."""
    xp = xp_of(a)
    if norm_type == math.inf:
        return xp.abs(a).max() if a.size else xp.zeros((), a.dtype)
    if norm_type == -math.inf:
        return xp.abs(a).min()
    if norm_type == 0:
        return xp.asarray((a != 0).sum(), dtype=a.dtype)
    if norm_type == 2:
        flat = a.reshape(-1)
        return xp.sqrt(flat @ flat) if flat.dtype.kind == "f" else xp.sqrt((flat * flat).sum())
    if norm_type == 1:
        return xp.abs(a).sum()
    return (xp.abs(a) ** norm_type).sum() ** (1.0 / norm_type)


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """The norm of all ``tensors`` taken together as one long vector."""
    tensors = [t for t in _as_list(tensors) if t is not None]
    norm_type = float(norm_type)
    if not tensors:
        from numtorch.creation import tensor
        return tensor(0.0)
    first = tensors[0]
    xp = xp_of(first._data)
    norms = [to_device(_vector_norm(t._data, norm_type), first.device) for t in tensors]
    total = _vector_norm(xp.stack([xp.asarray(n, dtype=first._data.dtype) for n in norms]), norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is "
                           "non-finite, so it cannot be clipped. To disable this error and scale the "
                           "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`")
    return make_tensor(xp.asarray(total, dtype=first._data.dtype))


def clip_grads_with_norm_(parameters, max_norm: float, total_norm: Tensor,
                          foreach: bool | None = None) -> None:
    """Scales every gradient by min(1, max_norm / (total_norm + 1e-6)), in place.

    The factor is computed where ``total_norm`` lives (a GPU stays busy: no value comes to the host).
    """
    params = [p for p in _as_list(parameters) if p.grad is not None]
    if not params:
        return
    total = total_norm._data if isinstance(total_norm, Tensor) else float(total_norm)
    if isinstance(total, float):
        coef = min(float(max_norm) / (total + 1e-6), 1.0)
    else:
        coef = xp_of(total).minimum(float(max_norm) / (total + 1e-6), 1.0)
    for p in params:
        g = p.grad
        c = coef if isinstance(coef, float) else to_device(coef, g.device)
        g._data *= g._data.dtype.type(c) if isinstance(c, float) else c.astype(g._data.dtype)
        g._bump_version()


def clip_grad_norm_(parameters: "Tensor | Iterable[Tensor]", max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Rescales the gradients so that their joint norm is at most ``max_norm``; returns the norm before.

    >>> import numtorch as torch
    >>> w = torch.nn.Parameter(torch.zeros(2)); w.grad = torch.tensor([3.0, 4.0])
    >>> torch.nn.utils.clip_grad_norm_([w], max_norm=1.0)
    tensor(5.)
    """
    params = _as_list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(params, max_norm, total, foreach)
    return total


def clip_grad_norm(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """Deprecated spelling of ``clip_grad_norm_``."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`torch.nn.utils.clip_grad_norm_`.",
                  FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters: "Tensor | Iterable[Tensor]", clip_value: float,
                     foreach: bool | None = None) -> None:
    """Clamps every gradient element to [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    for p in _as_list(parameters):
        if p.grad is not None:
            g = p.grad._data
            xp_of(g).clip(g, -clip_value, clip_value, out=g)
            p.grad._bump_version()
