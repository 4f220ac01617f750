"""Every op family on "cuda" gives the CPU's results, forward and backward (input gradients).

Each test runs twice (see ``gpu_backends``): ``[cupy]`` on a real GPU (marked ``gpu``) and
``[emulated]`` with ``tests/fake_cupy.py`` playing CuPy under CuPy's rules (no implicit device ->
host conversion, no mixing with NumPy arrays, every host sync counted).

One parametrized line per op: ``_run(fn, *args)`` calls ``fn`` on CPU tensors and on their "cuda"
copies, checks every output sits on "cuda" with the CPU's dtype and values (float32 tolerances),
then backpropagates a fixed random weighting of the floating outputs (so a gradient sent to the
wrong element shows) on both devices and compares the input gradients.
An argument is a shape (a random float32 input that requires grad), a CPU tensor (a constant moved
to "cuda" for the device run) or anything else (passed as it is to both runs).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import numtorch
import numtorch.linalg as LA
import numtorch.nn.functional as F
import numtorch.special as S
from numtorch.ops import rnn

from gpu_backends import backend  # noqa: F401  (autouse: every test runs on [cupy] and [emulated])
from test_gpu import _close, _pair

T = numtorch.tensor
IDX = T([2, 0, 1, 2])                                 # int64 indices into a dim of size >= 3
IDX2 = T([[0, 1, 0], [2, 2, 1]])
MASK = T([[True, False, True, False], [False, False, True, True], [True, True, False, False]])
ROWMASK = T([True, False, True])
INTS = T([[3, -1, 4], [1, -5, 9], [2, 6, -5]])
BOOLS = T([[True, False, True], [False, False, True]])
SORTED = T([-1.0, -0.25, 0.0, 0.5, 2.0])


def _args(args):
    """(cpu_args, gpu_args, leaves): shapes become random leaf pairs, tensors constant copies."""
    cpu, gpu, leaves = [], [], []
    for i, a in enumerate(args):
        if isinstance(a, tuple) and all(isinstance(s, int) for s in a):
            c, g = _pair(*a, seed=i)
            leaves.append((c, g))
        elif isinstance(a, numtorch.Tensor):
            c, g = a, a.to("cuda")
        else:
            c = g = a
        cpu.append(c)
        gpu.append(g)
    return cpu, gpu, leaves


def _flat(y) -> list:
    """The tensors of an op's result (a tensor, or nested tuples / lists of them)."""
    if isinstance(y, numtorch.Tensor):
        return [y]
    if isinstance(y, (tuple, list)):
        return [t for v in y for t in _flat(v)]
    return []


def _same(c: numtorch.Tensor, g: numtorch.Tensor, rtol: float, atol: float) -> None:
    assert g.device.type == "cuda", f"output on {g.device}, expected cuda"
    assert c.dtype == g.dtype, f"dtype {g.dtype} on cuda, {c.dtype} on cpu"
    assert tuple(c.shape) == tuple(g.shape)
    if c.dtype.is_floating_point or c.is_complex():
        _close(c, g, rtol, atol)
    else:
        np.testing.assert_array_equal(c.numpy(), g.cpu().numpy())


def _run(fn, *args, grad: bool = True, rtol: float = 1e-4, atol: float = 1e-5):
    """``fn`` on CPU and on "cuda": the same outputs, and (``grad``) the same input gradients."""
    cpu, gpu, leaves = _args(args)
    yc, yg = _flat(fn(*cpu)), _flat(fn(*gpu))
    assert yc and len(yc) == len(yg)
    for c, g in zip(yc, yg):
        _same(c, g, rtol, atol)
    floats = [(c, g) for c, g in zip(yc, yg) if c.requires_grad]
    if not (grad and leaves and floats):
        return
    ws = [_pair(*c.shape, requires_grad=False, seed=100 + i) for i, (c, _) in enumerate(floats)]
    sum((c * w.to(c.dtype)).sum() for (c, _), (w, _) in zip(floats, ws)).backward()
    sum((g * w.to(g.dtype)).sum() for (_, g), (_, w) in zip(floats, ws)).backward()
    for c, g in leaves:
        if c.grad is None:
            assert g.grad is None
            continue
        assert g.grad is not None and g.grad.device.type == "cuda"
        _close(c.grad, g.grad, rtol, atol)


def _ids(cases):
    return [c[0] for c in cases]


# ---- elementwise ----------------------------------------------------------------------------

def _pos(a):  # a positive input away from 0
    return a.abs() + 0.5


def _unit(a):  # inside (-0.9, 0.9)
    return a.tanh() * 0.9


UNARY = [
    ("neg", lambda a: -a), ("abs", lambda a: a.abs()), ("square", numtorch.square),
    ("sqrt", lambda a: _pos(a).sqrt()), ("rsqrt", lambda a: numtorch.rsqrt(_pos(a))),
    ("exp", numtorch.exp), ("exp2", numtorch.exp2), ("log", lambda a: _pos(a).log()),
    ("log2", lambda a: numtorch.log2(_pos(a))), ("log10", lambda a: numtorch.log10(_pos(a))),
    ("log1p", lambda a: numtorch.log1p(_pos(a))), ("expm1", numtorch.expm1),
    ("sin", numtorch.sin), ("cos", numtorch.cos), ("tan", lambda a: numtorch.tan(_unit(a))),
    ("tanh", numtorch.tanh), ("sigmoid", numtorch.sigmoid), ("relu", numtorch.relu),
    ("sign", numtorch.sign), ("sgn", numtorch.sgn), ("reciprocal", lambda a: _pos(a).reciprocal()),
    ("floor", numtorch.floor), ("ceil", numtorch.ceil), ("round", numtorch.round),
    ("round_decimals", lambda a: numtorch.round(a, decimals=1)), ("trunc", numtorch.trunc),
    ("frac", numtorch.frac), ("erf", numtorch.erf), ("erfc", numtorch.erfc),
    ("asin", lambda a: numtorch.asin(_unit(a))), ("acos", lambda a: numtorch.acos(_unit(a))),
    ("atan", numtorch.atan), ("sinh", numtorch.sinh), ("cosh", numtorch.cosh), ("asinh", numtorch.asinh),
    ("acosh", lambda a: numtorch.acosh(_pos(a) + 1)), ("atanh", lambda a: numtorch.atanh(_unit(a))),
    ("sinc", numtorch.sinc), ("deg2rad", numtorch.deg2rad), ("rad2deg", numtorch.rad2deg),
    ("nan_to_num", lambda a: numtorch.nan_to_num(a.log(), nan=0.5, neginf=-2.0)),
    ("clamp", lambda a: a.clamp(-0.5, 0.7)), ("clamp_min", lambda a: numtorch.clamp_min(a, 0.1)),
    ("clamp_max", lambda a: numtorch.clamp_max(a, 0.1)), ("clip", lambda a: numtorch.clip(a, max=0.3)),
    ("pow_scalar", lambda a: a ** 3), ("pow_frac", lambda a: _pos(a) ** 1.5), ("rpow", lambda a: 2 ** a),
    ("softplus_raw", lambda a: numtorch.softplus_raw(a, 2.0, 1.0)),
    ("special.erfinv", lambda a: S.erfinv(_unit(a))), ("special.expit", S.expit),
    ("special.logit", lambda a: S.logit(a.sigmoid())), ("special.gammaln", lambda a: S.gammaln(_pos(a))),
    ("special.i0", S.i0), ("special.ndtr", S.ndtr), ("special.log_ndtr", S.log_ndtr),
    ("special.entr", lambda a: S.entr(_pos(a))), ("special.xlog1py", lambda a: S.xlog1py(a, _pos(a))),
    ("special.exp2", S.exp2), ("special.expm1", S.expm1), ("special.log1p", lambda a: S.log1p(_pos(a))),
    ("special.sinc", S.sinc), ("special.round", S.round),
]


@pytest.mark.parametrize("name,fn", UNARY, ids=_ids(UNARY))
def test_unary(name, fn):
    _run(fn, (3, 4))


FORWARD_ONLY = [  # numtorch has no derivative for these (on any device)
    ("special.digamma", lambda a: S.digamma(_pos(a))), ("special.i1", S.i1), ("special.erfcx", S.erfcx),
    ("special.psi", lambda a: S.psi(_pos(a) + 1)),
]


