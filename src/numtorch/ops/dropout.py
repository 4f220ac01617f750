"""Dropout: zero random elements (or whole channels) while training, scaling the rest by 1 / (1 - p).

The uniform draws behind a mask come from numtorch's default generator on the CPU
(``numtorch.manual_seed``), so one seed gives the same masks on every device; a GPU receives them by
an asynchronous copy from page-locked memory (the host does not wait) and builds the mask there.  Scaling
at training time ("inverted dropout") means evaluation needs no change: in eval mode dropout is the
identity.
The notes' Dropout multiplies by (1 - p) at test time instead; the expected outputs are the same.
"""
from __future__ import annotations

import warnings

from numtorch._backend import xp_of
from numtorch.autograd.function import Function
from numtorch.ops.inplace import apply_inplace
from numtorch.random import uniform_array
from numtorch.tensor import Tensor

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"]


class MaskedScale(Function):
    """y = x * m + c for a constant mask ``m`` (and offset ``c``); dy/dx = m."""

    @staticmethod
    def forward(ctx, x, m, c):
        ctx.save_for_backward(m)
        y = x * m
        if c is not None:
            y += c
        return y

    @staticmethod
    def backward(ctx, gy):
        m, = ctx.saved_tensors
        return gy * m, None, None


def _check_p(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _keep_mask(input: Tensor, p: float, mask_shape: tuple):
    """An array of shape ``mask_shape`` on ``input``'s device: 1 / (1 - p) where kept (probability
    1 - p), 0 where dropped."""
    u = uniform_array(mask_shape, input.device)
    xp, dtype = xp_of(u), input._data.dtype
    if p == 1.0:
        return xp.zeros(mask_shape, dtype=dtype)
    return xp.where(u >= p, dtype.type(1.0 / (1.0 - p)), dtype.type(0)).astype(dtype, copy=False)


def _apply_mask(input: Tensor, p: float, mask_shape: tuple, inplace: bool) -> Tensor:
    m = _keep_mask(input, p, mask_shape)
    fn = lambda x: MaskedScale.apply(x, m, None)  # noqa: E731
    return apply_inplace(input, fn) if inplace else fn(input)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zeroes each element with probability ``p`` while ``training``, scaling the others by 1 / (1 - p)."""
    _check_p(p)
    if not training or p == 0.0:
        return input
    return _apply_mask(input, p, tuple(input.shape), inplace)


def _feature_dropout(input: Tensor, p: float, training: bool, inplace: bool) -> Tensor:
    """ATen's feature_dropout: one draw per (dim 0, dim 1) entry, shared along the other dims."""
    if input.dim() < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    if not training or p == 0.0:
        return input
    mask_shape = tuple(input.shape[:2]) + (1,) * (input.dim() - 2)
    return _apply_mask(input, p, mask_shape, inplace)


def _unbatched_feature_dropout(input: Tensor, p: float, training: bool, inplace: bool) -> Tensor:
    """Feature dropout of an input without a batch dim, as a batch of one: one draw per dim-0 entry."""
    if not training or p == 0.0:
        return input
    return _apply_mask(input, p, (input.shape[0],) + (1,) * (input.dim() - 1), inplace)


def _warn_dims(name: str, ndim: int, allowed: tuple, spatial: int) -> None:
    """PyTorch's deprecation warning for an input outside ``allowed`` dims (it still computes)."""
    if ndim not in allowed:
        warnings.warn(f"{name}: Received a {ndim}-D input to {name}, which is deprecated and will result in "
                      f"an error in a future release. To retain the behavior and silence this warning, "
                      f"please use dropout instead. Note that {name} exists to provide channel-wise dropout "
                      f"on inputs with {spatial} spatial dimensions, a channel dimension, and an optional "
                      f"batch dimension (i.e. {allowed[0]}D or {allowed[1]}D inputs).", stacklevel=3)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zeroes whole channels of a (N, C, L) or (C, L) input."""
    _check_p(p)
    if input.dim() not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {input.dim()}D input. Note "
                           "that dropout1d exists to provide channel-wise dropout on inputs with 1 spatial "
                           "dimension, a channel dimension, and an optional batch dimension (i.e. 2D or 3D "
                           "inputs).")
    if input.dim() == 2:
        return _unbatched_feature_dropout(input, p, training, inplace)
    return _feature_dropout(input, p, training, inplace)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zeroes whole channels (feature maps) of a (N, C, H, W) input.

    As in PyTorch, any other input of 2 or more dims warns and is read as (N, C, ...): a 3-D input
    as (N, C, L) (channel-wise 1-D dropout), a 2-D input (N, C) as element-wise dropout.
    """
    _check_p(p)
    _warn_dims("dropout2d", input.dim(), (3, 4), 2)
    if input.dim() == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel "
                      "dim. This behavior will change in a future release to interpret the input as one "
                      "without a batch dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise "
                      "dropout behavior, please switch to using dropout1d instead.", stacklevel=2)
    return _feature_dropout(input, p, training, inplace)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zeroes whole channels of a (N, C, D, H, W) or unbatched (C, D, H, W) input (other dims warn and
    are read as unbatched, as in PyTorch)."""
    _check_p(p)
    _warn_dims("dropout3d", input.dim(), (4, 5), 3)
    if input.dim() != 5:
        return _unbatched_feature_dropout(input, p, training, inplace)
    return _feature_dropout(input, p, training, inplace)


_SELU_NEG_SAT = -1.7580993408473766  # -scale * alpha of SELU: where SELU saturates for x -> -inf


def _alpha(input: Tensor, p: float, training: bool, inplace: bool, mask_shape: tuple) -> Tensor:
    _check_p(p)
    if not training or p == 0.0:
        return input
    dtype = input._data.dtype
    keep = uniform_array(mask_shape, input.device) >= p
    # dropped units are set to SELU's saturation value, then an affine map a x + b restores mean 0, var 1
    a = ((1 - p) * (1 + p * _SELU_NEG_SAT ** 2)) ** -0.5
    b = -a * _SELU_NEG_SAT * p
    mul = (keep * a).astype(dtype)
    add = (~keep * (a * _SELU_NEG_SAT) + b).astype(dtype)
    fn = lambda x: MaskedScale.apply(x, mul, add)  # noqa: E731
    return apply_inplace(input, fn) if inplace else fn(input)


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Dropout for SELU networks: keeps mean 0 and variance 1 (Klambauer et al., 2017)."""
    return _alpha(input, p, training, inplace, tuple(input.shape))


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                          inplace: bool = False) -> Tensor:
    """Alpha dropout of whole channels (dim 1)."""
    shape = tuple(input.shape[:2]) + (1,) * (input.dim() - 2)
    return _alpha(input, p, training, inplace, shape)
