"""Every op's first-order ``backward_arrays`` equals its reference ``backward``.

A first-order pass (``create_graph=False``) runs ``backward_arrays`` where an op has one; a pass with
``create_graph=True`` runs ``backward`` on Tensors. Both compute the same derivative, so in float64 the
two gradients agree to rounding: each element is a short sum of products of O(1) terms, so a bound of
a few hundred eps times the magnitude covers any reordering. The numerical and PyTorch oracles for each
op live in the op-family tests; this file checks that the fast path is the reference.

Every Function class that defines ``backward_arrays`` must be reached by a case below (the last test
fails, naming it, when a new one is not).
"""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
from numtorch.autograd.function import Function

EPS = np.finfo(np.float64).eps
_SPARSE_IDX = [[2, 0, 2, 1, 0], [1, 3, 1, 0, 0]]  # a 3 x 4 sparse matrix's entries; (2, 1) twice

# (name, op on tensors, input shapes): inputs are float64 in [0.5, 2] (log and sqrt need positives)
CASES = [
    ("add", lambda a, b: a + b, [(3, 4), (4,)]),
    ("add_number", lambda a: a + 2.0, [(3, 4)]),
    ("sub", lambda a, b: a - b, [(3, 1), (3, 4)]),
    ("mul", lambda a, b: a * b, [(2, 3, 4), (3, 1)]),
    ("mul_number", lambda a: a * 3.0, [(3, 4)]),
    ("div", lambda a, b: a / b, [(3, 4), (1, 4)]),
    ("div_number", lambda a: 2.0 / a, [(3, 4)]),
    ("neg", lambda a: -a, [(3, 4)]),
    ("sqrt", lambda a: a.sqrt(), [(3, 4)]),
    ("exp", lambda a: a.exp(), [(3, 4)]),
    ("log", lambda a: a.log(), [(3, 4)]),
    ("tanh", lambda a: a.tanh(), [(3, 4)]),
    ("sigmoid", lambda a: a.sigmoid(), [(3, 4)]),
    ("relu", lambda a: (a - 1.2).relu(), [(3, 4)]),
    ("sum_all", lambda a: a.sum(), [(3, 4)]),
    ("sum_dim", lambda a: a.sum(1), [(3, 4)]),
    ("sum_keepdim", lambda a: a.sum(0, keepdim=True), [(3, 4)]),
    ("mean", lambda a: a.mean((0, 2)), [(2, 3, 4)]),
    ("matmul", lambda a, b: a @ b, [(3, 4), (4, 5)]),
    ("matmul_batched", lambda a, b: a @ b, [(2, 3, 4), (4, 5)]),
    ("matmul_vector", lambda a, b: a @ b, [(3, 4), (4,)]),
    ("reshape", lambda a: a.reshape(4, 3), [(3, 4)]),
    ("view", lambda a: a.view(12), [(3, 4)]),
    ("permute", lambda a: a.permute(2, 0, 1), [(2, 3, 4)]),
    ("expand", lambda a: a.expand(2, 3, 4), [(3, 1)]),
    ("sum_to_size", lambda a: a.sum_to_size(1, 4), [(3, 4)]),
    ("cat", lambda a, b: numtorch.cat([a, b], 1), [(3, 2), (3, 4)]),
    ("stack", lambda a, b: numtorch.stack([a, b], 1), [(3, 4), (3, 4)]),
    ("split", lambda a: a.split([1, 3], 1)[1] * a.split([1, 3], 1)[0], [(3, 4)]),
    ("split_tiled", lambda a: numtorch.cat([p * (i + 1) for i, p in enumerate(a.split(2, 0))], 0), [(4, 3)]),
    ("basic_index", lambda a: a[1:, ::2], [(3, 4)]),
    ("advanced_index", lambda a: a[[0, 2, 0]], [(3, 4)]),
    ("sparse_mm", lambda v, d: numtorch.sparse_coo_tensor(_SPARSE_IDX, v, (3, 4)) @ d, [(5,), (4, 2)]),
    ("dense_mm_sparse", lambda d, v: d @ numtorch.sparse_coo_tensor(_SPARSE_IDX, v, (3, 4)), [(2, 3), (5,)]),
    ("sparse_to_dense", lambda v: numtorch.sparse_coo_tensor(_SPARSE_IDX, v, (3, 4)).to_dense(), [(5,)]),
    ("gelu", lambda a: numtorch.nn.functional.gelu(a - 1.2), [(3, 4)]),
    ("layer_norm", lambda a, w, b: numtorch.nn.functional.layer_norm(a, (4,), w, b), [(3, 4), (4,), (4,)]),
    ("layer_norm_2d", lambda a: numtorch.nn.functional.layer_norm(a, (3, 4)), [(2, 3, 4)]),
    ("causal_attention", lambda q, k, v: numtorch.nn.functional.scaled_dot_product_attention(
        q, k, v, is_causal=True), [(2, 2, 5, 3)] * 3),
    ("linear", lambda x, w, b: numtorch.nn.functional.linear(x, w, b), [(3, 4), (5, 4), (5,)]),
    ("linear_3d", lambda x, w: numtorch.nn.functional.linear(x, w), [(2, 3, 4), (5, 4)]),
    ("cross_entropy", lambda a: numtorch.nn.functional.cross_entropy(a, numtorch.tensor([1, 0, 3])), [(3, 4)]),
    ("cross_entropy_none", lambda a: numtorch.nn.functional.cross_entropy(
        a, numtorch.tensor([1, 0, 3]), reduction="none"), [(3, 4)]),
    ("cross_entropy_options", lambda a: numtorch.nn.functional.cross_entropy(
        a, numtorch.tensor([1, -100, 3]), weight=numtorch.tensor([1.0, 2.0, 0.5, 1.0], dtype=numtorch.float64),
        label_smoothing=0.1), [(3, 4)]),
]