@pytest.mark.parametrize("name,fn", FORWARD_ONLY, ids=_ids(FORWARD_ONLY))
def test_unary_forward_only(name, fn):
    _run(fn, (3, 4), grad=False)


BINARY = [
    ("add", lambda a, b: a + b), ("add_alpha", lambda a, b: numtorch.add(a, b, alpha=-2)),
    ("sub", lambda a, b: a - b), ("sub_alpha", lambda a, b: numtorch.sub(a, b, alpha=0.5)),
    ("mul", lambda a, b: a * b), ("div", lambda a, b: a / _pos(b)),
    ("div_floor", lambda a, b: numtorch.div(a, _pos(b), rounding_mode="floor")),
    ("div_trunc", lambda a, b: numtorch.div(a, _pos(b), rounding_mode="trunc")),
    ("floor_divide", lambda a, b: a // _pos(b)), ("remainder", lambda a, b: a % _pos(b)),
    ("fmod", lambda a, b: numtorch.fmod(a, _pos(b))), ("pow", lambda a, b: _pos(a) ** b),
    ("maximum", numtorch.maximum), ("minimum", numtorch.minimum), ("fmax", numtorch.fmax),
    ("fmin", numtorch.fmin), ("atan2", numtorch.atan2), ("hypot", numtorch.hypot),
    ("logaddexp", numtorch.logaddexp), ("xlogy", lambda a, b: numtorch.xlogy(a, _pos(b))),
    ("lerp_scalar", lambda a, b: numtorch.lerp(a, b, 0.3)), ("lerp_tensor", lambda a, b: numtorch.lerp(a, b, b.sigmoid())),
    ("addcmul", lambda a, b: numtorch.addcmul(a, a, b, value=0.5)),
    ("addcdiv", lambda a, b: numtorch.addcdiv(a, a, _pos(b), value=2)),
    ("where", lambda a, b: numtorch.where(a > b, a, b * 2)), ("where_scalar", lambda a, b: numtorch.where(b > 0, a, 0.0)),
    ("clamp_tensors", lambda a, b: a.clamp(min=b - 1, max=b + 1)),
    ("scalar_ops", lambda a, b: (1 - a) * 3 + 2 / _pos(b) - a / 4),
    ("special.xlogy", lambda a, b: S.xlogy(a, _pos(b))),
]


@pytest.mark.parametrize("name,fn", BINARY, ids=_ids(BINARY))
def test_binary(name, fn):
    _run(fn, (3, 4), (3, 4))
    _run(fn, (2, 3, 4), (4,))      # broadcasting: the gradient is summed back to (4,)


def test_mixed_dtypes_promote_the_same():
    _run(lambda a: a + INTS_F(a), (3, 3))
    _run(lambda a: a.double() * a, (3, 3))
    _run(lambda i: i * 2.5 + i // 2 - i % 3, INTS)
    _run(lambda i: i / 2, INTS)


def INTS_F(a):  # the int tensor on a's device
    return INTS.to(a.device)


COMPARE = [
    ("eq", lambda a, b: a == b.round()), ("ne", lambda a, b: a != b), ("lt", lambda a, b: a < b),
    ("le", numtorch.le), ("gt", numtorch.gt), ("ge", numtorch.ge), ("eq_scalar", lambda a, b: a.round() == 0),
    ("logical_and", lambda a, b: numtorch.logical_and(a > 0, b > 0)),
    ("logical_or", lambda a, b: numtorch.logical_or(a > 0, b)),
    ("logical_xor", lambda a, b: numtorch.logical_xor(a > 0, b > 0)),
    ("logical_not", lambda a, b: numtorch.logical_not(a > b)),
    ("bool_ops", lambda a, b: ((a > 0) & (b > 0)) | ~(a > b) ^ (b < 0)),
    ("isnan", lambda a, b: numtorch.isnan(a.log())), ("isinf", lambda a, b: numtorch.isinf(a / (b > 0).float())),
    ("isfinite", lambda a, b: numtorch.isfinite(a.log())),
    ("isposinf", lambda a, b: numtorch.isposinf(a / (b > 0).float())),
    ("isneginf", lambda a, b: numtorch.isneginf(a / (b > 0).float())),
    ("isclose", lambda a, b: numtorch.isclose(a, a + b * 1e-9)),
    ("maximum_bool_grad", lambda a, b: numtorch.maximum(a, b) * (a > b)),
]


@pytest.mark.parametrize("name,fn", COMPARE, ids=_ids(COMPARE))
def test_compare(name, fn):
    _run(fn, (3, 4), (3, 4))


def test_bitwise_and_scalar_predicates():
    _run(lambda i: (numtorch.bitwise_and(i, 6), numtorch.bitwise_or(i, 1), numtorch.bitwise_xor(i, i // 2),
                    numtorch.bitwise_not(i), i & 3, i | 8, i ^ 5), INTS)
    _run(lambda b: (b & ~b, b | b, numtorch.logical_not(b)), BOOLS)
    a = numtorch.ones(3, device="cuda")
    assert numtorch.allclose(a, a.clone()) is True
    assert numtorch.equal(a, a * 1) is True and numtorch.equal(a, a * 2) is False
    assert numtorch.is_nonzero(a[:1]) is True
    assert numtorch.is_floating_point(a) and numtorch.numel(a) == 3


# ---- reductions -----------------------------------------------------------------------------

REDUCE = [
    ("sum", lambda a: a.sum()), ("sum_dim", lambda a: a.sum(1)), ("sum_dims_keep", lambda a: a.sum((0, 2), keepdim=True)),
    ("sum_dtype", lambda a: a.sum(0, dtype=numtorch.float64)), ("mean", lambda a: a.mean()),
    ("mean_dim", lambda a: a.mean(-1, keepdim=True)), ("nansum", lambda a: numtorch.nansum(a, 1)),
    ("nanmean", lambda a: numtorch.nanmean(a, 0)), ("prod", lambda a: a.prod()), ("prod_dim", lambda a: a.prod(1)),
    ("var", lambda a: a.var()), ("var_dim", lambda a: a.var(1, correction=0)), ("std", lambda a: a.std(0)),
    ("std_unbiased", lambda a: a.std(2, unbiased=True, keepdim=True)), ("var_mean", lambda a: numtorch.var_mean(a, 1)),
    ("std_mean", lambda a: numtorch.std_mean(a, (0, 1))), ("amax", lambda a: a.amax(1)), ("amin", lambda a: a.amin((0, 2))),
    ("amax_all", lambda a: a.amax()), ("max_all", lambda a: a.max()), ("min_all", lambda a: a.min()),
    ("max_dim", lambda a: a.max(1)), ("min_dim", lambda a: a.min(-1, keepdim=True)), ("aminmax", lambda a: numtorch.aminmax(a, dim=0)),
    ("max_binary", lambda a: numtorch.max(a, a.flip(0))), ("argmax", lambda a: a.argmax()),
    ("argmax_dim", lambda a: a.argmax(1)), ("argmin_dim", lambda a: numtorch.argmin(a, 2, keepdim=True)),
    ("logsumexp", lambda a: a.logsumexp(1)), ("logsumexp_dims", lambda a: numtorch.logsumexp(a, (0, 2))),
    ("norm", lambda a: a.norm()), ("norm_p1", lambda a: a.norm(p=1, dim=1)), ("norm_p3", lambda a: numtorch.norm(a, 3, 2)),
    ("norm_inf", lambda a: a.norm(p=float("inf"), dim=0)), ("norm_fro", lambda a: numtorch.norm(a, "fro", dim=(1, 2))),
    ("cumsum", lambda a: a.cumsum(1)), ("cumprod", lambda a: a.cumprod(2)), ("cummax", lambda a: numtorch.cummax(a, 1)),
    ("cummin", lambda a: numtorch.cummin(a, 0)), ("logcumsumexp", lambda a: numtorch.logcumsumexp(a, 2)),
    ("all", lambda a: (a > -5).all()), ("all_dim", lambda a: (a > 0).all(1)), ("any", lambda a: (a > 2).any()),
    ("any_dim", lambda a: numtorch.any(a > 1, dim=2)), ("count_nonzero", lambda a: numtorch.count_nonzero(a > 0, dim=1)),
    ("median", lambda a: a.median()), ("median_dim", lambda a: a.median(1)), ("mode", lambda a: a.round().mode(2)),
    ("kthvalue", lambda a: numtorch.kthvalue(a, 2, 1)), ("quantile", lambda a: numtorch.quantile(a, 0.3, dim=1)),
    ("quantile_q", lambda a: numtorch.quantile(a, T([0.1, 0.5]).to(a.device), dim=2)),
    ("nanquantile", lambda a: numtorch.nanquantile(a, 0.5)), ("dist", lambda a: numtorch.dist(a, a.flip(1), 3)),
    ("diff", lambda a: numtorch.diff(a, dim=1)),
]


@pytest.mark.parametrize("name,fn", REDUCE, ids=_ids(REDUCE))
def test_reduce(name, fn):
    _run(fn, (3, 4, 5))


def _nan(a):  # NaN where a < -0.5
    return numtorch.where(a < -0.5, math.nan, a)


NAN = [  # NaN inputs: NumPy and CuPy must agree on where NaN goes
    ("nansum", lambda a: numtorch.nansum(_nan(a), 1)), ("nanmean", lambda a: numtorch.nanmean(_nan(a), 0)),
    ("amax_nan", lambda a: _nan(a).amax(1)), ("max_dim_nan", lambda a: _nan(a).max(0)),
    ("argmax_nan", lambda a: _nan(a).argmax(1)), ("sort_nan", lambda a: _nan(a).sort(1)),
    ("fmax", lambda a: numtorch.fmax(_nan(a), a.flip(1))), ("isnan", lambda a: numtorch.isnan(_nan(a))),
    ("cummax_nan", lambda a: numtorch.cummax(_nan(a), 1)), ("nanquantile", lambda a: numtorch.nanquantile(_nan(a), 0.5, 1)),
    ("max_pool_nan", lambda a: F.max_pool2d(_nan(a).reshape(1, 1, 4, 6), 2)),
    ("maximum_nan", lambda a: numtorch.maximum(_nan(a), a)), ("clamp_nan", lambda a: _nan(a).clamp(-0.5, 0.5)),
]


@pytest.mark.parametrize("name,fn", NAN, ids=_ids(NAN))
def test_nan_inputs(name, fn):
    _run(fn, (4, 6), grad=False)


def test_reduce_int_and_bool():
    _run(lambda i: (i.sum(), i.sum(0), i.prod(1), i.max(), i.amin(0), i.argmax(1), i.cumsum(0), i.all(), i.any(1),
                    i.float().mean(), numtorch.count_nonzero(i)), INTS)
    _run(lambda b: (b.sum(), b.all(1), b.any(), b.sum(0)), BOOLS)


# ---- shape ----------------------------------------------------------------------------------

SHAPE = [
    ("reshape", lambda a: a.reshape(4, -1)), ("view", lambda a: a.view(2, 12)), ("flatten", lambda a: a.flatten(1)),
    ("unflatten", lambda a: numtorch.unflatten(a, 2, (2, 2))), ("squeeze", lambda a: a[:1].squeeze()),
    ("squeeze_dim", lambda a: a[:, :1].squeeze(1)), ("unsqueeze", lambda a: a.unsqueeze(1)),
    ("expand", lambda a: a[:, :1].expand(2, 3, 4)), ("expand_as", lambda a: a[:1].expand_as(a)),
    ("broadcast_to", lambda a: numtorch.broadcast_to(a[0], (5, 3, 4))),
    ("broadcast_tensors", lambda a: numtorch.broadcast_tensors(a, a[:, :1])),
    ("repeat", lambda a: a.repeat(2, 1, 3)), ("tile", lambda a: numtorch.tile(a, (2,))),
    ("cat", lambda a: numtorch.cat([a, a * 2], 1)), ("stack", lambda a: numtorch.stack([a, a.exp()], -1)),
    ("hstack", lambda a: numtorch.hstack([a, a])), ("vstack", lambda a: numtorch.vstack([a[0], a[1]])),
    ("dstack", lambda a: numtorch.dstack([a[0], a[1]])), ("column_stack", lambda a: numtorch.column_stack([a[0], a[1]])),
    ("split_int", lambda a: a.split(2, 2)), ("split_sizes", lambda a: numtorch.split(a, [1, 2], 1)),
    ("chunk", lambda a: a.chunk(3, 2)), ("tensor_split", lambda a: numtorch.tensor_split(a, [1, 3], 2)),
    ("unbind", lambda a: a.unbind(1)), ("flip", lambda a: a.flip(0, 2)), ("fliplr", lambda a: numtorch.fliplr(a)),
    ("flipud", lambda a: numtorch.flipud(a)), ("roll", lambda a: a.roll(1, 2)),
    ("roll_dims", lambda a: numtorch.roll(a, (1, -2), (0, 2))), ("roll_flat", lambda a: numtorch.roll(a, 5)),
    ("rot90", lambda a: numtorch.rot90(a, 1, (1, 2))), ("narrow", lambda a: a.narrow(2, 1, 2)),
    ("tril", lambda a: a.tril()), ("triu", lambda a: numtorch.triu(a, 1)), ("tril_neg", lambda a: numtorch.tril(a, -1)),
    ("permute", lambda a: a.permute(2, 0, 1)), ("transpose", lambda a: a.transpose(0, 2)), ("t", lambda a: a[0].t()),
    ("mT", lambda a: a.mT), ("swapaxes", lambda a: numtorch.swapaxes(a, 0, 1)),
    ("movedim", lambda a: a.movedim(0, -1)), ("movedim_many", lambda a: numtorch.movedim(a, (0, 1), (2, 0))),
    ("select", lambda a: a.select(1, -1)), ("repeat_interleave", lambda a: a.repeat_interleave(2, dim=1)),
    ("repeat_interleave_t", lambda a: numtorch.repeat_interleave(a, T([1, 0, 2]).to(a.device), dim=1)),
    ("diagonal", lambda a: a.diagonal(0, 1, 2)), ("diagonal_off", lambda a: numtorch.diagonal(a, -1, 0, 1)),
    ("diag", lambda a: numtorch.diag(a[0])), ("diag_vec", lambda a: numtorch.diag(a[0, 0], 1)),
    ("diag_embed", lambda a: numtorch.diag_embed(a)), ("trace", lambda a: numtorch.trace(a[0])),
    ("atleast_3d", lambda a: numtorch.atleast_3d(a[0, 0])), ("block_diag", lambda a: numtorch.block_diag(a[0], a[1, :2])),
    ("ravel", lambda a: a.transpose(0, 1).ravel()), ("contiguous", lambda a: a.transpose(0, 1).contiguous()),
    ("view_as", lambda a: a.reshape(-1).view_as(a)), ("meshgrid", lambda a: numtorch.meshgrid(a[0, 0], a[1, 1], indexing="ij")),
    ("cartesian_prod", lambda a: numtorch.cartesian_prod(a[0, 0], a[1, 1, :2])),
    ("constant_pad", lambda a: F.pad(a, (1, 2))),
]


@pytest.mark.parametrize("name,fn", SHAPE, ids=_ids(SHAPE))
def test_shape(name, fn):
    _run(fn, (2, 3, 4))


# ---- indexing -------------------------------------------------------------------------------

def _setitem(a, key, v):
    b = a * 1            # a non-leaf: setitem is differentiable through the value and the rest
    b[key] = v
    return b


def _dev(t, a):
    return t.to(a.device)


INDEX = [
    ("int", lambda a: a[1]), ("slice", lambda a: a[1:, ::2]), ("neg_step_free", lambda a: a[-1, 1:3]),
    ("ellipsis_none", lambda a: a[..., None, 1]), ("int_tensor", lambda a: a[_dev(IDX, a)]),
    ("int_tensor_2d", lambda a: a[_dev(IDX2, a)]), ("two_int_tensors", lambda a: a[_dev(IDX, a), _dev(IDX.flip(0), a)]),
    ("int_tensor_slice", lambda a: a[:, _dev(IDX, a)]), ("list", lambda a: a[[0, 2, 2]]),
    ("bool_mask", lambda a: a[_dev(MASK, a)]), ("bool_rows", lambda a: a[_dev(ROWMASK, a)]),
    ("scalar_tensor_index", lambda a: a[_dev(T(1), a)]),
    ("setitem_scalar", lambda a: _setitem(a, (0, 1), 5.0)), ("setitem_slice", lambda a: _setitem(a, (slice(1, None), 0), a[0, :2])),
    ("setitem_tensor_value", lambda a: _setitem(a, 1, a[2].exp())), ("setitem_mask", lambda a: _setitem(a, _dev(MASK, a), 0.0)),
    ("setitem_mask_values", lambda a: _setitem(a, _dev(MASK, a), a[0, :2].repeat(3))),
    ("setitem_index", lambda a: _setitem(a, _dev(T([0, 2]), a), a[1] * 2)),
    ("gather", lambda a: a.gather(1, _dev(IDX2.t(), a)[:3, :2] % 4)),
    ("scatter", lambda a: a.scatter(1, _dev(T([[1], [0], [3]]), a), a[:, :1] * 3)),
    ("scatter_value", lambda a: numtorch.scatter(a, 0, _dev(T([[2, 1, 0, 0]]), a), 1.5)),
    ("scatter_reduce_add", lambda a: a.scatter(1, _dev(T([[1, 1], [0, 2], [3, 3]]), a), a[:, :2], reduce="add")),
    ("scatter_add", lambda a: a.scatter_add(0, _dev(T([[2, 2, 0, 1], [2, 0, 0, 1]]), a), a[:2] ** 2)),
    ("index_select", lambda a: a.index_select(1, _dev(IDX, a))),
    ("index_add", lambda a: a.index_add(0, _dev(T([2, 0, 2]), a), a.exp(), alpha=2)),
    ("index_fill", lambda a: a.index_fill(1, _dev(T([0, 3]), a), -1.0)),
    ("index_put", lambda a: a.index_put((_dev(T([0, 2, 0]), a), _dev(T([1, 1, 1]), a)), a[1, :3], accumulate=True)),
    ("masked_fill", lambda a: a.masked_fill(_dev(MASK, a), 2.0)),
    ("masked_fill_tensor", lambda a: a.masked_fill(_dev(MASK, a), a[0, 0])),
    ("masked_select", lambda a: a.masked_select(_dev(MASK, a))), ("masked_select_bcast", lambda a: numtorch.masked_select(a, _dev(T([True, False, False, True]), a))),
    ("take_along_dim", lambda a: numtorch.take_along_dim(a, a.argsort(1), 1)),
    ("take_along_dim_flat", lambda a: numtorch.take_along_dim(a, _dev(T([5, 0, 11]), a))),
    ("take", lambda a: numtorch.take(a, _dev(IDX2, a) * 3)),
    ("sort", lambda a: a.sort(1)), ("sort_desc", lambda a: numtorch.sort(a, 0, descending=True)),
    ("argsort", lambda a: a.argsort(1, descending=True)), ("topk", lambda a: a.topk(2, 1)),
    ("topk_smallest", lambda a: numtorch.topk(a, 2, 0, largest=False)),
    ("msort_like_flat", lambda a: a.reshape(-1).sort()),
]


@pytest.mark.parametrize("name,fn", INDEX, ids=_ids(INDEX))
def test_index(name, fn):
    _run(fn, (3, 4))


INT_OUT = [
    ("nonzero", lambda a: numtorch.nonzero(a > 0)), ("nonzero_tuple", lambda a: numtorch.nonzero(a > 0, as_tuple=True)),
    ("argwhere", lambda a: numtorch.argwhere(a > 0.5)), ("where_cond", lambda a: numtorch.where(a > 0)),
    ("unique", lambda a: numtorch.unique(a.round())),
    ("unique_all", lambda a: numtorch.unique(a.round(), return_inverse=True, return_counts=True)),
    ("unique_dim", lambda a: numtorch.unique((a > 0).long(), dim=0)),
    ("unique_consecutive", lambda a: numtorch.unique_consecutive(a.round().reshape(-1), return_counts=True,
                                                                  return_inverse=True)),
    ("bincount", lambda a: numtorch.bincount((a.abs() * 3).long().reshape(-1))),
    ("bincount_weights", lambda a: numtorch.bincount((a.abs() * 3).long().reshape(-1), a.reshape(-1), minlength=12)),
    ("one_hot", lambda a: F.one_hot((a.abs() * 2).long())), ("one_hot_n", lambda a: F.one_hot((a.abs() * 2).long() % 3, 5)),
    ("searchsorted", lambda a: numtorch.searchsorted(_dev(SORTED, a), a)),
    ("searchsorted_right", lambda a: numtorch.searchsorted(_dev(SORTED, a), a, right=True)),
    ("searchsorted_rows", lambda a: numtorch.searchsorted(a.sort(1).values, a[:, :2])),
    ("bucketize", lambda a: numtorch.bucketize(a, _dev(SORTED, a))),
    ("histc", lambda a: numtorch.histc(a, bins=5, min=-2, max=2)),
    ("isin", lambda a: numtorch.isin(a.round(), _dev(T([0.0, 1.0]), a))),
    ("count_nonzero", lambda a: numtorch.count_nonzero(a.round())),
]


def test_integer_and_bool_scatters():
    # (CUDA's atomic add has no int64 / int8 / bool / complex: these take other routes on a GPU)
    idx = T([2, 0, 2])
    _run(lambda i: (i.index_add(0, _dev(idx, i), i * 7), i.scatter_add(1, _dev(T([[0, 0, 2]] * 3), i), i),
                    i.index_put((_dev(idx, i),), i[0] * 100, accumulate=True)), INTS)
    _run(lambda i: i.to(numtorch.int8).index_add(0, _dev(idx, i), i.to(numtorch.int8) * 60), INTS)
    _run(lambda i: i.to(numtorch.int32).index_add(1, _dev(idx, i), i.to(numtorch.int32)), INTS)
    _run(lambda b: b.index_put((_dev(T([1, 1]), b),), b[:1].expand(2, 3), accumulate=True), BOOLS)
    _run(lambda a: a.to(numtorch.complex64).index_add(0, _dev(idx, a), a[:3].to(numtorch.complex64) * 1j),
         (3, 4), grad=False)


@pytest.mark.parametrize("name,fn", INT_OUT, ids=_ids(INT_OUT))
def test_data_dependent_outputs(name, fn):
    _run(fn, (4, 5), grad=False)


EDGE = [  # zero-size and 0-d inputs
    ("bincount_empty", lambda a: (numtorch.bincount(a.long().reshape(-1)), numtorch.bincount(a.long().reshape(-1), minlength=3)),
     (0, 2), False),
    ("sort_0d", lambda a: a.sum().sort(), (2, 3), True), ("argsort_0d", lambda a: a.sum().argsort(), (2, 3), False),
    ("sum_empty", lambda a: (a.sum(0), a.sum(), a.mean(1), a.amax(1), a.prod(0)), (0, 3), True),
    ("cat_empty", lambda a: numtorch.cat([a, a[:0]]) * 2, (2, 3), True),
    ("index_empty", lambda a: a[numtorch.zeros(0, dtype=numtorch.int64, device=a.device)], (3, 2), True),
    ("nonzero_none", lambda a: numtorch.nonzero(a > 100), (3, 2), False),
    ("unique_empty", lambda a: numtorch.unique(a), (0,), False),
    ("cumsum_empty", lambda a: (a.cumsum(0), numtorch.cummax(a, 0).values, numtorch.logcumsumexp(a, 0)), (0, 2), True),
    ("matmul_empty", lambda a: a @ a.t(), (0, 3), True), ("conv_batch0", lambda a: F.conv2d(a.reshape(0, 1, 2, 2), a.new_ones(1, 1, 2, 2)), (0, 4), True),
    ("scalar_ops_0d", lambda a: (a.sum() * 3).exp().clamp(max=5.0), (2, 2), True),
]


@pytest.mark.parametrize("name,fn,shape,grad", EDGE, ids=_ids(EDGE))
def test_edge_cases(name, fn, shape, grad):
    _run(fn, shape, grad=grad)


# ---- linalg ---------------------------------------------------------------------------------

LINALG = [
    ("matmul", lambda a, b: a @ b, (3, 4), (4, 2)), ("matmul_batched", lambda a, b: a @ b, (2, 3, 4), (4, 5)),
    ("matmul_bcast", lambda a, b: numtorch.matmul(a, b), (2, 1, 3, 4), (3, 4, 2)),
    ("matmul_vec", lambda a, b: a @ b, (4,), (2, 4, 3)), ("matmul_mat_vec", lambda a, b: a @ b, (3, 4), (4,)),
    ("dot", numtorch.dot, (5,), (5,)), ("vdot", numtorch.vdot, (5,), (5,)), ("inner", numtorch.inner, (2, 5), (3, 5)),
    ("mm", numtorch.mm, (3, 4), (4, 5)), ("bmm", numtorch.bmm, (2, 3, 4), (2, 4, 5)), ("mv", numtorch.mv, (3, 4), (4,)),
    ("outer", numtorch.outer, (3,), (4,)), ("ger", numtorch.ger, (3,), (2,)),
    ("einsum", lambda a, b: numtorch.einsum("bij,bjk->bik", a, b), (2, 3, 4), (2, 4, 5)),
    ("einsum_trace", lambda a, b: numtorch.einsum("ii,j->j", a, b), (3, 3), (2,)),
    ("einsum_outer_sum", lambda a, b: numtorch.einsum("i,j", a.sum(0), b), (3, 4), (2,)),
    ("addmm", lambda a, b: numtorch.addmm(b[0, :2], a, b, beta=0.5, alpha=2), (3, 4), (4, 2)),
    ("baddbmm", lambda a, b: numtorch.baddbmm(a @ b, a, b, alpha=0.5), (2, 3, 4), (2, 4, 3)),
    ("addmv", lambda a, b: numtorch.addmv(a[:, 0], a, b), (3, 4), (4,)),
    ("tensordot", lambda a, b: numtorch.tensordot(a, b, dims=([1, 2], [0, 1])), (2, 3, 4), (3, 4, 5)),
    ("tensordot_int", lambda a, b: numtorch.tensordot(a, b, 1), (2, 3), (3, 4)),
    ("kron", numtorch.kron, (2, 3), (2, 2)), ("cross", lambda a, b: numtorch.cross(a, b, dim=1), (4, 3), (4, 3)),
    ("cdist", lambda a, b: numtorch.cdist(a, b), (3, 4), (5, 4)),
    ("linalg.norm", lambda a, b: LA.norm(a) + LA.norm(b, dim=0).sum(), (3, 4), (2, 3)),
    ("linalg.vector_norm", lambda a, b: LA.vector_norm(a, ord=3, dim=1), (3, 4), (2,)),
    ("linalg.matrix_norm", lambda a, b: LA.matrix_norm(a) + LA.matrix_norm(b, 1) + LA.matrix_norm(b, -math.inf),
     (3, 4), (3, 3)),
    ("linalg.vecdot", lambda a, b: LA.vecdot(a, b), (3, 4), (3, 4)),
    ("linalg.multi_dot", lambda a, b: LA.multi_dot([a, b, a.t()]), (3, 4), (4, 4)),
    ("linalg.cross", lambda a, b: LA.cross(a, b), (2, 3), (2, 3)),
]


@pytest.mark.parametrize("name,fn,sa,sb", LINALG, ids=_ids(LINALG))
def test_linalg(name, fn, sa, sb):
    _run(fn, sa, sb)


def _spd(a):  # symmetric positive definite
    return a @ a.mT + 3 * numtorch.eye(a.shape[-1], device=a.device)


# (name, fn, differentiable, returns one of NumPy's named tuples inside: slogdet, qr, eigh, svd)
DECOMP = [
    ("inv", lambda a: LA.inv(_spd(a)), True, False), ("inverse", lambda a: _spd(a).inverse(), True, False),
    ("solve", lambda a: LA.solve(_spd(a), a[..., :2]), True, False), ("det", lambda a: LA.det(_spd(a)), True, False),
    ("det_method", lambda a: numtorch.det(a), True, False), ("slogdet", lambda a: LA.slogdet(a), True, True),
    ("logdet", lambda a: numtorch.logdet(_spd(a)), True, True), ("cholesky", lambda a: LA.cholesky(_spd(a)), True, False),
    ("eigvalsh", lambda a: LA.eigvalsh(_spd(a)), True, True), ("eigh_values", lambda a: LA.eigh(_spd(a))[0], True, True),
    ("inv_ex", lambda a: LA.inv_ex(_spd(a)), True, False),
    ("qr", lambda a: LA.qr(a)[1].abs(), False, True), ("svdvals", lambda a: LA.svdvals(a), False, False),
    ("svd_s", lambda a: LA.svd(a, full_matrices=False)[1], False, True), ("pinv", lambda a: LA.pinv(_spd(a)), False, True),
    ("matrix_rank", lambda a: LA.matrix_rank(a), False, False),
    ("matrix_norm_nuc", lambda a: LA.matrix_norm(a, "nuc") + LA.matrix_norm(a, 2), False, False),
]


@pytest.mark.parametrize("name,fn,grad,named", DECOMP, ids=_ids(DECOMP))
def test_linalg_decompositions(name, fn, grad, named):
    _run(fn, (2, 3, 3), grad=grad, rtol=1e-4, atol=1e-4)


# ---- creation -------------------------------------------------------------------------------

def _both(make):
    """``make(device)`` on "cpu" and "cuda": equal values, cuda output."""
    c, g = make("cpu"), make("cuda")
    for x, y in zip(_flat(c), _flat(g)):
        _same(x, y, 0, 0)


CREATION = [
    ("zeros", lambda d: numtorch.zeros(2, 3, device=d)), ("ones", lambda d: numtorch.ones((2, 3), dtype=numtorch.int64, device=d)),
    ("full", lambda d: numtorch.full((2, 2), 1.5, device=d)), ("full_bool", lambda d: numtorch.full((2,), True, device=d)),
    ("arange", lambda d: numtorch.arange(5, device=d)), ("arange_float", lambda d: numtorch.arange(0, 1, 0.25, device=d)),
    ("linspace", lambda d: numtorch.linspace(-1, 1, 7, device=d)), ("logspace", lambda d: numtorch.logspace(0, 2, 3, device=d)),
    ("eye", lambda d: numtorch.eye(3, 4, device=d)), ("empty_shape", lambda d: numtorch.empty(2, 3, device=d).fill_(0.0)),
    ("tensor", lambda d: numtorch.tensor([[1, 2], [3, 4]], device=d)), ("tensor_float", lambda d: numtorch.tensor(1.5, device=d)),
    ("as_tensor", lambda d: numtorch.as_tensor(np.arange(3.0), device=d)),
    ("rand", lambda d: numtorch.rand(3, 2, generator=numtorch.Generator().manual_seed(1), device=d)),
    ("randn", lambda d: numtorch.randn(4, generator=numtorch.Generator().manual_seed(2), device=d)),
    ("randint", lambda d: numtorch.randint(0, 9, (5,), generator=numtorch.Generator().manual_seed(3), device=d)),
    ("randperm", lambda d: numtorch.randperm(6, generator=numtorch.Generator().manual_seed(4), device=d)),
    ("normal", lambda d: numtorch.normal(1.0, 2.0, (3,), generator=numtorch.Generator().manual_seed(5), device=d)),
    ("zeros_like", lambda d: numtorch.zeros_like(numtorch.ones(2, device=d))),
    ("ones_like", lambda d: numtorch.ones_like(numtorch.zeros(2, device=d), dtype=numtorch.int32)),
    ("full_like", lambda d: numtorch.full_like(numtorch.zeros(2, 2, device=d), 7)),
    ("empty_like", lambda d: numtorch.empty_like(numtorch.zeros(2, device=d)).zero_()),
    ("rand_like", lambda d: numtorch.rand_like(numtorch.zeros(3, device=d), generator=numtorch.Generator().manual_seed(6))),
    ("randn_like", lambda d: numtorch.randn_like(numtorch.zeros(3, device=d), generator=numtorch.Generator().manual_seed(7))),
    ("randint_like", lambda d: numtorch.randint_like(numtorch.zeros(3, device=d), 5, generator=numtorch.Generator().manual_seed(8))),
    ("new_zeros", lambda d: numtorch.ones(2, device=d).new_zeros(3)), ("new_ones", lambda d: numtorch.ones(2, device=d).new_ones((2, 2))),
    ("new_full", lambda d: numtorch.ones(2, device=d).new_full((2,), 3.0)),
    ("new_tensor", lambda d: numtorch.ones(2, device=d).new_tensor([1.0, 2.0])),
    ("tril_indices", lambda d: numtorch.tril_indices(3, 3, device=d)), ("triu_indices", lambda d: numtorch.triu_indices(3, 4, 1, device=d)),
    ("bernoulli", lambda d: numtorch.bernoulli(numtorch.full((8,), 0.5, device=d), generator=numtorch.Generator().manual_seed(9))),
    ("multinomial", lambda d: numtorch.multinomial(numtorch.ones(5, device=d), 3, generator=numtorch.Generator().manual_seed(10))),
    ("uniform_", lambda d: numtorch.empty(4, device=d).uniform_(-1, 1, generator=numtorch.Generator().manual_seed(11))),
    ("normal_", lambda d: numtorch.empty(4, device=d).normal_(generator=numtorch.Generator().manual_seed(12))),
    ("random_", lambda d: numtorch.empty(4, device=d).random_(0, 10, generator=numtorch.Generator().manual_seed(13))),
    ("exponential_", lambda d: numtorch.empty(4, device=d).exponential_(generator=numtorch.Generator().manual_seed(14))),
    ("bernoulli_", lambda d: numtorch.empty(6, device=d).bernoulli_(0.3, generator=numtorch.Generator().manual_seed(15))),
]


@pytest.mark.parametrize("name,make", CREATION, ids=_ids(CREATION))
def test_creation(name, make):
    _both(make)


def test_cuda_generator_draws_the_cpu_generators_numbers():
    g = numtorch.Generator(device="cuda").manual_seed(5)
    assert g.device.type == "cuda"
    c = numtorch.randn(3, 4, generator=numtorch.Generator().manual_seed(5))
    _same(c, numtorch.randn(3, 4, generator=g, device="cuda"), 0, 0)
    state = g.get_state()
    x = numtorch.rand(5, generator=g, device="cuda")
    g.set_state(state)
    _close(x, numtorch.rand(5, generator=g), 0, 0)  # the same stream after restoring the state


def test_global_seed_gives_the_same_numbers_on_both_devices():
    def draw(d):
        numtorch.manual_seed(21)
        return numtorch.rand(3, device=d), numtorch.randn(2, 2, device=d), numtorch.randint(5, (4,), device=d)
    _both(draw)


# ---- conversions ----------------------------------------------------------------------------

CONVERT = [
    ("to_float64", lambda a: a.to(numtorch.float64)), ("double", lambda a: a.double()), ("half", lambda a: a.half().float()),
    ("long", lambda a: (a * 3).long()), ("int", lambda a: (a * 3).int()), ("bool", lambda a: a.bool()),
    ("type", lambda a: a.type(numtorch.float64)), ("type_as", lambda a: a.type_as(numtorch.zeros(1, dtype=numtorch.float64, device=a.device))),
    ("clone", lambda a: a.clone()), ("contiguous", lambda a: a.t().contiguous()), ("to_cpu_and_back", lambda a: a.to("cpu").to(a.device) * 2),
    ("to_tensor", lambda a: a.to(numtorch.zeros(1, dtype=numtorch.float64, device=a.device))),
    ("to_device_dtype", lambda a: a.to(a.device, numtorch.float64)), ("float", lambda a: a.double().float()),
    ("detach", lambda a: a.detach() * a),
]


@pytest.mark.parametrize("name,fn", CONVERT, ids=_ids(CONVERT))
def test_convert(name, fn):
    _run(fn, (3, 4))


def test_cpu_gradient_flows_back_through_a_device_move():
    c, _ = _pair(3, 4)
    y = (c.to("cuda").exp() * 2).to("cpu").sum()
    y.backward()
    _close(c.grad, (c.detach().exp() * 2))
    g = c.detach().to("cuda").requires_grad_()
    (g.cpu() ** 2).sum().backward()
    assert g.grad.device.type == "cuda"
    _close(g.grad, 2 * c.detach())


# ---- conv, pooling, resampling --------------------------------------------------------------

CONV = [
    ("conv1d", lambda x, w: F.conv1d(x, w), (2, 4, 9), (6, 4, 3)),
    ("conv1d_all", lambda x, w: F.conv1d(x, w, w[:, 0, 0], stride=2, padding=2, dilation=2, groups=2), (2, 4, 11), (6, 2, 3)),
    ("conv1d_same", lambda x, w: F.conv1d(x, w, padding="same"), (1, 4, 8), (3, 4, 4)),
    ("conv2d", lambda x, w: F.conv2d(x, w, w[:, 0, 0, 0]), (2, 3, 7, 6), (4, 3, 3, 3)),
    ("conv2d_stride_pad", lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=(1, 2)), (2, 3, 7, 6), (4, 3, 3, 2)),
    ("conv2d_dilation", lambda x, w: F.conv2d(x, w, dilation=2, padding=1), (1, 3, 8, 8), (2, 3, 3, 3)),
    ("conv2d_groups", lambda x, w: F.conv2d(x, w, groups=2, stride=2), (2, 4, 6, 6), (6, 2, 3, 3)),
    ("conv2d_depthwise", lambda x, w: F.conv2d(x, w, groups=4, padding="same"), (2, 4, 5, 5), (4, 1, 3, 3)),
    ("conv_transpose1d", lambda x, w: F.conv_transpose1d(x, w, stride=2, padding=1, output_padding=1), (2, 4, 5), (4, 3, 3)),
    ("conv_transpose1d_groups", lambda x, w: F.conv_transpose1d(x, w, w[0, :, 0].repeat(2), groups=2, dilation=2), (2, 4, 5), (4, 3, 3)),
    ("conv_transpose2d", lambda x, w: F.conv_transpose2d(x, w, w[0, :, 0, 0], stride=2, padding=1), (2, 3, 4, 5), (3, 2, 3, 3)),
    ("conv_transpose2d_all", lambda x, w: F.conv_transpose2d(x, w, stride=(2, 3), padding=(0, 1), output_padding=(1, 2),
                                                             groups=3, dilation=(1, 2)), (1, 3, 4, 4), (3, 2, 2, 3)),
    ("unfold_fold", lambda x, w: F.fold(F.unfold(x, 3, padding=1, stride=2) * w.reshape(1, -1, 1)[:, :27], (6, 5), 3,
                                        padding=1, stride=2), (2, 3, 6, 5), (27,)),
    ("unfold_dilated", lambda x, w: F.unfold(x, (2, 3), dilation=(2, 1)) * w.sum(), (2, 3, 6, 5), (1,)),
]


@pytest.mark.parametrize("name,fn,sx,sw", CONV, ids=_ids(CONV))
def test_conv(name, fn, sx, sw):
    _run(fn, sx, sw)


POOL = [
    ("max_pool2d", lambda x: F.max_pool2d(x, 2)), ("max_pool2d_all", lambda x: F.max_pool2d(x, 3, 2, 1, dilation=1, ceil_mode=True)),
    ("max_pool2d_dilation", lambda x: F.max_pool2d(x, 2, 1, dilation=2)),
    ("max_pool2d_indices", lambda x: F.max_pool2d(x, (2, 3), (2, 1), return_indices=True)),
    ("max_pool2d_cl", lambda x: F.max_pool2d(x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2), 2)),
    ("max_pool1d", lambda x: F.max_pool1d(x.flatten(2), 3, 2, 1)),
    ("max_pool1d_indices", lambda x: F.max_pool1d(x.flatten(2), 2, return_indices=True)),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, 2)), ("avg_pool2d_pad", lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)),
    ("avg_pool2d_ceil", lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, divisor_override=4)),
    ("avg_pool1d", lambda x: F.avg_pool1d(x.flatten(2), 4, 3, 2)),
    ("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (3, 2))), ("adaptive_avg_pool2d_1", lambda x: F.adaptive_avg_pool2d(x, 1)),
    ("adaptive_avg_pool1d", lambda x: F.adaptive_avg_pool1d(x.flatten(2), 7)),
    ("adaptive_max_pool2d", lambda x: F.adaptive_max_pool2d(x, (4, 3), return_indices=True)),
    ("adaptive_max_pool1d", lambda x: F.adaptive_max_pool1d(x.flatten(2), 5)),
    ("lp_pool2d", lambda x: F.lp_pool2d(x.abs() + 0.1, 2, 2)),
    ("interp_nearest", lambda x: F.interpolate(x, scale_factor=2)),
    ("interp_nearest_size", lambda x: F.interpolate(x, size=(4, 9), mode="nearest")),
    ("interp_bilinear", lambda x: F.interpolate(x, size=(7, 11), mode="bilinear")),
    ("interp_bilinear_ac", lambda x: F.interpolate(x, scale_factor=1.5, mode="bilinear", align_corners=True)),
    ("interp_linear", lambda x: F.interpolate(x.flatten(2), size=13, mode="linear")),
    ("interp_area", lambda x: F.interpolate(x, size=(3, 3), mode="area")),
    ("upsample", lambda x: F.upsample(x, scale_factor=2, mode="nearest")),
    ("pad_constant", lambda x: F.pad(x, (1, 2, 0, 1), value=0.5)), ("pad_reflect", lambda x: F.pad(x, (2, 1, 1, 2), mode="reflect")),
    ("pad_replicate", lambda x: F.pad(x, (2, 1, 3, 0), mode="replicate")),
    ("pad_circular", lambda x: F.pad(x, (1, 2, 2, 1), mode="circular")),
    ("pad_reflect_1d", lambda x: F.pad(x.flatten(2), (3, 2), mode="reflect")),
    ("pad_negative", lambda x: F.pad(x, (-1, 1, 0, -2))),
    ("pixel_shuffle", lambda x: F.pixel_shuffle(x[:, :4], 2)), ("pixel_unshuffle", lambda x: F.pixel_unshuffle(x[..., :6], 2)),
]


