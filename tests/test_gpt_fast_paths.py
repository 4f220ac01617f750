"""The CPU fast paths of the GPT step against PyTorch and the reference paths: causal
``scaled_dot_product_attention`` as one op (``CausalAttention``) on nanoGPT's split / view /
transpose head views, blocked float32 GELU (block edges included), Linear on (B, T, C) inputs as one
2-D GEMM, layer norm."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
import numtorch.nn.functional as F
import ulps
from helpers import assert_close, check
from numtorch.ops import activation
from numtorch.ops.attention import CausalAttention

torch = pytest.importorskip("torch")


def _heads(lib, qkv, n_head):
    """nanoGPT's attention inputs: split the (B, T, 3C) projection, view heads, (B, H, T, D)."""
    B, T, W = qkv.shape
    C = W // 3
    return [t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in qkv.split(C, 2)]


def _attend(qkv, n_head, reference=False):
    """Causal self-attention of packed projections, merged back to (B, T, C), in either library.

    ``reference``: softmax(q k^T / sqrt(D) masked) v spelled out (numtorch's composite path, and for
    PyTorch a formula with a second derivative, which its fused CPU kernel lacks)."""
    lib = numtorch if isinstance(qkv, numtorch.Tensor) else torch
    q, k, v = _heads(lib, qkv, n_head)
    B, H, T, D = q.shape
    if reference:
        s = (q @ k.transpose(-2, -1)) / D ** 0.5
        s = s.masked_fill(~lib.ones(T, T, dtype=lib.bool).tril(), float("-inf"))
        y = s.softmax(-1) @ v
    else:
        y = lib.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=True)
    return y.transpose(1, 2).contiguous().view(B, T, H * D)


@pytest.mark.parametrize("shape,n_head", [((2, 4, 3 * 4), 2), ((1, 1, 3 * 4), 1), ((2, 3, 3 * 6), 3)])
def test_causal_attention_matches_torch_and_gradcheck(shape, n_head):
    check(lambda qkv: _attend(qkv, n_head), shape)


def test_causal_attention_is_one_fused_op_on_the_cpu():
    q, k, v = _heads(numtorch, numtorch.randn(2, 4, 12, requires_grad=True), 2)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert y.grad_fn.fn is CausalAttention
    assert y.transpose(1, 2).is_contiguous()   # heads merge back by a view, as PyTorch's CPU kernel's output
    assert F.scaled_dot_product_attention(q, k, v).grad_fn.fn is not CausalAttention            # not causal
    assert F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=0.5).grad_fn.fn is not CausalAttention


def test_causal_attention_float32_matches_reference_path_and_torch():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 16, 3 * 32)).astype(np.float32)
    g = rng.standard_normal((4, 16, 32)).astype(np.float32)
    x, xr, tx = (lib.tensor(a, requires_grad=True) for lib in (numtorch, numtorch, torch))
    y, yr, ty = _attend(x, 4), _attend(xr, 4, reference=True), _attend(tx, 4)
    for t, lib in ((y, numtorch), (yr, numtorch), (ty, torch)):
        t.backward(lib.tensor(g))
    assert y.dtype == numtorch.float32 and x.grad.dtype == numtorch.float32
    # float32 eps 6e-8 times sums of 16 keys and 32 dims of O(1) terms: 1e-5 absolute
    assert_close(y, yr, atol=1e-5, rtol=1e-4)
    assert_close(x.grad, xr.grad, atol=1e-5, rtol=1e-4)
    assert_close(y, ty, atol=1e-5, rtol=1e-4)
    assert_close(x.grad, tx.grad, atol=1e-5, rtol=1e-4)


