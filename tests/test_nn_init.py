"""nn.init: gains, fans, bounds and statistics against the closed forms (and PyTorch's gain table)."""
import math

import numpy as np
import pytest

import numtorch
from numtorch.nn import init


def test_calculate_gain_matches_torch():
    torch = pytest.importorskip("torch")
    for name, param in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                        ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)]:
        assert init.calculate_gain(name, param) == torch.nn.init.calculate_gain(name, param)
    with pytest.raises(ValueError):
        init.calculate_gain("nope")


def test_fans():
    assert init._calculate_fan_in_and_fan_out(numtorch.empty(5, 3)) == (3, 5)
    assert init._calculate_fan_in_and_fan_out(numtorch.empty(8, 4, 3, 3)) == (36, 72)
    with pytest.raises(ValueError):
        init._calculate_fan_in_and_fan_out(numtorch.empty(3))


def test_uniform_normal_constant_and_return_value():
    numtorch.manual_seed(0)
    t = numtorch.empty(200, 100)
    assert init.uniform_(t, -2.0, 3.0) is t
    a = t.numpy()
    assert a.min() >= -2.0 and a.max() < 3.0 and abs(a.mean() - 0.5) < 0.05
    init.normal_(t, 1.0, 2.0)
    assert abs(t.numpy().mean() - 1.0) < 0.05 and abs(t.numpy().std() - 2.0) < 0.05
    assert t.dtype == numtorch.float32
    init.constant_(t, 0.3)
    assert np.all(t.numpy() == np.float32(0.3))
    init.zeros_(t)
    assert not t.numpy().any()
    init.ones_(t)
    assert np.all(t.numpy() == 1)
    e = init.eye_(numtorch.empty(3, 4))
    np.testing.assert_array_equal(e.numpy(), np.eye(3, 4))


def test_seed_reproducible():
    numtorch.manual_seed(7)
    a = init.kaiming_uniform_(numtorch.empty(4, 5)).numpy().copy()
    numtorch.manual_seed(7)
    b = init.kaiming_uniform_(numtorch.empty(4, 5)).numpy()
    np.testing.assert_array_equal(a, b)
    g = numtorch.Generator().manual_seed(7)
    c = init.kaiming_uniform_(numtorch.empty(4, 5), generator=g).numpy()
    np.testing.assert_array_equal(a, c)


def test_xavier_and_kaiming_statistics():
    numtorch.manual_seed(1)
    fan_in, fan_out = 400, 300
    w = numtorch.empty(fan_out, fan_in)
    init.xavier_uniform_(w)
    bound = math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.99 * bound
    init.xavier_normal_(w, gain=2.0)
    assert abs(w.numpy().std() - 2 * math.sqrt(2 / (fan_in + fan_out))) < 0.01 * 2 * math.sqrt(2 / 700) * 5
    init.kaiming_uniform_(w, a=math.sqrt(5))  # Linear's init: bound = 1 / sqrt(fan_in)
    assert np.abs(w.numpy()).max() <= 1 / math.sqrt(fan_in) * (1 + 1e-6)
    init.kaiming_uniform_(w, nonlinearity="relu")
    assert np.abs(w.numpy()).max() <= math.sqrt(6 / fan_in) * (1 + 1e-6)
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert abs(w.numpy().std() / math.sqrt(2 / fan_out) - 1) < 0.02
    with pytest.raises(ValueError):
        init.kaiming_normal_(w, mode="fan_avg")


def test_orthogonal():
    numtorch.manual_seed(2)
    for shape in [(6, 4), (4, 6), (5, 5), (3, 2, 2)]:
        w = init.orthogonal_(numtorch.empty(*shape, dtype=numtorch.float64), gain=1.5).numpy().reshape(shape[0], -1)
        rows, cols = w.shape
        if rows <= cols:
            np.testing.assert_allclose(w @ w.T, 1.5 ** 2 * np.eye(rows), atol=1e-10)
        else:
            np.testing.assert_allclose(w.T @ w, 1.5 ** 2 * np.eye(cols), atol=1e-10)


def test_trunc_normal():
    numtorch.manual_seed(3)
    w = init.trunc_normal_(numtorch.empty(10000), mean=0.5, std=1.0, a=-1.0, b=1.5).numpy()
    assert w.min() >= -1.0 and w.max() <= 1.5
    # mean of N(0.5, 1) truncated to [-1, 1.5]: mu + (phi(alpha) - phi(beta)) / (Phi(beta) - Phi(alpha))
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    Phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    expected = 0.5 + (phi(-1.5) - phi(1.0)) / (Phi(1.0) - Phi(-1.5))
    assert abs(w.mean() - expected) < 0.02


def test_dirac():
    w = init.dirac_(numtorch.empty(2, 2, 3, 3))
    x = numtorch.randn(1, 2, 5, 5)
    torch = pytest.importorskip("torch")
    y = torch.nn.functional.conv2d(torch.tensor(x.numpy()), torch.tensor(w.numpy()), padding=1)
    np.testing.assert_allclose(y.numpy(), x.numpy(), rtol=1e-6)


def test_init_under_no_grad_on_parameters():
    p = numtorch.nn.Parameter(numtorch.empty(3, 3))
    init.kaiming_normal_(p)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