@pytest.mark.parametrize("name,fn", POOL, ids=_ids(POOL))
def test_pool_resample_pad(name, fn):
    _run(fn, (2, 4, 6, 7))


# ---- embedding, dropout, attention, recurrent -----------------------------------------------

def test_embedding():
    ids = T([[1, 4, 0], [4, 4, 2]])
    _run(lambda w: F.embedding(_dev(ids, w), w), (5, 3))
    _run(lambda w: F.embedding(_dev(ids, w), w, padding_idx=4), (5, 3))
    _run(lambda w: F.embedding(_dev(ids, w), w * 1, max_norm=1.0), (5, 3))
    _run(lambda w: F.embedding(_dev(ids[0], w), w.double()), (5, 3))


@pytest.mark.parametrize("fn", [
    lambda x: F.dropout(x, 0.4), lambda x: F.dropout(x, 0.3, training=True) * x,
    lambda x: F.dropout2d(x, 0.5), lambda x: F.alpha_dropout(x, 0.2, training=True),
], ids=["dropout", "dropout_mul", "dropout2d", "alpha_dropout"])
def test_dropout_same_seed_same_mask(fn):
    def run(x):
        numtorch.manual_seed(11)
        return fn(x)
    _run(run, (4, 6, 3, 3))


def _bool_mask(q):
    return _dev(T([[True, False, True, True, False, True]]).expand(5, 6), q)


