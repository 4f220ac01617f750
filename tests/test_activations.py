"""Activations (functional and modules): forward and gradients against PyTorch, float64 gradcheck,
closed forms, stability at large magnitudes and the kinks' conventions."""
import math

import numpy as np
import pytest

import numtorch
from numtorch import nn
from numtorch.nn import functional as F

gradcheck = numtorch.autograd.gradcheck
KINKS = (0.0, 1.0, -1.0, 3.0, -3.0, 6.0, 0.5, -0.5, 0.1, 2.0, -2.0)


def _inputs(shape=(3, 4), seed=0, scale=4.0):
    """float64 values in [-scale, scale], kept 0.05 away from every kink (so numerical gradients hold)."""
    x = np.random.default_rng(seed).uniform(-scale, scale, shape)
    for k in KINKS:
        near = np.abs(x - k) < 0.05
        x[near] = k + 0.1
    return x


def check(fn, torch_fn, x=None, atol=1e-10, double_backward=False, grad_rtol=1e-9, **kw):
    """One line per op: forward and backward equal PyTorch's (float64), and gradcheck passes."""
    torch = pytest.importorskip("torch")
    x = _inputs() if x is None else x
    xn = numtorch.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    y, yt = fn(xn, **kw), torch_fn(xt, **kw)
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-10, atol=atol)
    g = np.random.default_rng(1).standard_normal(tuple(yt.shape))
    y.backward(numtorch.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=grad_rtol, atol=atol)
    x64 = numtorch.tensor(x, requires_grad=True)
    assert gradcheck(lambda a: fn(a, **kw), (x64,))
    if double_backward:
        assert numtorch.autograd.gradgradcheck(lambda a: fn(a, **kw), (numtorch.tensor(x[:2, :2], requires_grad=True),))


def _tf(name):
    return lambda x, **kw: getattr(pytest.importorskip("torch").nn.functional, name)(x, **kw)


SMOOTH = ["elu", "selu", "celu", "gelu", "silu", "mish", "softplus", "logsigmoid", "softsign", "tanhshrink",
          "sigmoid", "tanh"]
PIECEWISE = ["relu", "relu6", "leaky_relu", "hardtanh", "hardsigmoid", "hardswish", "hardshrink", "softshrink"]


@pytest.mark.parametrize("name", SMOOTH)
def test_smooth_activation_matches_torch(name):
    check(getattr(F, name), _tf(name), double_backward=True)


@pytest.mark.parametrize("name", PIECEWISE)
def test_piecewise_activation_matches_torch(name):
    # PyTorch's hardsigmoid backward multiplies by 1/6 rounded to float32 even for float64 (relative
    # error 3e-8); ours uses the exact slope, checked against the closed form below
    check(getattr(F, name), _tf(name), double_backward=name == "hardswish",
          grad_rtol=1e-7 if name == "hardsigmoid" else 1e-9)


def test_hardsigmoid_slope_is_exact():
    x = numtorch.tensor([-4.0, -1.0, 0.5, 2.9, 3.5], dtype=numtorch.float64, requires_grad=True)
    F.hardsigmoid(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1 / 6, 1 / 6, 1 / 6, 0])


@pytest.mark.parametrize("name,kw", [
    ("leaky_relu", {"negative_slope": 0.2}), ("elu", {"alpha": 0.7}), ("celu", {"alpha": 1.7}),
    ("gelu", {"approximate": "tanh"}), ("softplus", {"beta": 2.0, "threshold": 3.0}),
    ("hardtanh", {"min_val": -2.0, "max_val": 3.0}), ("threshold", {"threshold": 0.5, "value": -7.0}),
    ("hardshrink", {"lambd": 1.0}), ("softshrink", {"lambd": 2.0}),
    ("softmax", {"dim": 1}), ("softmax", {"dim": 0}), ("log_softmax", {"dim": -1}), ("softmin", {"dim": 1}),
    ("glu", {"dim": 1}),
])
def test_activation_with_arguments_matches_torch(name, kw):
    # PyTorch's celu backward rounds 1/alpha to float32 even for float64 (relative error ~4e-8 when
    # alpha != 1); ours is exact, checked against the closed form in test_celu_gradient_is_exact
    check(getattr(F, name), _tf(name), double_backward=name in ("softmax", "log_softmax", "gelu", "softplus"),
          grad_rtol=1e-7 if name == "celu" else 1e-9, **kw)


def test_celu_gradient_is_exact():
    x = np.array([-0.7, -2.2, 0.4])
    xn = numtorch.tensor(x, requires_grad=True)
    F.celu(xn, 1.7).sum().backward()
    np.testing.assert_allclose(xn.grad.numpy(), np.where(x > 0, 1.0, np.exp(x / 1.7)), rtol=1e-15)


