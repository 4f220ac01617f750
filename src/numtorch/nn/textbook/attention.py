"""Attention from its formula: each query takes a softmax-weighted mean of the values.

    attention(Q, K, V) = softmax(Q K^T / sqrt(E) + M) V

Q (..., L, E), K (..., S, E), V (..., S, Ev).  Row l of the (L, S) score matrix says how well
query l matches each key; M adds -inf where a query must not look (a later token, for a causal
model), which softmax turns into a weight of 0.
"""
from __future__ import annotations

import math

import numtorch
from numtorch.nn.textbook.activations import softmax
from numtorch.nn.textbook.linear import linear
from numtorch.tensor import Tensor

__all__ = ["scaled_dot_product_attention", "multi_head_attention"]


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None = None,
                                 *, is_causal: bool = False, scale: float | None = None) -> Tensor:
    """softmax(Q K^T * scale + M) V, scale = 1 / sqrt(E) unless given.

    ``is_causal``: query l sees keys 0..l only (the lower triangle).  ``attn_mask``, as in
    ``F.scaled_dot_product_attention``: a bool mask (True = may attend) or a float mask added to
    the scores.  No dropout: see the library op for ``dropout_p``.
    """
    L, S = query.shape[-2], key.shape[-2]
    if scale is None:
        scale = 1 / math.sqrt(query.shape[-1])
    scores = (query @ key.transpose(-2, -1)) * scale                     # (..., L, S)
    if is_causal:
        allowed = numtorch.ones(L, S, dtype=numtorch.bool, device=query.device).tril()
        scores = scores.masked_fill(~allowed, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == numtorch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    return softmax(scores, dim=-1) @ value


def multi_head_attention(query: Tensor, key: Tensor, value: Tensor, num_heads: int, in_proj_weight: Tensor,
                         in_proj_bias: Tensor | None, out_proj_weight: Tensor, out_proj_bias: Tensor | None,
                         *, is_causal: bool = False) -> Tensor:
    """``nn.MultiheadAttention``'s output for (N, L, E) inputs (``batch_first=True``), from its weights.

    Project: Q = query W_q^T + b_q (and K, V likewise; ``in_proj_weight`` stacks W_q, W_k, W_v as
    (3E, E)); split E into ``num_heads`` heads of E / num_heads features; attend in each head
    independently; join the heads and project with ``out_proj``.
    """
    N, L, E = query.shape
    h = num_heads
    Ws = in_proj_weight.chunk(3)
    bs = in_proj_bias.chunk(3) if in_proj_bias is not None else (None, None, None)
    q, k, v = (linear(x, W, b) for x, W, b in zip((query, key, value), Ws, bs))

    def heads(t: Tensor) -> Tensor:                 # (N, S, E) -> (N, h, S, E / h)
        return t.reshape(N, t.shape[1], h, E // h).transpose(1, 2)

    o = scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=is_causal)
    o = o.transpose(1, 2).reshape(N, L, E)          # join the heads: (N, L, E)
    return linear(o, out_proj_weight, out_proj_bias)