ATTENTION = [
    ("plain", lambda q, k, v: F.scaled_dot_product_attention(q, k, v)),
    ("causal", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)),
    ("bool_mask", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=_bool_mask(q))),
    ("float_mask", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=k[0, 0, :, :1].mT.expand(5, 6) * 1)),
    ("scale", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, scale=0.3, is_causal=True)),
    ("dropout", lambda q, k, v: (numtorch.manual_seed(5), F.scaled_dot_product_attention(q, k, v, dropout_p=0.3))[1]),
]


@pytest.mark.parametrize("name,fn", ATTENTION, ids=_ids(ATTENTION))
def test_attention(name, fn):
    _run(fn, (2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 4))


RNN = [
    ("rnn_tanh_cell", lambda x, h, wi, wh, b: rnn.rnn_tanh_cell(x, h, wi, wh, b, b.flip(0))),
    ("rnn_relu_cell", lambda x, h, wi, wh, b: rnn.rnn_relu_cell(x, h, wi, wh, b)),
    ("gru_cell", lambda x, h, wi, wh, b: rnn.gru_cell(x, h, wi.repeat(3, 1), wh.repeat(3, 1), b.repeat(3), b.repeat(3))),
    ("lstm_cell", lambda x, h, wi, wh, b: rnn.lstm_cell(x, (h, h.tanh()), wi.repeat(4, 1), wh.repeat(4, 1), b.repeat(4))),
    ("rnn_layer", lambda x, h, wi, wh, b: rnn.recurrent_layer("RNN_TANH", x.reshape(2, 3, 4), (h[:3],), wi, wh, b, b)),
    ("lstm_layer", lambda x, h, wi, wh, b: rnn.recurrent_layer("LSTM", x.reshape(2, 3, 4), (h[:3], h[3:] * 1), wi.repeat(4, 1),
                                                               wh.repeat(4, 1), b.repeat(4), None, reverse=True)),
    ("gru_layer", lambda x, h, wi, wh, b: rnn.recurrent_layer("GRU", x.reshape(2, 3, 4), (h[:3],), wi.repeat(3, 1),
                                                              wh.repeat(3, 1), None, b.repeat(3))),
]


