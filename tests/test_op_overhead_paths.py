"""The lean paths of the per-op machinery: apply's recorded path, saved arrays, op methods, array_sum.

Each test checks that the path is the one taken and that it gives what the general path (or
PyTorch, or NumPy's own functions) gives, including the errors.
"""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
from numtorch.autograd.function import Node
from numtorch.ops._base import array_sum


def _tiny(lib, seed=0):
    rng = np.random.default_rng(seed)
    x = lib.tensor(rng.standard_normal((10, 10)), dtype=lib.float64)
    w = lib.tensor(rng.standard_normal((10, 10)), dtype=lib.float64, requires_grad=True)
    b = lib.tensor(rng.standard_normal(10), dtype=lib.float64, requires_grad=True)
    return x, w, b


def test_tiny_graph_matches_pytorch_over_accumulating_steps(torch):
    """W3 (relu(x @ w + b).sum().backward(), three times: the gradients accumulate) against PyTorch."""
    x, w, b = _tiny(numtorch)
    tx, tw, tb = _tiny(torch)
    for _ in range(3):
        (x @ w + b).relu().sum().backward()
        (tx @ tw + tb).relu().sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_recorded_node_has_the_fields_of_node_init(torch):
    """apply's recorded path builds the Node without __init__: the same fields, PyTorch's edges."""
    x, w, b = _tiny(numtorch)
    y = x @ w
    node = y.grad_fn
    ref = Node(node.fn, node.needs_input_grad, node.next)
    for field in ("fn", "needs_input_grad", "next", "hooks", "out_meta", "non_differentiable",
                  "post_hooks"):
        assert getattr(node, field) == getattr(ref, field), field
    assert node.needs_input_grad == (False, True)
    assert node.next[0] is None and node.next[1] == (w, 0)
    z = y + b
    assert z.grad_fn.next == ((node, 0), (b, 0)) and z.grad_fn.needs_input_grad == (True, True)
    tx, tw, _ = _tiny(torch)
    tnames = [None if f is None else type(f).__name__ for f, _ in (tx @ tw).grad_fn.next_functions]
    names = [None if f is None else type(f).__name__.strip("_") for f, _ in node.next_functions]
    assert names == tnames == [None, "AccumulateGrad"]


def test_saved_arrays_detect_in_place_changes_of_inputs_and_outputs(torch):
    """saved_arrays (every first-order backward) raises as saved_tensors does, as PyTorch does."""
    for lib in (numtorch, torch):
        x, w, _ = _tiny(lib)
        y = x @ w
        x.mul_(2)              # the input matmul saved for w's gradient changes
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()
        x, w, _ = _tiny(lib)
        h = (x @ w).relu()     # relu saves its output
        h.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            h.sum().backward()


def test_saved_arrays_equal_saved_tensors():
    x, w, b = _tiny(numtorch)
    h = (x @ w).relu()
    node = h.grad_fn
    assert all(a is t._data for a, t in zip(node.saved_arrays, node.saved_tensors))
    mm = h.grad_fn.next[0][0]
    # x needs no gradient, so matmul keeps x (for dW = x^T g) and not W (dx's operand), as PyTorch
    (a0, a1), (t0, t1) = mm.saved_arrays, mm.saved_tensors
    assert a0 is x._data and t0 is x and a1 is None and t1 is None


def test_op_methods_are_class_attributes():
    """Tensor has no __getattr__ (CPython then specializes its attribute reads); the op methods,
    those of numtorch.linalg included, are class attributes giving the ops' results."""
    assert "__getattr__" not in vars(numtorch.Tensor)
    x = numtorch.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=numtorch.float64)
    for name in ("exp", "softmax", "cumsum", "det", "inverse", "quantile"):
        assert name in vars(numtorch.Tensor), name
    np.testing.assert_allclose(x.exp().numpy(), np.exp(x.numpy()))
    np.testing.assert_allclose(x.cumsum(0).numpy(), np.cumsum(x.numpy(), 0))
    assert abs(x.det().item() - 5.0) < 1e-12
    np.testing.assert_allclose(x.inverse().numpy(), np.linalg.inv(x.numpy()), rtol=1e-12)
    assert "exp" in dir(x)
    with pytest.raises(AttributeError, match="'Tensor' object has no attribute 'no_such_method'"):
        x.no_such_method()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.bool_, np.float16])
def test_array_sum_equals_ndarray_sum(dtype):
    """array_sum (np.add.reduce, skipping ndarray.sum's Python wrapper) gives ndarray.sum's values."""
    a = (np.random.default_rng(1).standard_normal((3, 4, 5)) * 3).astype(dtype)
    for axis, keepdims in ((None, False), ((0,), False), ((0, 2), True), (1, False), ((), False)):
        expect = a.sum(axis=axis, keepdims=keepdims)
        got = array_sum(a, axis, keepdims=keepdims)
        assert np.asarray(got).dtype == np.asarray(expect).dtype
        np.testing.assert_array_equal(got, expect)
    np.testing.assert_array_equal(array_sum(a, (0, 1), np.float64), a.sum(axis=(0, 1), dtype=np.float64))


def test_cross_entropy_first_order_backward_and_bounds(torch):
    """The first-order cross-entropy backward (saved arrays) and the CPU target bounds check."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 4))
    t = np.array([0, 3, 1, 2, 3, 0])
    a = numtorch.tensor(x, requires_grad=True)
    numtorch.nn.functional.cross_entropy(a, numtorch.tensor(t)).backward()
    ta = torch.tensor(x, requires_grad=True)
    torch.nn.functional.cross_entropy(ta, torch.tensor(t)).backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-12, atol=1e-15)
    with pytest.raises(IndexError, match="Target 4 is out of bounds"):
        numtorch.nn.functional.cross_entropy(a, numtorch.tensor(np.array([0, 4, 1, 2, 3, 0])))
    with pytest.raises(IndexError, match="Target -1 is out of bounds"):
        numtorch.nn.functional.cross_entropy(a, numtorch.tensor(np.array([0, -1, 1, 2, 3, 0])))


def test_sgd_plain_step_is_p_minus_lr_grad(torch):
    """Plain SGD (no momentum, no weight decay) against PyTorch, and the version bump of the update."""
    rng = np.random.default_rng(3)
    w0, g = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    p = numtorch.tensor(w0, requires_grad=True)
    tp = torch.tensor(w0, requires_grad=True)
    p.grad, tp.grad = numtorch.tensor(g), torch.tensor(g)
    v = p._version
    numtorch.optim.SGD([p], lr=0.1).step()
    torch.optim.SGD([tp], lr=0.1).step()
    np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-15)
    assert p._version == v + 1
