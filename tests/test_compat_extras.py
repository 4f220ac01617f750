"""The compatibility extras: ops.extra, special, testing, backends, legacy typed constructors,
utils.checkpoint and the distance modules, against NumPy / closed forms, gradcheck and PyTorch."""
import math
import warnings

import numpy as np
import pytest

import numtorch
from helpers import check, lib

rng = np.random.default_rng(0)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


# ---- ops.extra -------------------------------------------------------------------------------------

@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid(indexing):
    check(lambda a, b, c: lib(a).meshgrid(a, b, c, indexing=indexing), (2,), (3,), (4,),
          np_fn=lambda a, b, c: np.meshgrid(a, b, c, indexing=indexing))


def test_meshgrid_default_warns_and_is_ij():
    with pytest.warns(UserWarning, match="indexing"):
        g = numtorch.meshgrid(numtorch.arange(2), numtorch.arange(3))
    assert tuple(g[0].shape) == (2, 3)


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, math.inf])
def test_cdist(p):
    a, b = rng.uniform(-1, 1, (2, 4, 3)), rng.uniform(-1, 1, (2, 5, 3))
    np_ref = lambda x, y: np.linalg.norm(x[..., :, None, :] - y[..., None, :, :], ord=p, axis=-1)  # noqa: E731
    check(lambda x, y: lib(x).cdist(x, y, p=p), a, b, np_fn=np_ref, atol=1e-6)


def test_cdist_zero_distance_has_zero_gradient():
    x = numtorch.tensor([[1.0, 2.0], [0.0, 0.0]], requires_grad=True)
    numtorch.cdist(x, x).sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))


def test_cdist_float32_stays_float32():
    x = numtorch.randn(4, 3)
    assert numtorch.cdist(x, x).dtype == numtorch.float32


@pytest.mark.parametrize("n, dim", [(1, -1), (2, 0), (3, 1)])
def test_diff(n, dim):
    check(lambda x: lib(x).diff(x, n=n, dim=dim), (4, 5), np_fn=lambda x: np.diff(x, n, dim))


def test_diff_prepend_append_and_method():
    check(lambda x, p, a: lib(x).diff(x, dim=0, prepend=p, append=a), (3, 2), (1, 2), (2, 2),
          np_fn=lambda x, p, a: np.diff(x, axis=0, prepend=p, append=a))
    np.testing.assert_array_equal(numtorch.tensor([1, 4, 9]).diff().numpy(), [3, 5])


def test_isin(torch):
    e, t = np.array([[1, 2, 3], [4, 5, 6]]), np.array([2, 6, 7])
    for inv in (False, True):
        got = numtorch.isin(numtorch.tensor(e), numtorch.tensor(t), invert=inv)
        np.testing.assert_array_equal(got.numpy(), np.isin(e, t, invert=inv))
        np.testing.assert_array_equal(got.numpy(), torch.isin(torch.tensor(e), torch.tensor(t), invert=inv).numpy())
    np.testing.assert_array_equal(numtorch.isin(numtorch.tensor(e), 5).numpy(), e == 5)


@pytest.mark.parametrize("interp", ["linear", "lower", "higher", "midpoint", "nearest"])
def test_quantile_dims(interp):
    check(lambda x: lib(x).quantile(x, 0.3, dim=1, interpolation=interp), (3, 7), grad=interp == "linear",
          np_fn=lambda x: np.quantile(x, 0.3, axis=1, method=interp))
    q = np.array([0.1, 0.25, 0.5, 0.9])  # (inside (0, 1): gradcheck nudges q too)
    check(lambda x, q_: lib(x).quantile(x, q_, dim=0, keepdim=True, interpolation=interp), (5, 3), q,
          no_grad_args=(1,), grad=interp == "linear",
          np_fn=lambda x, q_: np.quantile(x, q_, axis=0, keepdims=True, method=interp))


