"""Attention: ``scaled_dot_product_attention`` and the fused, numerically stable softmax it uses.

For queries Q (..., L, E), keys K (..., S, E) and values V (..., S, Ev)::

    A = softmax(Q K^T * scale + M)      # (..., L, S), each row sums to 1
    out = A V                           # (..., L, Ev)

M is the additive mask: 0 where a query may attend to a key, -inf where it may not.  A boolean
mask (True = attend) and ``is_causal`` (query i sees keys 0..i) are turned into that form.

The softmax is one ``Function``: forward subtracts the row maximum before ``exp`` (so softmax of
1e4 is fine), backward is the closed form ``gx = y * (gy - sum(gy * y, -1))``.
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
from numtorch.tensor import Tensor, make_tensor

__all__ = ["scaled_dot_product_attention", "causal_self_attention"]


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
        raise RuntimeError(f"scaled_dot_product_attention: expected attn_mask dtype to be bool or float or to "
                           f"match query dtype, got {m.dtype}")
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
        raise RuntimeError(f"scaled_dot_product_attention: Expected query, key, and value to have the same dtype, "
                           f"but got query.dtype: {query.dtype}, key.dtype: {key.dtype} and value.dtype: "
                           f"{value.dtype} instead.")
    if enable_gqa and query.ndim >= 3:
        hq, hk = query.shape[-3], key.shape[-3]
        if hq % hk:
            raise RuntimeError(f"scaled_dot_product_attention: number of heads in key/value ({hk}) must divide "
                               f"the number of heads in query ({hq}) with enable_gqa=True")
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
        query, key, value, attn_mask = _autocast.cast("scaled_dot_product_attention", query, key, value, attn_mask)
    return attention_with_weights(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)[0]


# ---- causal self-attention on packed projections -------------------------------------------------
# A GPT block projects x (B, T, C) once to qkv (B, T, 3C) = [q | k | v]; head h of q is columns
# h*D .. (h+1)*D of the first third (D = C / n_head).  On the CPU the whole attention is one op:
#
#     forward:  S = q k^T * scale + M,  P = softmax(S),  y = P v          (heads as (B, H, T, D) views)
#     backward: gv = P^T gy,  gP = gy v^T,  gS = P * (gP - sum(gP * P, -1)) * scale,
#               gq = gS k,  gk = gS^T q
#
# reading q, k, v as strided views of qkv and writing y (B, T, C) and gqkv (B, T, 3C) in the
# layouts their neighbours (the output projection, qkv's Linear) use: no head split or merge copies,
# one graph node instead of a dozen.


def _heads(a, n_head: int, parts: int):
    """``parts`` (B, H, T, D) views of the (B, T, parts * C) array ``a`` (no copies)."""
    B, T, W = a.shape
    C = W // parts
    D = C // n_head
    return tuple(a[:, :, i * C:(i + 1) * C].reshape(B, T, n_head, D).transpose(0, 2, 1, 3) for i in range(parts))


class PackedCausalAttention(Function):
    """y (B, T, C) = causal softmax attention of the ``n_head`` heads packed in qkv (B, T, 3C)."""

    @staticmethod
    def forward(ctx, qkv, n_head, scale):
        xp = xp_of(qkv)
        B, T, _ = qkv.shape
        q, k, v = _heads(qkv, n_head, 3)
        p = xp.matmul(q, k.transpose(0, 1, 3, 2))   # (B, H, T, T), a fresh array: the softmax runs in place
        p *= scale
        p += _causal_mask(xp, T, T, p.dtype)
        softmax_in_place(p, -1)
        y = xp.empty((B, T, q.shape[1] * q.shape[3]), dtype=qkv.dtype)
        xp.matmul(p, v, out=_heads(y, n_head, 1)[0])
        ctx.save_for_backward(qkv, p)
        ctx.args = (n_head, scale)
        return y

    @staticmethod
    def backward(ctx, gy):
        n_head, scale = ctx.args
        if GradMode.enabled:  # create_graph: the same formulas on tensors, differentiable again
            qkv, p = ctx.saved_tensors
            return _packed_attention_backward_tensors(qkv, p, gy, n_head, scale), None, None
        qkv, p = ctx.saved_arrays
        xp = xp_of(qkv)
        q, k, v = _heads(qkv, n_head, 3)
        g = _heads(xp.ascontiguousarray(gy._data), n_head, 1)[0]
        gqkv = xp.empty(qkv.shape, dtype=qkv.dtype)
        gq, gk, gv = _heads(gqkv, n_head, 3)
        xp.matmul(p.transpose(0, 1, 3, 2), g, out=gv)
        gs = xp.matmul(g, v.transpose(0, 1, 3, 2))   # gP, then gS = P * (gP - sum(gP * P, -1)) * scale in place
        gs -= xp.einsum("...j,...j->...", gs, p)[..., None]   # row dots: no (B, H, T, T) temporary
        gs *= p
        gs *= scale
        xp.matmul(gs, k, out=gq)
        xp.matmul(gs.transpose(0, 1, 3, 2), q, out=gk)
        return make_tensor(gqkv), None, None


def _packed_attention_backward_tensors(qkv: Tensor, p: Tensor, gy: Tensor, n_head: int, scale: float) -> Tensor:
    """``PackedCausalAttention``'s backward on tensors (the forward's softmax recomputed from qkv)."""
    from numtorch.ops.shape import cat
    B, T, W = qkv.shape
    C = W // 3
    D = C // n_head

    def split(t, i, parts):
        return t[:, :, i * C:(i + 1) * C].reshape(B, T, n_head, D).transpose(1, 2)

    q, k, v = (split(qkv, i, 3) for i in range(3))
    mask = _causal_mask(xp_of(qkv._data), T, T, qkv._data.dtype)
    p = ScaledMaskedSoftmax.apply(matmul(q, k.transpose(-2, -1)), mask, scale=scale, dim=3)
    g = split(gy, 0, 1)
    gv = matmul(p.transpose(-2, -1), g)
    gp = matmul(g, v.transpose(-2, -1))
    gs = p * (gp - (gp * p).sum(-1, keepdim=True)) * scale
    parts = (matmul(gs, k), matmul(gs.transpose(-2, -1), q), gv)
    return cat([t.transpose(1, 2).reshape(B, T, C) for t in parts], -1)


def causal_self_attention(qkv: Tensor, n_head: int, dropout_p: float = 0.0) -> Tensor:
    """Causal multi-head self-attention of packed projections: qkv (B, T, 3C) -> y (B, T, C).

    The same as splitting qkv into q, k, v, viewing each as (B, n_head, T, C / n_head), calling
    ``scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)`` and merging the
    heads back; on the CPU without dropout it is one fused op (see ``PackedCausalAttention``).
    """
    B, T, W = qkv.shape
    C = W // 3
    H = n_head
    if W % 3 or C % H:
        raise RuntimeError(f"causal_self_attention: qkv's last dim ({W}) must be 3 * n_head * head_dim "
                           f"(n_head={H})")
    if dropout_p == 0.0 and xp_of(qkv._data) is np:
        return PackedCausalAttention.apply(qkv, H, 1.0 / math.sqrt(C // H))
    from numtorch.ops.rnn import ChunkLast
    q, k, v = (t.reshape(B, T, H, C // H).transpose(1, 2) for t in ChunkLast.apply(qkv, 3))
    y = scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
    return y.transpose(1, 2).reshape(B, T, C)
