"""Second order: Hessian-vector products and gradient penalties vs PyTorch, gradgradcheck per family."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
from helpers import assert_close, lib

FAMILIES = {
    "elementwise": lambda x, w: ((x * w).tanh() * x.sigmoid() + (x * x).exp() * 0.1 - (x / (x * x + 1))).sum(),
    "reduction": lambda x, w: (x * w).logsumexp(1).sum() + (x ** 2).mean(0).prod() + x.norm() + (x * w).amax(1).sum()
    + x.var(1).sum(),
    "matmul": lambda x, w: ((x @ w.T).relu() @ w).sin().sum(),
    "shape": lambda x, w: (x.T.reshape(-1)[:5] * w.flatten()[1:6]).cos().sum()
    + lib(x).cat([x, w], 0).permute(1, 0).unsqueeze(0).expand(2, -1, -1).pow(3).sum(),
    "indexing": lambda x, w: (x[[0, 2, 2]] * w[1:].repeat(2, 1)[:3] ** 2).sum()
    + x.gather(1, lib(x).tensor([[0, 0], [1, 2], [3, 3]])).exp().sum() + (x.masked_fill(x > 0.5, 0.0) ** 3).sum(),
    "softmax_like": lambda x, w: -((x * w).exp() / (x * w).exp().sum(1, keepdim=True)).log()[:, 0].sum(),
}


def _inputs(torch):
    rng = np.random.default_rng(0)
    a, b, v = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    nt = (numtorch.tensor(a, requires_grad=True), numtorch.tensor(b, requires_grad=True), numtorch.tensor(v))
    th = (torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True), torch.tensor(v))
    return nt, th


def _hvp(L, f, x, w, v):
    (g,) = L.autograd.grad(f(x, w), x, create_graph=True)
    return L.autograd.grad((g * v).sum(), [x, w], allow_unused=True)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_hessian_vector_product(family, torch):
    f = FAMILIES[family]
    (x, w, v), (tx, tw, tv) = _inputs(torch)
    hx, hw = _hvp(numtorch, f, x, w, v)
    thx, thw = _hvp(torch, f, tx, tw, tv)
    assert_close(hx, thx, atol=1e-8)
    if thw is None:
        assert hw is None or not hw.detach().numpy().any()
    else:
        assert_close(hw, thw, atol=1e-8)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_gradient_penalty(family, torch):
    f = FAMILIES[family]
    (x, w, _), (tx, tw, _) = _inputs(torch)
    for L, a, b in ((numtorch, x, w), (torch, tx, tw)):
        (g,) = L.autograd.grad(f(a, b), a, create_graph=True)
        ((g * g).sum() + f(a, b)).backward()  # ||d out / d x||^2 plus the loss itself
    assert_close(x.grad, tx.grad, atol=1e-8)
    assert_close(w.grad, tw.grad, atol=1e-8)


@pytest.mark.parametrize("fn", [
    lambda a: (a * a.sigmoid()).sum(1), lambda a: a.abs().sqrt(), lambda a: a.clamp(-0.5, 0.5) * a,
    lambda a: a.max(1).values * a.min(0).values.sum(), lambda a: a.cumprod(1), lambda a: a.std(0),
    lambda a: a.T @ a, lambda a: a[:, [1, 1, 0]].flip(0).roll(1, 1), lambda a: lib(a).where(a > 0, a * a, -a),
    lambda a: a.pow(a.abs() + 1), lambda a: a.atan2(a.exp()), lambda a: a.log1p().maximum(a),
])
def test_gradgradcheck_family(fn):
    a = numtorch.tensor(np.random.default_rng(1).uniform(0.1, 1.5, (3, 3)), requires_grad=True)
    assert numtorch.autograd.gradgradcheck(fn, (a,))


def test_hessian_closed_form():
    x = numtorch.tensor([1.0, 2.0], dtype=numtorch.float64, requires_grad=True)
    (g,) = numtorch.autograd.grad((x[0] ** 2 * x[1] ** 3), x, create_graph=True)
    rows = [numtorch.autograd.grad(g[i], x, retain_graph=True)[0].tolist() for i in range(2)]
    # f = x0^2 x1^3: H = [[2 x1^3, 6 x0 x1^2], [6 x0 x1^2, 6 x0^2 x1]]
    assert_close(np.array(rows), np.array([[16.0, 24.0], [24.0, 12.0]]))