@pytest.mark.parametrize("name,fn", RNN, ids=_ids(RNN))
def test_recurrent(name, fn):
    _run(fn, (6, 4), (6, 5), (5, 4), (5, 5), (5,))


def test_rnn_modules():
    for cls in (numtorch.nn.RNN, numtorch.nn.LSTM, numtorch.nn.GRU):
        numtorch.manual_seed(0)
        m = cls(4, 5, num_layers=2, bidirectional=True)
        mg = cls(4, 5, num_layers=2, bidirectional=True).to("cuda")
        mg.load_state_dict(m.state_dict())
        _run(lambda x: m(x) if x.device.type == "cpu" else mg(x), (3, 2, 4))


# ---- in-place ops and tensor methods -------------------------------------------------------

def _inplace(op):
    def fn(a, b):
        y = a * 1
        op(y, b)
        return y
    return fn


INPLACE = [
    ("add_", lambda y, b: y.add_(b, alpha=2)), ("sub_", lambda y, b: y.sub_(b)), ("mul_", lambda y, b: y.mul_(b)),
    ("div_", lambda y, b: y.div_(_pos(b))), ("pow_", lambda y, b: y.pow_(2)), ("clamp_", lambda y, b: y.clamp_(-0.5, 0.5)),
    ("clamp_min_", lambda y, b: y.clamp_min_(0.0)), ("exp_", lambda y, b: y.exp_()), ("neg_", lambda y, b: y.neg_()),
    ("sigmoid_", lambda y, b: y.sigmoid_()), ("tanh_", lambda y, b: y.tanh_()), ("relu_", lambda y, b: y.relu_()),
    ("zero_", lambda y, b: y.zero_()), ("fill_", lambda y, b: y.fill_(2.5)), ("fill_tensor", lambda y, b: y.fill_(b[0, 0])),
    ("copy_", lambda y, b: y.copy_(b * 3)), ("lerp_", lambda y, b: y.lerp_(b, 0.25)),
    ("addcmul_", lambda y, b: y.addcmul_(b, b, value=0.5)), ("addcdiv_", lambda y, b: y.addcdiv_(b, _pos(b))),
    ("masked_fill_", lambda y, b: y.masked_fill_(b > 0, -1.0)), ("index_add_", lambda y, b: y.index_add_(1, _dev(IDX, b), b)),
    ("index_fill_", lambda y, b: y.index_fill_(0, _dev(T([1]), b), 0.0)),
    ("scatter_", lambda y, b: y.scatter_(1, _dev(T([[0], [2], [3]]), b), b[:, :1])),
    ("scatter_add_", lambda y, b: y.scatter_add_(1, _dev(T([[0, 0], [2, 1], [3, 3]]), b), b[:, :2])),
    ("iadd", lambda y, b: y.__iadd__(b)), ("imul_scalar", lambda y, b: y.__imul__(3)),
    ("setitem_chain", lambda y, b: y[1:].mul_(2)), ("round_", lambda y, b: y.round_()),
]