def test_prelu_matches_torch():
    torch = pytest.importorskip("torch")
    x = _inputs((2, 3, 4))
    w = np.array([0.25, -0.5, 2.0])
    xn, wn = numtorch.tensor(x, requires_grad=True), numtorch.tensor(w, requires_grad=True)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    y, yt = F.prelu(xn, wn), torch.nn.functional.prelu(xt, wt)
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy())
    y.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(wn.grad.numpy(), wt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    assert gradcheck(F.prelu, (numtorch.tensor(x, requires_grad=True), numtorch.tensor(w, requires_grad=True)))
    m = nn.PReLU()
    assert m.weight.shape == (1,) and float(m.weight.item()) == 0.25


def test_closed_forms():
    x = np.array([-2.0, -0.5, 0.5, 2.0])
    t = numtorch.tensor(x)
    np.testing.assert_allclose(F.sigmoid(t).numpy(), 1 / (1 + np.exp(-x)), rtol=1e-12)
    np.testing.assert_allclose(F.relu(t).numpy(), np.maximum(x, 0))
    np.testing.assert_allclose(F.leaky_relu(t, 0.1).numpy(), np.where(x > 0, x, 0.1 * x))
    np.testing.assert_allclose(F.elu(t).numpy(), np.where(x > 0, x, np.expm1(x)), rtol=1e-12)
    np.testing.assert_allclose(F.silu(t).numpy(), x / (1 + np.exp(-x)), rtol=1e-12)
    np.testing.assert_allclose(F.softplus(t).numpy(), np.log1p(np.exp(x)), rtol=1e-12)
    erf = np.vectorize(math.erf)
    np.testing.assert_allclose(F.gelu(t).numpy(), x * 0.5 * (1 + erf(x / math.sqrt(2))), rtol=1e-7)
    np.testing.assert_allclose(F.mish(t).numpy(), x * np.tanh(np.log1p(np.exp(x))), rtol=1e-12)
    e = np.exp(x - x.max())
    np.testing.assert_allclose(F.softmax(t, 0).numpy(), e / e.sum(), rtol=1e-12)
    np.testing.assert_allclose(F.log_softmax(t, 0).numpy(), np.log(e / e.sum()), rtol=1e-12)


def test_softmax_stability_and_dtype():
    y = numtorch.softmax(numtorch.tensor([1000.0, 1001.0]), dim=0)
    assert y.dtype == numtorch.float32
    np.testing.assert_allclose(y.numpy(), [1 / (1 + math.e), math.e / (1 + math.e)], rtol=1e-6)
    ls = numtorch.log_softmax(numtorch.tensor([1e4, 0.0, -1e4]), dim=0).numpy()
    np.testing.assert_allclose(ls, [0.0, -1e4, -2e4], rtol=1e-6)
    assert np.all(np.isfinite(numtorch.softmax(numtorch.tensor([-1e4, 1e4]), 0).numpy()))
    x = numtorch.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    numtorch.log_softmax(x, 1)[0, 0].backward()
    p = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    np.testing.assert_allclose(x.grad.numpy()[0], np.array([1.0, 0, 0]) - p, rtol=1e-6)  # gy - softmax * sum(gy)
    assert x.softmax(-1).shape == (1, 3)


def test_sigmoid_and_friends_never_overflow():
    big = numtorch.tensor([-1e4, -100.0, 100.0, 1e4])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        np.testing.assert_allclose(F.sigmoid(big).numpy(), [0, 0, 1, 1], atol=1e-30)
        np.testing.assert_allclose(F.logsigmoid(big).numpy(), [-1e4, -100, 0, 0], atol=1e-30)
        np.testing.assert_allclose(F.softplus(big).numpy(), [0, 0, 100, 1e4], atol=1e-30)
        assert np.all(np.isfinite(F.silu(big).numpy())) and np.all(np.isfinite(F.mish(big).numpy()))
        assert np.all(np.isfinite(F.elu(big).numpy())) and np.all(np.isfinite(F.selu(big).numpy()))


def test_float32_stays_float32():
    x = numtorch.randn(4, 5)
    for name in SMOOTH + PIECEWISE:
        assert getattr(F, name)(x).dtype == numtorch.float32, name
    assert F.softmax(x, 1).dtype == numtorch.float32 and F.log_softmax(x, 1).dtype == numtorch.float32
    assert F.gelu(x, approximate="tanh").dtype == numtorch.float32


def test_kink_conventions_match_torch():
    torch = pytest.importorskip("torch")
    x = np.array([-6.0, -3.0, -1.0, 0.0, 1.0, 3.0, 6.0])
    for name in ["relu", "relu6", "leaky_relu", "hardtanh", "hardsigmoid", "hardswish", "elu"]:
        xn, xt = numtorch.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        getattr(F, name)(xn).sum().backward()
        getattr(torch.nn.functional, name)(xt).sum().backward()
        np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), err_msg=name)


