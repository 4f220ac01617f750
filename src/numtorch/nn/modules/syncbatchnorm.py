"""``SyncBatchNorm``: batch normalization whose statistics span every rank's share of the batch.

Under data parallelism each rank sees ``N / world`` samples.  Plain BatchNorm would normalize with
that small share's mean and variance; SyncBatchNorm all-reduces them, so the layer computes what
one process would on the whole batch.  Per channel, with M = the number of values over all ranks::

    forward:   mean = all_reduce(sum x) / M          var = all_reduce(sum (x - mean)^2) / M
               xhat = (x - mean) / sqrt(var + eps)   y   = gamma * xhat + beta
    backward:  dbeta = all_reduce(sum dy)            dgamma = all_reduce(sum dy * xhat)
               dx = gamma / sqrt(var + eps) / M * (M dy - dbeta - xhat * dgamma)

(two small all-reduces of C numbers in forward -- two passes, as precise as one process -- and
one of 2C in backward).  ``weight.grad``/``bias.grad`` stay local: DistributedDataParallel averages
them with the other gradients.  In eval mode, or outside a job of several ranks, it is BatchNorm.
"""
from __future__ import annotations

from numtorch._backend import xp_of
from numtorch.autograd.function import Function
from numtorch.nn.modules.batchnorm import _BatchNorm
from numtorch.nn.modules.module import Module
from numtorch.tensor import Tensor, make_tensor


def resolve_group(process_group):
    """``process_group`` (None: the world) as a group, or None without one. The process groups live
    in ``numtorch.distributed``, a layer above nn: it replaces this function when it loads."""
    return None

__all__ = ["SyncBatchNorm"]


def _channel_shape(ndim: int) -> tuple:
    return (1, -1) + (1,) * (ndim - 2)


class SyncBatchNormFunction(Function):
    """Training-mode batch norm over all ranks of ``pg``: returns (y, mean, biased var, count M), the
    statistics over every rank (they carry no gradient)."""

    @staticmethod
    def forward(ctx, x, gamma, beta, eps, pg):
        xp = xp_of(x)
        axes, cs, c = (0,) + tuple(range(2, x.ndim)), _channel_shape(x.ndim), x.shape[1]
        stats = xp.empty(c + 1, x.dtype)
        x.sum(axis=axes, out=stats[:c])
        stats[c] = x.size // c  # this rank's count per channel (ranks may hold different batch sizes)
        pg.allreduce(stats)
        m = int(round(float(stats[c])))
        mean = stats[:c] / m
        xhat = x - mean.reshape(cs)
        sq = (xhat * xhat).sum(axis=axes)
        pg.allreduce(sq)
        var = sq / m
        invstd = 1.0 / xp.sqrt(var + eps)
        xhat *= invstd.reshape(cs)
        y = xhat * gamma.reshape(cs) if gamma is not None else xhat.copy()
        if beta is not None:
            y += beta.reshape(cs)
        ctx.axes, ctx.invstd, ctx.m, ctx.pg = axes, invstd, m, pg
        ctx.save_for_backward(xhat, gamma)
        count = stats[c:]
        ctx.mark_non_differentiable(mean, var, count)
        return y, mean, var, count

    @staticmethod
    def backward(ctx, gy, _gmean=None, _gvar=None, _gcount=None):
        # dx = gamma * invstd / M * (M dy - sum_all(dy) - xhat * sum_all(dy xhat))
        xhat, gamma = ctx.saved_tensors
        xhat, g = xhat._data, gy._data
        xp, axes, cs, c, m = xp_of(g), ctx.axes, _channel_shape(g.ndim), g.shape[1], ctx.m
        local = xp.empty(2 * c, g.dtype)
        g.sum(axis=axes, out=local[:c])
        (g * xhat).sum(axis=axes, out=local[c:])
        dbeta, dgamma = local[:c].copy(), local[c:].copy()  # this rank's parameter gradients
        ctx.pg.allreduce(local)  # the sums over every rank, for the input gradient
        gx = None
        if ctx.needs_input_grad[0]:
            scale = ctx.invstd if gamma is None else gamma._data * ctx.invstd
            gx = xhat * (local[c:] / m).reshape(cs)
            gx += (local[:c] / m).reshape(cs)
            gx = g - gx
            gx *= scale.reshape(cs)
            gx = make_tensor(gx)
        gg = make_tensor(dgamma) if ctx.needs_input_grad[1] else None
        gb = make_tensor(dbeta) if ctx.needs_input_grad[2] else None
        return gx, gg, gb, None, None


def _update_running(running: Tensor, batch_stat, momentum: float) -> None:
    """running <- (1 - momentum) * running + momentum * batch_stat, in place."""
    r = running._data
    r *= 1.0 - momentum
    r += momentum * batch_stat.astype(r.dtype, copy=False)


class SyncBatchNorm(_BatchNorm):
    """Batch normalization with statistics over every rank of ``process_group`` (see module docstring).

    Args:
        num_features: C of an input of shape (N, C, *).
        eps: added to the variance.  momentum: of the running statistics (None: cumulative average).
        affine: learn ``weight`` (ones) and ``bias`` (zeros).  track_running_stats: keep running stats.
        process_group: ranks to synchronise over (default: all).

    Shape: (N, C, *) -> same.  The state_dict keys are BatchNorm's.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, process_group=None, device=None,
                 dtype=None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.process_group = process_group

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim < 2:
            raise ValueError(f"expected at least 2D input (got {input.ndim}D input)")
        if input.shape[1] != self.num_features:
            raise ValueError(f"SyncBatchNorm: expected {self.num_features} channels, got input of shape "
                             f"{tuple(input.shape)}")

    def _group(self):
        """The process group to synchronise over, or None when there is nobody to talk to."""
        pg = resolve_group(self.process_group)
        return pg if pg is not None and pg.size_ > 1 else None

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        factor = self._momentum_factor()
        bn_training = self.training or (self.running_mean is None and self.running_var is None)
        pg = self._group() if bn_training else None
        if pg is None:  # eval, or a job of one rank: plain BatchNorm
            return self._local(input, factor)
        y, mean, var, count = SyncBatchNormFunction.apply(input, self.weight, self.bias, self.eps, pg)
        if self.training and self.track_running_stats:
            m = float(count._data[0])
            _update_running(self.running_mean, mean._data, factor)
            _update_running(self.running_var, var._data * (m / max(m - 1, 1)), factor)
        return y

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """Returns ``module`` with every BatchNorm*d replaced by a SyncBatchNorm holding the same
        parameters and running statistics (shared, not copied).

        >>> import numtorch.nn as nn
        >>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
        >>> model = nn.SyncBatchNorm.convert_sync_batchnorm(model)   # before DistributedDataParallel
        >>> type(model[1]).__name__
        'SyncBatchNorm'
        """
        out = module
        if _is_batchnorm(module):
            out = cls(module.num_features, module.eps, module.momentum, module.affine,
                      module.track_running_stats, process_group)
            if module.affine:
                out.weight, out.bias = module.weight, module.bias
            out.running_mean, out.running_var = module.running_mean, module.running_var
            out.num_batches_tracked = module.num_batches_tracked
            out.training = module.training
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return out


def _is_batchnorm(module) -> bool:
    """BatchNorm1d/2d/3d of numtorch.nn (SyncBatchNorm itself is left alone)."""
    if isinstance(module, SyncBatchNorm):
        return False
    return (isinstance(module, _BatchNorm)
            or type(module).__name__ in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d"))