@pytest.mark.parametrize("name,op", INPLACE, ids=_ids(INPLACE))
def test_inplace(name, op):
    _run(_inplace(op), (3, 4), (3, 4))


def test_copy_between_devices():
    c, g = _pair(3, 4, requires_grad=False)
    dst = numtorch.zeros(3, 4, device="cuda")
    dst.copy_(c)                               # host -> device
    assert dst.device.type == "cuda"
    _close(dst, c, 0, 0)
    back = numtorch.zeros(3, 4)
    back.copy_(g * 2)                          # device -> host
    assert back.device.type == "cpu"
    _close(back, c * 2, 0, 0)
    d = numtorch.zeros(3, 4, dtype=numtorch.float64, device="cuda")
    d.copy_(c)                                 # with a dtype change
    assert d.dtype == numtorch.float64
    _close(d.float(), c, 0, 0)
    d[0] = c[1].double().to("cuda")
    _close(d[0].float(), c[1], 0, 0)
    e = numtorch.zeros(2, device="cuda").fill_(T(2.5))   # a 0-d value on another device, as PyTorch allows
    assert e.device.type == "cuda" and e.tolist() == [2.5, 2.5]
    assert numtorch.zeros(2).fill_(T(1.5, device="cuda")).tolist() == [1.5, 1.5]
    d[1] = np.arange(4.0)                       # host data assigned into a device tensor is copied over
    d[2, :2] = [5.0, 6.0]
    np.testing.assert_array_equal(d[1:, :2].cpu().numpy(), [[0.0, 1.0], [5.0, 6.0]])


