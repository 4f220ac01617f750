"""numerical_grad / gradcheck / gradgradcheck themselves: right answers, caught mistakes, speed."""
from __future__ import annotations

import time

import numpy as np
import pytest

import numtorch
from helpers import assert_close


def _x(*shape, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape)
    return numtorch.tensor(a, requires_grad=True)


def test_numerical_grad_closed_form():
    x = numtorch.tensor([1.0, 2.0, -0.5], dtype=numtorch.float64)
    (g,) = numtorch.autograd.numerical_grad(lambda t: (t ** 3).sum(), x)
    assert_close(g, 3 * np.array([1.0, 2.0, -0.5]) ** 2, atol=1e-6)
    a, b = numtorch.tensor([2.0], dtype=numtorch.float64), numtorch.tensor([3.0], dtype=numtorch.float64)
    ga, gb = numtorch.autograd.numerical_grad(lambda p, q: p * q.exp(), a, b)
    assert_close(ga, [np.exp(3.0)], atol=1e-5)
    assert_close(gb, [2 * np.exp(3.0)], atol=1e-4)
    assert x.tolist() == [1.0, 2.0, -0.5]  # inputs restored


class _WrongSquare(numtorch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return gy * x  # wrong: should be 2 x


class _WrongBroadcast(numtorch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        return x + y

    @staticmethod
    def backward(ctx, gy):
        return gy, gy.sum(0) * 0.5  # wrong factor for y


def test_gradcheck_catches_wrong_backward():
    with pytest.raises(numtorch.autograd.GradcheckError, match="Jacobian mismatch"):
        numtorch.autograd.gradcheck(_WrongSquare.apply, (_x(3),))
    assert numtorch.autograd.gradcheck(_WrongSquare.apply, (_x(3),), raise_exception=False) is False
    with pytest.raises(RuntimeError):
        numtorch.autograd.gradcheck(_WrongBroadcast.apply, (_x(2, 3), _x(3, seed=1)))
    with pytest.raises(RuntimeError):
        numtorch.autograd.gradcheck(_WrongSquare.apply, (_x(4),), fast_mode=True)


def test_gradcheck_passes_on_correct_ops():
    assert numtorch.autograd.gradcheck(lambda a, b: (a @ b).tanh(), (_x(2, 3), _x(3, 4, seed=1)))
    assert numtorch.autograd.gradcheck(lambda a: a.softmax(-1) if hasattr(a, "softmax") else
                                       (a.exp() / a.exp().sum(-1, keepdim=True)), (_x(2, 3),))
    assert numtorch.autograd.gradcheck(lambda a: (a.sin(), a.cos() * 2), (_x(3),))  # two outputs
    assert numtorch.autograd.gradcheck(lambda a: a.max(1), (_x(3, 4),))  # values and int indices


def test_gradcheck_needs_an_input_requiring_grad():
    with pytest.raises(ValueError):
        numtorch.autograd.gradcheck(lambda a: a * 2, (numtorch.ones(2, dtype=numtorch.float64),))


def test_gradgradcheck():
    assert numtorch.autograd.gradgradcheck(lambda a: (a ** 3).sum(), (_x(3),))
    assert numtorch.autograd.gradgradcheck(lambda a, b: (a @ b).sigmoid(), (_x(2, 3), _x(3, 2, seed=1)))
    assert numtorch.autograd.gradgradcheck(lambda a: a.exp() * a.tanh(), (_x(4),))
    assert numtorch.autograd.gradgradcheck(lambda a: a.logsumexp(1), (_x(2, 3),))
    assert numtorch.autograd.gradgradcheck(lambda a: a.prod(1), (_x(2, 3),))
    assert numtorch.autograd.gradgradcheck(lambda a: a[[0, 0, 1]].cumsum(0), (_x(2, 3),))
    assert numtorch.autograd.gradgradcheck(lambda a: a.norm(dim=1), (_x(2, 3),))


def test_numerical_check_of_10000_elements_is_fast():
    x = numtorch.tensor(np.random.default_rng(0).standard_normal(10_000), requires_grad=True)
    t = time.perf_counter()
    ok = numtorch.autograd.gradcheck(lambda a: (a * a.tanh()).sum(), (x,), fast_mode=True)
    elapsed = time.perf_counter() - t
    assert ok
    assert elapsed < 1.0, f"gradcheck of 10,000 elements took {elapsed:.2f} s"
    with pytest.raises(numtorch.autograd.GradcheckError):
        numtorch.autograd.gradcheck(_WrongSquare.apply, (x,), fast_mode=True)


def test_fast_mode_multiple_inputs_and_outputs():
    assert numtorch.autograd.gradcheck(lambda a, b: (a @ b, (a * 2).sum()), (_x(3, 4), _x(4, 2, seed=1)),
                                       fast_mode=True)
    with pytest.raises(numtorch.autograd.GradcheckError):
        numtorch.autograd.gradcheck(_WrongBroadcast.apply, (_x(2, 3), _x(3, seed=1)), fast_mode=True)