def test_causal_attention_gradients_come_back_packed_without_copies():
    """q, k, v as views of one projection: their gradients are views of one buffer, which the split's
    backward passes on as the projection's gradient (a view, no copy)."""
    from numtorch.ops.shape import _tiled
    qkv = numtorch.randn(2, 3, 12, requires_grad=True)
    seen = []
    h = qkv * 1.0
    h.register_hook(lambda g: seen.append(g))
    y = _attend(h, 2)
    y.backward(numtorch.ones_like(y))
    ref = numtorch.tensor(qkv.detach().numpy(), requires_grad=True)
    _attend(ref, 2, reference=True).sum().backward()
    assert_close(qkv.grad, ref.grad, atol=1e-6, rtol=1e-5)
    assert seen[0]._data.base is not None   # a view of the buffer the attention's backward wrote
    a = np.arange(12.0).reshape(2, 6)
    assert _tiled([a[:, :2], a[:, 2:6]], (2, 6), 1) is not None
    assert _tiled([a[:, 2:6], a[:, :2]], (2, 6), 1) is None   # out of order: joined by a copy
    assert _tiled([a[:, :2], a[:, 3:6]], (2, 5), 1) is None   # a gap


@pytest.mark.parametrize("case", ["same", "separate", "non_contiguous"])
def test_causal_attention_unpacked_inputs_match_torch(case):
    """q, k, v that are one tensor, three tensors, or strided views of other shapes."""
    rng = np.random.default_rng(5)
    arrs = [rng.standard_normal((2, 3, 5, 4)) for _ in range(3)]
    g = rng.standard_normal((2, 3, 5, 4))
    res = []
    for lib in (numtorch, torch):
        if case == "same":
            x = lib.tensor(arrs[0], requires_grad=True)
            leaves, (q, k, v) = [x], (x, x, x)
        elif case == "separate":
            leaves = [lib.tensor(a, requires_grad=True) for a in arrs]
            q, k, v = leaves
        else:
            leaves = [lib.tensor(a.transpose(0, 2, 1, 3).copy(), requires_grad=True) for a in arrs]
            q, k, v = (t.transpose(1, 2) for t in leaves)
        y = lib.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        y.backward(lib.tensor(g))
        res.append([y] + [t.grad for t in leaves])
    assert res[0][0].grad_fn.fn is CausalAttention
    for a, b in zip(*res):
        assert_close(a, b, atol=1e-10, rtol=1e-8)


@pytest.mark.parametrize("size,unshifted", [(1.0, True), (300.0, False)])
def test_causal_attention_softmax_shift_only_when_scores_are_large(size, unshifted):
    """Small scores skip the row-max shift (e^score cannot overflow: Cauchy-Schwarz bounds them);
    large scores take the shifted softmax.  Both match PyTorch."""
    rng = np.random.default_rng(7)
    a = (rng.standard_normal((2, 6, 3 * 8)) * size).astype(np.float32)
    x, tx = numtorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    q, k, v = _heads(numtorch, x, 2)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert y.grad_fn.unshifted is unshifted
    ty = torch.nn.functional.scaled_dot_product_attention(*_heads(torch, tx, 2), is_causal=True)
    assert np.isfinite(y.detach().numpy()).all()
    assert_close(y, ty, atol=1e-5 * size, rtol=1e-4)


def test_causal_attention_unshifted_bound_follows_the_dtype():
    """float16 overflows at e^11.1: scores that float32 could exponentiate unshifted (|s| < ~80) must
    take the shifted softmax there.  The float16 result matches float64 on the same rounded inputs
    within a few float16 ulps of max |v| (p is a convex weighting of v's rows)."""
    rng = np.random.default_rng(11)
    a = (rng.standard_normal((1, 8, 3 * 16)) * 2.0).astype(np.float16)
    x = numtorch.tensor(a, requires_grad=True)
    q, k, v = _heads(numtorch, x, 1)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert y.grad_fn.fn is CausalAttention and y.grad_fn.unshifted is False
    q64, k64, v64 = _heads(numtorch, numtorch.tensor(a.astype(np.float64)), 1)
    ref = F.scaled_dot_product_attention(q64, k64, v64, is_causal=True).numpy()
    out = y.detach().numpy().astype(np.float64)
    assert np.isfinite(out).all()
    bound = 8 * np.finfo(np.float16).eps * np.abs(a).max()
    assert np.abs(out - ref).max() <= bound
    # float32 with the same scores may skip the shift
    y32 = F.scaled_dot_product_attention(*_heads(numtorch, numtorch.tensor(a.astype(np.float32),
                                                                           requires_grad=True), 1),
                                         is_causal=True)
    assert y32.grad_fn.unshifted is True


