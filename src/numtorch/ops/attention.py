"""Attention: ``scaled_dot_product_attention`` and the fused, numerically stable softmax it uses.

For queries Q (..., L, E), keys K (..., S, E) and values V (..., S, Ev)::

    A = softmax(Q K^T * scale + M)      # (..., L, S), each row sums to 1
    out = A V                           # (..., L, Ev)

M is the additive mask: 0 where a query may attend to a key, -inf where it may not.  A boolean
mask (True = attend) and ``is_causal`` (query i sees keys 0..i) are turned into that form.

The softmax is one ``Function``: forward subtracts the row maximum before ``exp`` (so softmax of
1e4 is fine), backward is the closed form ``gx = y * (gy - sum(gy * y, -1))``.

Causal self-attention on the CPU (4-D q, k, v of one shape, no mask, no dropout) takes a fast path,
``CausalAttention``: the whole computation as one op on the (possibly strided) head views, chosen in
one line of ``scaled_dot_product_attention``; everything else takes the composite reference path.
"""
from __future__ import annotations

import math

import numpy as np

from numtorch._backend import xp_of
from numtorch.ops import _autocast
from numtorch.autograd.function import Function
from numtorch.autograd.grad_mode import GradMode
from numtorch.ops._util import same_device, softmax_in_place
from numtorch.ops.linalg import matmul
from numtorch.ops.normalization import _outer
from numtorch.tensor import Tensor, make_tensor

__all__ = ["scaled_dot_product_attention"]


class ScaledMaskedSoftmax(Function):
    """y = softmax(x * scale + mask, dim): scale, additive mask and softmax in one pass.

    ``mask`` is a constant array (no gradient) broadcastable to ``x`` or ``None``.
    """

    @staticmethod
    def forward(ctx, x, mask, scale=1.0, dim=-1):
        z = x * scale if scale != 1.0 else x.copy()
        if mask is not None:
            z += mask
        softmax_in_place(z, dim)
        ctx.save_for_backward(z)
        ctx.args = (scale, dim)
        return z

    @staticmethod
    def backward(ctx, gy):
        # dy_i/dz_j = y_i (delta_ij - y_j)  =>  gz = y * (gy - sum_j gy_j y_j);  dz/dx = scale
        y, = ctx.saved_tensors
        scale, dim = ctx.args
        if not GradMode.enabled:  # first-order: one fused pass on arrays
            ya, g = y._data, gy._data
            gz = g * ya
            gz -= ya * gz.sum(axis=dim, keepdims=True)
            if scale != 1.0:
                gz *= scale
            return make_tensor(gz), None
        gz = y * (gy - (gy * y).sum(dim, keepdim=True))
        return (gz * scale if scale != 1.0 else gz), None


_CAUSAL_MASKS: dict = {}  # (L, S, dtype) -> the additive causal mask, NumPy only (read-only, shared)


def _causal_mask(xp, L: int, S: int, dtype):
    """(L, S): 0 where key j <= query i (may attend), -inf above the diagonal."""
    if xp is np:
        m = _CAUSAL_MASKS.get((L, S, dtype))
        if m is None:
            m = np.where(np.tri(L, S, dtype=bool), dtype.type(0), dtype.type(-np.inf))
            m.flags.writeable = False
            _CAUSAL_MASKS[(L, S, dtype)] = m
        return m
    keep = xp.tril(xp.ones((L, S), dtype=bool))
    return xp.where(keep, dtype.type(0), dtype.type(-np.inf))