def test_item_tolist_numpy():
    g = numtorch.tensor([[1.5, -2.0], [3.0, 4.25]], device="cuda")
    assert g[1, 1].item() == 4.25 and isinstance(g.sum().item(), float)
    assert g.tolist() == [[1.5, -2.0], [3.0, 4.25]]
    assert numtorch.tensor([3, 4], device="cuda").tolist() == [3, 4]
    assert float(g[0, 0]) == 1.5 and int(g[1, 0]) == 3 and bool(g[1, 0] > 2)
    for t in (g, g[0], g.sum(), g.long()):
        with pytest.raises(TypeError) as err:
            t.numpy()
        assert "cuda" in str(err.value) and ".cpu()" in str(err.value)
    np.testing.assert_array_equal(g.cpu().numpy(), [[1.5, -2.0], [3.0, 4.25]])
    assert "cuda" in repr(g) and "4.2500" in repr(g)
    assert repr(numtorch.tensor([1, 2], device="cuda")).startswith("tensor([1, 2], device='cuda")
    big = numtorch.randn(9, 300, generator=numtorch.Generator().manual_seed(0))  # summarised ("...")
    assert repr(big.to("cuda")) == repr(big)[:-1] + ", device='cuda:0')"


# ---- device mixing is refused ---------------------------------------------------------------

