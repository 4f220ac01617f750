"""Tensor ops at their edges, against PyTorch: empty dimensions, integer division by zero, sizes
that are not integers, seeds out of range, mixed dtypes in a matrix product, bool subtraction,
allocations beyond memory, and NumPy's floating-point warnings (PyTorch computes inf and NaN
silently)."""
import warnings

import numpy as np
import pytest

import numtorch as nt


def _same_error(torch, f_nt, f_torch, phrase=None):
    """Both raise, the same exception type; ``phrase`` (default: PyTorch's first words) in both messages."""
    with pytest.raises(Exception) as theirs:
        f_torch(torch)
    with pytest.raises(type(theirs.value)) as ours:
        f_nt(nt)
    phrase = phrase or str(theirs.value).split(":")[0]
    assert phrase in str(ours.value) and phrase in str(theirs.value), (str(ours.value), str(theirs.value))


def _same_values(torch, f):
    ours, theirs = f(nt), f(torch)
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.detach().numpy())


# ---- size-0 dimensions -----------------------------------------------------------------------

@pytest.mark.parametrize("f", [
    lambda m: m.softmax(m.zeros(2, 0), 1),
    lambda m: m.log_softmax(m.zeros(2, 0), 1),
    lambda m: m.softmax(m.zeros(0, 3), 0),
    lambda m: m.logsumexp(m.zeros(2, 0), 1),
    lambda m: m.logsumexp(m.zeros(2, 0), 0),
    lambda m: m.logsumexp(m.zeros(0), 0),
    lambda m: m.logsumexp(m.zeros(3, 0, 2), (1, 2)),
    lambda m: m.argmax(m.zeros(2, 0), 0),
    lambda m: m.zeros(0).mean(),
    lambda m: m.zeros(2, 0).mean(1),
], ids=["softmax", "log_softmax", "softmax_dim0", "logsumexp", "logsumexp_kept", "logsumexp_1d", "logsumexp_2dims",
        "argmax_nonempty_dim", "mean", "mean_dim"])
def test_empty_dimension_results_match_pytorch(torch, f):
    _same_values(torch, f)


def test_empty_softmax_backward(torch):
    x = nt.zeros(2, 0, requires_grad=True)
    nt.log_softmax(x, 1).sum().backward()
    assert tuple(x.grad.shape) == (2, 0)


@pytest.mark.parametrize("shape", [(0, 3), (0, 3, 4), (2, 3, 0)])
def test_batch_norm_on_an_empty_batch(torch, shape):
    """PyTorch: an empty output, running statistics untouched, zero gradients for weight and bias."""
    ours = nt.nn.BatchNorm1d(3)
    theirs = torch.nn.BatchNorm1d(3)
    x, tx = nt.zeros(*shape, requires_grad=True), torch.zeros(*shape, requires_grad=True)
    y, ty = ours(x), theirs(tx)
    y.sum().backward()
    ty.sum().backward()
    assert tuple(y.shape) == tuple(ty.shape) and tuple(x.grad.shape) == shape
    for a, b in ((ours.running_mean, theirs.running_mean), (ours.running_var, theirs.running_var),
                 (ours.weight.grad, theirs.weight.grad), (ours.bias.grad, theirs.bias.grad)):
        np.testing.assert_array_equal(a.numpy(), b.detach().numpy())
    assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked)


def test_batch_norm_of_one_value_per_channel_still_raises(torch):
    _same_error(torch, lambda m: m.nn.BatchNorm1d(3)(m.zeros(1, 3)), lambda m: m.nn.BatchNorm1d(3)(m.zeros(1, 3)),
                "Expected more than 1 value per channel when training")


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize("shape, dim", [((0,), None), ((2, 0), None), ((2, 0), 1), ((2, 0), -1)])
def test_arg_reduction_of_nothing(torch, op, shape, dim):
    def call(m):
        return getattr(m, op)(m.zeros(*shape)) if dim is None else getattr(m, op)(m.zeros(*shape), dim)
    _same_error(torch, call, call, f"{op}(): Expected reduction dim")


# ---- integer division by zero ---------------------------------------------------------------------

