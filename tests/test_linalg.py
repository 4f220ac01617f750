"""numtorch.linalg against NumPy, float64 gradcheck and PyTorch."""
import math

import numpy as np
import pytest

import numtorch
import numtorch.linalg as LA
from helpers import check, lib

rng = np.random.default_rng(0)


def well_conditioned(*shape):
    n = shape[-1]
    return rng.uniform(-1, 1, size=shape) + n * np.eye(n)


def spd(*shape):
    a = rng.uniform(-1, 1, size=shape)
    return a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])


def L(t):
    return lib(t).linalg


# ---- differentiable ops: NumPy forward, PyTorch forward + backward, float64 gradcheck --------------

@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4)])
def test_inv(shape):
    check(lambda a: L(a).inv(a), well_conditioned(*shape), np_fn=np.linalg.inv)


def test_inverse_top_level():
    check(lambda a: lib(a).inverse(a), well_conditioned(3, 3), np_fn=np.linalg.inv)


@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4)])
def test_det(shape):
    check(lambda a: L(a).det(a), well_conditioned(*shape), np_fn=np.linalg.det)


def test_slogdet_negative_det():
    a = well_conditioned(2, 3, 3)
    a[0] = a[0][[1, 0, 2]]  # a row swap flips the sign
    check(lambda x: L(x).slogdet(x).logabsdet, a, np_fn=lambda x: np.linalg.slogdet(x)[1])
    sign = LA.slogdet(numtorch.tensor(a)).sign
    np.testing.assert_array_equal(sign.numpy(), np.linalg.slogdet(a)[0])


def test_logdet():
    check(lambda a: lib(a).logdet(a), spd(2, 3, 3), np_fn=lambda x: np.linalg.slogdet(x)[1])


@pytest.mark.parametrize("b_shape", [(3, 2), (3,), (2, 3, 2), (2, 3)])
def test_solve(b_shape):
    a = well_conditioned(2, 3, 3) if len(b_shape) == 3 or b_shape == (2, 3) else well_conditioned(3, 3)
    b = rng.uniform(-1, 1, size=b_shape)
    np_solve = (lambda x, y: np.linalg.solve(x, y[..., None])[..., 0]) if b.shape == a.shape[:-1] \
        else np.linalg.solve
    check(lambda x, y: L(x).solve(x, y), a, b, np_fn=np_solve)


def test_solve_broadcast_batch():
    # A (3, 3) shared by a batch of right-hand sides: A's gradient sums over the batch
    check(lambda x, y: L(x).solve(x, y), well_conditioned(3, 3), rng.uniform(-1, 1, (4, 3, 2)),
          np_fn=np.linalg.solve)


def test_solve_left_false():
    check(lambda x, y: L(x).solve(x, y, left=False), well_conditioned(3, 3), rng.uniform(-1, 1, (2, 3)),
          np_fn=lambda x, y: np.linalg.solve(x.T, y.T).T)


def test_solve_double_backward():
    a = numtorch.tensor(well_conditioned(3, 3), requires_grad=True)
    b = numtorch.tensor(rng.uniform(-1, 1, (3, 2)), requires_grad=True)
    assert numtorch.autograd.gradgradcheck(lambda x, y: LA.solve(x, y), [a, b])
    assert numtorch.autograd.gradgradcheck(lambda x: LA.inv(x), [a])
    assert numtorch.autograd.gradgradcheck(lambda x: LA.det(x), [a])


@pytest.mark.parametrize("ord_", [None, 2, 1, math.inf, -math.inf, 3.5, 0])
def test_vector_norm(ord_):
    kw = {} if ord_ is None else {"ord": ord_}
    np_ord = 2 if ord_ is None else ord_
    check(lambda x: L(x).vector_norm(x, dim=-1, **kw), (3, 5),
          np_fn=lambda x: np.linalg.norm(x, ord=np_ord, axis=-1), grad=ord_ != 0)


def test_vector_norm_all_and_keepdim():
    check(lambda x: L(x).vector_norm(x), (2, 3, 4), np_fn=lambda x: np.sqrt((x ** 2).sum()))
    check(lambda x: L(x).vector_norm(x, 1, (0, 2), keepdim=True), (2, 3, 4),
          np_fn=lambda x: np.abs(x).sum((0, 2), keepdims=True))