def test_quantile_q_at_ends():
    x = rng.uniform(-1, 1, (3, 5))
    q = np.array([0.0, 1.0])
    check(lambda t, q_: lib(t).quantile(t, q_, dim=1), x, q, no_grad_args=(1,), gradcheck=False,
          np_fn=lambda t, q_: np.quantile(t, q_, axis=1))


def test_quantile_all_and_method():
    check(lambda x: lib(x).quantile(x, 0.9), (3, 4), np_fn=lambda x: np.quantile(x, 0.9))
    check(lambda x: x.quantile(0.9, dim=0, keepdim=True), (3, 4), np_fn=lambda x: np.quantile(x, 0.9, 0, keepdims=True))
    check(lambda x: lib(x).quantile(x, 0.5, keepdim=True), (3, 4), np_fn=lambda x: np.quantile(x, 0.5, keepdims=True))


def test_nanquantile():
    x = rng.uniform(-1, 1, (4, 6))
    x[0, 1] = x[2, 0] = x[2, 4] = np.nan
    x[3] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy warns on the all-NaN row
        ref = np.nanquantile(x, 0.4, axis=1)
    check(lambda t: lib(t).nanquantile(t, 0.4, dim=1), x, grad=False, np_fn=lambda t: ref)
    check(lambda t: lib(t).quantile(t, 0.4, dim=1), x, grad=False, np_fn=lambda t: np.quantile(t, 0.4, axis=1))


def test_quantile_errors():
    with pytest.raises(RuntimeError, match=r"quantile\(\) q values must be in the range \[0, 1\]"):
        numtorch.quantile(numtorch.ones(3), 1.5)
    with pytest.raises(RuntimeError, match="float or double"):
        numtorch.quantile(numtorch.ones(3, dtype=numtorch.int64), 0.5)