def _additive_mask(attn_mask, is_causal: bool, L: int, S: int, ref: Tensor):
    """The mask as (constant array or None, tensor that needs gradient or None), in ``ref``'s dtype."""
    xp = xp_of(ref._data)
    dtype = ref._data.dtype
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError("scaled_dot_product_attention: Explicit attn_mask should not be set when "
                               "is_causal=True")
        return _causal_mask(xp, L, S, dtype), None
    if attn_mask is None:
        return None, None
    if isinstance(attn_mask, Tensor):
        same_device("scaled_dot_product_attention", ref, attn_mask)
    m = attn_mask._data if isinstance(attn_mask, Tensor) else xp.asarray(attn_mask)
    if m.dtype == bool:
        return xp.where(m, dtype.type(0), dtype.type(-np.inf)), None
    if m.dtype.kind not in "fV":
        raise RuntimeError(f"scaled_dot_product_attention: expected attn_mask dtype to be bool or float "
                           f"or to match query dtype, got {m.dtype}")
    if isinstance(attn_mask, Tensor) and attn_mask.requires_grad:
        return None, attn_mask if m.dtype == dtype else attn_mask.to(ref.dtype)
    return m.astype(dtype, copy=False), None


def _dropout_weights(w: Tensor, p: float) -> Tensor:
    """Inverted dropout on attention weights: zero with probability p, scale the rest by 1/(1-p)
    (the mask as dropout makes it: the same for a seed on every device, no waiting on a GPU)."""
    from numtorch.ops.dropout import _keep_mask
    if p >= 1.0:
        return w * 0.0
    return w * make_tensor(_keep_mask(w, p, tuple(w.shape)))


def _check_qkv(query, key, value, enable_gqa):
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"scaled_dot_product_attention: {name} must be a Tensor, got {type(t).__name__}")
        if t.ndim < 2:
            raise RuntimeError(f"scaled_dot_product_attention: {name} must be at least 2-D, got shape "
                               f"{tuple(t.shape)}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise RuntimeError(f"scaled_dot_product_attention: shapes query {tuple(query.shape)}, key "
                           f"{tuple(key.shape)}, value {tuple(value.shape)} do not match (query and key need "
                           f"the same last dim, key and value the same sequence length)")
    if query.dtype != key.dtype or query.dtype != value.dtype:
        raise RuntimeError(f"scaled_dot_product_attention: Expected query, key, and value to have the same "
                           f"dtype, but got query.dtype: {query.dtype}, key.dtype: {key.dtype} and "
                           f"value.dtype: {value.dtype} instead.")
    if enable_gqa and query.ndim >= 3:
        hq, hk = query.shape[-3], key.shape[-3]
        if hq % hk:
            raise RuntimeError(f"scaled_dot_product_attention: number of heads in key/value ({hk}) must "
                               f"divide the number of heads in query ({hq}) with enable_gqa=True")
        if hq != hk:
            rep = hq // hk
            key = key.repeat_interleave(rep, dim=-3)
            value = value.repeat_interleave(rep, dim=-3)
    return key, value