@pytest.mark.parametrize("f", [
    lambda m: m.tensor([1, 2]) // 0,
    lambda m: m.tensor([1, 2]) // m.tensor([1, 0]),
    lambda m: m.tensor([1, 2]) % 0,
    lambda m: m.tensor([1, 2]) % m.tensor([0, 1]),
    lambda m: m.fmod(m.tensor([1, 2]), 0),
    lambda m: m.remainder(m.tensor([1, 2]), m.tensor([0, 0])),
    lambda m: m.div(m.tensor([1, 2]), 0, rounding_mode="floor"),
    lambda m: m.div(m.tensor([1, 2]), m.tensor([0, 1]), rounding_mode="trunc"),
    lambda m: m.tensor([7], dtype=m.uint8) // 0,
    lambda m: 5 // m.tensor([0, 1]),
], ids=["floordiv", "floordiv_t", "mod", "mod_t", "fmod", "remainder_t", "div_floor", "div_trunc", "uint8", "rfloordiv"])
def test_integer_division_by_zero_raises(torch, f):
    _same_error(torch, f, f, "ZeroDivisionError")


@pytest.mark.parametrize("f", [
    lambda m: m.tensor([1.0, -1.0, 0.0]) // 0,
    lambda m: m.tensor([1.0, -1.0, 0.0]) % 0,
    lambda m: m.tensor([1, 2]) / 0,
    lambda m: m.tensor([1, 4]) // m.tensor([1, 2]),
    lambda m: m.tensor([5, -5]) % m.tensor([3, 3]),
], ids=["float_floordiv", "float_mod", "int_true_div", "int_floordiv_ok", "int_mod_ok"])
def test_float_division_by_zero_and_nonzero_integers_match(torch, f):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _same_values(torch, f)


# ---- sizes, seeds, dtypes ------------------------------------------------------------------------

@pytest.mark.parametrize("f", [
    lambda m: m.zeros(2.5), lambda m: m.zeros((2.5,)), lambda m: m.zeros(2, 2.0), lambda m: m.ones(2.5),
    lambda m: m.empty(2.5), lambda m: m.randn(2.5), lambda m: m.rand(3, 1.5), lambda m: m.full((2.5,), 1.0),
    lambda m: m.zeros(True),
], ids=["zeros", "zeros_tuple", "zeros_second", "ones", "empty", "randn", "rand", "full", "bool"])
def test_non_integer_sizes_are_a_type_error(torch, f):
    _same_error(torch, f, f, "must be tuple of ints")


def test_integer_like_sizes_are_accepted(torch):
    for size in (np.int64(3), np.int32(3)):
        assert tuple(nt.zeros(size).shape) == tuple(torch.zeros(size).shape) == (3,)
    assert tuple(nt.zeros(2, np.int16(4)).shape) == (2, 4)


@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1, 10**30])
def test_seed_out_of_range(torch, seed):
    _same_error(torch, lambda m: m.manual_seed(seed), lambda m: m.manual_seed(seed), "Overflow when unpacking long long")
    with pytest.raises(ValueError, match="Overflow"):
        nt.Generator().manual_seed(seed)


@pytest.mark.parametrize("seed", [2**64 - 1, -(2**63), -1, 0])
def test_seeds_in_range_give_pytorchs_initial_seed(torch, seed):
    assert nt.manual_seed(seed).initial_seed() == torch.manual_seed(seed).initial_seed()


@pytest.mark.parametrize("da, db", [("float32", "float64"), ("float64", "float32"), ("float32", "int64")])
@pytest.mark.parametrize("sa, sb", [((2, 3), (3, 2)), ((3,), (3,)), ((2, 2, 3), (3, 4))])
def test_matmul_of_different_dtypes_raises(torch, da, db, sa, sb):
    def f(m):
        a, b = m.ones(*sa, dtype=getattr(m, da)), m.ones(*sb, dtype=getattr(m, db))
        return a @ b
    with pytest.raises(RuntimeError):
        f(torch)
    with pytest.raises(RuntimeError, match=f"matmul: expected both tensors to have the same dtype.*{da}.*{db}"):
        f(nt)


@pytest.mark.parametrize("f, phrase", [
    (lambda m: m.tensor([True]) - m.tensor([False]), "with two bool tensors is not supported"),
    (lambda m: m.sub(m.tensor([True]), m.tensor([True])), "with two bool tensors is not supported"),
    (lambda m: m.tensor([True]) - True, "with two bool tensors is not supported"),
    (lambda m: m.tensor([True]) - 1, "with a bool tensor is not supported"),
    (lambda m: 1 - m.tensor([True]), "with a bool tensor is not supported"),
    (lambda m: m.tensor([1.0]) - m.tensor([True]), "with a bool tensor is not supported"),
    (lambda m: -m.tensor([True]), "Negation, the `-` operator, on a bool tensor is not supported"),
], ids=["tensors", "sub", "python_bool", "int", "rsub", "float_minus_bool", "neg"])
def test_bool_subtraction_is_refused(torch, f, phrase):
    _same_error(torch, f, f, phrase)


