"""scaled_dot_product_attention and MultiheadAttention against a NumPy reference, PyTorch and gradcheck."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
import numtorch.nn.functional as F
from helpers import assert_close, check, lib
from numtorch.ops.attention import attention_with_weights

RNG = np.random.default_rng(0)
BOOL_MASK = RNG.random((3, 4)) > 0.4
BOOL_MASK[:, 0] = True          # every query sees at least one key
FLOAT_MASK = RNG.standard_normal((3, 4))


def _np_sdpa(q, k, v, mask=None, causal=False, scale=None):
    s = q @ np.swapaxes(k, -1, -2) * (1 / np.sqrt(q.shape[-1]) if scale is None else scale)
    if causal:
        mask = np.tril(np.ones(s.shape[-2:], dtype=bool))
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True) @ v


def _sdpa(**kw):
    def f(q, k, v):
        kws = {a: (lib(q).tensor(b) if isinstance(b, np.ndarray) else b) for a, b in kw.items()}
        return lib(q).nn.functional.scaled_dot_product_attention(q, k, v, **kws)
    return f


@pytest.mark.parametrize("kw", [{}, {"is_causal": True}, {"attn_mask": BOOL_MASK}, {"attn_mask": FLOAT_MASK},
                                {"scale": 0.3}])
def test_sdpa_matches_numpy_torch_gradcheck(kw):
    np_kw = {"mask" if k == "attn_mask" else ("causal" if k == "is_causal" else k): v for k, v in kw.items()}
    check(_sdpa(**kw), (1, 2, 3, 2), (1, 2, 4, 2), (1, 2, 4, 3), np_fn=lambda q, k, v: _np_sdpa(q, k, v, **np_kw))


def test_sdpa_broadcast_mask_unbatched_and_causal_rectangle():
    mask = RNG.random((2, 1, 2, 3)) > 0.3
    mask[..., 0] = True
    check(_sdpa(attn_mask=mask), (2, 2, 2, 2), (2, 2, 3, 2), (2, 2, 3, 1),
          np_fn=lambda q, k, v: _np_sdpa(q, k, v, mask))
    check(_sdpa(is_causal=True), (3, 2), (4, 2), (4, 2), np_fn=lambda q, k, v: _np_sdpa(q, k, v, causal=True))


def test_sdpa_gqa(torch):
    check(_sdpa(enable_gqa=True), (1, 4, 3, 2), (1, 2, 3, 2), (1, 2, 3, 2), gradcheck=False)


def test_softmax_of_huge_scores_is_finite():
    q = numtorch.tensor([[[1e4, 0.0]]])
    k = numtorch.tensor([[[1.0, 0.0], [-1.0, 0.0]]])
    v = numtorch.tensor([[[1.0], [2.0]]])
    out = F.scaled_dot_product_attention(q, k, v, scale=1.0)
    assert np.isfinite(out.numpy()).all()
    assert_close(out, [[[1.0]]])


def test_sdpa_float32_and_errors():
    q = numtorch.randn(2, 3, 4)
    assert F.scaled_dot_product_attention(q, q, q).dtype == numtorch.float32
    with pytest.raises(RuntimeError, match="is_causal"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=numtorch.ones(3, 3, dtype=numtorch.bool), is_causal=True)
    with pytest.raises(RuntimeError, match="shapes"):
        F.scaled_dot_product_attention(q, numtorch.randn(2, 3, 5), q)
    with pytest.raises(RuntimeError, match="dtype"):
        F.scaled_dot_product_attention(q, q.double(), q)


def test_attention_dropout_zeroes_about_p_and_rescales():
    numtorch.manual_seed(0)
    q = numtorch.zeros(1, 1, 200, 4)
    k = numtorch.zeros(1, 1, 50, 4)
    _, w = attention_with_weights(q, k, k, dropout_p=0.25)
    w = w.numpy()
    kept = w != 0
    assert abs(1 - kept.mean() - 0.25) < 0.02
    assert_close(w[kept], np.full(kept.sum(), 1 / 50 / 0.75), rtol=1e-5)


def test_fused_softmax_backward_closed_form():
    # gx = y * (gy - sum(gy * y)): checked numerically in float64
    x = numtorch.tensor(RNG.standard_normal((3, 5)), requires_grad=True)
    from numtorch.ops.attention import ScaledMaskedSoftmax
    for dim in (1, 0):
        assert numtorch.autograd.gradcheck(lambda t: ScaledMaskedSoftmax.apply(t, None, scale=1.0, dim=dim), (x,))


# ---- MultiheadAttention -----------------------------------------------------------------------

def _copy(tm, nm):
    assert list(tm.state_dict()) == list(nm.state_dict())
    nm.load_state_dict({k: numtorch.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})


def _compare_mha(torch, ctor, q, k, v, call_kw, rng):
    tm, nm = ctor(torch.nn, torch.float64), ctor(numtorch.nn, numtorch.float64)
    _copy(tm, nm)
    tt = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    nn_ = [numtorch.tensor(a, requires_grad=True) for a in (q, k, v)]
    if q is k and k is v:   # self-attention: one tensor, as a user would pass it
        tt, nn_ = [tt[0]] * 3, [nn_[0]] * 3
    tkw = {a: torch.tensor(b) if isinstance(b, np.ndarray) else b for a, b in call_kw.items()}
    nkw = {a: numtorch.tensor(b) if isinstance(b, np.ndarray) else b for a, b in call_kw.items()}
    to, tw = tm(*tt, **tkw)
    no, nw = nm(*nn_, **nkw)
    assert_close(no, to, what="output")
    if tw is None:
        assert nw is None
    else:
        assert_close(nw, tw, what="weights")
    g = rng.standard_normal(tuple(to.shape))
    loss_t = (to * torch.tensor(g)).sum() + (0 if tw is None else tw.sum())
    loss_n = (no * numtorch.tensor(g)).sum() + (0 if nw is None else nw.sum())
    loss_t.backward()
    loss_n.backward()
    for a, b in zip(nn_, tt):
        assert_close(a.grad, b.grad, what="input grad")
    tp = dict(tm.named_parameters())
    for name, p in nm.named_parameters():
        assert_close(p.grad, tp[name].grad, what=name)


FLOAT_MASK6 = RNG.standard_normal((4, 6))
KPM = np.array([[False, False, True, False, True, False], [False, True, False, False, False, True]])
AM_BOOL = np.triu(np.ones((4, 6), dtype=bool), 3)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("masks", [{}, {"attn_mask": AM_BOOL}, {"attn_mask": FLOAT_MASK6},
                                   {"key_padding_mask": KPM}, {"attn_mask": AM_BOOL, "key_padding_mask": KPM},
                                   {"need_weights": False}, {"average_attn_weights": False}])
def test_mha_matches_torch(torch, batch_first, masks):
    rng = np.random.default_rng(1)
    shape = (lambda L: (2, L, 8)) if batch_first else (lambda L: (L, 2, 8))
    q, k, v = rng.standard_normal(shape(4)), rng.standard_normal(shape(6)), rng.standard_normal(shape(6))
    _compare_mha(torch, lambda nn, dt: nn.MultiheadAttention(8, 2, batch_first=batch_first, dtype=dt),
                 q, k, v, masks, rng)


@pytest.mark.parametrize("ctor_kw", [{"kdim": 3, "vdim": 5}, {"bias": False}, {"add_bias_kv": True},
                                     {"add_zero_attn": True}, {"add_bias_kv": True, "add_zero_attn": True}])
def test_mha_options_match_torch(torch, ctor_kw):
    rng = np.random.default_rng(2)
    q = rng.standard_normal((4, 2, 8))
    k = rng.standard_normal((6, 2, ctor_kw.get("kdim", 8)))
    v = rng.standard_normal((6, 2, ctor_kw.get("vdim", 8)))
    _compare_mha(torch, lambda nn, dt: nn.MultiheadAttention(8, 4, dtype=dt, **ctor_kw), q, k, v,
                 {"key_padding_mask": KPM}, rng)


def test_mha_self_attention_causal_and_unbatched(torch):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 8))
    causal = np.triu(np.ones((5, 5), dtype=bool), 1)
    ctor = lambda nn, dt: nn.MultiheadAttention(8, 2, batch_first=True, dtype=dt)  # noqa: E731
    _compare_mha(torch, ctor, x, x, x, {"attn_mask": causal, "is_causal": True}, rng)
    u = rng.standard_normal((5, 8))
    _compare_mha(torch, ctor, u, u, u, {"attn_mask": causal}, rng)


def test_mha_init_and_errors():
    m = numtorch.nn.MultiheadAttention(16, 4)
    assert tuple(m.in_proj_weight.shape) == (48, 16) and m.q_proj_weight is None
    assert not m.in_proj_bias.detach().numpy().any() and not m.out_proj.bias.detach().numpy().any()
    bound = np.sqrt(6 / (16 + 48))   # xavier_uniform_ on (3E, E)
    assert np.abs(m.in_proj_weight.detach().numpy()).max() <= bound
    assert type(m.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    with pytest.raises(AssertionError, match="divisible"):
        numtorch.nn.MultiheadAttention(10, 3)
    x = numtorch.randn(3, 2, 16)
    with pytest.raises(RuntimeError, match="is_causal"):
        m(x, x, x, is_causal=True)
    with pytest.raises(RuntimeError, match="2D attn_mask"):
        m(x, x, x, attn_mask=numtorch.zeros(2, 2))