def test_causal_attention_second_order_matches_torch():
    rng = np.random.default_rng(4)
    a, w = rng.standard_normal((2, 5, 3 * 4)), rng.standard_normal((2, 5, 4))
    grads = []
    for lib, ref in ((numtorch, False), (torch, True)):
        x = lib.tensor(a, requires_grad=True)
        y = (_attend(x, 2, reference=ref) * lib.tensor(w)).sum()
        g, = lib.autograd.grad(y, x, create_graph=True)
        gg, = lib.autograd.grad((g * g).sum(), x)
        grads.append((g, gg))
    assert_close(grads[0][0], grads[1][0], atol=1e-10, rtol=1e-8)
    assert_close(grads[0][1], grads[1][1], atol=1e-10, rtol=1e-8)


def test_causal_attention_gradcheck_float64():
    rng = np.random.default_rng(6)
    q, k, v = (numtorch.tensor(rng.standard_normal((1, 2, 3, 2)), requires_grad=True) for _ in range(3))
    f = lambda q, k, v: CausalAttention.apply(q, k, v, 0.7)   # noqa: E731
    assert numtorch.autograd.gradcheck(f, (q, k, v))
    assert numtorch.autograd.gradgradcheck(f, (q, k, v))


def test_causal_attention_under_no_grad_and_hooks():
    qkv = numtorch.randn(2, 4, 12, requires_grad=True)
    with numtorch.no_grad():
        y0 = _attend(qkv, 2)
    q, k, v = _heads(numtorch, qkv, 2)
    got = {}
    for name, t in (("q", q), ("k", k), ("v", v)):
        t.register_hook(lambda g, name=name: got.__setitem__(name, g))
    k.retain_grad()
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert_close(y.transpose(1, 2).reshape(2, 4, 4), y0, atol=0, rtol=0)
    y.sum().backward()
    ref = numtorch.tensor(qkv.detach().numpy(), requires_grad=True)
    rq, rk, rv = _heads(numtorch, ref, 2)
    rk.retain_grad()
    s = (rq @ rk.transpose(-2, -1)) / 2 ** 0.5
    (s.masked_fill(~numtorch.ones(4, 4, dtype=numtorch.bool).tril(), float("-inf")).softmax(-1) @ rv).sum().backward()
    assert sorted(got) == ["k", "q", "v"]
    assert_close(k.grad, rk.grad, atol=1e-6, rtol=1e-5)
    assert_close(qkv.grad, ref.grad, atol=1e-6, rtol=1e-5)


def test_split_pieces_in_place_and_unused():
    x = numtorch.randn(2, 6, requires_grad=True)
    a, b, c = (x * 1.0).split(2, 1)
    b.mul_(3.0)   # an in-place change of a piece reaches the base (and its gradient)
    (a + b).sum().backward()
    want = np.zeros((2, 6))
    want[:, :2], want[:, 2:4] = 1.0, 3.0
    np.testing.assert_array_equal(x.grad.numpy(), want)
    assert a.grad_fn.name() == "SplitBackward0"


# float32 GELU against the float64 reference x Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2 (math.erfc), in
# float32 ulps.  The input is exact, so only evaluation errors count: numtorch's few roundings (t and
# its degree-9 polynomial, two exps, a few products) stay within GELU_ULPS ulps of y, and of
# |Phi| + |x phi| for the slope Phi + x phi (the size of that sum's terms: the slope itself crosses 0
# at x = -0.75, where no relative bound holds).  PyTorch computes 1 + erf(x / sqrt 2), which cancels
# for x < 0 (relative error up to 1 at x < -5), so numtorch and PyTorch are compared within the sum
# of numtorch's bound and PyTorch's own measured error, elementwise in the same ulps.
GELU_ULPS = 16
_GELU_FLOOR = 2.0 ** -120  # absolute floor (in ulps of 2^-120): GELU's outputs near x < -13 are subnormal


