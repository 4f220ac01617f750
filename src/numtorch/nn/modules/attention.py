"""``MultiheadAttention``: h attention heads over learned projections of query, key and value.

For each head j (E = embed_dim, D = E / num_heads)::

    Q_j = query W_q,j   K_j = key W_k,j   V_j = value W_v,j          # (L, D), (S, D), (S, D)
    head_j = softmax(Q_j K_j^T / sqrt(D) + mask) V_j                # (L, D)
    output = concat(head_1, ..., head_h) W_out + b_out              # (L, E)

Masks follow ``torch.nn.MultiheadAttention``: in ``attn_mask`` and ``key_padding_mask`` a bool
True means *not allowed* (the opposite of ``scaled_dot_product_attention``); a float mask is added.
"""
from __future__ import annotations

import numpy as np

from numtorch._backend import xp_of
from numtorch.nn import init
from numtorch.nn.modules.linear import NonDynamicallyQuantizableLinear
from numtorch.nn.modules.module import Module
from numtorch.nn.parameter import Parameter
from numtorch.ops.activation import linear
from numtorch.ops.attention import attention_with_weights
from numtorch.ops.rnn import ChunkLast
from numtorch.tensor import Tensor, make_tensor
from numtorch.creation import empty, zeros
from numtorch.ops import cat

__all__ = ["MultiheadAttention", "NonDynamicallyQuantizableLinear"]


def _as_additive(mask, dtype, name: str):
    """A bool (True = masked out) or float mask as a float array: -inf where masked, else the value."""
    if mask is None:
        return None
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype == bool:
        return xp_of(m).where(m, dtype.type(-np.inf), dtype.type(0))
    if m.dtype.kind not in "fV":
        raise AssertionError(f"MultiheadAttention: only bool and floating types of {name} are supported, "
                             f"got {m.dtype}")
    return m.astype(dtype, copy=False)


