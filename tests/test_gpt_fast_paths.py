"""The CPU fast paths of the GPT step against PyTorch: packed causal attention (one fused op),
blocked float32 GELU (block edges included), Linear on (B, T, C) inputs as one 2-D GEMM."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
import numtorch.nn.functional as F
import ulps
from helpers import assert_close, check
from numtorch.ops import activation
from numtorch.ops.attention import PackedCausalAttention, causal_self_attention

torch = pytest.importorskip("torch")


def _torch_csa(qkv, n_head, math=False):
    """Reference: split, view heads, causal SDPA, merge heads (what GPT blocks did before the fusion).

    ``math``: softmax(q k^T / sqrt(D) masked) v spelled out (PyTorch's fused CPU kernel has no
    second derivative)."""
    B, T, W = qkv.shape
    C = W // 3
    q, k, v = (t.reshape(B, T, n_head, C // n_head).transpose(1, 2) for t in qkv.split(C, -1))
    if math:
        s = (q @ k.transpose(-2, -1)) / (C // n_head) ** 0.5
        s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
        y = s.softmax(-1) @ v
    else:
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    return y.transpose(1, 2).reshape(B, T, C)


def _csa(n_head):
    def f(qkv):
        if isinstance(qkv, numtorch.Tensor):
            return causal_self_attention(qkv, n_head)
        return _torch_csa(qkv, n_head)
    return f


@pytest.mark.parametrize("shape,n_head", [((2, 5, 3 * 8), 2), ((1, 1, 3 * 4), 1), ((3, 7, 3 * 6), 3)])
def test_causal_self_attention_matches_torch_and_gradcheck(shape, n_head):
    check(_csa(n_head), shape)


def test_causal_self_attention_is_one_fused_op_on_the_cpu():
    qkv = numtorch.randn(2, 4, 12, requires_grad=True)
    y = causal_self_attention(qkv, 2)
    assert y.grad_fn is not None and y.grad_fn.fn is PackedCausalAttention


def test_causal_self_attention_float32_matches_torch():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 16, 3 * 32)).astype(np.float32)
    g = rng.standard_normal((4, 16, 32)).astype(np.float32)
    x, tx = numtorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = causal_self_attention(x, 4), _torch_csa(tx, 4)
    y.backward(numtorch.tensor(g))
    ty.backward(torch.tensor(g))
    assert y.dtype == numtorch.float32 and x.grad.dtype == numtorch.float32
    assert_close(y, ty, atol=1e-5, rtol=1e-4)
    assert_close(x.grad, tx.grad, atol=1e-5, rtol=1e-4)


def test_causal_self_attention_second_order_matches_torch():
    rng = np.random.default_rng(4)
    a, w = rng.standard_normal((2, 5, 3 * 4)), rng.standard_normal((2, 5, 4))
    grads = []
    for lib, f in ((numtorch, lambda t: causal_self_attention(t, 2)), (torch, lambda t: _torch_csa(t, 2, math=True))):
        x = lib.tensor(a, requires_grad=True)
        y = (f(x) * lib.tensor(w)).sum()
        g, = lib.autograd.grad(y, x, create_graph=True)
        gg, = lib.autograd.grad((g * g).sum(), x)
        grads.append((g, gg))
    assert_close(grads[0][0], grads[1][0], atol=1e-10, rtol=1e-8)
    assert_close(grads[0][1], grads[1][1], atol=1e-10, rtol=1e-8)


def test_causal_self_attention_checks_packing():
    with pytest.raises(RuntimeError, match="3 \\* n_head"):
        causal_self_attention(numtorch.zeros(1, 2, 10), 2)


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


def _lin_gelu_pair(seed, shape=(3, 5, 8), out=12, bias=True):
    rng = np.random.default_rng(seed)
    arrs = [rng.standard_normal(shape).astype(np.float32), (rng.standard_normal((out, shape[-1])) * 0.5).astype(np.float32)]
    if bias:
        arrs.append(rng.standard_normal(out).astype(np.float32))
    nt = [numtorch.tensor(a, requires_grad=True) for a in arrs]
    th = [torch.tensor(a, requires_grad=True) for a in arrs]
    return nt, th


@pytest.mark.parametrize("bias", [True, False])
def test_linear_gelu_float32_is_fused_and_matches_torch(bias):
    nt, th = _lin_gelu_pair(0, bias=bias)
    y = activation.linear_gelu(*nt, *([] if bias else [None]))
    ty = torch.nn.functional.gelu(torch.nn.functional.linear(*th))
    assert y.grad_fn.fn is activation.LinearGelu
    g = np.random.default_rng(9).standard_normal(tuple(y.shape)).astype(np.float32)
    y.backward(numtorch.tensor(g))
    ty.backward(torch.tensor(g))
    assert_close(y, ty, atol=1e-5, rtol=1e-4)
    for a, b in zip(nt, th):
        assert_close(a.grad, b.grad, atol=1e-4, rtol=1e-4)


def test_linear_gelu_second_order_matches_torch():
    nt, th = _lin_gelu_pair(1, shape=(4, 6), out=5)
    res = []
    for (x, w, b), lib in ((nt, numtorch), (th, torch)):
        y = lib.nn.functional.gelu(lib.nn.functional.linear(x, w, b)) if lib is torch else activation.linear_gelu(x, w, b)
        gx, gw = lib.autograd.grad((y * y).sum(), (x, w), create_graph=True)
        res.append(lib.autograd.grad((gx * gx).sum() + (gw * gw).sum(), (x, w, b)))
    for g, tg in zip(*res):
        assert_close(g, tg, atol=1e-4, rtol=1e-3)


def test_linear_gelu_float64_and_errors():
    check(lambda x, w, b: (activation.linear_gelu(x, w, b) if isinstance(x, numtorch.Tensor)
                           else torch.nn.functional.gelu(torch.nn.functional.linear(x, w, b))), (2, 3, 4), (5, 4), (5,))
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        activation.linear_gelu(numtorch.zeros(2, 3), numtorch.zeros(4, 5))


def test_gpt_mlp_fused_path_matches_module_calls_and_respects_hooks():
    from numtorch.models.gpt import MLP
    numtorch.manual_seed(0)
    m = MLP(8, 0.0, True)
    x = numtorch.randn(2, 3, 8)
    fused = m(x)
    plain = m.c_proj(F.gelu(m.c_fc(x)))
    assert_close(fused, plain, atol=1e-6, rtol=1e-5)
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
