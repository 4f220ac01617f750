"""Tensor API: attributes, conversions, copies, repr (PyTorch's text), methods and operators."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch

REPR_CASES = [
    lambda L: L.tensor([1.0, 2.0, 3.0]), lambda L: L.tensor([[1.0, 2.5], [3.0, 4.0]]),
    lambda L: L.tensor([1, 2, 3]), lambda L: L.tensor([True, False]), lambda L: L.tensor(3.5),
    lambda L: L.tensor(3), lambda L: L.tensor(True), lambda L: L.tensor([0.1, 123.456, 1e-5]),
    lambda L: L.tensor([1e10, 1.0]), lambda L: L.tensor([1.0, 2.0], dtype=L.float64),
    lambda L: L.tensor([1.0, 2.0], requires_grad=True), lambda L: L.tensor([1.0, 2.0], requires_grad=True) * 2,
    lambda L: L.zeros(0), lambda L: L.zeros(2, 0), lambda L: L.tensor([float("nan"), float("inf"), 1.5]),
    lambda L: L.tensor([-1.0, 2.0]), lambda L: L.tensor([1, 2], dtype=L.int32),
    lambda L: L.tensor([1.5, 2], dtype=L.float16), lambda L: L.arange(2000.0), lambda L: L.arange(1500),
    lambda L: L.arange(12.0).reshape(3, 4) / 7, lambda L: L.tensor([[[1, -2], [3, 4]], [[5, 6], [7, 8]]]),
    lambda L: L.tensor([0.0001, 0.5]), lambda L: L.tensor([123456.0, 0.5]), lambda L: L.tensor([1e-20, 1.0]),
    lambda L: L.arange(30.0).reshape(3, 10) * 1.123456, lambda L: L.tensor([[1, 2], [3, 4]], dtype=L.uint8),
    lambda L: L.tensor([-0.0, 0.0]), lambda L: L.tensor([100.0, -1000.0]), lambda L: L.arange(2400.0).reshape(40, 60),
    lambda L: L.tensor([1.0, 2.0]).sum(), lambda L: L.arange(24).reshape(2, 3, 4), lambda L: L.ones(20) / 3,
    lambda L: L.tensor([1.0, 2.0], dtype=L.float64, requires_grad=True),
    lambda L: L.tensor([[1, 2], [3, 40000]], dtype=L.int32), lambda L: (L.arange(3000.0) - 1500).reshape(30, 100) / 7,
    lambda L: L.tensor([1e-8, -2e-9]), lambda L: L.tensor([float("nan"), 0.5]), lambda L: L.tensor(-0.25),
    lambda L: L.tensor([[True, False], [True, True]]), lambda L: L.zeros(2, 0, 3),
    lambda L: L.tensor([1.5, -float("inf")]), lambda L: L.arange(10).reshape(2, 5) - 5,
    lambda L: L.tensor([1e5, 1e-5]), lambda L: L.tensor([12345.678, 1.5]), lambda L: L.arange(1200).reshape(2, 600),
    lambda L: L.tensor([[[1.5]]]), lambda L: L.tensor([3], dtype=L.uint8), lambda L: L.ones(4, 4, 4, 4) / 3,
]


@pytest.mark.parametrize("case", range(len(REPR_CASES)))
def test_repr_matches_pytorch(case, torch):
    make = REPR_CASES[case]
    assert repr(make(numtorch)) == repr(make(torch)).replace("torch.", "numtorch.")


def test_attributes():
    x = numtorch.zeros(2, 3, dtype=numtorch.float64)
    assert x.shape == (2, 3) and x.size() == (2, 3) and x.size(1) == 3 and x.size(-1) == 3
    assert repr(x.shape) == "numtorch.Size([2, 3])"
    assert x.numel() == 6 and x.dim() == 2 and x.ndim == 2 and x.element_size() == 8
    assert x.dtype == numtorch.float64 and str(x.device) == "cpu" and not x.is_cuda
    assert x.is_leaf and not x.requires_grad and x.grad is None and x.grad_fn is None
    assert x.is_contiguous() and not x.T.is_contiguous()
    assert x.stride() == (3, 1) and x.T.stride() == (1, 3)
    assert x.is_floating_point() and not numtorch.tensor([1]).is_floating_point()
    assert len(x) == 2
    with pytest.raises(TypeError):
        len(numtorch.tensor(1.0))


def test_conversions(torch):
    x = numtorch.tensor([[1.5, 2.0]])
    a = x.numpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    a[0, 0] = 9.0  # numpy() shares memory, as in PyTorch
    assert x[0, 0].item() == 9.0
    assert x.tolist() == [[9.0, 2.0]]
    assert np.asarray(x).shape == (1, 2)
    assert np.array(x, dtype=np.float64).dtype == np.float64
    s = numtorch.tensor([2.5])
    assert s.item() == 2.5 and isinstance(s.item(), float)
    assert float(s) == 2.5 and int(s) == 2 and bool(s) is True
    assert isinstance(numtorch.tensor(3).item(), int)
    assert [1, 2, 3][numtorch.tensor(1)] == 2  # __index__
    with pytest.raises(RuntimeError, match="2 elements"):
        numtorch.tensor([1.0, 2.0]).item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(numtorch.tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="requires grad"):
        numtorch.ones(2, requires_grad=True).numpy()
    assert f"{numtorch.tensor(1.23456):.2f}" == "1.23"


def test_clone_detach_requires_grad():
    x = numtorch.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert c.requires_grad and c.grad_fn is not None
    c.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]
    d = x.detach()
    assert not d.requires_grad and d.is_leaf
    d[0] = 5.0  # shares memory
    assert x[0].item() == 5.0
    y = numtorch.zeros(2)
    assert y.requires_grad_() is y and y.requires_grad
    y.requires_grad_(False)
    assert not y.requires_grad
    z = x * 2
    with pytest.raises(RuntimeError, match="leaf"):
        z.requires_grad_(False)
    assert x.data.requires_grad is False and x.data.tolist() == x.tolist()
    w = numtorch.zeros(2)
    w.data = numtorch.ones(2)
    assert w.tolist() == [1.0, 1.0]
    z.detach_()
    assert z.grad_fn is None and not z.requires_grad


def test_to_and_contiguous():
    x = numtorch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.to("cpu") is x
    assert x.to(numtorch.float32) is x
    assert x.to(numtorch.float32, copy=True) is not x
    assert x.to(dtype=numtorch.float64).dtype == numtorch.float64
    assert x.to(numtorch.zeros(1, dtype=numtorch.int64)).dtype == numtorch.int64
    assert x.to("cpu", numtorch.float16).dtype == numtorch.float16
    assert x.cpu() is x
    assert x.contiguous() is x
    t = x.T.contiguous()
    assert t.is_contiguous() and t.tolist() == [[1.0, 3.0], [2.0, 4.0]]


def test_cuda_unavailable_raises_clear_error():
    from numtorch._backend import cuda_is_available
    if cuda_is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(RuntimeError, match="CUDA|cuda|CuPy"):
        numtorch.ones(2).to("cuda")
    with pytest.raises(RuntimeError, match="CUDA|cuda|CuPy"):
        numtorch.ones(2).cuda()


def test_methods_dispatch_and_dir():
    x = numtorch.tensor([[1.0, -2.0], [3.0, 4.0]])
    assert x.abs().sum().item() == 10.0
    assert x.sum(dim=1).tolist() == [-1.0, 7.0]
    assert x.max().item() == 4.0
    assert "exp" in dir(x) and "sum" in dir(x)
    with pytest.raises(AttributeError):
        x.no_such_method()
    assert x.where(x > 0, 0.0).tolist() == [[1.0, 0.0], [3.0, 4.0]]


def test_iteration_and_unbind():
    x = numtorch.arange(6).reshape(3, 2)
    rows = list(x)
    assert len(rows) == 3 and rows[1].tolist() == [2, 3]
    with pytest.raises(TypeError):
        iter(numtorch.tensor(1.0))


def test_new_constructors():
    x = numtorch.zeros(2, dtype=numtorch.float64)
    assert x.new_zeros(3).dtype == numtorch.float64 and x.new_zeros(3).shape == (3,)
    assert x.new_ones((2, 2)).tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert x.new_full((2,), 7.0).tolist() == [7.0, 7.0]
    assert x.new_tensor([1, 2]).dtype == numtorch.float64
    assert x.new_empty(4).shape == (4,)


def test_tensor_constructor_class():
    assert numtorch.Tensor([1, 2]).dtype == numtorch.float32
    assert numtorch.Tensor(2, 3).shape == (2, 3)
    assert isinstance(numtorch.ones(1), numtorch.Tensor)
    assert numtorch.is_tensor(numtorch.ones(1)) and not numtorch.is_tensor([1])


def test_hash_and_eq_are_elementwise():
    x = numtorch.tensor([1.0, 2.0])
    assert (x == x).tolist() == [True, True]
    assert len({x, x}) == 1


def test_pickle_refused():
    import pickle
    with pytest.raises(TypeError):
        pickle.dumps(numtorch.ones(2))


def test_out_argument(torch):
    for name, args in (("add", (numtorch.ones(2), 2)), ("sub", (numtorch.ones(2), 3)), ("mul", (numtorch.ones(2), 4)),
                       ("div", (numtorch.ones(2), 4))):
        o = numtorch.empty(2)
        assert getattr(numtorch, name)(*args, out=o) is o
        to = torch.empty(2)
        getattr(torch, name)(*[torch.ones(2) if isinstance(a, numtorch.Tensor) else a for a in args], out=to)
        assert o.tolist() == to.tolist()
    o = numtorch.empty(0)
    numtorch.cat([numtorch.ones(2), numtorch.zeros(1)], out=o)
    assert o.tolist() == [1.0, 1.0, 0.0]
    s = numtorch.empty(2, 2)
    numtorch.stack([numtorch.ones(2), numtorch.zeros(2)], out=s)
    assert s.tolist() == [[1.0, 1.0], [0.0, 0.0]]
    with pytest.raises(RuntimeError, match="out=... arguments don't support automatic differentiation"):
        numtorch.mul(numtorch.ones(2, requires_grad=True), 2, out=numtorch.empty(2))
