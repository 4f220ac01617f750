"""Indexing: basic and advanced keys, repeated indices, gather/scatter family, masked ops."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
from helpers import check, assert_close, lib

KEYS = {
    "int": lambda: 1, "neg_int": lambda: -1, "slice": lambda: slice(1, 3), "step": lambda: slice(None, None, 2),
    "neg_slice": lambda: slice(-3, -1), "tuple": lambda: (1, slice(None), 2), "none": lambda: (None, 1),
    "ellipsis": lambda: (Ellipsis, 1), "ell_none": lambda: (0, Ellipsis, None),
    "list": lambda: [0, 2, 2, 1], "neg_list": lambda: [-1, 0, -1], "array": lambda: np.array([[0, 1], [2, 2]]),
    "adv_pair": lambda: ([0, 1, 1], [2, 0, 2]), "adv_slice": lambda: (slice(None), [3, 0, 3]),
    "bool_mask_row": lambda: np.array([True, False, True]),
    "adv_int_mix": lambda: (1, [0, 0, 2]),
}


@pytest.mark.parametrize("name", sorted(KEYS))
def test_getitem_keys(name):
    key = KEYS[name]()
    check(lambda x: x[key], (3, 4, 5), np_fn=lambda x: x[key])


@pytest.mark.parametrize("kind", ["tensor", "list"])
def test_getitem_with_int_tensor_repeated(kind, torch):
    idx = [0, 2, 0, 0]
    k_nt = numtorch.tensor(idx) if kind == "tensor" else idx
    k_th = torch.tensor(idx) if kind == "tensor" else idx
    a = np.random.default_rng(0).standard_normal((3, 4))
    x, tx = numtorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    x[k_nt].sum().backward()
    tx[k_th].sum().backward()
    assert_close(x.grad, tx.grad)
    assert x.grad[0, 0].item() == 3.0  # the gradient of a row read three times accumulates


def test_bool_mask_tensor(torch):
    a = np.random.default_rng(0).standard_normal((3, 4))
    x, tx = numtorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    m, tm = x > 0, tx > 0
    y, ty = x[m], tx[tm]
    assert_close(y, ty)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    assert_close(x.grad, tx.grad)
    check(lambda t: t[t.detach() > 0.5], (3, 4))
    check(lambda t: t[:, np.array([True, False, True, True])], (3, 4))


def test_zero_dim_int_tensor_index():
    x = numtorch.arange(10.0)
    assert x[numtorch.tensor(3)].item() == 3.0
    assert x[numtorch.tensor([3])].tolist() == [3.0]


def test_float_index_raises():
    x = numtorch.arange(6.0)
    with pytest.raises(IndexError, match="tensors used as indices must be long"):
        x[numtorch.tensor([1.0, 2.0])]


def test_index_out_of_range():
    with pytest.raises(IndexError):
        numtorch.zeros(3)[5]


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather(dim, torch):
    rng = np.random.default_rng(0)
    shape = [3, 4]
    idx_shape = [2, 3]
    idx = rng.integers(0, shape[dim], size=idx_shape)
    check(lambda x, i: lib(x).gather(x, dim, i), (3, 4), idx)  # index smaller than input
    check(lambda x, i: x.gather(dim, i), (3, 4), rng.integers(0, shape[dim], size=(3, 4)),
          np_fn=lambda x, i: np.take_along_axis(x, i, dim))


def test_take_along_dim(torch):
    rng = np.random.default_rng(0)
    idx = np.argsort(rng.standard_normal((3, 4)), axis=1)
    check(lambda x, i: lib(x).take_along_dim(x, i, dim=1), (3, 4), idx,
          np_fn=lambda x, i: np.take_along_axis(x, i, 1))
    check(lambda x, i: lib(x).take_along_dim(x, i), (3, 4), np.array([0, 5, 5, 11]),
          np_fn=lambda x, i: x.reshape(-1)[i])
    check(lambda x, i: lib(x).take_along_dim(x, i, dim=0), (3, 4), np.array([[2, 0, 1, 1]]))


@pytest.mark.parametrize("dim", [0, 1])
def test_scatter_add_and_scatter(dim, torch):
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 3, size=(2, 3))  # repeated targets
    check(lambda x, i, s: x.scatter_add(dim, i, s), (3, 4), idx, (2, 3))
    # src larger than index: PyTorch has no gradient for src here, so compare values and gradcheck only
    check(lambda x, i, s: x.scatter_add(dim, i, s), (3, 4), idx, (3, 4), no_grad_args=(2,))
    numtorch.autograd.gradcheck(lambda s: numtorch.zeros(3, 4, dtype=numtorch.float64).scatter_add(
        dim, numtorch.tensor(idx), s), numtorch.randn(3, 4, dtype=numtorch.float64, requires_grad=True))
    uniq = np.stack([rng.permutation(3)[:2] for _ in range(3)], 1) if dim == 0 else \
        np.stack([rng.permutation(3)[:3] for _ in range(2)], 0)
    check(lambda x, i, s: x.scatter(dim, i, s), (3, 4), uniq, tuple(uniq.shape))
    check(lambda x, i: x.scatter(dim, i, 0.5), (3, 4), uniq)


def test_scatter_reduce_add(torch):
    idx = np.array([[0, 1, 0], [1, 0, 0]])
    check(lambda x, i, s: x.scatter(0, i, s, reduce="add"), (3, 4), idx, (2, 3), grad=False)


def test_index_select_index_add(torch):
    idx = np.array([2, 0, 2])
    check(lambda x, i: x.index_select(0, i), (3, 4), idx, np_fn=lambda x, i: x[i])
    check(lambda x, i: x.index_select(1, i), (3, 4), idx, np_fn=lambda x, i: x[:, i])
    check(lambda x, i: x.index_select(-1, i), (3, 4), idx)
    check(lambda x, i, s: x.index_add(0, i, s), (3, 4), idx, (3, 4))
    check(lambda x, i, s: x.index_add(1, i, s, alpha=2.0), (3, 4), idx, (3, 3))


def test_masked_fill_masked_select(torch):
    mask = np.random.default_rng(2).random((3, 4)) > 0.5
    check(lambda x, m: x.masked_fill(m, -1.5), (3, 4), mask, np_fn=lambda x, m: np.where(m, -1.5, x))
    check(lambda x, m: x.masked_fill(m, -1.5), (3, 4), mask[0])  # broadcast mask
    check(lambda x, m: x.masked_select(m), (3, 4), mask, np_fn=lambda x, m: x[m])
    x = numtorch.tensor([1, 2, 3])
    y = x.masked_fill(numtorch.tensor([True, False, True]), 0)
    assert y.dtype == numtorch.int64 and y.tolist() == [0, 2, 0]


def test_index_fill_take_nonzero_argwhere(torch):
    check(lambda x, i: x.index_fill(1, i, 2.0), (3, 4), np.array([0, 2]))
    check(lambda x, i: lib(x).take(x, i), (3, 4), np.array([[0, 11], [5, 5]]))
    a = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 3.0]])
    assert numtorch.nonzero(numtorch.tensor(a)).tolist() == torch.nonzero(torch.tensor(a)).tolist()
    assert [t.tolist() for t in numtorch.nonzero(numtorch.tensor(a), as_tuple=True)] == \
        [t.tolist() for t in torch.nonzero(torch.tensor(a), as_tuple=True)]
    assert numtorch.argwhere(numtorch.tensor(a)).tolist() == torch.argwhere(torch.tensor(a)).tolist()
    assert [t.tolist() for t in numtorch.where(numtorch.tensor(a) > 0)] == \
        [t.tolist() for t in torch.where(torch.tensor(a) > 0)]


def test_second_order_through_indexing(torch):
    a = np.random.default_rng(0).standard_normal((4, 3))
    idx = [0, 2, 2]
    x, tx = numtorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (g,) = numtorch.autograd.grad((x[idx] ** 3).sum(), x, create_graph=True)
    (tg,) = torch.autograd.grad((tx[idx] ** 3).sum(), tx, create_graph=True)
    (g * g).sum().backward()
    (tg * tg).sum().backward()
    assert_close(x.grad, tx.grad)


def test_gather_errors():
    x = numtorch.zeros(3, 4)
    with pytest.raises(RuntimeError, match="gather"):
        x.gather(1, numtorch.tensor([[5]]))
    with pytest.raises(RuntimeError, match="gather"):
        x.gather(1, numtorch.tensor([[0.0]]))
