"""``numtorch.autograd.functional``: jacobian, hessian, vjp, hvp, built on ``autograd.grad``."""
from __future__ import annotations

import numtorch.creation as _creation
from numtorch.autograd.engine import grad


def _tup(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _prepare(inputs):
    return tuple(t.detach().requires_grad_(True) for t in _tup(inputs))


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J)."""
    xs = _prepare(inputs)
    out = func(*xs)
    gs = grad(out, xs, v, create_graph=create_graph, allow_unused=True, materialize_grads=True)
    res = gs if isinstance(inputs, (tuple, list)) else gs[0]
    return (out if create_graph else out.detach()), res


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """The Jacobian d func(inputs) / d inputs, one backward per output element."""
    xs = _prepare(inputs)
    out = func(*xs)
    flat = out.reshape(-1)
    rows = [[] for _ in xs]
    for k in range(flat.shape[0]):
        gs = grad(flat[k], xs, retain_graph=True, create_graph=create_graph, allow_unused=True,
                  materialize_grads=True)
        for r, g in zip(rows, gs):
            r.append(g.reshape(-1))
    from numtorch.ops.shape import stack
    jacs = tuple((stack(r) if r else _creation.zeros(0)).reshape(tuple(out.shape) + tuple(x.shape))
                 for r, x in zip(rows, xs))
    return jacs if isinstance(inputs, (tuple, list)) else jacs[0]


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a scalar function: the Jacobian of its gradient."""
    def grad_fn(*xs):
        out = func(*xs)
        gs = grad(out, xs, create_graph=True, allow_unused=True, materialize_grads=True)
        return gs[0] if len(gs) == 1 else gs
    if isinstance(inputs, (tuple, list)) and len(inputs) > 1:
        raise NotImplementedError("hessian: only a single input tensor is supported")
    x = _tup(inputs)[0]
    return jacobian(grad_fn, x, create_graph=create_graph)


def hvp(func, inputs, v, create_graph=False, strict=False):
    """(func(inputs), H v): a Hessian-vector product by double backward."""
    xs = _prepare(inputs)
    out = func(*xs)
    gs = grad(out, xs, create_graph=True)
    dot = sum((g * vv).sum() for g, vv in zip(gs, _tup(v)))
    hv = grad(dot, xs, create_graph=create_graph, allow_unused=True, materialize_grads=True)
    return out.detach(), (hv if isinstance(inputs, (tuple, list)) else hv[0])


vhp = hvp