def _assert_gelu_accuracy(a, g, y, gx, ty, tgx):
    yr, slope, scale = (np.asarray(v) for v in ulps.gelu_ref(a))
    g64 = g.astype(np.float64)
    err = ulps.ulp_error(y, yr, floor=_GELU_FLOOR)
    gerr = ulps.ulp_error(gx, g64 * slope, scale=g64 * scale, floor=_GELU_FLOOR)
    assert err.max() <= GELU_ULPS, f"gelu: {err.max():.1f} ulps at x = {a[err.argmax()]}"
    assert gerr.max() <= GELU_ULPS, f"gelu backward: {gerr.max():.1f} ulps at x = {a[gerr.argmax()]}"
    terr = ulps.ulp_error(ty, yr, floor=_GELU_FLOOR)
    tgerr = ulps.ulp_error(tgx, g64 * slope, scale=g64 * scale, floor=_GELU_FLOOR)
    finite = np.isfinite(terr) & np.isfinite(tgerr)
    bound, gbound = GELU_ULPS + terr[finite].max(), GELU_ULPS + tgerr[finite].max()
    diff = ulps.ulp_error(y, ty.astype(np.float64), scale=yr, floor=_GELU_FLOOR)
    gdiff = ulps.ulp_error(gx, tgx.astype(np.float64), scale=g64 * scale, floor=_GELU_FLOOR)
    assert diff[finite].max() <= bound, f"gelu vs torch: {diff[finite].max():.1f} > {bound:.1f} ulps"
    assert gdiff[finite].max() <= gbound, f"gelu backward vs torch: {gdiff[finite].max():.1f} > {gbound:.1f} ulps"


@pytest.mark.parametrize("n", [1, 7, activation._GELU_CHUNK, activation._GELU_CHUNK + 5, 3 * activation._GELU_CHUNK - 1])
def test_gelu_float32_blocks_match_float64_and_torch(n):
    rng = np.random.default_rng(n)
    a = (rng.standard_normal(n) * 3).astype(np.float32)
    a[:3] = [0.0, -9.0, 9.0][:min(3, n)]
    g = rng.standard_normal(n).astype(np.float32)
    x, tx = numtorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = F.gelu(x), torch.nn.functional.gelu(tx)
    y.backward(numtorch.tensor(g))
    ty.backward(torch.tensor(g))
    assert y.dtype == numtorch.float32 and x.grad.dtype == numtorch.float32
    _assert_gelu_accuracy(a, g, y.detach().numpy(), x.grad.numpy(), ty.detach().numpy(), tx.grad.numpy())


def test_gelu_float32_non_contiguous_input():
    a = np.random.default_rng(0).standard_normal((64, 40)).astype(np.float32)
    x = numtorch.tensor(a).T[::2]                      # strided view
    view = a.T[::2]
    y = F.gelu(x).numpy()
    np.testing.assert_array_equal(y, F.gelu(numtorch.tensor(np.ascontiguousarray(view))).numpy())
    ty = torch.nn.functional.gelu(torch.tensor(a).T[::2]).numpy()
    yr = ulps.gelu_ref(view)[0]
    err, terr = ulps.ulp_error(y, yr), ulps.ulp_error(ty, yr)
    assert err.max() <= GELU_ULPS
    assert ulps.ulp_error(y, ty, scale=yr).max() <= GELU_ULPS + terr.max()


def test_gelu_second_order_after_fast_forward():
    check(lambda x: (F.gelu(x) if isinstance(x, numtorch.Tensor) else torch.nn.functional.gelu(x)), (3, 4))
    a = np.random.default_rng(1).standard_normal(6)
    x, tx = numtorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    g, = numtorch.autograd.grad(F.gelu(x).sum(), x, create_graph=True)
    tg, = torch.autograd.grad(torch.nn.functional.gelu(tx).sum(), tx, create_graph=True)
    assert_close(numtorch.autograd.grad(g.sum(), x)[0], torch.autograd.grad(tg.sum(), tx)[0], atol=1e-10, rtol=1e-8)


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 5)])
def test_linear_on_batched_inputs_matches_torch(shape):
    check(lambda x, w, b: (F.linear(x, w, b) if isinstance(x, numtorch.Tensor)
                           else torch.nn.functional.linear(x, w, b)), shape, (6, 5), (6,))