@pytest.mark.parametrize("ord_", ["fro", 1, -1, math.inf, -math.inf])
def test_matrix_norm(ord_):
    check(lambda x: L(x).matrix_norm(x, ord_), (2, 3, 4),
          np_fn=lambda x: np.stack([np.linalg.norm(m, ord_) for m in x]))


@pytest.mark.parametrize("ord_", ["nuc", 2, -2])
def test_matrix_norm_svd_based_forward(ord_):
    check(lambda x: L(x).matrix_norm(x, ord_), (2, 3, 4), grad=False,
          np_fn=lambda x: np.stack([np.linalg.norm(m, ord_) for m in x]))


def test_norm_dispatch():
    check(lambda x: L(x).norm(x), (3, 4), np_fn=lambda x: np.linalg.norm(x))  # Frobenius
    check(lambda x: L(x).norm(x, 1), (3, 4), np_fn=lambda x: np.linalg.norm(x, 1))  # matrix 1-norm
    check(lambda x: L(x).norm(x, 3, dim=1), (3, 4), np_fn=lambda x: np.linalg.norm(x, 3, axis=1))
    check(lambda x: L(x).norm(x, dim=(0, 1)), (3, 4, 2), np_fn=lambda x: np.sqrt((x ** 2).sum((0, 1))))


def test_vecdot_cross_multi_dot_matmul():
    check(lambda x, y: L(x).vecdot(x, y), (2, 3, 4), (3, 4), np_fn=lambda x, y: (x * y).sum(-1))
    check(lambda x, y: L(x).cross(x, y), (4, 3), (4, 3), np_fn=np.cross)
    check(lambda a, b, c: L(a).multi_dot([a, b, c]), (3,), (3, 4), (4, 2),
          np_fn=lambda a, b, c: np.linalg.multi_dot([a, b, c]))
    check(lambda a, b: L(a).matmul(a, b), (2, 3), (3, 4), np_fn=np.matmul)


# ---- forward-only decompositions -----------------------------------------------------------------

def test_cholesky_and_upper():
    a = spd(2, 4, 4)
    check(lambda x: L(x).cholesky(x), a, grad=False, np_fn=np.linalg.cholesky)
    check(lambda x: L(x).cholesky(x, upper=True), a, grad=False,
          np_fn=lambda x: np.swapaxes(np.linalg.cholesky(x), -1, -2))


@pytest.mark.parametrize("mode", ["reduced", "complete"])
def test_qr_reconstructs(mode):
    a = rng.uniform(-1, 1, (2, 5, 3))
    Q, R = LA.qr(numtorch.tensor(a), mode=mode)
    np.testing.assert_allclose((Q @ R).numpy(), a, atol=1e-12)
    np.testing.assert_allclose(R.numpy(), np.triu(R.numpy()))
    assert tuple(Q.shape) == ((2, 5, 3) if mode == "reduced" else (2, 5, 5))


def test_svd_and_svdvals():
    a = rng.uniform(-1, 1, (2, 4, 3))
    U, S, Vh = LA.svd(numtorch.tensor(a), full_matrices=False)
    np.testing.assert_allclose((U * S.unsqueeze(-2) @ Vh).numpy(), a, atol=1e-12)
    np.testing.assert_allclose(S.numpy(), np.linalg.svd(a, compute_uv=False), atol=1e-12)
    assert tuple(LA.svd(numtorch.tensor(a)).U.shape) == (2, 4, 4)
    check(lambda x: L(x).svdvals(x), a, grad=False)


def test_eigh():
    a = spd(2, 4, 4)
    w, V = LA.eigh(numtorch.tensor(a))
    np.testing.assert_allclose(w.numpy(), np.linalg.eigvalsh(a), atol=1e-12)
    np.testing.assert_allclose((V @ numtorch.diag_embed(w) @ V.mT).numpy(), a, atol=1e-10)
    check(lambda x: L(x).eigvalsh(x), a, grad=False, np_fn=np.linalg.eigvalsh)