def test_inplace_variants():
    x = numtorch.tensor([-1.0, 2.0])
    y = F.relu(x, inplace=True)
    assert y is x and x.tolist() == [0.0, 2.0]
    x = numtorch.tensor([-1.0, 2.0])
    nn.LeakyReLU(0.5, inplace=True)(x)
    assert x.tolist() == [-0.5, 2.0]
    x = numtorch.tensor([-1.0, 8.0])
    nn.ReLU6(inplace=True)(x)
    assert x.tolist() == [0.0, 6.0]
    x = numtorch.tensor([[-1.0, 2.0]], requires_grad=True)
    h = x * 1
    nn.ReLU(inplace=True)(h).sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0]]


def test_modules_match_torch_and_repr():
    torch = pytest.importorskip("torch")
    specs = [("Sigmoid", ()), ("Tanh", ()), ("ReLU", ()), ("ReLU", (True,)), ("ReLU6", ()), ("LeakyReLU", (0.2,)),
             ("ELU", (0.5,)), ("SELU", ()), ("CELU", (1.5,)), ("GELU", ()), ("GELU", ("tanh",)), ("SiLU", ()),
             ("Mish", ()), ("Softplus", (2.0, 10.0)), ("Hardtanh", (-2.0, 2.0)), ("Hardsigmoid", ()),
             ("Hardswish", ()), ("Softsign", ()), ("Tanhshrink", ()), ("LogSigmoid", ()), ("Softmax", (1,)),
             ("LogSoftmax", (1,)), ("Softmin", (1,)), ("PReLU", ()), ("Threshold", (0.1, 20.0)),
             ("Hardshrink", (0.3,)), ("Softshrink", (0.3,)), ("GLU", ()), ("Softmax2d", ())]
    x = _inputs((2, 4, 3, 2), seed=5)
    for name, args in specs:
        ours, theirs = getattr(nn, name)(*args).double(), getattr(torch.nn, name)(*args).double()
        assert repr(ours) == repr(theirs), name
        inplace = args == (True,)
        y = ours(numtorch.tensor(x.copy()))
        yt = theirs(torch.tensor(x.copy()))
        np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=name + (" inplace" if inplace else ""))


def test_swish_notes_version():
    x = numtorch.tensor(_inputs((5,)), requires_grad=True)
    np.testing.assert_allclose(nn.Swish()(x).detach().numpy(), F.silu(x).detach().numpy())
    xs = x.detach().numpy()
    np.testing.assert_allclose(nn.Swish(beta=2.0)(x).detach().numpy(), xs / (1 + np.exp(-2 * xs)), rtol=1e-12)
    m = nn.Swish(beta=1.5, learnable=True)
    assert [n for n, _ in m.named_parameters()] == ["beta"]
    m(x).sum().backward()
    # d/d beta of x sigmoid(beta x) = x^2 s (1 - s)
    s = 1 / (1 + np.exp(-1.5 * xs))
    np.testing.assert_allclose(m.beta.grad.item(), float((xs ** 2 * s * (1 - s)).sum()), rtol=1e-6)
    beta = numtorch.tensor(1.5, dtype=numtorch.float64, requires_grad=True)
    assert gradcheck(lambda a, b: F.swish(a, b), (numtorch.tensor(xs, requires_grad=True), beta))


def test_softmax_implicit_dim_warns_like_torch():
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        y = F.softmax(numtorch.ones(2, 3))
    np.testing.assert_allclose(y.numpy(), np.full((2, 3), 1 / 3), rtol=1e-6)


def test_errors():
    with pytest.raises(IndexError):
        F.softmax(numtorch.ones(2, 3), dim=2)
    with pytest.raises(RuntimeError, match="approximate"):
        F.gelu(numtorch.ones(2), approximate="fast")
    with pytest.raises(RuntimeError, match="prelu"):
        F.prelu(numtorch.ones(2, 3), numtorch.ones(4))
    with pytest.raises(RuntimeError, match="glu"):
        F.glu(numtorch.ones(2, 3))


def test_relu_gradient_at_nan_and_zero_matches_torch(torch):
    # PyTorch's relu backward passes the gradient at a NaN input (its mask is "result is not <= 0")
    x = np.array([np.nan, 1.5, -2.0, 0.0, -0.0])
    for inplace in (False, True):
        a = numtorch.tensor(x, requires_grad=True)
        t = torch.tensor(x, requires_grad=True)
        y = F.relu(a * 1, inplace=inplace)
        yt = torch.nn.functional.relu(t * 1, inplace=inplace)
        (y * numtorch.arange(5.0)).sum().backward()
        (yt * torch.arange(5.0)).sum().backward()
        np.testing.assert_array_equal(np.asarray(y.detach()._data), yt.detach().numpy())
        np.testing.assert_array_equal(np.asarray(a.grad._data), t.grad.numpy())
