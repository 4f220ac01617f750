"""``numtorch.distributions`` against ``torch.distributions`` (values and gradients in float64), a
numerical gradient check of log_prob and rsample, sample statistics against the closed-form moments,
and PyTorch's validation errors."""
from __future__ import annotations

import re

import numpy as np
import pytest

import numtorch
from numtorch.autograd import gradcheck

D = numtorch.distributions
RNG = np.random.default_rng(0)
LOC, SCALE = RNG.standard_normal((3, 2)), RNG.uniform(0.5, 2.0, (3, 2))
PROBS = RNG.uniform(0.1, 1.0, (3, 4))
P01 = RNG.uniform(0.05, 0.95, (3, 2))
LOW, WIDTH = RNG.standard_normal((3, 2)), RNG.uniform(0.5, 2.0, (3, 2))
A = RNG.standard_normal((3, 3))
COV = A @ A.T + 3 * np.eye(3)


def _build(lib, name, tensors):
    """The distribution ``name`` of library ``lib`` over the given parameter tensors."""
    d = lib.distributions
    return {
        "normal": lambda t: d.Normal(t[0], t[1]),
        "bernoulli_probs": lambda t: d.Bernoulli(probs=t[0]),
        "bernoulli_logits": lambda t: d.Bernoulli(logits=t[0]),
        "categorical_probs": lambda t: d.Categorical(probs=t[0]),
        "categorical_logits": lambda t: d.Categorical(logits=t[0]),
        "uniform": lambda t: d.Uniform(t[0], t[0] + t[1]),
        "mvn_cov": lambda t: d.MultivariateNormal(t[0], covariance_matrix=t[1]),
        "mvn_tril": lambda t: d.MultivariateNormal(t[0], scale_tril=t[1]),
        "mvn_precision": lambda t: d.MultivariateNormal(t[0], precision_matrix=t[1]),
    }[name](tensors)


PARAMS = {
    "normal": (LOC, SCALE),
    "bernoulli_probs": (P01,),
    "bernoulli_logits": (LOC,),
    "categorical_probs": (PROBS,),
    "categorical_logits": (LOC @ RNG.standard_normal((2, 4)),),
    "uniform": (LOW, WIDTH),
    "mvn_cov": (RNG.standard_normal((2, 3)), COV),
    "mvn_tril": (RNG.standard_normal(3), np.linalg.cholesky(COV)),
    "mvn_precision": (RNG.standard_normal(3), np.linalg.inv(COV)),
}
VALUES = {
    "normal": RNG.standard_normal((5, 3, 2)),
    "bernoulli_probs": (RNG.random((5, 3, 2)) < 0.5).astype(float),
    "bernoulli_logits": (RNG.random((3, 2)) < 0.5).astype(float),
    "categorical_probs": RNG.integers(0, 4, (5, 3)),
    "categorical_logits": RNG.integers(0, 4, (3,)),
    "uniform": LOW + WIDTH * RNG.random((5, 3, 2)),
    "mvn_cov": RNG.standard_normal((4, 2, 3)),
    "mvn_tril": RNG.standard_normal((4, 3)),
    "mvn_precision": RNG.standard_normal(3),
}


@pytest.fixture
def no_validation():
    """Numerical differentiation perturbs scale_tril's upper triangle, outside the constraint."""
    D.Distribution.set_default_validate_args(False)
    yield
    D.Distribution.set_default_validate_args(True)


def _tensors(lib, arrays):
    return [lib.tensor(a, dtype=lib.float64, requires_grad=True) for a in arrays]


def _value(lib, name):
    v = VALUES[name]
    return lib.tensor(v) if v.dtype.kind == "i" else lib.tensor(v, dtype=lib.float64)


