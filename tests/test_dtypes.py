"""dtypes: PyTorch's type promotion, default dtype, finfo/iinfo."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch

NAMES = ["float16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64", "bool"]


def _nt(name):
    return getattr(numtorch, name)


def _sample(lib, name, ndim):
    shape = (2,) if ndim else ()
    return lib.ones(shape, dtype=getattr(lib, name))


@pytest.mark.parametrize("a", NAMES)
@pytest.mark.parametrize("b", NAMES)
def test_tensor_tensor_promotion_matches_torch(a, b, torch):
    for da, db in ((1, 1), (1, 0), (0, 1), (0, 0)):
        r = (_sample(numtorch, a, da) + _sample(numtorch, b, db)).dtype if not (a == b == "bool") else None
        if r is None:
            continue
        tr = (_sample(torch, a, da) + _sample(torch, b, db)).dtype
        assert r.name == str(tr).split(".")[1], (a, b, da, db)


@pytest.mark.parametrize("a", NAMES)
@pytest.mark.parametrize("scalar", [2, 2.5, True])
def test_tensor_scalar_promotion_matches_torch(a, scalar, torch):
    if a == "bool" and scalar is True:
        return
    for ndim in (1, 0):
        r = (_sample(numtorch, a, ndim) * scalar).dtype
        tr = (_sample(torch, a, ndim) * scalar).dtype
        assert r.name == str(tr).split(".")[1], (a, scalar, ndim)
        r = (scalar * _sample(numtorch, a, ndim)).dtype
        assert r.name == str(tr).split(".")[1]


@pytest.mark.parametrize("a", ["uint8", "int32", "int64", "bool", "float16", "float64"])
@pytest.mark.parametrize("b", ["uint8", "int32", "int64", "bool", "float32"])
def test_true_division_dtype(a, b, torch):
    r = (_sample(numtorch, a, 1) / _sample(numtorch, b, 1)).dtype
    tr = (_sample(torch, a, 1) / _sample(torch, b, 1)).dtype
    assert r.name == str(tr).split(".")[1]


def test_issue_examples():
    f32 = numtorch.ones(2)
    assert f32.dtype == numtorch.float32  # float32 default
    assert (f32 * 2.5).dtype == numtorch.float32  # a Python float doesn't upcast
    i = numtorch.tensor([1, 2])
    assert (i / i).dtype == numtorch.float32  # int/int -> float32
    assert (i + 2.5).dtype == numtorch.float32
    u8, i8 = numtorch.tensor([1], dtype=numtorch.uint8), numtorch.tensor([1], dtype=numtorch.int8)
    assert (u8 + i8).dtype == numtorch.int16
    h = numtorch.tensor([1.0], dtype=numtorch.float16)
    assert (h + numtorch.tensor([1])).dtype == numtorch.float16
    assert (i + numtorch.tensor(2.5, dtype=numtorch.float64)).dtype == numtorch.float64  # 0-dim of higher kind
    assert (f32 + numtorch.tensor(2.5, dtype=numtorch.float64)).dtype == numtorch.float32  # 0-dim same kind
    assert (numtorch.tensor(1, dtype=numtorch.int32) + numtorch.tensor([1], dtype=numtorch.int8)).dtype \
        == numtorch.int8


def test_default_dtype(torch):
    assert numtorch.get_default_dtype() == numtorch.float32
    numtorch.set_default_dtype(numtorch.float64)
    try:
        assert numtorch.get_default_dtype() == numtorch.float64
        assert numtorch.tensor([1.5]).dtype == numtorch.float64
        assert numtorch.zeros(2).dtype == numtorch.float64
        assert numtorch.arange(0, 1, 0.5).dtype == numtorch.float64
        assert (numtorch.tensor([1, 2]) / 2).dtype == numtorch.float64
        assert numtorch.tensor([1j]).dtype == numtorch.complex128
    finally:
        numtorch.set_default_dtype(numtorch.float32)
    assert numtorch.tensor([1.5]).dtype == numtorch.float32
    with pytest.raises(TypeError):
        numtorch.set_default_dtype(numtorch.int64)


@pytest.mark.parametrize("name", ["float16", "float32", "float64"])
def test_finfo(name, torch):
    fi, tfi = numtorch.finfo(_nt(name)), torch.finfo(getattr(torch, name))
    for attr in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
        assert getattr(fi, attr) == getattr(tfi, attr), attr
    assert numtorch.finfo().eps == torch.finfo().eps


@pytest.mark.parametrize("name", ["uint8", "int8", "int16", "int32", "int64"])
def test_iinfo(name, torch):
    ii, tii = numtorch.iinfo(_nt(name)), torch.iinfo(getattr(torch, name))
    assert (ii.bits, ii.min, ii.max) == (tii.bits, tii.min, tii.max)


def test_dtype_objects():
    assert repr(numtorch.float32) == "numtorch.float32"
    assert numtorch.float is numtorch.float32 and numtorch.long is numtorch.int64
    assert numtorch.double is numtorch.float64 and numtorch.half is numtorch.float16
    assert numtorch.float32.is_floating_point and not numtorch.int64.is_floating_point
    assert numtorch.float32.itemsize == 4
    assert numtorch.result_type(numtorch.tensor([1]), 1.0) == numtorch.float32
    assert numtorch.can_cast(numtorch.int32, numtorch.float32)


def test_to_dtype_conversions():
    x = numtorch.tensor([1.7, -2.2])
    assert x.long().tolist() == [1, -2]
    assert x.to(numtorch.float64).dtype == numtorch.float64
    assert x.to(float).dtype == numtorch.float64  # Python float means float64, as in torch
    assert x.to(int).dtype == numtorch.int64
    assert x.bool().tolist() == [True, True]
    assert x.half().dtype == numtorch.float16 and x.double().dtype == numtorch.float64
    assert x.type() == "numtorch.FloatTensor"
    assert x.type(numtorch.int32).dtype == numtorch.int32


def test_cast_gradient_flows_back_in_source_dtype():
    x = numtorch.tensor([1.0, 2.0], requires_grad=True)
    y = x.double() * 3
    y.sum().backward()
    assert x.grad.dtype == numtorch.float32
    assert x.grad.tolist() == [3.0, 3.0]


def test_numpy_scalars_act_like_python_numbers(torch):
    x = numtorch.ones(3)
    for y in (x * np.float64(2.0), np.float64(2.0) * x, x + np.float64(1), x / np.float64(2), x ** np.float64(2),
              x - np.int64(3), numtorch.where(x > 0, x, np.float64(1)), x.clamp(np.float64(0), np.float64(1))):
        assert y.dtype == numtorch.float32
    assert (torch.ones(3) * np.float64(2.0)).dtype == torch.float32
    assert (numtorch.tensor([1, 2]) * np.float64(2.5)).dtype == numtorch.float32


def test_where_with_two_numbers_dtype(torch):
    c, tc = numtorch.tensor([True, False]), torch.tensor([True, False])
    for a, b in ((1.0, 0.0), (1, 0), (1, 0.5), (True, False)):
        r, tr = numtorch.where(c, a, b), torch.where(tc, a, b)
        assert r.dtype.name == str(tr.dtype).split(".")[1] and r.tolist() == tr.tolist()


F32_UNARY = ["exp", "sin", "cos", "tan", "tanh", "sigmoid", "relu", "abs", "neg", "square", "sqrt", "rsqrt", "log",
             "log2", "log10", "log1p", "expm1", "exp2", "reciprocal", "asin", "acos", "atan", "sinh", "cosh",
             "asinh", "atanh", "floor", "ceil", "round", "trunc", "sign", "frac", "erf", "erfc", "sinc",
             "deg2rad", "rad2deg", "nan_to_num", "sum", "mean", "prod", "amax", "amin", "var", "std", "norm",
             "nansum", "nanmean", "median", "cumsum", "cumprod", "logsumexp"]
F32_BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "atan2", "hypot", "logaddexp", "remainder", "fmod",
              "pow", "fmax", "fmin", "xlogy"]


@pytest.mark.parametrize("name", F32_UNARY)
def test_float32_in_float32_out_and_grad(name):
    x = numtorch.rand(3, 4, requires_grad=True)
    f = getattr(numtorch, name)
    out = f(x, 1) if name in ("cumsum", "cumprod", "logsumexp") else f(x)
    assert out.dtype == numtorch.float32
    (g,) = numtorch.autograd.grad(out.sum(), x)
    assert g.dtype == numtorch.float32


@pytest.mark.parametrize("name", F32_BINARY)
def test_float32_binary_with_tensor_float_int(name):
    x, y = numtorch.rand(3, 4, requires_grad=True), numtorch.rand(3, 4, requires_grad=True)
    for other in (y, 2.5, 2, np.float64(2.5)):
        out = getattr(numtorch, name)(x, other)
        assert out.dtype == numtorch.float32, other
        for g in numtorch.autograd.grad(out.sum(), [x, y] if other is y else [x]):
            assert g.dtype == numtorch.float32
