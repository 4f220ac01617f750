"""Normal (Gaussian) distribution ``N(loc, scale^2)``."""
from __future__ import annotations

import math
from numbers import Number

from numtorch import creation, ops
from numtorch.distributions import constraints
from numtorch.distributions.distribution import Distribution
from numtorch.distributions.utils import broadcast_all
from numtorch.tensor import Size

__all__ = ["Normal"]


class Normal(Distribution):
    """The normal distribution with mean ``loc`` and standard deviation ``scale``::

        log p(x) = -(x - loc)^2 / (2 scale^2) - log scale - log sqrt(2 pi)
        entropy  = 1/2 + 1/2 log(2 pi) + log scale

    ``rsample`` is ``loc + eps * scale`` with ``eps ~ N(0, 1)``: differentiable in both.

    >>> import numtorch as torch
    >>> m = torch.distributions.Normal(torch.tensor([0.0]), torch.tensor([2.0]))
    >>> m.log_prob(torch.tensor([0.0]))
    tensor([-1.6121])
    """
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args: bool | None = None) -> None:
        self.loc, self.scale = broadcast_all(loc, scale)
        scalar = isinstance(loc, Number) and isinstance(scale, Number)
        super().__init__(Size() if scalar else self.loc.size(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Normal, _instance)
        batch_shape = Size(batch_shape)
        new.loc, new.scale = self.loc.expand(batch_shape), self.scale.expand(batch_shape)
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def stddev(self):
        return self.scale

    @property
    def variance(self):
        return self.stddev.pow(2)

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        eps = creation.randn(tuple(shape), dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + eps * self.scale

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        var = self.scale ** 2
        return -((value - self.loc) ** 2) / (2 * var) - self.scale.log() - math.log(math.sqrt(2 * math.pi))

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 * (1 + ops.erf((value - self.loc) * self.scale.reciprocal() / math.sqrt(2)))

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + ops.log(self.scale)