def _np(t):
    return t.detach().numpy()


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_matches_pytorch(torch, name) -> None:
    """log_prob (and its gradient), entropy, mean, variance, stddev, shapes and probs/logits."""
    results = []
    for lib in (numtorch, torch):
        params = _tensors(lib, PARAMS[name])
        m = _build(lib, name, params)
        lp = m.log_prob(_value(lib, name))
        (lp.sum() + m.entropy().sum()).backward()
        out = {"log_prob": _np(lp), "entropy": _np(m.entropy()), "grads": [_np(p.grad) for p in params],
               "batch": tuple(m.batch_shape), "event": tuple(m.event_shape)}
        if not name.startswith("categorical"):
            out.update(mean=_np(m.mean), variance=_np(m.variance), stddev=_np(m.stddev))
        for attr in ("probs", "logits", "covariance_matrix", "scale_tril", "precision_matrix"):
            if hasattr(type(m), attr) or attr in m.__dict__:
                out[attr] = _np(getattr(m, attr))
        results.append(out)
    ours, ref = results
    assert ours.keys() == ref.keys()
    for key in ours:
        if key in ("batch", "event"):
            assert ours[key] == ref[key], key
        elif key == "grads":
            for g, gr in zip(ours[key], ref[key]):
                np.testing.assert_allclose(g, gr, rtol=1e-10, atol=1e-12)
        else:
            np.testing.assert_allclose(ours[key], ref[key], rtol=1e-10, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("name", ["normal", "bernoulli_logits", "categorical_logits", "uniform", "mvn_tril"])
def test_log_prob_numerical_gradient(name, no_validation) -> None:
    """d log_prob / d parameters by central differences (float64)."""
    value = _value(numtorch, name)
    fn = (lambda *p: _build(numtorch, name, p).log_prob(value))
    assert gradcheck(fn, tuple(_tensors(numtorch, PARAMS[name])), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["normal", "uniform", "mvn_tril"])
def test_rsample_is_differentiable(name, no_validation) -> None:
    """rsample with a fixed seed is a smooth function of the parameters: its gradient matches the
    numerical one, and ``sample`` gives the same numbers without a graph."""
    params = tuple(_tensors(numtorch, PARAMS[name]))

    def draw(*p):
        numtorch.manual_seed(3)
        return _build(numtorch, name, p).rsample((2,))
    assert gradcheck(draw, params, eps=1e-6, atol=1e-6)
    numtorch.manual_seed(3)
    sample = _build(numtorch, name, params).sample((2,))
    assert not sample.requires_grad
    np.testing.assert_allclose(_np(sample), _np(draw(*params)), rtol=1e-15)


@pytest.mark.parametrize("name", ["normal", "bernoulli_probs", "uniform", "mvn_cov", "categorical_probs"])
def test_sample_moments(name) -> None:
    """20000 draws: shape sample_shape + batch_shape + event_shape, and the sample mean within five
    standard errors of the distribution's mean (for Categorical: the class frequencies vs probs)."""
    numtorch.manual_seed(0)
    m = _build(numtorch, name, _tensors(numtorch, PARAMS[name]))
    n = 20000
    x = m.sample((n,))
    assert tuple(x.shape) == (n,) + tuple(m.batch_shape) + tuple(m.event_shape)
    if name.startswith("categorical"):
        assert x.dtype == numtorch.int64
        freq = np.stack([(_np(x) == k).mean(0) for k in range(4)], -1)
        p = _np(m.probs)
        assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / n))
        return
    err = np.abs(_np(x).mean(0) - _np(m.mean))
    assert np.all(err < 5 * _np(m.stddev) / np.sqrt(n))
    np.testing.assert_allclose(_np(x).var(0), _np(m.variance), rtol=0.1)


def test_expand(torch) -> None:
    """expand gives a larger batch of the same distributions (parameters broadcast, not copied)."""
    for lib in (numtorch, torch):
        m = lib.distributions.Normal(lib.tensor([0.0, 1.0]), lib.tensor([1.0, 2.0])).expand((3, 2))
        assert tuple(m.batch_shape) == (3, 2) and tuple(m.sample().shape) == (3, 2)
        c = lib.distributions.Categorical(probs=lib.tensor([0.2, 0.8])).expand((5,))
        assert tuple(c.batch_shape) == (5,) and tuple(c.sample((2,)).shape) == (2, 5)
    ours = D.Normal(numtorch.tensor([0.0, 1.0]), numtorch.tensor([1.0, 2.0])).expand((3, 2))
    np.testing.assert_allclose(_np(ours.log_prob(numtorch.zeros(3, 2)))[2], [-0.9189385, -1.7370857], rtol=1e-6)
    # log N(0; 0, 1) = -log sqrt(2 pi);  log N(0; 1, 2) = -1/8 - log 2 - log sqrt(2 pi)


def test_scalar_parameters() -> None:
    m = D.Normal(0.0, 1.0)
    assert tuple(m.batch_shape) == () and m.loc.dtype == numtorch.float32
    assert abs(m.log_prob(numtorch.tensor(0.0)).item() + 0.5 * np.log(2 * np.pi)) < 1e-6
    assert tuple(D.Bernoulli(0.3).sample((4,)).shape) == (4,)


def _message(lib, fn):
    with pytest.raises(ValueError) as info:
        fn(lib)
    return re.sub(r"(numtorch|torch)\.", "", str(info.value)).split("\n")[0]