class MultiheadAttention(Module):
    """Multi-head attention, as ``torch.nn.MultiheadAttention``.

    Args:
        embed_dim: model width E (split over the heads).
        num_heads: number of heads; must divide ``embed_dim``.
        dropout: dropout probability on the attention weights (training only).
        bias: learn input and output projection biases.
        add_bias_kv: learn a bias row appended to the keys and values (``bias_k``, ``bias_v``).
        add_zero_attn: append a row of zeros to keys and values.
        kdim, vdim: widths of key and value (default ``embed_dim``); when they differ the input
            projections are three matrices ``q_proj_weight``, ``k_proj_weight``, ``v_proj_weight``,
            otherwise one ``in_proj_weight`` (3E, E).
        batch_first: inputs and output are (N, L, E) instead of (L, N, E).
    Shapes:
        query (L, N, E), key (S, N, kdim), value (S, N, vdim) (or batch first, or unbatched without N);
        key_padding_mask (N, S); attn_mask (L, S) or (N * num_heads, L, S).
        Returns output (L, N, E) and, with ``need_weights``, weights (N, L, S) (averaged over heads)
        or (N, num_heads, L, S).

    >>> import numtorch as torch
    >>> mha = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    >>> x = torch.randn(3, 5, 8)
    >>> out, w = mha(x, x, x)
    >>> out.shape, w.shape
    (numtorch.Size([3, 5, 8]), numtorch.Size([3, 5, 5]))
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and "
                             f"num_heads={num_heads} instead")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")
        kw = dict(device=device, dtype=dtype)
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = Parameter(empty((embed_dim, embed_dim), **kw))
            self.k_proj_weight = Parameter(empty((embed_dim, self.kdim), **kw))
            self.v_proj_weight = Parameter(empty((embed_dim, self.vdim), **kw))
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = Parameter(empty((3 * embed_dim, embed_dim), **kw))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(empty(3 * embed_dim, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, **kw)
        if add_bias_kv:
            self.bias_k = Parameter(empty((1, 1, embed_dim), **kw))
            self.bias_v = Parameter(empty((1, 1, embed_dim), **kw))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    # ---- the three input projections --------------------------------------------------------
    def _project(self, query: Tensor, key: Tensor, value: Tensor):
        E = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        if self._qkv_same_embed_dim:
            if query is key and key is value:        # self-attention: one GEMM for q, k and v
                return ChunkLast.apply(linear(query, self.in_proj_weight, b), 3)
            w = self.in_proj_weight
            wq, wk, wv = w[:E], w[E:2 * E], w[2 * E:]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return linear(query, wq, bq), linear(key, wk, bk), linear(value, wv, bv)

    def _mask(self, attn_mask, key_padding_mask, N: int, L: int, S: int, dtype):
        """attn_mask and key_padding_mask merged into one additive (N or 1, H or 1, L, S) array."""
        am = _as_additive(attn_mask, dtype, "attn_mask")
        kpm = _as_additive(key_padding_mask, dtype, "key_padding_mask")
        H = self.num_heads
        if am is not None:
            if am.ndim == 2:
                if am.shape != (L, S):
                    raise RuntimeError(f"The shape of the 2D attn_mask is {tuple(am.shape)}, but should be "
                                       f"{(L, S)}.")
                am = am[None, None]
            elif am.ndim == 3:
                if am.shape != (N * H, L, S):
                    raise RuntimeError(f"The shape of the 3D attn_mask is {tuple(am.shape)}, but should be "
                                       f"{(N * H, L, S)}.")
                am = am.reshape(N, H, L, S)
            else:
                raise RuntimeError(f"attn_mask's dimension {am.ndim} is not supported")
        if kpm is not None:
            if kpm.shape != (N, S):
                raise AssertionError(f"expecting key_padding_mask shape of {(N, S)}, but got "
                                     f"{tuple(kpm.shape)}")
            kpm = kpm[:, None, None, :]
            am = kpm if am is None else am + kpm
        return am

    def _extend_kv(self, k: Tensor, v: Tensor, mask, N: int):
        """Appends ``bias_k``/``bias_v`` and/or a zero row to keys and values (and a 0 column to the mask)."""
        extra = 0
        if self.bias_k is not None:
            k = cat([k, self.bias_k.expand(N, 1, self.embed_dim)], 1)
            v = cat([v, self.bias_v.expand(N, 1, self.embed_dim)], 1)
            extra += 1
        if self.add_zero_attn:
            k = cat([k, zeros(N, 1, self.embed_dim, dtype=k.dtype, device=k.device)], 1)
            v = cat([v, zeros(N, 1, self.embed_dim, dtype=v.dtype, device=v.device)], 1)
            extra += 1
        if extra and mask is not None:
            pad = [(0, 0)] * (mask.ndim - 1) + [(0, extra)]
            mask = xp_of(mask).pad(mask, pad)
        return k, v, mask

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Tensor | None = None,
                need_weights: bool = True, attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False):
        if is_causal and attn_mask is None:
            raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer "
                               "module method `generate_square_subsequent_mask` to create this mask.")
        unbatched = query.ndim == 2
        same = query is key and key is value
        if unbatched:                                # (L, E) -> (1, L, E)
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif not self.batch_first:                   # (L, N, E) -> (N, L, E)
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        if same:
            key = value = query
        N, L, E = query.shape
        q, k, v = self._project(query, key, value)
        mask = self._mask(attn_mask, key_padding_mask, N, L, k.shape[1], q._data.dtype)
        k, v, mask = self._extend_kv(k, v, mask, N)
        H, D = self.num_heads, self.head_dim
        q, k, v = (t.reshape(N, t.shape[1], H, D).transpose(1, 2) for t in (q, k, v))   # (N, H, *, D)
        p = self.dropout if self.training else 0.0
        out, w = attention_with_weights(q, k, v, None if mask is None else make_tensor(mask), dropout_p=p)
        out = self.out_proj(out.transpose(1, 2).reshape(N, L, E))
        if unbatched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            w = w.mean(1)
        return out, (w.squeeze(0) if unbatched else w)
