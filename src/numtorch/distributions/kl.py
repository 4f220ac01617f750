"""``kl_divergence(p, q)``: KL(p || q) = E_p[log p(x) - log q(x)], in closed form for registered pairs."""
from __future__ import annotations

import math

from numtorch import linalg, ops
from numtorch.distributions.bernoulli import Bernoulli
from numtorch.distributions.categorical import Categorical
from numtorch.distributions.multivariate_normal import MultivariateNormal, _batch_mahalanobis
from numtorch.distributions.normal import Normal
from numtorch.distributions.uniform import Uniform
from numtorch.nn.functional import softplus

__all__ = ["kl_divergence", "register_kl"]

_KL_REGISTRY: dict = {}   # (type of p, type of q) -> function


def register_kl(type_p, type_q):
    """Decorator registering ``fn(p, q)`` as the KL divergence of two distribution types."""
    def decorator(fn):
        _KL_REGISTRY[type_p, type_q] = fn
        return fn
    return decorator


def _dispatch_kl(type_p, type_q):
    """The registered function for the most specific pair of base classes (by MRO position)."""
    matches = [(type_p.__mro__.index(p) + type_q.__mro__.index(q), fn) for (p, q), fn in _KL_REGISTRY.items()
               if issubclass(type_p, p) and issubclass(type_q, q)]
    return min(matches, key=lambda m: m[0])[1] if matches else NotImplemented


def kl_divergence(p, q):
    """KL(p || q), batched over the distributions' batch shape.

    Raises:
        NotImplementedError: for a pair of types with no registered formula.
    """
    fun = _dispatch_kl(type(p), type(q))
    if fun is NotImplemented:
        raise NotImplementedError(f"No KL(p || q) is implemented for p type {p.__class__.__name__} and "
                                  f"q type {q.__class__.__name__}")
    return fun(p, q)


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p, q):
    # p log(p/q) + (1-p) log((1-p)/(1-q)), with log p = -softplus(-logit), log(1-p) = -softplus(logit)
    t1 = p.probs * (softplus(-q.logits) - softplus(-p.logits))
    t1 = ops.where(q.probs == 0, math.inf, t1)
    t1 = ops.where(p.probs == 0, 0.0, t1)
    t2 = (1 - p.probs) * (softplus(q.logits) - softplus(p.logits))
    t2 = ops.where(q.probs == 1, math.inf, t2)
    t2 = ops.where(p.probs == 1, 0.0, t2)
    return t1 + t2


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p, q):
    # sum_k p_k (log p_k - log q_k); 0 where p_k = 0, inf where q_k = 0 < p_k
    t = p.probs * (p.logits - q.logits)
    t = ops.where((q.probs == 0).expand_as(t), math.inf, t)
    t = ops.where((p.probs == 0).expand_as(t), 0.0, t)
    return t.sum(-1)


@register_kl(Normal, Normal)
def _kl_normal_normal(p, q):
    # 1/2 (s_p^2/s_q^2 + (m_p - m_q)^2/s_q^2 - 1 - log(s_p^2/s_q^2))
    var_ratio = (p.scale / q.scale).pow(2)
    t1 = ((p.loc - q.loc) / q.scale).pow(2)
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


@register_kl(Uniform, Uniform)
def _kl_uniform_uniform(p, q):
    # log((q.high - q.low) / (p.high - p.low)), inf unless p's interval lies inside q's
    result = ((q.high - q.low) / (p.high - p.low)).log()
    return ops.where((q.low > p.low) | (q.high < p.high), math.inf, result)


@register_kl(MultivariateNormal, MultivariateNormal)
def _kl_multivariatenormal_multivariatenormal(p, q):
    # 1/2 (tr(Sq^-1 Sp) + |Lq^-1 (mq - mp)|^2 - k) + log|Lq| - log|Lp|
    if p.event_shape != q.event_shape:
        raise ValueError("KL-divergence between two Multivariate Normals with different event shapes cannot "
                         "be computed")
    Lp, Lq = p._unbroadcasted_scale_tril, q._unbroadcasted_scale_tril
    half_term1 = Lq.diagonal(dim1=-2, dim2=-1).log().sum(-1) - Lp.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    n = p.event_shape[0]
    shape = tuple(ops.broadcast_shapes(tuple(Lq.shape[:-2]), tuple(Lp.shape[:-2]))) + (n, n)
    term2 = linalg.solve(Lq.tril().expand(shape), Lp.expand(shape)).pow(2).sum((-2, -1))
    term3 = _batch_mahalanobis(Lq, q.loc - p.loc)
    return half_term1 + 0.5 * (term2 + term3 - n)
