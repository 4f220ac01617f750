"""Property tests: hypothesis-generated broadcasting shapes for binary ops and dims for reductions."""
from __future__ import annotations

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import numtorch  # noqa: E402
from helpers import assert_close  # noqa: E402

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)
BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "maximum": np.maximum,
          "atan2": np.arctan2}


def _values(shape, seed, low=0.5, high=2.0):
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=0, max_side=3),
       name=st.sampled_from(sorted(BINARY)))
def test_broadcasting_binary_ops(shapes, name):
    sa, sb = shapes.input_shapes
    a, b = _values(sa, 1), _values(sb, 2)
    x, y = numtorch.tensor(a, requires_grad=True), numtorch.tensor(b, requires_grad=True)
    out = getattr(numtorch, name)(x, y)
    assert tuple(out.shape) == shapes.result_shape
    assert_close(out, BINARY[name](a, b))
    g = _values(shapes.result_shape, 3)
    gx, gy = numtorch.autograd.grad(out, [x, y], numtorch.tensor(g))
    assert tuple(gx.shape) == sa and tuple(gy.shape) == sb
    if out.numel() <= 16:
        assert numtorch.autograd.gradcheck(getattr(numtorch, name), (x, y), fast_mode=True)


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3, min_side=1, max_side=3))
def test_broadcasting_vs_torch(shapes):
    torch = pytest.importorskip("torch")
    sa, sb = shapes.input_shapes
    a, b = _values(sa, 4), _values(sb, 5)
    x, y = numtorch.tensor(a, requires_grad=True), numtorch.tensor(b, requires_grad=True)
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ((x * y - y / x) ** 2).sum().backward()
    ((tx * ty - ty / tx) ** 2).sum().backward()
    assert_close(x.grad, tx.grad)
    assert_close(y.grad, ty.grad)


@st.composite
def _reduction_case(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3))
    nd = len(shape)
    dims = draw(st.one_of(st.none(), st.integers(-nd, nd - 1),
                          st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True).map(tuple)))
    keepdim = draw(st.booleans())
    return shape, dims, keepdim


@SETTINGS
@given(case=_reduction_case(), name=st.sampled_from(["sum", "mean", "amax", "amin", "logsumexp", "var", "prod"]))
def test_reductions(case, name):
    shape, dims, keepdim = case
    a = _values(shape, 6)
    axis = dims
    ref = {"sum": np.sum, "mean": np.mean, "amax": np.max, "amin": np.min, "prod": np.prod,
           "logsumexp": lambda v, axis, keepdims: np.log(np.exp(v).sum(axis=axis, keepdims=keepdims)),
           "var": lambda v, axis, keepdims: np.var(v, axis=axis, keepdims=keepdims, ddof=1)}[name]
    if name == "var" and (np.prod(shape) if dims is None else np.prod(np.array(shape)[list(np.atleast_1d(dims))])) < 2:
        return
    x = numtorch.tensor(a, requires_grad=True)
    f = getattr(numtorch, name)
    if dims is None:
        out = f(x) if name not in ("logsumexp",) else f(x, tuple(range(len(shape))), keepdim)
        expected = ref(a, axis=None, keepdims=False) if name != "logsumexp" else ref(a, tuple(range(len(shape))),
                                                                                     keepdim)
    else:
        out = f(x, dims, keepdim=keepdim) if name != "var" else f(x, dims, keepdim=keepdim)
        expected = ref(a, axis=axis, keepdims=keepdim)
    assert_close(out, expected)
    assert numtorch.autograd.gradcheck(lambda t: f(t) if dims is None and name != "logsumexp" else
                                       f(t, tuple(range(len(shape))) if dims is None else dims, keepdim=keepdim),
                                       (x,), fast_mode=True)