@pytest.mark.parametrize("case", [
    lambda t: t.distributions.Normal(t.tensor([0.0]), t.tensor([-1.0])),
    lambda t: t.distributions.Categorical(probs=t.tensor([0.5, -0.1])),
    lambda t: t.distributions.Bernoulli(probs=t.tensor([1.5])),
    lambda t: t.distributions.Uniform(t.tensor([1.0]), t.tensor([0.0])),
    lambda t: t.distributions.Categorical(),
    lambda t: t.distributions.Categorical(probs=t.tensor(1.0)),
    lambda t: t.distributions.Normal(t.tensor([0.0]), t.tensor([1.0])).log_prob([0.0]),
    lambda t: t.distributions.Bernoulli(probs=t.tensor([0.5])).log_prob(t.tensor([0.5])),
    lambda t: t.distributions.Categorical(probs=t.tensor([0.5, 0.5])).log_prob(t.tensor(2)),
    lambda t: t.distributions.Normal(t.zeros(3), t.ones(3)).log_prob(t.zeros(2)),
    lambda t: t.distributions.MultivariateNormal(t.zeros(2), covariance_matrix=t.eye(2), scale_tril=t.eye(2)),
    lambda t: t.distributions.MultivariateNormal(t.zeros(2), scale_tril=t.tensor([[1.0, 1.0], [0.0, 1.0]])),
    lambda t: t.distributions.MultivariateNormal(t.zeros(2)).log_prob(t.zeros(3)),
])
def test_validation_errors_match_pytorch(torch, case) -> None:
    """The same ValueError and first message line as PyTorch (module prefixes aside)."""
    assert _message(numtorch, case) == _message(torch, case)


def test_validate_args_false_skips_the_checks() -> None:
    m = D.Normal(numtorch.tensor([0.0]), numtorch.tensor([-1.0]), validate_args=False)
    assert np.isnan(m.log_prob(numtorch.tensor([0.0])).item())


@pytest.mark.parametrize("pair", ["normal", "bernoulli_probs", "categorical_probs", "uniform", "mvn"])
def test_kl_divergence_matches_pytorch(torch, pair) -> None:
    out = []
    for lib in (numtorch, torch):
        d = lib.distributions
        f64 = dict(dtype=lib.float64)
        if pair == "normal":
            p, q = d.Normal(lib.tensor(LOC, **f64), lib.tensor(SCALE, **f64)), d.Normal(0.5, lib.tensor(2.0, **f64))
        elif pair == "bernoulli_probs":
            p, q = d.Bernoulli(lib.tensor([0.0, 0.3, 1.0], **f64)), d.Bernoulli(lib.tensor([0.5, 0.0, 0.9], **f64))
        elif pair == "categorical_probs":
            p = d.Categorical(lib.tensor([[0.2, 0.8, 0.0], [0.5, 0.5, 0.0]], **f64))
            q = d.Categorical(lib.tensor([[0.1, 0.6, 0.3], [0.0, 0.5, 0.5]], **f64))
        elif pair == "uniform":
            p = d.Uniform(lib.tensor([0.0, 0.0], **f64), lib.tensor([1.0, 2.0], **f64))
            q = d.Uniform(lib.tensor([-1.0, 0.5], **f64), lib.tensor([2.0, 3.0], **f64))
        else:
            p = d.MultivariateNormal(lib.tensor(PARAMS["mvn_cov"][0], **f64), lib.tensor(COV, **f64))
            q = d.MultivariateNormal(lib.zeros(3, **f64), scale_tril=lib.tensor(np.linalg.cholesky(COV) * 2, **f64))
        out.append(_np(lib.distributions.kl_divergence(p, q)))
    np.testing.assert_allclose(out[0], out[1], rtol=1e-10, atol=1e-12)


def test_kl_normal_closed_form_and_missing_pair() -> None:
    """KL(N(0,1) || N(1,2)) = log 2 + (1 + 1)/8 - 1/2; an unregistered pair raises NotImplementedError."""
    kl = D.kl_divergence(D.Normal(0.0, 1.0), D.Normal(1.0, 2.0)).item()
    assert abs(kl - (np.log(2) + 2 / 8 - 0.5)) < 1e-6
    with pytest.raises(NotImplementedError, match="No KL\\(p \\|\\| q\\) is implemented for p type Normal and q type "
                       "Categorical"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Categorical(probs=numtorch.tensor([0.5, 0.5])))


def test_reinforce_policy_gradient_matches_pytorch(torch) -> None:
    """pytorch/examples reinforcement_learning/reinforce.py's step: ``Categorical(probs)`` of a softmax
    policy, ``m.sample()``, ``-m.log_prob(action) * R`` summed and backpropagated; the same actions give
    the same gradients as PyTorch's."""
    W = RNG.standard_normal((4, 2))
    states = RNG.standard_normal((6, 4))
    actions = None
    grads = []
    for lib in (numtorch, torch):
        w = lib.tensor(W, dtype=lib.float64, requires_grad=True)
        probs = lib.nn.functional.softmax(lib.tensor(states, dtype=lib.float64) @ w, dim=1)
        m = lib.distributions.Categorical(probs)
        if actions is None:
            numtorch.manual_seed(0)
            sampled = m.sample()
            assert sampled.dtype == numtorch.int64 and tuple(sampled.shape) == (6,)
            actions = sampled.numpy()
        returns = lib.tensor(np.linspace(1.0, 2.0, 6), dtype=lib.float64)
        loss = (-m.log_prob(lib.tensor(actions)) * returns).sum()
        loss.backward()
        grads.append(w.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-10, atol=1e-12)