def attention_with_weights(query: Tensor, key: Tensor, value: Tensor, attn_mask=None, dropout_p: float = 0.0,
                           is_causal: bool = False, scale: float | None = None, enable_gqa: bool = False):
    """``scaled_dot_product_attention`` that also returns the attention weights (..., L, S)."""
    key, value = _check_qkv(query, key, value, enable_gqa)
    L, S, E = query.shape[-2], key.shape[-2], query.shape[-1]
    scale = 1.0 / math.sqrt(E) if scale is None else float(scale)
    mask_arr, mask_t = _additive_mask(attn_mask, is_causal, L, S, query)
    scores = matmul(query, key.transpose(-2, -1))           # (..., L, S)
    if mask_t is not None:                                  # a float mask that itself learns
        scores, scale = scores * scale + mask_t, 1.0
    w = ScaledMaskedSoftmax.apply(scores, mask_arr, scale=scale, dim=scores.ndim - 1)
    if dropout_p > 0.0:
        w = _dropout_weights(w, dropout_p)
    return matmul(w, value), w


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask=None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(Q K^T * scale + mask) V, as ``torch.nn.functional.scaled_dot_product_attention``.

    Reference implementation: numtorch.nn.textbook.scaled_dot_product_attention

    Args:
        query: (..., L, E); key: (..., S, E); value: (..., S, Ev).
        attn_mask: bool (True = may attend) or float (added to the scores), broadcastable to (..., L, S).
        dropout_p: dropout probability on the attention weights (pass 0.0 in evaluation).
        is_causal: query i attends to keys 0..i (top-left aligned when L != S); excludes ``attn_mask``.
        scale: factor on Q K^T; default 1 / sqrt(E).
        enable_gqa: key/value may have fewer heads (dim -3) than query; they are repeated to match.

    Returns:
        (..., L, Ev).

    >>> import numtorch as torch
    >>> q = k = v = torch.ones(1, 2, 3, 4)
    >>> torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).shape
    numtorch.Size([1, 2, 3, 4])
    """
    if _autocast.active:
        query, key, value, attn_mask = _autocast.cast("scaled_dot_product_attention", query, key, value,
                                                      attn_mask)
    if _fused_causal(query, key, value, attn_mask, dropout_p, is_causal, enable_gqa):   # CPU fast path
        E = query.shape[-1]
        return CausalAttention.apply(query, key, value, 1.0 / math.sqrt(E) if scale is None else float(scale))
    return attention_with_weights(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)[0]


# ---- the CPU fast path: causal self-attention as one op -----------------------------------------
# For q, k, v (B, H, T, D) on the CPU (typically head views of one (B, T, 3C) projection, as a GPT
# block splits it) the whole causal attention is one node:
#
#     forward:  S = q k^T * scale + M,  P = softmax(S),  y = P v
#     backward: gv = P^T gy,  gP = gy v^T,  gS = P * (gP - sum(gP * P, -1)) * scale,
#               gq = gS k,  gk = gS^T q
#
# BLAS reads the strided head views in place.  y is written in (B, T, H, D) memory (PyTorch's CPU
# kernel does the same), so merging the heads back, y.transpose(1, 2).reshape(B, T, C), is a view;
# gq, gk, gv are written into one buffer laid out like q, k, v's own, so that the backward of the
# head views and of the split that made them are views too (see ``shape._tiled``).


def _fused_causal(query, key, value, attn_mask, dropout_p, is_causal, enable_gqa) -> bool:
    """Whether ``CausalAttention`` computes this call: causal self-attention of equal-shaped 4-D
    float tensors on the CPU, no mask, no dropout, no autocast."""
    if not (is_causal and attn_mask is None and dropout_p == 0.0 and isinstance(query, Tensor)
            and isinstance(key, Tensor) and isinstance(value, Tensor)):
        return False
    q = query._data
    return (q.__class__ is np.ndarray
            and q.ndim == 4 and q.dtype.kind == "f" and key._data.__class__ is np.ndarray
            and value._data.__class__ is np.ndarray and q.shape == key.shape == value.shape
            and q.dtype == key._data.dtype == value._data.dtype)


class CausalAttention(Function):
    """y = softmax(q k^T * scale + causal mask) v for q, k, v (B, H, T, D) NumPy arrays (any strides)."""

    @staticmethod
    def forward(ctx, q, k, v, scale):
        B, H, T, D = q.shape
        p = np.matmul(q, k.transpose(0, 1, 3, 2))   # (B, H, T, T), a fresh array: the softmax runs in place
        p *= scale
        p += _causal_mask(np, T, T, p.dtype)
        ctx.unshifted = _scores_bounded(q, k, scale)
        _softmax_unshifted(p) if ctx.unshifted else softmax_in_place(p, -1)
        y = np.empty((B, T, H, D), dtype=q.dtype).transpose(0, 2, 1, 3)
        np.matmul(p, v, out=y)
        ctx.save_for_backward(q, k, v, p)
        ctx.args = scale
        return y

    @staticmethod
    def backward(ctx, gy):
        # the same formulas on tensors, the softmax recomputed: differentiable again (create_graph)
        return _causal_attention_backward_tensors(*ctx.saved_tensors, gy, ctx.args) + (None,)

    @staticmethod
    def backward_arrays(ctx, g):
        scale = ctx.args
        q, k, v, p = ctx.saved_arrays
        T = p.shape[-1]
        gq, gk, gv = _grads_like(q, k, v)
        np.matmul(p.transpose(0, 1, 3, 2), g, out=gv)
        gs = np.matmul(g, v.transpose(0, 1, 3, 2))   # gP; in place gS = P * (gP - sum(gP * P, -1)) * scale
        rows = np.einsum("...j,...j->...", gs, p)             # row dots: no (B, H, T, T) temporary
        gs2 = gs.reshape(-1, T)                       # minus the row dots as an outer product (exact;
        gs2 -= _outer(rows.reshape(-1), np.ones(T, p.dtype))   # a (..., 1) broadcast is slow in NumPy)
        gs *= p
        gs *= scale
        np.matmul(gs, k, out=gq)
        np.matmul(gs.transpose(0, 1, 3, 2), q, out=gk)
        return gq, gk, gv, None


def _scores_bounded(q, k, scale) -> bool:
    """|q_i . k_j| scale <= max |q_i| max |k_j| scale < b (Cauchy-Schwarz), with b small enough that
    e^score neither overflows nor underflows to 0 in q's dtype and a row sum of T terms stays finite:
    b = min(ln(max / T), -ln(tiny)) -- about 80 for float32 with T = 4096, but only 9 for float16."""
    info = np.finfo(q.dtype)
    bound = min(math.log(float(info.max) / q.shape[-2]), -math.log(float(info.tiny)))
    qq = np.einsum("...d,...d->...", q, q).max()
    kk = np.einsum("...d,...d->...", k, k).max()
    return bool(math.sqrt(float(qq) * float(kk)) * scale < bound)   # (nan: False)


def _softmax_unshifted(z):
    """z <- e^z / sum e^z along the last axis, for scores known to be small (``_scores_bounded``):
    softmax is shift-invariant, so the row maximum -- NumPy's slowest pass over rows of a few dozen
    keys -- is not needed; the row sums are one GEMV.  (Masked scores are -inf: e^-inf = 0.)"""
    np.exp(z, out=z)
    z /= (z @ np.ones(z.shape[-1], z.dtype))[..., None]
    return z


def _grads_like(q, k, v):
    """Empty arrays for the gradients of q, k, v.  When q, k, v are disjoint views that together cover
    one C-ordered array (the three parts of a packed projection), the gradients are the same views of
    one new array of its size, which backward then fills entirely (so the ops that made the views pass
    their gradients back as views); otherwise each is (B, T, H, D) memory seen as (B, H, T, D)."""
    base = q.base
    if (base is not None and k.base is base and v.base is base and base.__class__ is np.ndarray
            and base.size == 3 * q.size and base.flags.c_contiguous and not _overlap(q, k, v)):
        buf = np.empty(base.shape, base.dtype)
        start = base.__array_interface__["data"][0]
        return tuple(np.ndarray(a.shape, a.dtype, buf, a.__array_interface__["data"][0] - start, a.strides)
                     for a in (q, k, v))
    B, H, T, D = q.shape
    return tuple(np.empty((B, T, H, D), q.dtype).transpose(0, 2, 1, 3) for _ in range(3))


def _overlap(q, k, v) -> bool:
    """Do any two of q, k, v share a memory location (exactly decided; too hard to tell counts as yes)?"""
    try:
        return any(np.shares_memory(a, b, max_work=10 ** 4) for a, b in ((q, k), (q, v), (k, v)))
    except np.exceptions.TooHardError:
        return True


def _causal_attention_backward_tensors(q: Tensor, k: Tensor, v: Tensor, p: Tensor, gy: Tensor, scale: float):
    """``CausalAttention``'s backward on tensors (the softmax recomputed from q and k, so it is part
    of the graph)."""
    T = q.shape[-2]
    mask = _causal_mask(xp_of(q._data), T, T, q._data.dtype)
    p = ScaledMaskedSoftmax.apply(matmul(q, k.transpose(-2, -1)), mask, scale=scale, dim=3)
    gv = matmul(p.transpose(-2, -1), gy)
    gp = matmul(gy, v.transpose(-2, -1))
    gs = p * (gp - (gp * p).sum(-1, keepdim=True)) * scale
    return matmul(gs, k), matmul(gs.transpose(-2, -1), q), gv
