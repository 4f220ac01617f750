"""Creation functions: dtype inference, shapes, ranges, random numbers and seeding."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
from helpers import assert_close


@pytest.mark.parametrize("data", [[1, 2], [1.0, 2], [True, False], 3, 2.5, True, [[1, 2], [3, 4]], [], 1j])
def test_tensor_dtype_inference(data, torch):
    x, tx = numtorch.tensor(data), torch.tensor(data)
    assert x.dtype.name == str(tx.dtype).split(".")[1]
    assert tuple(x.shape) == tuple(tx.shape)
    assert x.tolist() == tx.tolist()


def test_tensor_from_numpy_and_tensors():
    a = np.arange(3, dtype=np.int32)
    x = numtorch.tensor(a)
    assert x.dtype == numtorch.int32
    a[0] = 9
    assert x[0].item() == 0  # tensor() copies
    f = numtorch.from_numpy(a)
    a[1] = 7
    assert f[1].item() == 7  # from_numpy shares
    assert numtorch.as_tensor(a).dtype == numtorch.int32
    assert numtorch.tensor(np.float64(2.0)).dtype == numtorch.float64
    s = numtorch.tensor([numtorch.tensor(1.0), numtorch.tensor(2.0)])
    assert s.tolist() == [1.0, 2.0]
    assert numtorch.tensor([1, 2], dtype=numtorch.float64).dtype == numtorch.float64
    y = numtorch.tensor([1.0], requires_grad=True)
    assert y.requires_grad and y.is_leaf
    with pytest.raises(RuntimeError, match="floating point"):
        numtorch.tensor([1, 2], requires_grad=True)


@pytest.mark.parametrize("name", ["zeros", "ones", "empty"])
def test_filled(name, torch):
    for args in ((2, 3), ((2, 3),), ([4],), ((),)):
        x, tx = getattr(numtorch, name)(*args), getattr(torch, name)(*args)
        assert tuple(x.shape) == tuple(tx.shape) and x.dtype == numtorch.float32
    assert getattr(numtorch, name)(2, dtype=numtorch.int64).dtype == numtorch.int64
    assert getattr(numtorch, name)(2, requires_grad=True).requires_grad
    assert getattr(numtorch, name)(numtorch.Size([2, 1])).shape == (2, 1)
    with pytest.raises(RuntimeError, match="negative dimension"):
        getattr(numtorch, name)(-1)


def test_full_and_likes(torch):
    for v in (7, 2.5, True):
        x, tx = numtorch.full((2, 2), v), torch.full((2, 2), v)
        assert x.dtype.name == str(tx.dtype).split(".")[1] and x.tolist() == tx.tolist()
    base = numtorch.ones(2, 3, dtype=numtorch.float64)
    for name in ("zeros_like", "ones_like", "empty_like", "rand_like", "randn_like"):
        y = getattr(numtorch, name)(base)
        assert y.shape == (2, 3) and y.dtype == numtorch.float64
    assert numtorch.full_like(base, 4).tolist() == [[4.0] * 3] * 2
    assert numtorch.zeros_like(base, dtype=numtorch.int64).dtype == numtorch.int64
    r = numtorch.randint_like(base, 5)
    assert r.dtype == numtorch.float64 and r.max().item() < 5


@pytest.mark.parametrize("args", [(5,), (2, 7), (1, 2, 0.25), (0.0, 1.0, 0.1), (5, 0, -1), (-3, 3, 2), (0,),
                                  (1.0, 2.5)])
def test_arange(args, torch):
    x, tx = numtorch.arange(*args), torch.arange(*args)
    assert x.dtype.name == str(tx.dtype).split(".")[1]
    assert_close(x, tx)
    assert numtorch.arange(5, dtype=numtorch.float64).dtype == numtorch.float64


def test_linspace_logspace_eye(torch):
    assert_close(numtorch.linspace(0, 1, 5), torch.linspace(0, 1, 5))
    assert numtorch.linspace(0, 1, 5).dtype == numtorch.float32
    assert_close(numtorch.linspace(-2, 3, 1), torch.linspace(-2, 3, 1))
    assert_close(numtorch.logspace(0, 2, 3), torch.logspace(0, 2, 3))
    assert_close(numtorch.eye(3), torch.eye(3))
    assert_close(numtorch.eye(2, 3), torch.eye(2, 3))
    assert numtorch.eye(2, dtype=numtorch.int64).dtype == numtorch.int64


def test_random_shapes_dtypes_ranges():
    numtorch.manual_seed(0)
    r = numtorch.rand(1000)
    assert r.dtype == numtorch.float32 and 0 <= r.min().item() and r.max().item() < 1
    n = numtorch.randn(2000, dtype=numtorch.float64)
    assert n.dtype == numtorch.float64 and abs(n.mean().item()) < 0.1 and abs(n.std().item() - 1) < 0.1
    i = numtorch.randint(3, 7, (100,))
    assert i.dtype == numtorch.int64 and i.min().item() >= 3 and i.max().item() < 7
    assert numtorch.randint(5, (3, 2)).shape == (3, 2)
    p = numtorch.randperm(10)
    assert sorted(p.tolist()) == list(range(10)) and p.dtype == numtorch.int64
    assert numtorch.rand(2, 3).shape == (2, 3) and numtorch.randn((4,)).shape == (4,)
    with pytest.raises(RuntimeError):
        numtorch.rand(2, dtype=numtorch.int64)


def test_manual_seed_reproducible_and_generator():
    numtorch.manual_seed(123)
    a = numtorch.randn(5)
    b = numtorch.rand(3)
    numtorch.manual_seed(123)
    assert numtorch.randn(5).tolist() == a.tolist() and numtorch.rand(3).tolist() == b.tolist()
    g1 = numtorch.Generator().manual_seed(7)
    g2 = numtorch.Generator().manual_seed(7)
    assert numtorch.randn(4, generator=g1).tolist() == numtorch.randn(4, generator=g2).tolist()
    assert g1.initial_seed() == 7
    state = numtorch.get_rng_state()
    c = numtorch.rand(4)
    numtorch.set_rng_state(state)
    assert numtorch.rand(4).tolist() == c.tolist()
    numtorch.manual_seed(1)
    u = numtorch.empty(5).uniform_(2.0, 3.0)
    assert 2.0 <= u.min().item() and u.max().item() < 3.0
    assert numtorch.empty(3, dtype=numtorch.float64).normal_().dtype == numtorch.float64
    w = numtorch.empty(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        w.normal_()
    with numtorch.no_grad():
        w.normal_()
    assert w.requires_grad and w.is_leaf


def test_bernoulli_multinomial_normal():
    numtorch.manual_seed(0)
    b = numtorch.bernoulli(numtorch.full((1000,), 0.3))
    assert set(b.unique().tolist()) <= {0.0, 1.0} and abs(b.mean().item() - 0.3) < 0.06
    m = numtorch.multinomial(numtorch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]), 1)
    assert m.tolist() == [[1], [0]]
    w = numtorch.multinomial(numtorch.tensor([1.0, 1.0, 1.0, 1.0]), 4)
    assert sorted(w.tolist()) == [0, 1, 2, 3]
    nrm = numtorch.normal(2.0, 0.5, size=(2000,))
    assert abs(nrm.mean().item() - 2.0) < 0.05 and nrm.dtype == numtorch.float32
    nm = numtorch.normal(numtorch.zeros(3, dtype=numtorch.float64), 1.0)
    assert nm.dtype == numtorch.float64 and nm.shape == (3,)


def test_size_keyword_and_tensor_arguments(torch):
    for name in ("zeros", "ones", "empty", "rand", "randn"):
        assert getattr(numtorch, name)(size=(2, 3)).shape == getattr(torch, name)(size=(2, 3)).shape
    x, tx = numtorch.arange(numtorch.tensor(3)), torch.arange(torch.tensor(3))
    assert x.dtype.name == str(tx.dtype).split(".")[1] and x.tolist() == tx.tolist()