def test_maximum_gradient_still_uses_masks(torch):
    a = nt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = nt.tensor([2.0, 2.0, 1.0], requires_grad=True)
    nt.maximum(a, b).sum().backward()
    ta, tb = (torch.tensor(v.detach().numpy(), requires_grad=True) for v in (a, b))
    torch.maximum(ta, tb).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())
    np.testing.assert_array_equal(b.grad.numpy(), tb.grad.numpy())


@pytest.mark.parametrize("make", ["empty", "zeros", "ones", "randn", "rand"])
def test_allocation_beyond_memory_names_the_bytes(torch, make):
    n = 10**12
    with pytest.raises(RuntimeError, match="4000000000000 bytes"):
        getattr(torch, make)(n)
    with pytest.raises(RuntimeError, match=f"{make}: can't allocate memory: you tried to allocate 4000000000000 bytes"):
        getattr(nt, make)(n)
    with pytest.raises(RuntimeError, match="8000000000000 bytes"):
        nt.empty(n, dtype=nt.float64)


# ---- NumPy's RuntimeWarnings stay inside the ops --------------------------------------------------

_SILENT = {
    "log0": lambda m: m.log(m.zeros(2)),
    "log2_0": lambda m: m.log2(m.zeros(2)),
    "log10_0": lambda m: m.log10(m.zeros(2)),
    "log1p_-2": lambda m: m.log1p(m.tensor([-2.0])),
    "sqrt_-1": lambda m: m.sqrt(-m.ones(2)),
    "rsqrt0": lambda m: m.rsqrt(m.zeros(2)),
    "reciprocal0": lambda m: m.reciprocal(m.zeros(2)),
    "div0": lambda m: m.ones(2) / 0,
    "div0_tensor": lambda m: m.ones(2) / m.zeros(2),
    "div0_temporary": lambda m: (m.ones(2) * 2) / 0,
    "rdiv0": lambda m: 1 / m.zeros(2),
    "exp_overflow": lambda m: m.exp(m.tensor([1000.0])),
    "exp_temporary": lambda m: (m.tensor([1000.0]) * 1).exp(),
    "expm1_overflow": lambda m: m.expm1(m.tensor([1000.0])),
    "cosh_overflow": lambda m: m.cosh(m.tensor([1000.0])),
    "pow_half_of_negative": lambda m: m.tensor([-1.0]) ** 0.5,
    "square_overflow": lambda m: m.tensor([1e30]) ** 2,
    "acos2": lambda m: m.acos(m.tensor([2.0])),
    "atanh1": lambda m: m.atanh(m.tensor([1.0])),
    "var_of_one": lambda m: m.ones(1).var(),
    "softmax_all_-inf": lambda m: m.softmax(m.tensor([float("-inf")] * 2), 0),
    "logsumexp_all_-inf": lambda m: m.logsumexp(m.tensor([float("-inf")] * 2), 0),
    "float_floordiv0": lambda m: m.tensor([1.0, 0.0]) // 0,
    "float_mod0": lambda m: m.tensor([1.0, 0.0]) % 0,
}


@pytest.mark.parametrize("name", sorted(_SILENT))
def test_no_numpy_warning_and_pytorchs_value(torch, name):
    f = _SILENT[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = f(nt)
    theirs = f(torch)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_nan_to_integer_cast_is_silent(dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nt.tensor([float("nan"), float("inf")]).to(getattr(nt, dtype))   # the values are undefined, as in C


def test_gradients_at_singularities_are_silent(torch):
    for fn in ("log", "sqrt", "rsqrt", "reciprocal"):
        x = nt.zeros(2, requires_grad=True)
        tx = torch.zeros(2, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            getattr(nt, fn)(x).sum().backward()
        getattr(torch, fn)(tx).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy(), err_msg=fn)


def test_users_own_numpy_still_warns():
    """The error state is the op's alone: it is restored when the op returns."""
    nt.log(nt.zeros(1))
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        np.log(np.zeros(1))