@pytest.mark.parametrize("shape,norm,affine,bias", [((4, 8, 32), (32,), True, True), ((3, 4, 8), (4, 8), True, True),
                                                    ((5, 16), (16,), False, False), ((5, 16), (16,), True, False)])
def test_layer_norm_float32_cpu_path_matches_torch(shape, norm, affine, bias):
    rng = np.random.default_rng(len(shape) + len(norm))
    a = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    m = numtorch.nn.LayerNorm(norm, elementwise_affine=affine, bias=bias)
    tm = torch.nn.LayerNorm(norm, elementwise_affine=affine, bias=bias)
    if affine:
        w = rng.standard_normal(norm).astype(np.float32)
        m.weight.data = numtorch.tensor(w)
        tm.weight.data = torch.tensor(w)
        if bias:
            m.bias.data, tm.bias.data = numtorch.tensor(w[::-1].copy()), torch.tensor(w[::-1].copy())
    x, tx = numtorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = m(x), tm(tx)
    y.backward(numtorch.tensor(g))
    ty.backward(torch.tensor(g))
    assert y.dtype == numtorch.float32
    assert_close(y, ty, atol=1e-5, rtol=1e-4)
    assert_close(x.grad, tx.grad, atol=1e-5, rtol=1e-4)
    for p, tp in zip(m.parameters(), tm.parameters()):
        assert_close(p.grad, tp.grad, atol=1e-4, rtol=1e-4)


def test_layer_norm_second_order_matches_torch():
    a = np.random.default_rng(2).standard_normal((3, 5))
    w = np.random.default_rng(3).standard_normal(5)
    out = []
    for lib in (numtorch, torch):
        x, wt = lib.tensor(a, requires_grad=True), lib.tensor(w, requires_grad=True)
        y = lib.nn.functional.layer_norm(x, (5,), wt, None)
        gx, = lib.autograd.grad((y * y * lib.tensor(a)).sum(), x, create_graph=True)
        out.append(lib.autograd.grad((gx * gx).sum(), (x, wt)))
    for g, tg in zip(*out):
        assert_close(g, tg, atol=1e-10, rtol=1e-8)


def test_gpt_mlp_is_linear_gelu_linear_and_respects_hooks():
    from numtorch.models.gpt import MLP
    numtorch.manual_seed(0)
    m = MLP(8, 0.0, True)
    x = numtorch.randn(2, 3, 8)
    h = x.numpy() @ m.c_fc.weight.detach().numpy().T + m.c_fc.bias.detach().numpy()
    h = np.asarray(ulps.gelu_ref(h.astype(np.float64))[0])
    want = h @ m.c_proj.weight.detach().numpy().T.astype(np.float64) + m.c_proj.bias.detach().numpy()
    assert_close(m(x), want, atol=1e-5, rtol=1e-4)
    seen = []
    m.c_fc.register_forward_hook(lambda mod, inp, out: seen.append(out.shape))
    m(x)
    assert seen == [numtorch.Size([2, 3, 32])]


@pytest.mark.parametrize("shape,out", [((2, 4, 0), 3), ((2, 4, 3), 0), ((0, 4, 3), 2)])
def test_linear_batched_empty_dims_match_torch(shape, out):
    a = np.random.default_rng(0).standard_normal(shape)
    w = np.random.default_rng(1).standard_normal((out, shape[-1]))
    bias = np.arange(out, dtype=np.float64)
    res = []
    for lib in (numtorch, torch):
        x, wt, b = (lib.tensor(v, requires_grad=True) for v in (a, w, bias))
        y = lib.nn.functional.linear(x, wt, b)
        (y * 2).sum().backward()
        res.append((y, x.grad, wt.grad, b.grad))
    for got, want in zip(*res):
        assert_close(got, want)
    # create_graph: the tensor form of backward takes the same shapes
    x = numtorch.tensor(a, requires_grad=True)
    g, = numtorch.autograd.grad(F.linear(x, numtorch.tensor(w)).sum(), x, create_graph=True)
    assert tuple(g.shape) == shape
