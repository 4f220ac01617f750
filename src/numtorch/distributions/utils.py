"""Helpers the distributions share (``torch.distributions.utils``)."""
from __future__ import annotations

from numbers import Number

from numtorch import _dtypes, creation, ops
from numtorch.ops import activation
from numtorch.autograd.grad_mode import enable_grad
from numtorch.tensor import Tensor

__all__ = ["broadcast_all", "logits_to_probs", "probs_to_logits", "clamp_probs", "lazy_property"]


def broadcast_all(*values):
    """The values as tensors of one broadcast shape; numbers take the dtype and device of the first
    tensor (the default dtype when there is none)."""
    if not all(isinstance(v, (Tensor, Number)) for v in values):
        raise ValueError("Input arguments must all be instances of Number, torch.Tensor or objects "
                         "implementing __torch_function__.")
    like = next((v for v in values if isinstance(v, Tensor)), None)
    options = (dict(dtype=like.dtype, device=like.device) if like is not None
               else dict(dtype=_dtypes.get_default_dtype()))
    tensors = [v if isinstance(v, Tensor) else creation.tensor(v, **options) for v in values]
    return ops.broadcast_tensors(*tensors)


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """sigmoid(logits) for a binary event, else softmax over the last dimension."""
    if is_binary:
        return ops.sigmoid(logits)
    return activation.softmax(logits, dim=-1)


def clamp_probs(probs: Tensor) -> Tensor:
    """Probabilities clamped into [eps, 1 - eps] (eps of their dtype), so their logs are finite."""
    eps = _dtypes.finfo(probs.dtype).eps
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """log p (a categorical's logits), or log p - log(1 - p) (a binary event's log-odds)."""
    p = clamp_probs(probs)
    if is_binary:
        return ops.log(p) - ops.log1p(-p)
    return ops.log(p)


class lazy_property:
    """A property computed on first access (with grad enabled) and then stored on the instance."""

    def __init__(self, wrapped) -> None:
        self.wrapped = wrapped
        self.__doc__ = wrapped.__doc__
        self.__name__ = wrapped.__name__

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return self
        with enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value


def _sum_rightmost(value: Tensor, dim: int) -> Tensor:
    """Sums the ``dim`` rightmost dimensions."""
    return value if dim == 0 else value.reshape(tuple(value.shape[:-dim]) + (-1,)).sum(-1)