MIXED = [
    ("add", lambda c, g: c + g), ("mul_rev", lambda c, g: g * c), ("matmul", lambda c, g: c @ g.t()),
    ("where", lambda c, g: numtorch.where(c > 0, g, c)), ("cat", lambda c, g: numtorch.cat([c, g])),
    ("stack", lambda c, g: numtorch.stack([g, c])), ("gather", lambda c, g: g.gather(1, numtorch.zeros(3, 1, dtype=numtorch.int64))),
    ("index_select", lambda c, g: c.index_select(0, T([0, 1]).to("cuda"))), ("maximum", lambda c, g: numtorch.maximum(c, g)),
    ("conv2d", lambda c, g: F.conv2d(c.reshape(1, 1, 3, 4), g.reshape(1, 1, 3, 4))),
    ("embedding", lambda c, g: F.embedding(T([0, 1]), g)), ("lerp", lambda c, g: numtorch.lerp(c, g, 0.5)),
    ("add_", lambda c, g: c.add_(g)), ("masked_fill", lambda c, g: g.masked_fill(c > 0, 1.0)),
    ("einsum", lambda c, g: numtorch.einsum("ij,ij->i", c, g)), ("mse_like", lambda c, g: ((c - g) ** 2).mean()),
    ("scatter_add", lambda c, g: c.scatter_add(0, T([[0, 1, 2, 0]]), g[:1])),
    ("setitem", lambda c, g: g.__setitem__(0, c[1])), ("index_put", lambda c, g: c.index_put((T([0]),), g[0])),
    ("index_add", lambda c, g: g.index_add(0, T([0, 1]).to("cuda"), c[:2])),
    ("getitem_cuda_index", lambda c, g: c[T([0, 1]).to("cuda")]), ("bmm", lambda c, g: numtorch.bmm(c[None], g.t()[None])),
    ("take_along_dim", lambda c, g: numtorch.take_along_dim(c, g.argsort(1), 1)),
    ("sdpa_mask", lambda c, g: F.scaled_dot_product_attention(g[None], g[None], g[None], attn_mask=c[:, :3] > 0)),
    ("embedding_cuda_ids", lambda c, g: F.embedding(T([0, 1]).to("cuda"), c)),
    ("masked_select", lambda c, g: g.masked_select(c > 0)), ("pad_reflect", lambda c, g: g + F.pad(c, (1, 1), mode="reflect")[:, 1:-1]),
    ("where_cond_cuda", lambda c, g: numtorch.where(g > 0, c, c)), ("clamp_tensor", lambda c, g: c.clamp(min=g)),
    ("gather_cuda_index", lambda c, g: c.gather(1, T([[0], [1], [2]]).to("cuda"))),
    ("scatter", lambda c, g: g.scatter(1, T([[0], [1], [2]]), c[:, :1])),
    ("lt", lambda c, g: c < g), ("eq", lambda c, g: g == c), ("logical_and", lambda c, g: numtorch.logical_and(c > 0, g > 0)),
    ("isclose", lambda c, g: numtorch.isclose(c, g)), ("atan2", lambda c, g: numtorch.atan2(g, c)),
    ("pow", lambda c, g: c ** g), ("addcmul", lambda c, g: numtorch.addcmul(c, g, g)),
    ("floor_divide", lambda c, g: c // g), ("remainder", lambda c, g: g % c),
]


@pytest.mark.parametrize("name,fn", MIXED, ids=_ids(MIXED))
def test_mixing_devices_raises(name, fn):
    c, g = _pair(3, 4, requires_grad=False)
    with pytest.raises(RuntimeError) as err:
        fn(c, g)
    msg = str(err.value)
    assert "cpu" in msg and "cuda" in msg, msg


# ---- no host syncs on the hot path ----------------------------------------------------------

@pytest.mark.parametrize("fn,shapes", [
    (lambda a, b: ((a * b + 1).exp().log1p() / (b.abs() + 1)).sum(), [(4, 5), (4, 5)]),
    (lambda a, b: (a @ b).relu().mean(1).logsumexp(0), [(4, 5), (5, 3)]),
    (lambda a, b: a[:, [0, 2]].gather(1, (b[:, :2] > 0).long()).cumsum(0).var() + b.sum(), [(4, 5), (4, 5)]),
    (lambda x, w: F.avg_pool2d(F.max_pool2d(F.conv2d(x, w, padding=1), 2), 2).amax(), [(2, 3, 8, 8), (4, 3, 3, 3)]),
    (lambda a, b: F.scaled_dot_product_attention(a, b, b, is_causal=True).norm(), [(2, 5, 4), (2, 5, 4)]),
    (lambda a, b: numtorch.where(a > b, a.clamp(0, 1), b.sort(1).values).sum(), [(4, 5), (4, 5)]),
    (lambda a, b: F.interpolate(F.pad(a, (1, 1, 1, 1), mode="reflect"), scale_factor=2, mode="bilinear").std()
        + b.sum(), [(1, 2, 4, 4), (1,)]),
])
def test_no_host_syncs(backend, fn, shapes):  # noqa: F811
    if backend is None:
        pytest.skip("sync counting needs the emulator")
    leaves = [_pair(*s, seed=i)[1] for i, s in enumerate(shapes)]
    backend.stats.reset()
    fn(*leaves).backward()
    assert backend.stats.syncs == 0
    assert all(x.grad is not None for x in leaves)
