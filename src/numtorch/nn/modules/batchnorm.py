"""Normalization layers: ``BatchNorm1d/2d``, ``GroupNorm``, ``InstanceNorm1d/2d``.

``BatchNorm`` keeps PyTorch's buffers ``running_mean``, ``running_var`` and ``num_batches_tracked``
(so its state_dict keys match), updates them in training with ``momentum`` (``None``: the
cumulative average 1/num_batches_tracked) and normalizes with them in eval.
"""
from __future__ import annotations

from numtorch.nn import init
from numtorch.nn.modules.module import Module
from numtorch.nn.parameter import Parameter
from numtorch.ops import batchnorm as B
from numtorch.tensor import Tensor
from numtorch._dtypes import int64
from numtorch.creation import empty, ones, tensor, zeros

__all__ = ["BatchNorm1d", "BatchNorm2d", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d"]


class _NormBase(Module):
    """Affine parameters and running statistics shared by batch and instance norm."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None, dtype=None, *,
                 bias: bool = True) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.use_bias = affine and bias  # PyTorch 2.x: bias=False keeps only the scale
        if affine:
            self.weight = Parameter(empty(num_features, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)
        if self.use_bias:
            self.bias = Parameter(empty(num_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, device=device, dtype=dtype))
            self.register_buffer("running_var", ones(num_features, device=device, dtype=dtype))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean._data[...] = 0
            self.running_var._data[...] = 1
            self.num_batches_tracked._data[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return ("{num_features}, eps={eps}, momentum={momentum}, affine={affine}, bias={use_bias}, "
                "track_running_stats={track_running_stats}").format(**self.__dict__)


class _BatchNorm(_NormBase):
    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        return self._local(input, self._momentum_factor())

    def _momentum_factor(self) -> float:
        """Counts a training batch; returns the running statistics' update factor (``momentum``, or
        1/num_batches_tracked for the cumulative average when ``momentum`` is None)."""
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked._data += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked._data)
        return factor

    def _local(self, input: Tensor, factor: float) -> Tensor:
        """Batch norm with this process's batch statistics (training) or the running ones (eval)."""
        use_batch_stats = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return B.batch_norm(input, self.running_mean if track else None, self.running_var if track else None,
                            self.weight, self.bias, use_batch_stats, factor, self.eps)


class BatchNorm2d(_BatchNorm):
    """Batch normalization over (N, C, H, W), per channel.

    Args:
        num_features: C.  eps: added to the variance.  momentum: running-stat update factor
        (``None``: cumulative average).  affine: learn ``weight``/``bias``.  track_running_stats:
        keep running statistics (else batch statistics are used in eval too).
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim != 4:
            raise ValueError(f"expected 4D input (got {input.ndim}D input)")


class BatchNorm1d(_BatchNorm):
    """Batch normalization over (N, C) or (N, C, L), per channel; arguments as ``BatchNorm2d``."""

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {input.ndim}D input)")


class _InstanceNorm(_NormBase):
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None, *, bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim == self._ndim - 1:  # unbatched
            return self.forward(input.unsqueeze(0)).squeeze(0)
        if input.ndim != self._ndim:
            raise ValueError(f"expected {self._ndim - 1}D or {self._ndim}D input (got {input.ndim}D input)")
        use_input_stats = self.training or not self.track_running_stats
        return B.instance_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                               use_input_stats, self.momentum if self.momentum is not None else 0.1, self.eps)


class InstanceNorm2d(_InstanceNorm):
    """Normalizes each (sample, channel) of (N, C, H, W) over H, W."""

    _ndim = 4


class InstanceNorm1d(_InstanceNorm):
    """Normalizes each (sample, channel) of (N, C, L) over L."""

    _ndim = 3


class GroupNorm(Module):
    """Normalizes (N, C, *) over groups of C/num_groups channels, per sample; per-channel affine."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device=None, dtype=None, *, bias: bool = True) -> None:
        super().__init__()
        if num_channels % num_groups:
            raise ValueError("num_channels must be divisible by num_groups")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        self.use_bias = affine and bias
        if affine:
            self.weight = Parameter(ones(num_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)
        if self.use_bias:
            self.bias = Parameter(zeros(num_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)

    def forward(self, input: Tensor) -> Tensor:
        return B.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return ("{num_groups}, {num_channels}, eps={eps}, affine={affine}, "
                "bias={use_bias}").format(**self.__dict__)