def test_pinv_and_matrix_rank():
    a = rng.uniform(-1, 1, (2, 5, 3))
    check(lambda x: L(x).pinv(x), a, grad=False, np_fn=np.linalg.pinv)
    low_rank = a[0] @ rng.uniform(-1, 1, (3, 6))[:, :6]
    low_rank = low_rank[:, :2] @ rng.uniform(-1, 1, (2, 4))  # rank 2
    check(lambda x: L(x).matrix_rank(x), low_rank, grad=False, np_fn=lambda x: np.array(2))
    s = spd(3, 3)
    check(lambda x: L(x).pinv(x, hermitian=True), s, grad=False, np_fn=np.linalg.inv)


def _spd_of(x):
    return x @ x.mT + x.shape[-1] * lib(x).eye(x.shape[-1], dtype=x.dtype)


def test_cholesky_gradient():
    check(lambda x: L(x).cholesky(_spd_of(x)), (2, 4, 4), np_fn=lambda x: np.linalg.cholesky(
        x @ np.swapaxes(x, -1, -2) + 4 * np.eye(4)))
    check(lambda x: L(x).cholesky(_spd_of(x), upper=True), (3, 3))


def test_eigh_gradient():
    W = rng.uniform(0, 1, (4, 4))

    def f(x):  # sign-invariant in each eigenvector, so both frameworks agree
        w, V = L(x).eigh(x + x.mT)
        return 3 * w + ((V ** 4) * lib(x).tensor(W)).sum(-2)
    check(f, (2, 4, 4))
    check(lambda x: L(x).eigvalsh(x + x.mT), (3, 3), np_fn=lambda x: np.linalg.eigvalsh(x + x.T))


@pytest.mark.parametrize("op", ["svdvals", "pinv"])
def test_forward_only_backward_raises(op):
    a = numtorch.tensor(spd(3, 3), requires_grad=True)
    with pytest.raises(RuntimeError, match=f"linalg.{op}.*forward only"):
        getattr(LA, op)(a).sum().backward()
    with pytest.raises(RuntimeError, match="linalg.svd.*forward only"):
        LA.svd(a).S.sum().backward()


# ---- errors and dtypes -----------------------------------------------------------------------------

def test_errors():
    with pytest.raises(RuntimeError, match="linalg.inv: A must be batches of square matrices"):
        LA.inv(numtorch.ones(2, 3))
    with pytest.raises(RuntimeError, match="linalg.inv.*singular"):
        LA.inv(numtorch.zeros(3, 3))
    with pytest.raises(RuntimeError, match="linalg.solve: Incompatible shapes"):
        LA.solve(numtorch.eye(3), numtorch.ones(4, 2))
    with pytest.raises(RuntimeError, match="linalg.cholesky"):
        LA.cholesky(-numtorch.eye(2))
    with pytest.raises(RuntimeError, match="floating point"):
        LA.det(numtorch.ones(2, 2, dtype=numtorch.int64))


def test_float32_stays_float32():
    a = numtorch.tensor(well_conditioned(3, 3).astype(np.float32), requires_grad=True)
    for y in (LA.inv(a), LA.det(a), LA.solve(a, a), LA.vector_norm(a), LA.slogdet(a).logabsdet,
              LA.cholesky(a @ a.mT), LA.eigh(a + a.mT).eigenvectors):
        assert y.dtype == numtorch.float32
        y.sum().backward()
        assert a.grad.dtype == numtorch.float32


def test_tensor_methods_and_top_level_names():
    a = well_conditioned(3, 3)
    t = numtorch.tensor(a)
    np.testing.assert_allclose(t.inverse().numpy(), np.linalg.inv(a), rtol=1e-10)
    np.testing.assert_allclose(t.det().numpy(), np.linalg.det(a), rtol=1e-10)
    np.testing.assert_allclose(t.logdet().numpy(), np.log(np.linalg.det(a)), rtol=1e-10)
    np.testing.assert_allclose(t.slogdet().logabsdet.numpy(), np.log(abs(np.linalg.det(a))), rtol=1e-10)
    np.testing.assert_allclose(numtorch.det(t).numpy(), np.linalg.det(a), rtol=1e-10)
    assert numtorch.linalg is LA


@pytest.mark.parametrize("ord_", ["fro", "nuc", 1, 2, -2, math.inf])
@pytest.mark.parametrize("dim", [(-2, -1), (0, 2)])
def test_matrix_norm_keepdim_other_dims(ord_, dim):
    check(lambda x: L(x).matrix_norm(x, ord_, dim, keepdim=True), (2, 3, 4), grad=ord_ not in ("nuc", 2, -2))