def test_mode(torch):
    x = np.array([[1, 2, 2, 3, 3], [5, 5, 4, 4, 1], [0, 9, 9, 0, 9]])
    for keepdim in (False, True):
        v, i = numtorch.mode(numtorch.tensor(x), 1, keepdim)
        tv, ti = torch.mode(torch.tensor(x), 1, keepdim)
        np.testing.assert_array_equal(v.numpy(), tv.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
    v, i = numtorch.tensor(x.T.astype(float)).mode(0)
    np.testing.assert_array_equal(v.numpy(), [2, 4, 9])
    # the gradient goes to the picked element
    check(lambda t: lib(t).mode(t, 0).values, np.array([[1.0, 2.0], [1.0, 3.0], [4.0, 3.0]]), gradcheck=False)


def test_cartesian_prod_block_diag():
    check(lambda a, b: lib(a).cartesian_prod(a, b), (2,), (3,),
          np_fn=lambda a, b: np.array([[x, y] for x in a for y in b]))
    from scipy.linalg import block_diag as sp_block_diag
    check(lambda a, b, c: lib(a).block_diag(a, b, c), (2, 3), (3,), (1, 2),
          np_fn=lambda a, b, c: sp_block_diag(a, b[None], c))


@pytest.mark.parametrize("ios", [3, 4, [1, 4], [2, -1]])
def test_tensor_split(ios):
    check(lambda x: lib(x).tensor_split(x, ios, dim=1), (2, 7), np_fn=lambda x: np.array_split(x, ios, 1))
    parts = numtorch.arange(7).tensor_split(3)
    assert [p.tolist() for p in parts] == [[0, 1, 2], [3, 4], [5, 6]]


def test_column_stack_dstack_atleast_3d():
    check(lambda a, b: lib(a).column_stack([a, b]), (3,), (3, 2), np_fn=lambda a, b: np.column_stack([a, b]))
    check(lambda a, b: lib(a).dstack([a, b]), (2, 3), (2, 3), np_fn=lambda a, b: np.dstack([a, b]))
    check(lambda a: lib(a).atleast_3d(a), (4,), np_fn=np.atleast_3d)


@pytest.mark.parametrize("k", [0, 1, 2, 3, -1, 5])
def test_rot90(k):
    check(lambda x: lib(x).rot90(x, k, (0, 2)), (2, 3, 4), np_fn=lambda x: np.rot90(x, k, (0, 2)))
    check(lambda x: x.rot90(k), (2, 3), np_fn=lambda x: np.rot90(x, k))


@pytest.mark.parametrize("dim", [0, 1])
def test_logcumsumexp(dim):
    check(lambda x: lib(x).logcumsumexp(x, dim), (4, 5),
          np_fn=lambda x: np.logaddexp.accumulate(x, axis=dim))


def test_logcumsumexp_large_values_and_double_backward():
    x = np.array([1000.0, -1000.0, 999.0, 1001.0])
    check(lambda t: lib(t).logcumsumexp(t, 0), x, np_fn=lambda t: np.logaddexp.accumulate(t))
    t = numtorch.tensor(rng.uniform(-1, 1, (3, 4)), requires_grad=True)
    assert numtorch.autograd.gradgradcheck(lambda a: numtorch.logcumsumexp(a, 1), [t])


def test_cummin(torch):
    x = np.array([[3.0, 1.0, 2.0, 1.0, 0.5], [2.0, 2.0, 3.0, 1.0, 1.0]])
    v, i = numtorch.cummin(numtorch.tensor(x), 1)
    tv, ti = torch.cummin(torch.tensor(x), 1)
    np.testing.assert_array_equal(v.numpy(), np.minimum.accumulate(x, 1))
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    check(lambda t: lib(t).cummin(t, 0).values, (4, 3), np_fn=lambda t: np.minimum.accumulate(t, 0))


def test_triu_tril_indices(torch):
    for r, c, off in [(3, 3, 0), (3, 5, 1), (4, 2, -1)]:
        np.testing.assert_array_equal(numtorch.triu_indices(r, c, off).numpy(), torch.triu_indices(r, c, off).numpy())
        np.testing.assert_array_equal(numtorch.tril_indices(r, c, off).numpy(), torch.tril_indices(r, c, off).numpy())
    assert numtorch.triu_indices(3, 3).dtype == numtorch.int64


# ---- special -----------------------------------------------------------------------------------------

def _sp(t):
    return lib(t).special


@pytest.mark.parametrize("name, low, high", [
    ("expit", -3, 3), ("logit", 0.05, 0.95), ("erf", -2, 2), ("erfc", -2, 2), ("erfinv", -0.95, 0.95),
    ("gammaln", 0.2, 5), ("i0", -3, 3), ("entr", 0.05, 3), ("sinc", -2, 2), ("log1p", -0.5, 2),
    ("expm1", -2, 2), ("ndtr", -3, 3), ("log_ndtr", -3, 3), ("exp2", -2, 2)])
def test_special_unary(name, low, high):
    check(lambda x: getattr(_sp(x), name)(x), (3, 4), low=low, high=high)


def test_special_forward_only_and_others():
    import scipy.special as ss
    check(lambda x: _sp(x).digamma(x), (5,), low=0.2, high=4, grad=False, np_fn=ss.digamma)
    check(lambda x: _sp(x).i1(x), (5,), grad=False, np_fn=ss.i1)
    check(lambda x: _sp(x).erfcx(x), (5,), grad=False, np_fn=ss.erfcx)
    check(lambda x, y: _sp(x).xlogy(x, y), (3,), (3,), low=0.1, high=2, np_fn=ss.xlogy)
    check(lambda x, y: _sp(x).xlog1py(x, y), (3,), (3,), low=0.1, high=2, np_fn=ss.xlog1py)
    check(lambda x: _sp(x).softmax(x, 1), (2, 3), np_fn=lambda a: ss.softmax(a, 1))
    check(lambda x: _sp(x).log_softmax(x, 1), (2, 3), np_fn=lambda a: ss.log_softmax(a, 1))
    check(lambda x: _sp(x).logit(x, eps=0.1), np.array([0.01, 0.5, 0.99]), np_fn=lambda a: ss.logit(np.clip(a, .1, .9)),
          gradcheck=False)  # (the clamp's kink sits inside gradcheck's reach)


def test_entr_edges_and_erfinv_ends():
    e = numtorch.special.entr(numtorch.tensor([-1.0, 0.0, 0.5]))
    np.testing.assert_allclose(e.numpy(), [-np.inf, 0.0, -0.5 * np.log(0.5)])
    y = numtorch.special.erfinv(numtorch.tensor([-1.0, 0.0, 1.0]))
    np.testing.assert_array_equal(y.numpy(), [-np.inf, 0.0, np.inf])
    assert numtorch.special.erfinv(numtorch.tensor([0.5], dtype=numtorch.float32)).dtype == numtorch.float32


# ---- testing -------------------------------------------------------------------------------------------

def _message(fn, *args, **kwargs):
    with pytest.raises(AssertionError) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_tensor_from_list_with_float64_dtype_is_exact():
    # regression: Python floats used to pass through float32 before the cast to an explicit dtype
    assert numtorch.tensor([0.1, 2.000001], dtype=numtorch.float64).tolist() == [0.1, 2.000001]
    assert numtorch.tensor([0.1]).dtype == numtorch.float32


PAIRS = [([1.0, 2.0, 3.0], [1.0, 2.5, 3.0], "float32"), ([[1.0, 1.0], [1.0, 1.0]], [[1.0, 1.0], [1.0, 2.0]], "float32"),
         ([1, 2], [1, 3], "int64"), ([1.0, 2.0], [1.0, 2.0 + 1e-6], "float64"), ([0.0, 1.0], [1.0, 1.0], "float64")]


@pytest.mark.parametrize("a, b, dt", PAIRS)
def test_assert_close_message_matches_pytorch(torch, a, b, dt):
    nt = _message(numtorch.testing.assert_close, numtorch.tensor(a, dtype=getattr(numtorch, dt)),
                  numtorch.tensor(b, dtype=getattr(numtorch, dt)))
    th = _message(torch.testing.assert_close, torch.tensor(a, dtype=getattr(torch, dt)),
                  torch.tensor(b, dtype=getattr(torch, dt)))
    assert nt == th


def test_assert_close_scalars_shapes_dtypes_nested(torch):
    assert _message(numtorch.testing.assert_close, 1.0, 1.5) == _message(torch.testing.assert_close, 1.0, 1.5)
    assert "attribute 'shape' do not match: numtorch.Size([2]) != numtorch.Size([3])" in _message(
        numtorch.testing.assert_close, numtorch.ones(2), numtorch.ones(3))
    assert "attribute 'dtype' do not match: numtorch.float32 != numtorch.float64" in _message(
        numtorch.testing.assert_close, numtorch.ones(2), numtorch.ones(2, dtype=numtorch.float64))
    nt = _message(numtorch.testing.assert_close, [numtorch.ones(2)], [numtorch.zeros(2)])
    th = _message(torch.testing.assert_close, [torch.ones(2)], [torch.zeros(2)])
    assert nt.endswith("The failure occurred for item [0]") and th.endswith("The failure occurred for item [0]")
    with pytest.raises(ValueError, match="but got no atol"):
        numtorch.testing.assert_close(numtorch.ones(2), numtorch.ones(2), rtol=1)


def test_assert_close_passes():
    t = numtorch.tensor([1.0, 2.0])
    numtorch.testing.assert_close(t, t + 1e-6)  # within float32's atol 1e-5
    numtorch.testing.assert_close({"a": t, "b": [1, 2]}, {"a": t.clone(), "b": [1, 2]})
    numtorch.testing.assert_close(numtorch.tensor([math.nan]), numtorch.tensor([math.nan]), equal_nan=True)
    numtorch.testing.assert_close(t, t + 0.5, rtol=0, atol=0.6)
    numtorch.testing.assert_close(numtorch.tensor([math.inf]), numtorch.tensor([math.inf]))
    with pytest.raises(AssertionError):
        numtorch.testing.assert_close(numtorch.tensor([math.nan]), numtorch.tensor([math.nan]))


def test_make_tensor():
    t = numtorch.testing.make_tensor(3, 4, dtype=numtorch.float32, low=-1, high=1, requires_grad=True)
    assert tuple(t.shape) == (3, 4) and t.dtype == numtorch.float32 and t.requires_grad
    assert float(t.min()) >= -1 and float(t.max()) < 1
    i = numtorch.testing.make_tensor((50,), dtype=numtorch.int64, exclude_zero=True)
    assert i.dtype == numtorch.int64 and int((i == 0).sum()) == 0 and int(i.min()) >= -9 and int(i.max()) <= 9
    assert numtorch.testing.make_tensor(2, dtype=numtorch.bool).dtype == numtorch.bool


# ---- backends, legacy constructors, default device, checkpoint, modules -------------------------------

def test_backends_flags():
    b = numtorch.backends
    b.cudnn.benchmark = True
    b.cudnn.deterministic = True
    b.cuda.matmul.allow_tf32 = True
    assert b.cudnn.benchmark and b.cudnn.deterministic and b.cudnn.enabled and b.cuda.matmul.allow_tf32
    assert not b.mps.is_available() and not b.mps.is_built() and not b.cudnn.is_available()
    assert not b.mkldnn.is_available() and not b.openmp.is_available()
    b.cudnn.benchmark = b.cudnn.deterministic = False


def test_legacy_constructors(torch):
    for name in ("FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor", "ByteTensor"):
        nt, th = getattr(numtorch, name)([1, 0, 2]), getattr(torch, name)([1, 0, 2])
        assert str(nt.dtype).split(".")[-1] == str(th.dtype).split(".")[-1]
        np.testing.assert_array_equal(nt.numpy(), th.numpy())
        assert isinstance(nt, getattr(numtorch, name)) and isinstance(nt, numtorch.Tensor)
    assert tuple(numtorch.LongTensor(3).shape) == (3,) and numtorch.LongTensor(3).dtype == numtorch.int64
    assert tuple(numtorch.FloatTensor(2, 3).shape) == (2, 3)
    assert tuple(numtorch.FloatTensor().shape) == (0,)
    assert not isinstance(numtorch.ones(2), numtorch.LongTensor)
    assert numtorch.DoubleTensor(np.array([1.0])).dtype == numtorch.float64


def test_set_default_device():
    numtorch.set_default_device("cpu")
    numtorch.set_default_device(None)
    assert numtorch.get_default_device().type == "cpu"
    with pytest.raises(RuntimeError, match="only 'cpu' as the default device.*cuda"):
        numtorch.set_default_device("cuda")


def test_checkpoint_same_values_and_grads():
    from numtorch.utils.checkpoint import checkpoint, checkpoint_sequential
    lin = numtorch.nn.Linear(3, 2)
    x = numtorch.randn(4, 3, requires_grad=True)
    y = checkpoint(lin, x, use_reentrant=False)
    y.sum().backward()
    gx = x.grad.numpy().copy()
    np.testing.assert_allclose(gx, np.tile(lin.weight.detach().numpy().sum(0), (4, 1)), rtol=1e-6)
    seq = numtorch.nn.Sequential(lin, numtorch.nn.ReLU())
    np.testing.assert_array_equal(checkpoint_sequential(seq, 2, x).detach().numpy(), seq(x).detach().numpy())
    assert numtorch.utils.checkpoint.checkpoint is checkpoint


def test_distance_modules(torch):
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    pairs = [(numtorch.nn.CosineSimilarity(dim=1), torch.nn.CosineSimilarity(dim=1)),
             (numtorch.nn.PairwiseDistance(p=3.0, keepdim=True), torch.nn.PairwiseDistance(p=3.0, keepdim=True))]
    for ours, theirs in pairs:
        got = ours(numtorch.tensor(a), numtorch.tensor(b))
        np.testing.assert_allclose(got.numpy(), theirs(torch.tensor(a), torch.tensor(b)).numpy(), rtol=1e-10)
        assert repr(ours) == repr(theirs)
