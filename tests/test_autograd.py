"""Autograd: backward options, autograd.grad, grad modes, hooks, custom Functions, deep graphs."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
from helpers import assert_close


def _x(values=(1.0, 2.0, 3.0)):
    return numtorch.tensor(list(values), dtype=numtorch.float64, requires_grad=True)


def test_backward_with_gradient_and_accumulation():
    x = _x()
    y = x * x
    y.backward(numtorch.tensor([1.0, 0.5, 0.0], dtype=numtorch.float64))
    assert x.grad.tolist() == [2.0, 2.0, 0.0]
    (x * 3).sum().backward()  # accumulates
    assert x.grad.tolist() == [5.0, 5.0, 3.0]


def test_backward_non_scalar_needs_gradient():
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (_x() * 2).backward()


def test_backward_does_not_require_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        numtorch.ones(2).sum().backward()


def test_second_backward_raises_and_retain_graph(torch):
    x = _x()
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert_close(x.grad, 2 * (np.exp([1.0, 2.0, 3.0]) * (1 + np.array([1.0, 2.0, 3.0]))))
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()
    tx = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    ty = (tx.exp() * tx).sum()
    ty.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        ty.backward()


def test_backward_inputs_argument():
    a, b = _x(), _x((4.0, 5.0, 6.0))
    (a * b).sum().backward(inputs=[a])
    assert a.grad.tolist() == [4.0, 5.0, 6.0] and b.grad is None


def test_autograd_grad_allow_unused_and_create_graph():
    a, b, c = _x(), _x(), _x()
    ga, gb = numtorch.autograd.grad((a * b).sum(), [a, b])
    assert ga.tolist() == b.tolist() and gb.tolist() == a.tolist()
    assert a.grad is None  # grad() leaves .grad alone
    with pytest.raises(RuntimeError, match="appears to not have been used"):
        numtorch.autograd.grad((a * 2).sum(), [a, c])
    g = numtorch.autograd.grad((a * 2).sum(), [a, c], allow_unused=True)
    assert g[1] is None
    g = numtorch.autograd.grad((a * 2).sum(), [a, c], allow_unused=True, materialize_grads=True)
    assert g[1].tolist() == [0.0, 0.0, 0.0]
    (g1,) = numtorch.autograd.grad((a ** 3).sum(), a, create_graph=True)
    assert g1.requires_grad
    (g2,) = numtorch.autograd.grad(g1.sum(), a)
    assert_close(g2, 6 * a.detach().numpy())


def test_grad_of_intermediate_tensor():
    x = _x()
    h = x * 2
    y = (h * h).sum()
    (gh,) = numtorch.autograd.grad(y, h)
    assert_close(gh, 2 * h.detach().numpy())


def test_grad_modes_as_contexts_and_decorators():
    x = _x()
    with numtorch.no_grad():
        assert not (x * 2).requires_grad
        assert not numtorch.is_grad_enabled()
        with numtorch.enable_grad():
            assert (x * 2).requires_grad
    assert numtorch.is_grad_enabled()
    with numtorch.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    with numtorch.inference_mode():
        assert not (x * 2).requires_grad
    with numtorch.inference_mode(False):
        assert (x * 2).requires_grad

    @numtorch.no_grad()
    def f(t):
        return t * 2

    @numtorch.no_grad
    def f2(t):
        return t * 2

    @numtorch.enable_grad()
    def g(t):
        return t * 2

    @numtorch.inference_mode()
    def h(t):
        return t * 2

    assert not f(x).requires_grad and not f2(x).requires_grad and not h(x).requires_grad
    with numtorch.no_grad():
        assert g(x).requires_grad
    assert numtorch.is_grad_enabled()
    numtorch.set_grad_enabled(False)
    assert not numtorch.is_grad_enabled()
    numtorch.set_grad_enabled(True)
    assert numtorch.is_grad_enabled()


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError):
        with numtorch.no_grad():
            raise ValueError
    assert numtorch.is_grad_enabled()


def test_hooks_leaf_and_non_leaf(torch):
    x = _x()
    seen = []
    hdl = x.register_hook(lambda g: seen.append(g.tolist()) or g * 2)
    (x * 3).sum().backward()
    assert seen == [[3.0, 3.0, 3.0]] and x.grad.tolist() == [6.0, 6.0, 6.0]
    hdl.remove()
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0, 3.0]
    x.grad = None
    h = x * 2
    h.register_hook(lambda g: g * 10)
    (h * h).sum().backward()
    assert_close(x.grad, 2 * 10 * 2 * h.detach().numpy())
    with pytest.raises(RuntimeError):
        numtorch.ones(2).register_hook(lambda g: g)


def test_retain_grad():
    x = _x()
    h = x * 2
    h.retain_grad()
    assert h.retains_grad and not x.retains_grad
    (h * h).sum().backward()
    assert_close(h.grad, 2 * h.detach().numpy())
    q = x * 3
    (q * q).sum().backward()
    assert q.grad is None


def test_diamond_and_reuse(torch):
    x, tx = _x(), torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    for t in (x, tx):
        a = t * 2
        b = t + 1
        (a * b + a.exp() * b.sin()).sum().backward()
    assert_close(x.grad, tx.grad)


class _Square(numtorch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return gy * 2 * x


class _MulConst(numtorch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y, k):
        ctx.k = k
        ctx.save_for_backward(x, y)
        return x * y * k

    @staticmethod
    def backward(ctx, gy):
        x, y = ctx.saved_tensors
        assert ctx.needs_input_grad == (True, False, False)
        return gy * y * ctx.k, None, None


class _SortWithIdx(numtorch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        idx = x.argsort()
        ctx.mark_non_differentiable(idx)
        ctx.save_for_backward(idx)
        return x[idx], idx

    @staticmethod
    def backward(ctx, gv, gi):
        idx, = ctx.saved_tensors
        g = numtorch.zeros_like(gv)
        g[idx] = gv
        return g


def test_custom_function():
    x = _x()
    y = _Square.apply(x)
    assert y.grad_fn is not None and y.requires_grad
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 4.0, 6.0]
    assert numtorch.autograd.gradcheck(_Square.apply, (_x((0.3, -1.2, 2.0)),))
    a, b = _x(), numtorch.tensor([2.0, 2.0, 2.0], dtype=numtorch.float64)
    _MulConst.apply(a, b, 3.0).sum().backward()
    assert a.grad.tolist() == [6.0, 6.0, 6.0]
    v, i = _SortWithIdx.apply(_x((3.0, 1.0, 2.0)))
    assert v.requires_grad and not i.requires_grad
    with numtorch.no_grad():
        assert not _Square.apply(x).requires_grad


def test_custom_function_double_backward():
    x = _x()
    (g,) = numtorch.autograd.grad(_Square.apply(x).sum(), x, create_graph=True)
    (gg,) = numtorch.autograd.grad(g.sum(), x)
    assert gg.tolist() == [2.0, 2.0, 2.0]


def test_deep_chain_no_recursion_error():
    x = numtorch.tensor([1.0], dtype=numtorch.float64, requires_grad=True)
    y = x
    for _ in range(100_000):  # the cheapest recorded op: the test is about depth, not arithmetic
        y = -y
    y.sum().backward()
    assert x.grad.item() == 1.0


def test_graph_freed_after_backward():
    import gc
    import weakref
    x = _x()
    y = x.exp()
    node = y.grad_fn
    y.sum().backward()
    assert node.freed and not node.saved
    z = x * 2
    ref = weakref.ref(z.grad_fn)
    z.sum().backward()
    del z
    gc.collect()
    assert ref() is None


def test_grad_fn_introspection():
    x = _x()
    y = (x * 2).sum()
    assert y.grad_fn.name() == "SumBackward0"
    nxt = y.grad_fn.next_functions
    assert nxt[0][0].name() == "MulBackward0"
    assert "AccumulateGrad" in nxt[0][0].next_functions[0][0].name()


def test_integer_ops_do_not_require_grad():
    x = _x()
    assert not (x > 1).requires_grad
    assert not x.argmax().requires_grad
    assert not x.detach().long().requires_grad


def test_zero_grad_pattern_and_grad_dtype():
    w = numtorch.randn(3, requires_grad=True)
    for _ in range(2):
        w.grad = None
        (w * w).sum().backward()
    assert_close(w.grad, 2 * w.detach().numpy())
    assert w.grad.dtype == numtorch.float32 and not w.grad.requires_grad


def test_broadcast_gradients_sum_back(torch):
    a = numtorch.randn(3, 1, requires_grad=True)
    b = numtorch.randn(4, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1) and b.grad.shape == (4,)
    assert_close(a.grad, np.full((3, 1), b.detach().numpy().sum()), atol=1e-5)


def test_autograd_functional(torch):
    F = numtorch.autograd.functional

    def f(x):
        return (x ** 3).sum()
    x = numtorch.tensor([1.0, 2.0], dtype=numtorch.float64)
    H = F.hessian(f, x)
    assert_close(H, np.diag([6.0, 12.0]))
    J = F.jacobian(lambda t: t * t, x)
    assert_close(J, np.diag([2.0, 4.0]))
    _, hv = F.hvp(f, x, numtorch.tensor([1.0, 1.0], dtype=numtorch.float64))
    assert_close(hv, np.array([6.0, 12.0]))


def test_a_training_step_leaves_no_cyclic_garbage():
    """Forward, backward and an optimizer step free everything by reference counting: a cycle
    (a node holding its output, a pass holding its own bound method) would wait for the collector
    and slow every small step."""
    import gc
    from numtorch import nn
    from numtorch.nn import functional as F
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(2 * 3 * 3, 3))
    opt = numtorch.optim.Adam(m.parameters())
    x, y = numtorch.randn(4, 1, 8, 8), numtorch.tensor([0, 1, 2, 0])
    w = numtorch.randn(3, 3, requires_grad=True)

    def step():
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        opt.step()
        (w @ w + 1).relu().sum().backward()
    step()
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(5):
            step()
        assert gc.collect() == 0
    finally:
        if was:
            gc.enable()
