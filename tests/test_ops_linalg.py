"""Matrix products: matmul broadcasting and 1-D cases, mm/bmm/mv/dot, einsum, addmm family."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
from helpers import check, lib

MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
                 ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (2, 4, 5)), ((2, 3, 4), (4,)),
                 ((0, 4), (4, 3)), ((3, 0), (0, 2))]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul(sa, sb):
    check("matmul", sa, sb, np_fn=np.matmul)
    check(lambda a, b: a @ b, sa, sb, np_fn=np.matmul)


def test_matmul_non_contiguous():
    check(lambda a, b: a.T @ b[:, ::2], (4, 3), (4, 6), np_fn=lambda a, b: a.T @ b[:, ::2])
    check(lambda a, b: a @ a.T + b, (3, 4), (3, 3))  # reused input


def test_mm_bmm_mv_dot_outer():
    check("mm", (3, 4), (4, 2), np_fn=np.matmul)
    check("bmm", (2, 3, 4), (2, 4, 5), np_fn=np.matmul)
    check("mv", (3, 4), (4,), np_fn=np.matmul)
    check("dot", (4,), (4,), np_fn=np.dot)
    check("outer", (3,), (4,), np_fn=np.outer)
    check("inner", (3, 4), (2, 4), np_fn=np.inner)
    check("kron", (2, 3), (2, 2), np_fn=np.kron)
    check(lambda a, b: lib(a).cross(a, b, dim=-1), (4, 3), (4, 3), np_fn=lambda a, b: np.cross(a, b))


def test_addmm_baddbmm_addmv():
    check(lambda i, a, b: lib(a).addmm(i, a, b, beta=0.5, alpha=2.0), (3, 2), (3, 4), (4, 2),
          np_fn=lambda i, a, b: 0.5 * i + 2.0 * a @ b)
    check(lambda i, a, b: lib(a).addmm(i, a, b), (2,), (3, 4), (4, 2))
    check(lambda i, a, b: lib(a).baddbmm(i, a, b, beta=0.5), (2, 3, 5), (2, 3, 4), (2, 4, 5))
    check(lambda i, a, b: lib(a).addmv(i, a, b, alpha=3.0), (3,), (3, 4), (4,))


@pytest.mark.parametrize("eq,shapes", [
    ("ij,jk->ik", [(3, 4), (4, 5)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("ij->ji", [(3, 4)]),
    ("ij->", [(3, 4)]), ("i,i->", [(4,), (4,)]), ("i,j->ij", [(3,), (4,)]), ("ij,ij->i", [(3, 4), (3, 4)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]), ("ij,jk", [(3, 4), (4, 5)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]),
    ("ii->", [(3, 3)]), ("ii->i", [(3, 3)]), ("iij->j", [(2, 2, 3)]), ("ij,ii->j", [(3, 4), (3, 3)]),
    ("bii->bi", [(2, 3, 3)]),
])
def test_einsum(eq, shapes):
    check(lambda *ops: lib(ops[0]).einsum(eq, *ops), *shapes, np_fn=lambda *ops: np.einsum(eq, *ops))


def test_tensordot():
    check(lambda a, b: lib(a).tensordot(a, b, dims=1), (3, 4), (4, 5), np_fn=lambda a, b: np.tensordot(a, b, 1))
    check(lambda a, b: lib(a).tensordot(a, b, dims=([1, 2], [0, 1])), (2, 3, 4), (3, 4, 5),
          np_fn=lambda a, b: np.tensordot(a, b, ([1, 2], [0, 1])))


def test_float32_matmul_stays_float32():
    a, b = numtorch.randn(3, 4), numtorch.randn(4, 5)
    assert (a @ b).dtype == numtorch.float32


def test_matmul_errors():
    with pytest.raises(RuntimeError, match=r"\(3, 4\).*\(5, 6\)"):
        numtorch.zeros(3, 4) @ numtorch.zeros(5, 6)
    with pytest.raises(RuntimeError, match="mm"):
        numtorch.mm(numtorch.zeros(3), numtorch.zeros(3, 2))
    with pytest.raises(RuntimeError, match="dtype"):
        numtorch.mm(numtorch.zeros(2, 2), numtorch.zeros(2, 2, dtype=numtorch.float64))
    with pytest.raises(RuntimeError, match="1D"):
        numtorch.dot(numtorch.zeros(2, 2), numtorch.zeros(2))


def test_matmul_saves_only_the_operand_a_gradient_needs(torch):
    # PyTorch keeps B only for dA and A only for dB, so changing the other in place is allowed
    for fw in (numtorch, torch):
        x = fw.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        h = x * 1
        w = fw.tensor([[1.0, -1.0], [2.0, 0.5]])
        y = w @ h          # dh needs w only
        h.add_(1.0)        # allowed: h is not needed
        y.sum().backward()
        grad = x.grad.numpy() if fw is torch else np.asarray(x.grad._data)
        np.testing.assert_allclose(grad, np.array([[1.0, -1.0], [2.0, 0.5]]).T @ np.ones((2, 2)))  # w^T 1
        y2 = w @ (x * 1)
        w.add_(1.0)        # w is needed for dh: PyTorch raises, and so does numtorch
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y2.sum().backward()
