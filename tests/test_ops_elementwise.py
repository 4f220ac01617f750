"""Elementwise ops and Tensor operators: forward vs NumPy, gradcheck, PyTorch parity, edge cases."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
from helpers import check, assert_close, lib

BCAST = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((4,), (2, 3, 4)), ((), (3,)), ((2, 1, 3), (4, 1))]

UNARY = {  # name: (NumPy reference, low, high)
    "exp": (np.exp, -2, 2), "sin": (np.sin, -2, 2), "cos": (np.cos, -2, 2), "tan": (np.tan, -1, 1),
    "tanh": (np.tanh, -2, 2), "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), -3, 3),
    "relu": (lambda x: np.maximum(x, 0), -2, 2), "abs": (np.abs, -2, 2), "neg": (np.negative, -2, 2),
    "square": (np.square, -2, 2), "sqrt": (np.sqrt, 0.2, 3), "rsqrt": (lambda x: 1 / np.sqrt(x), 0.2, 3),
    "log": (np.log, 0.2, 3), "log2": (np.log2, 0.2, 3), "log10": (np.log10, 0.2, 3),
    "log1p": (np.log1p, -0.5, 2), "expm1": (np.expm1, -2, 2), "exp2": (np.exp2, -2, 2),
    "reciprocal": (np.reciprocal, 0.5, 2), "asin": (np.arcsin, -0.9, 0.9), "acos": (np.arccos, -0.9, 0.9),
    "atan": (np.arctan, -2, 2), "sinh": (np.sinh, -2, 2), "cosh": (np.cosh, -2, 2),
    "asinh": (np.arcsinh, -2, 2), "acosh": (np.arccosh, 1.2, 3), "atanh": (np.arctanh, -0.9, 0.9),
    "floor": (np.floor, -2, 2), "ceil": (np.ceil, -2, 2), "round": (np.round, -2, 2),
    "trunc": (np.trunc, -2, 2), "sign": (np.sign, -2, 2), "frac": (lambda x: x - np.trunc(x), -2, 2),
    "erf": (None, -2, 2), "erfc": (None, -2, 2), "sinc": (np.sinc, -2, 2),
    "deg2rad": (np.deg2rad, -2, 2), "rad2deg": (np.rad2deg, -2, 2),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name):
    ref, lo, hi = UNARY[name]
    check(name, (3, 4), np_fn=ref, low=lo, high=hi)


@pytest.mark.parametrize("name", ["exp", "tanh", "sigmoid", "abs", "sqrt", "log"])
def test_unary_method_and_noncontiguous(name):
    ref, lo, hi = UNARY[name]
    check(lambda x: getattr(x.T, name)(), (3, 4), np_fn=lambda x: ref(x.T), low=lo, high=hi)
    check(lambda x: getattr(x[:, ::2], name)(), (3, 4), np_fn=lambda x: ref(x[:, ::2]), low=lo, high=hi)


BINARY = {
    "add": (np.add, -2, 2), "sub": (np.subtract, -2, 2), "mul": (np.multiply, -2, 2),
    "div": (np.divide, 0.5, 2), "maximum": (np.maximum, -2, 2), "minimum": (np.minimum, -2, 2),
    "atan2": (np.arctan2, 0.2, 2), "hypot": (np.hypot, 0.2, 2), "logaddexp": (np.logaddexp, -2, 2),
    "remainder": (np.remainder, 0.5, 2), "fmod": (np.fmod, 0.5, 2), "pow": (np.power, 0.5, 2),
    "fmax": (np.fmax, -2, 2), "fmin": (np.fmin, -2, 2), "xlogy": (lambda a, b: a * np.log(b), 0.2, 2),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("sa,sb", BCAST)
def test_binary_broadcast(name, sa, sb):
    ref, lo, hi = BINARY[name]
    check(name, sa, sb, np_fn=ref, low=lo, high=hi)


OPERATORS = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
    "**": lambda a, b: a ** b, "%": lambda a, b: a % b,
}


@pytest.mark.parametrize("op", sorted(OPERATORS))
def test_operators_with_scalars_reversed(op):
    f = OPERATORS[op]
    check(lambda x: f(x, 1.5), (3, 4), np_fn=lambda x: f(x, 1.5), low=0.5, high=2)
    rgrad = op != "%"  # PyTorch has no derivative for number % tensor
    check(lambda x: f(1.5, x), (3, 4), np_fn=lambda x: f(1.5, x), low=0.5, high=2, grad=rgrad)
    check(lambda x: f(2, x), (3, 4), np_fn=lambda x: f(2, x), low=0.5, high=2, grad=rgrad)


@pytest.mark.parametrize("op", sorted(OPERATORS))
def test_operators_with_numpy_arrays_reversed(op):
    f = OPERATORS[op]
    arr = np.random.default_rng(3).uniform(0.5, 2, (3, 4))
    x = numtorch.tensor(np.random.default_rng(4).uniform(0.5, 2, (3, 4)), requires_grad=True)
    for out, ref in ((f(x, arr), f(x._data, arr)), (f(arr, x), f(arr, x._data))):
        assert isinstance(out, numtorch.Tensor)
        assert_close(out, ref)
    y = f(arr, x)
    y.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape


def test_rsub_rdiv_values(torch):
    a = np.array([0.5, 1.0, 2.0])
    x, tx = numtorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    for f in (lambda t: 2 - t, lambda t: 3 / t, lambda t: 2 ** t, lambda t: -t + 1, lambda t: 1 - 2 * t):
        y, ty = f(x), f(tx)
        assert_close(y, ty)
        (gx,) = numtorch.autograd.grad(y.sum(), x)
        (tgx,) = torch.autograd.grad(ty.sum(), tx)
        assert_close(gx, tgx)


def test_inplace_operators_iadd(torch):
    x = numtorch.tensor([1.0, 2.0])
    y = x
    x += 1
    x *= 3
    assert y is x
    assert_close(x, np.array([6.0, 9.0]))


def test_pow_scalar_exponents():
    check("pow", (3, 4), 2, np_fn=lambda x, e: x ** e)
    check("pow", (3, 4), 3, np_fn=lambda x, e: x ** e)
    check("pow", (3, 4), 0.5, np_fn=lambda x, e: x ** e, low=0.2)
    check("pow", (3, 4), -1.5, np_fn=lambda x, e: x ** e, low=0.2)
    check("pow", (3, 4), 0, np_fn=lambda x, e: x ** e)


def test_clamp_variants():
    check("clamp", (3, 4), min=-0.5, max=0.5, np_fn=lambda x: np.clip(x, -0.5, 0.5))
    check("clamp", (3, 4), min=-0.5, np_fn=lambda x: np.maximum(x, -0.5))
    check("clamp", (3, 4), max=0.5, np_fn=lambda x: np.minimum(x, 0.5))
    check("clamp", (3, 4), (3, 4), (3, 4))  # tensor bounds, incl. min > max
    check("clamp", (3, 4), (4,), None)
    check("clamp", (3, 4), None, (1, 4))


def test_where_lerp_addcmul_addcdiv():
    cond = np.random.default_rng(1).random((3, 4)) > 0.5
    check("where", cond, (3, 4), (4,), np_fn=np.where)
    check("lerp", (3, 4), (3, 4), 0.3, np_fn=lambda a, b, w: a + w * (b - a))
    check("lerp", (3, 4), (3, 4), (3, 4))
    check("addcmul", (3, 4), (3, 4), (4,), value=0.5, np_fn=lambda a, b, c: a + 0.5 * b * c)
    check("addcdiv", (3, 4), (3, 4), (4,), value=0.5, low=0.5, np_fn=lambda a, b, c: a + 0.5 * b / c)


def test_reused_inputs_and_diamond(torch):
    check(lambda x: x * x, (3, 4), np_fn=lambda x: x * x)
    check(lambda x: x / x.exp() + x, (3, 4))
    check(lambda x: ((x * 2) * (x + 1)).sum(), (3, 4), np_fn=lambda x: ((x * 2) * (x + 1)).sum())
    check(lambda x, y: (x * y + y.sin() * x).tanh(), (3, 4), (4,))


# ---- kinks: PyTorch's values at non-differentiable points --------------------------------

KINKS = {
    "relu": lambda t: t.relu(), "abs": lambda t: t.abs(), "sqrt": lambda t: t.sqrt(),
    "pow2": lambda t: t ** 2, "pow0.5": lambda t: t ** 0.5, "pow1.5": lambda t: t ** 1.5,
    "pow0": lambda t: t ** 0, "sign": lambda t: t.sign(), "clamp": lambda t: t.clamp(0, 1),
    "maximum": lambda t: t.maximum(t * 0), "floor": lambda t: t.floor(), "rsqrt_pos": lambda t: (t + 1).rsqrt(),
    "log_zero": lambda t: t.log(), "square": lambda t: t.square(), "hypot": lambda t: t.hypot(t * 0),
}


@pytest.mark.parametrize("name", sorted(KINKS))
def test_kinks_match_pytorch(name, torch):
    a = np.array([-1.0, 0.0, 1.0, 0.0])
    if name in ("sqrt", "pow0.5", "pow1.5", "log_zero"):
        a = np.abs(a)
    f = KINKS[name]
    x, tx = numtorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = f(x), f(tx)
    assert_close(y, ty)
    y.sum().backward()
    ty.sum().backward()
    assert_close(x.grad, tx.grad)


def test_known_kink_values():
    x = numtorch.tensor([0.0], requires_grad=True)
    x.relu().sum().backward()
    assert x.grad.item() == 0.0
    x.grad = None
    x.abs().sum().backward()
    assert x.grad.item() == 0.0
    x.grad = None
    x.sqrt().sum().backward()
    assert x.grad.item() == float("inf")


def test_pow_tensor_exponent_at_zero_base(torch):
    a, b = np.array([0.0, 0.0, 2.0, -1.0]), np.array([2.0, 0.0, 0.5, 2.0])
    x, e = numtorch.tensor(a, requires_grad=True), numtorch.tensor(b, requires_grad=True)
    tx, te = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (x ** e).sum().backward()
    (tx ** te).sum().backward()
    assert_close(x.grad, tx.grad)
    assert_close(e.grad, te.grad)


# ---- large magnitudes ----------------------------------------------------------------------

def test_sigmoid_tanh_exp_large_magnitudes(torch):
    a = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    for f in (lambda t: t.sigmoid(), lambda t: t.tanh(), lambda t: numtorch.logaddexp(t, t * 0)
              if isinstance(t, numtorch.Tensor) else torch.logaddexp(t, t * 0)):
        x, tx = numtorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        y, ty = f(x), f(tx)
        assert np.all(np.isfinite(y.detach().numpy()))
        assert_close(y, ty)
        y.sum().backward()
        ty.sum().backward()
        assert np.all(np.isfinite(x.grad.numpy()))
        assert_close(x.grad, tx.grad)


def test_float32_sigmoid_large_stays_float32():
    x = numtorch.tensor([-1000.0, 1000.0])
    y = x.sigmoid()
    assert y.dtype == numtorch.float32
    assert_close(y, np.array([0.0, 1.0]))


# ---- zero-size and 0-d ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["exp", "tanh", "relu", "abs", "sigmoid"])
def test_zero_size(name):
    x = numtorch.zeros(0, 3, requires_grad=True)
    y = getattr(x, name)()
    assert tuple(y.shape) == (0, 3)
    y.sum().backward()
    assert tuple(x.grad.shape) == (0, 3)


def test_zero_size_broadcast_binary():
    check("add", (0, 3), (3,))
    check("mul", (2, 0, 3), (1, 3))


def test_zero_dim():
    check("mul", (), ())
    check("exp", ())
    check(lambda x: x * 2 + 1, (), np_fn=lambda x: x * 2 + 1)


def test_float32_stays_float32_through_ops():
    x = numtorch.randn(3, 4, requires_grad=True)
    for y in (x * 2.5, x + 1, 2 - x, x / 3, x ** 2, x.exp(), x.sigmoid(), numtorch.where(x > 0, x, 0.0),
              x.clamp(-1, 1), x.maximum(x * 0), x.sqrt(), numtorch.lerp(x, x, 0.5)):
        assert y.dtype == numtorch.float32
    (x * 2.5).sum().backward()
    assert x.grad.dtype == numtorch.float32


def test_integer_arithmetic():
    a = numtorch.tensor([5, -7, 9])
    b = numtorch.tensor([2, 2, -4])
    assert (a + b).dtype == numtorch.int64
    assert (a / b).dtype == numtorch.float32
    assert_close(a / b, np.array([2.5, -3.5, -2.25]))
    assert (a // b).tolist() == [2, -4, -3]
    assert (a % b).tolist() == [1, 1, -3]
    assert numtorch.div(a, b, rounding_mode="trunc").tolist() == [2, -3, -2]
    assert numtorch.div(a, b, rounding_mode="floor").tolist() == [2, -4, -3]
    assert numtorch.fmod(a, b).tolist() == [1, -1, 1]


def test_comparisons_and_logic(torch):
    a = np.array([[1.0, np.nan, 3.0], [np.inf, -np.inf, 0.0]])
    x, tx = numtorch.tensor(a), torch.tensor(a)
    for name in ("isnan", "isinf", "isfinite", "isposinf", "isneginf"):
        assert getattr(numtorch, name)(x).tolist() == getattr(torch, name)(tx).tolist()
    b = np.array([[1.0, 2.0, 2.0], [1.0, 1.0, 1.0]])
    y, ty = numtorch.tensor(b), torch.tensor(b)
    for op in ("eq", "ne", "lt", "le", "gt", "ge"):
        r = getattr(numtorch, op)(x, y)
        assert r.dtype == numtorch.bool
        assert r.tolist() == getattr(torch, op)(tx, ty).tolist()
    m, n = x > 0, y > 1
    assert (m & n).tolist() == (tx > 0).logical_and(ty > 1).tolist()
    assert (m | n).tolist() == ((tx > 0) | (ty > 1)).tolist()
    assert (m ^ n).tolist() == ((tx > 0) ^ (ty > 1)).tolist()
    assert (~m).tolist() == (~(tx > 0)).tolist()
    assert numtorch.logical_not(m).tolist() == torch.logical_not(tx > 0).tolist()
    assert numtorch.allclose(y, y + 1e-9) and not numtorch.allclose(y, y + 1)
    assert numtorch.equal(y, y.clone()) and not numtorch.equal(y, y[:1])
    assert (x == 1.0).tolist() == (tx == 1.0).tolist()
    assert numtorch.isclose(y, y + 1e-9).all().item()


def test_nan_to_num(torch):
    a = np.array([np.nan, np.inf, -np.inf, 1.5])
    assert_close(numtorch.nan_to_num(numtorch.tensor(a)), torch.nan_to_num(torch.tensor(a)))
    assert_close(numtorch.nan_to_num(numtorch.tensor(a), nan=1.0, posinf=2.0, neginf=-2.0),
                 np.array([1.0, 2.0, -2.0, 1.5]))


def test_aliases_and_remaining_ops(torch):
    check("true_divide", (3, 4), (4,), low=0.5)
    check("floor_divide", (3, 4), (4,), low=0.5, grad=False, np_fn=np.floor_divide)
    check("absolute", (3, 4), np_fn=np.abs)
    check("clamp_min", (3, 4), 0.1, np_fn=lambda x, m: np.maximum(x, m))
    check("clamp_max", (3, 4), 0.1, np_fn=lambda x, m: np.minimum(x, m))
    check("sgn", (3, 4), np_fn=np.sign)
    import torch.nn.functional as F
    check(lambda x: numtorch.ops.softplus_raw(x, 2.0, 5.0) if isinstance(x, numtorch.Tensor)
          else F.softplus(x, 2.0, 5.0), (3, 4), low=-5, high=5)
    a, b = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 1.0])
    x, y, tx, ty = numtorch.tensor(a), numtorch.tensor(b), torch.tensor(a), torch.tensor(b)
    for name in ("greater", "greater_equal", "less", "less_equal", "not_equal"):
        assert getattr(numtorch, name)(x, y).tolist() == getattr(torch, name)(tx, ty).tolist()
    for name in ("logical_or", "logical_xor"):
        assert getattr(numtorch, name)(x > 1, y > 1).tolist() == getattr(torch, name)(tx > 1, ty > 1).tolist()
    i, j = np.array([5, 3, -2]), np.array([1, 6, 7])
    for name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
        assert getattr(numtorch, name)(numtorch.tensor(i), numtorch.tensor(j)).tolist() == \
            getattr(torch, name)(torch.tensor(i), torch.tensor(j)).tolist()
    assert numtorch.bitwise_not(numtorch.tensor(i)).tolist() == torch.bitwise_not(torch.tensor(i)).tolist()
    assert (~numtorch.tensor([True, False])).tolist() == [False, True]
    with pytest.raises(TypeError):
        ~numtorch.tensor([1.0])
    assert numtorch.isreal(x).all().item()
    assert numtorch.is_nonzero(numtorch.tensor([2.0])) and not numtorch.is_complex(x)
    with pytest.raises(RuntimeError):
        numtorch.is_nonzero(x)
    assert numtorch.concat([x, y]).shape == (6,) and numtorch.swapdims(numtorch.zeros(2, 3), 0, 1).shape == (3, 2)
    assert numtorch.vdot(x, y).item() == 9.0 and numtorch.ger(x, y).shape == (3, 3)
    assert numtorch.getitem(x, 1).item() == 2.0
    with pytest.raises(NotImplementedError):
        numtorch.mode_values(x)


@pytest.mark.parametrize("name,f,a", [
    ("atan2_origin", lambda t: lib(t).atan2(t, t), [0.0, 1.0]),
    ("minimum_nan", lambda t: lib(t).minimum(t, t * 0), [np.nan, 1.0]),
    ("maximum_nan", lambda t: lib(t).maximum(t * 0, t), [np.nan, -1.0]),
    ("maximum_tie", lambda t: lib(t).maximum(t, t * 0 + 1), [1.0, 2.0]),
    ("fmax_nan", lambda t: lib(t).fmax(t, t * 0), [np.nan, 1.0]),
    ("logaddexp_neg_inf", lambda t: lib(t).logaddexp(t, t), [-np.inf, 1.0]),
    ("xlogy_zero", lambda t: lib(t).xlogy(t, t), [0.0, 2.0]),
    ("hypot_zero", lambda t: lib(t).hypot(t, t * 0), [0.0, 1.0]),
    ("rsqrt_zero", lambda t: t.rsqrt(), [0.0, 4.0]),
    ("log_zero", lambda t: t.log(), [0.0, 4.0]),
    ("reciprocal_zero", lambda t: 1.0 / t, [0.0, 4.0]),
    ("pow_neg_one_zero", lambda t: t ** -1, [0.0, 4.0]),
    ("round_decimals", lambda t: t.round(decimals=1), [1.26, -2.34]),
    ("remainder_neg", lambda t: t.remainder(-1.5), [1.0, -2.0, 3.3]),
    ("fmod_neg", lambda t: t.fmod(-1.5), [1.0, -2.0, 3.3]),
    ("sinc_zero", lambda t: t.sinc(), [0.0, 0.5]),
    ("nan_to_num", lambda t: t.nan_to_num(), [np.nan, np.inf, 1.0]),
])
def test_elementwise_edge_values_and_grads(name, f, a, torch):
    a = np.array(a, dtype=np.float64)
    x, tx = numtorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = f(x), f(tx)
    assert_close(y, ty)
    y.sum().backward()
    ty.sum().backward()
    assert_close(x.grad, tx.grad)


@pytest.mark.parametrize("name", ["sqrt", "exp", "sigmoid", "log", "tanh", "erf", "reciprocal", "sin", "expm1",
                                  "relu", "abs", "neg", "asin", "rsqrt"])
def test_integer_inputs_dtype(name, torch):
    a = np.array([1, 2, 0, -3]) if name not in ("sqrt", "log", "rsqrt", "asin") else np.array([1, 0, 0, 1])
    y, ty = getattr(numtorch, name)(numtorch.tensor(a)), getattr(torch, name)(torch.tensor(a))
    assert y.dtype.name == str(ty.dtype).split(".")[1]
    assert_close(y, ty, rtol=1e-6)


def test_compare_with_none(torch):
    x = numtorch.ones(2)
    assert (x == None) is False and (x != None) is True  # noqa: E711
    assert (torch.ones(2) == None) is False  # noqa: E711
