"""``numtorch.special``: the special functions of ``torch.special``.

Most are the elementwise ops under their SciPy names (``expit`` is ``sigmoid``, ``ndtr`` is the
normal CDF). ``erfinv``, ``gammaln``, ``digamma``, ``i1`` and ``erfcx`` use ``scipy.special`` on the
CPU and ``cupyx.scipy.special`` (its GPU twin) on CUDA; a missing SciPy gives one clear line
(``erfinv`` then falls back to Newton's method on ``erf``).
"""
from __future__ import annotations

import math

import numpy as np

from numtorch._backend import cupyx_module, xp_of
from numtorch.autograd.function import Function
from numtorch.ops import elementwise as _ew
from numtorch.ops.activation import softmax as _softmax, log_softmax as _log_softmax
from numtorch.ops.reduce import logsumexp  # noqa: F401  (torch.special.logsumexp)
from numtorch.tensor import Tensor

__all__ = ["expit", "logit", "erf", "erfc", "erfcx", "erfinv", "log_softmax", "softmax", "xlogy", "xlog1py",
           "gammaln", "digamma", "psi", "i0", "i1", "entr", "sinc", "log1p", "expm1", "exp2", "ndtr",
           "log_ndtr", "logsumexp", "round"]

erf = _ew.erf
erfc = _ew.erfc
expit = _ew.sigmoid
xlogy = _ew.xlogy
sinc = _ew.sinc
log1p = _ew.log1p
expm1 = _ew.expm1
exp2 = _ew.exp2
round = _ew.round  # noqa: A001


def _scipy_special(op: str, x):
    """The special-function module for array ``x``: SciPy's on the CPU, ``cupyx.scipy.special`` on CUDA."""
    if xp_of(x) is not np:
        return cupyx_module().scipy.special
    try:
        import scipy.special
    except ImportError:
        raise ImportError(f"special.{op} needs SciPy: pip install numtorch[scipy]") from None
    return scipy.special


def logit(input: Tensor, eps: float | None = None) -> Tensor:
    """log(p / (1 - p)), with p clamped to [eps, 1 - eps] when ``eps`` is given."""
    p = input if eps is None else input.clamp(eps, 1 - eps)
    return (p / (1 - p)).log()


def softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    return _softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    return _log_softmax(input, dim, dtype=dtype)


def xlog1py(input, other) -> Tensor:
    """x * log1p(y), 0 where x == 0."""
    from numtorch.ops.elementwise import where
    return where(input == 0, 0.0, input * _ew.log1p(other))


def entr(input: Tensor) -> Tensor:
    """-x log x for x > 0, 0 at 0, -inf for x < 0 (elementwise entropy)."""
    from numtorch.ops.elementwise import where
    pos = input > 0
    safe = where(pos, input, 1.0)  # keeps log(0) out of the gradient
    return where(pos, -safe * safe.log(), where(input == 0, 0.0, -math.inf))


def ndtr(input: Tensor) -> Tensor:
    """The standard normal CDF: erfc(-x / sqrt 2) / 2 (no 1 + erf cancellation for x < 0)."""
    return 0.5 * _ew.erfc(input * (-1 / math.sqrt(2)))


def log_ndtr(input: Tensor) -> Tensor:
    """log of the standard normal CDF (through ``ndtr``, erfc-based: accurate until Phi underflows)."""
    return ndtr(input).log()


class Erfinv(Function):
    @staticmethod
    def forward(ctx, x):
        y = _erfinv_array(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        # x = erf(y)  =>  dy/dx = 1 / erf'(y) = sqrt(pi) / 2 * exp(y^2)
        y, = ctx.saved_tensors
        return gy * (math.sqrt(math.pi) / 2) * (y * y).exp()


def _erfinv_array(x):
    xp = xp_of(x)
    try:
        return _scipy_special("erfinv", x).erfinv(x).astype(x.dtype, copy=False)
    except ImportError:
        pass
    # Newton's method on erf(y) = x from a rough start (Winitzki's approximation)
    from numtorch.ops.elementwise import _erf
    a = 0.147
    ln = xp.log1p(-x * x)
    t = 2 / (math.pi * a) + ln / 2
    y = xp.sign(x) * xp.sqrt(xp.sqrt(t * t - ln / a) - t)
    for _ in range(3):
        y = y - (_erf(y) - x) / (2 / math.sqrt(math.pi) * xp.exp(-y * y))
    return y.astype(x.dtype, copy=False)


def erfinv(input: Tensor) -> Tensor:
    """The inverse of erf on (-1, 1) (+-inf at +-1, nan outside)."""
    return Erfinv.apply(input if input._data.dtype.kind in "fV" else input.float())


def erfcx(input: Tensor) -> Tensor:
    """exp(x^2) erfc(x), computed stably by SciPy. Forward only."""
    return _ScipyForward.apply(input, "erfcx")


class _ScipyForward(Function):
    """A SciPy special function without a gradient here (backward raises)."""

    @staticmethod
    def forward(ctx, x, name):
        ctx.name = name
        return getattr(_scipy_special(name, x), name)(x).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, gy):
        raise RuntimeError(f"special.{ctx.name}: the derivative is not implemented in numtorch")


def digamma(input: Tensor) -> Tensor:
    """psi(x) = d/dx log Gamma(x). Forward only (no polygamma yet)."""
    return _ScipyForward.apply(_float(input), "digamma")


psi = digamma


class Gammaln(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _scipy_special("gammaln", x).gammaln(x).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, gy):
        # d/dx log Gamma(x) = digamma(x)
        x, = ctx.saved_tensors
        return gy * digamma(x)


def gammaln(input: Tensor) -> Tensor:
    """log |Gamma(x)| (needs SciPy)."""
    return Gammaln.apply(_float(input))


class I0(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return xp_of(x).i0(x).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, gy):
        # d/dx I0(x) = I1(x)
        x, = ctx.saved_tensors
        return gy * i1(x)


def i0(input: Tensor) -> Tensor:
    """The modified Bessel function of the first kind, order 0."""
    return I0.apply(_float(input))


def i1(input: Tensor) -> Tensor:
    """The modified Bessel function of the first kind, order 1 (needs SciPy). Forward only."""
    return _ScipyForward.apply(_float(input), "i1")


def _float(t: Tensor) -> Tensor:
    return t if t._data.dtype.kind in "fV" else t.float()
