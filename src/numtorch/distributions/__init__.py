"""``numtorch.distributions``: probability distributions with PyTorch's API (``torch.distributions``).

Each distribution samples (``sample``; ``rsample`` differentiably where it can be reparameterized),
scores values (``log_prob``), and knows its ``mean``, ``variance``, ``stddev`` and ``entropy``;
``kl_divergence(p, q)`` gives KL in closed form for the registered pairs.  The REINFORCE idiom:

>>> import numtorch as torch
>>> from numtorch.distributions import Categorical
>>> logits = torch.zeros(3, requires_grad=True)
>>> m = Categorical(logits=logits)
>>> action = m.sample()
>>> loss = -m.log_prob(action)        # the policy gradient's surrogate loss (times the return)
>>> loss.backward()
>>> bool(logits.grad.abs().sum() > 0)
True
"""
from numtorch.distributions import constraints  # noqa: F401
from numtorch.distributions.distribution import Distribution  # noqa: F401
from numtorch.distributions.normal import Normal  # noqa: F401
from numtorch.distributions.uniform import Uniform  # noqa: F401
from numtorch.distributions.bernoulli import Bernoulli  # noqa: F401
from numtorch.distributions.categorical import Categorical  # noqa: F401
from numtorch.distributions.multivariate_normal import MultivariateNormal  # noqa: F401
from numtorch.distributions.kl import kl_divergence, register_kl  # noqa: F401

__all__ = ["Distribution", "Normal", "Uniform", "Bernoulli", "Categorical", "MultivariateNormal",
           "kl_divergence", "register_kl", "constraints"]