def _grads(fn, shapes, seed, create_graph):
    rng = np.random.default_rng(seed)
    xs = [numtorch.tensor(rng.uniform(0.5, 2.0, s), requires_grad=True) for s in shapes]
    out = fn(*xs)
    g = numtorch.tensor(rng.standard_normal(tuple(out.shape)))
    gs = numtorch.autograd.grad(out, xs, g, create_graph=create_graph)
    return [np.asarray(t.detach()._data) for t in gs], out


def _node_classes(out) -> set:
    seen, stack, classes = set(), [out.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen or not hasattr(node, "fn"):
            continue
        seen.add(id(node))
        classes.add(node.fn)
        stack.extend(n for n, _ in node.next_functions if n is not None)
    return classes


@pytest.mark.parametrize("name,fn,shapes", CASES, ids=[c[0] for c in CASES])
def test_backward_arrays_equals_backward(name, fn, shapes):
    fast, _ = _grads(fn, shapes, 0, create_graph=False)
    ref, _ = _grads(fn, shapes, 0, create_graph=True)
    for f, r in zip(fast, ref):
        assert f.shape == r.shape and f.dtype == r.dtype
        np.testing.assert_allclose(f, r, rtol=0, atol=256 * EPS * max(1.0, np.abs(r).max()))


def _with_backward_arrays(cls=Function) -> set:
    found = set()
    for sub in cls.__subclasses__():
        if sub.backward_arrays is not None:
            found.add(sub)
        found |= _with_backward_arrays(sub)
    return found


def test_every_backward_arrays_is_checked():
    reached = set()
    for _, fn, shapes in CASES:
        _, out = _grads(fn, shapes, 0, create_graph=False)
        reached |= _node_classes(out)
    missing = sorted(c.__qualname__ for c in _with_backward_arrays() - reached)
    assert not missing, f"add a case to tests/test_backward_arrays.py for: {missing}"


def test_sum_to_size_matches_pytorch(torch):
    x = np.arange(12.0).reshape(3, 4)
    for size in [(1, 4), (4,), (3, 1), (3, 4)]:
        np.testing.assert_array_equal(np.asarray(numtorch.tensor(x).sum_to_size(*size)._data),
                                      torch.tensor(x).sum_to_size(*size).numpy())
    with pytest.raises(RuntimeError, match=r"size \{\[2, 4\]\} is not expandable to size \{\[3, 4\]\}"):
        numtorch.tensor(x).sum_to_size(2, 4)
