"""The Transformer (Vaswani et al. 2017), as ``torch.nn.Transformer`` and its layers, plus positional
encodings.

An encoder layer is self-attention then a position-wise MLP, each wrapped in a residual
connection and a LayerNorm::

    post-norm (default):  x = norm1(x + SA(x));        x = norm2(x + FF(x))
    pre-norm (norm_first): x = x + SA(norm1(x));       x = x + FF(norm2(x))

A decoder layer adds cross-attention to the encoder's output (``memory``) between the two.

PyTorch has no positional-encoding module; numtorch adds two (``SinusoidalPositionalEncoding``,
``LearnedPositionalEncoding``) because attention alone does not know the order of its inputs.
"""
from __future__ import annotations

import copy
import math
from typing import Callable

import numpy as np

from numtorch.nn import init
from numtorch.nn.modules.attention import MultiheadAttention
from numtorch.nn.modules.container import ModuleList
from numtorch.nn.modules import dropout as _dropout
from numtorch.nn.modules.linear import Linear
from numtorch.nn.modules.module import Module
from numtorch.nn.modules.normalization import LayerNorm
from numtorch.nn.parameter import Parameter
from numtorch.tensor import Tensor
from numtorch._dtypes import get_default_dtype
from numtorch.creation import empty, full, tensor
from numtorch.ops import triu

__all__ = ["TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer", "TransformerDecoder",
           "Transformer", "SinusoidalPositionalEncoding", "LearnedPositionalEncoding"]


def _activation(activation) -> Callable:
    if callable(activation):
        return activation
    import numtorch.nn.functional as F
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise RuntimeError(f"activation should be relu/gelu, not {activation}")


def Dropout(p: float) -> Module:
    """``nn.Dropout(p)`` (looked up when a layer is built)."""
    return _dropout.Dropout(p)


def _clones(module: Module, n: int) -> ModuleList:
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


def _square_subsequent_mask(sz: int, dtype=None, device=None) -> Tensor:
    return triu(full((sz, sz), float("-inf"), dtype=dtype, device=device), diagonal=1)


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward MLP, each with a residual connection and a LayerNorm.

    Args:
        d_model: width; nhead: attention heads; dim_feedforward: hidden width of the MLP.
        dropout: after attention, inside and after the MLP, and on the attention weights.
        activation: "relu", "gelu" or a callable.
        layer_norm_eps, batch_first, norm_first, bias: as ``torch.nn.TransformerEncoderLayer``.
    Shapes:
        src (S, N, E) or (N, S, E) with ``batch_first``; src_mask (S, S) or (N * nhead, S, S);
        src_key_padding_mask (N, S).  Output: like src.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation)
        self.batch_first = batch_first

    def forward(self, src: Tensor, src_mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
                is_causal: bool = False) -> Tensor:
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoder(Module):
    """A stack of ``num_layers`` copies of ``encoder_layer`` and an optional final ``norm``.

    ``enable_nested_tensor`` and ``mask_check`` are accepted for compatibility (numtorch has no
    nested tensors; padded positions are computed and masked instead).
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check

    def forward(self, src: Tensor, mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
                is_causal: bool | None = None) -> Tensor:
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, is_causal=bool(is_causal), src_key_padding_mask=src_key_padding_mask)
        return x if self.norm is None else self.norm(x)


class TransformerDecoderLayer(Module):
    """Self-attention, cross-attention to ``memory``, and a feed-forward MLP (each residual + LayerNorm).

    Shapes:
        tgt (T, N, E), memory (S, N, E) (or batch first); tgt_mask (T, T); memory_mask (T, S);
        tgt_key_padding_mask (N, T); memory_key_padding_mask (N, S).  Output: like tgt.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(activation)
        self.batch_first = batch_first

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> Tensor:
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                                    memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                               memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           is_causal=is_causal, need_weights=False)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal) -> Tensor:
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                is_causal=is_causal, need_weights=False)[0]
        return self.dropout2(x)

    def _ff_block(self, x) -> Tensor:
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoder(Module):
    """A stack of ``num_layers`` copies of ``decoder_layer`` and an optional final ``norm``."""

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int,
                 norm: Module | None = None) -> None:
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        return x if self.norm is None else self.norm(x)


class Transformer(Module):
    """The encoder-decoder Transformer, as ``torch.nn.Transformer`` (no embeddings: inputs are vectors).

    Args:
        d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
        dropout=0.1, activation="relu", custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-5,
        batch_first=False, norm_first=False, bias=True.
    Shapes:
        src (S, N, E), tgt (T, N, E) (or batch first) -> output (T, N, E).
    Init:
        every parameter with more than one dim from ``xavier_uniform_``, as PyTorch.

    >>> import numtorch as torch
    >>> model = torch.nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
    ...                              dim_feedforward=32, batch_first=True)
    >>> model(torch.randn(2, 5, 16), torch.randn(2, 4, 16)).shape
    numtorch.Size([2, 4, 16])
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", custom_encoder: Module | None = None,
                 custom_decoder: Module | None = None,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False, norm_first: bool = False,
                 bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                            layer_norm_eps, batch_first, norm_first, bias, **kw)
            self.encoder = TransformerEncoder(layer, num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                            layer_norm_eps, batch_first, norm_first, bias, **kw)
            self.decoder = TransformerDecoder(layer, num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def _reset_parameters(self) -> None:
        for p in self.parameters():
            if p.dim() > 1:
                init.xavier_uniform_(p)

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Tensor | None = None,
                tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
                tgt_key_padding_mask: Tensor | None = None, memory_key_padding_mask: Tensor | None = None,
                src_is_causal: bool | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        batch_dim = 0 if self.batch_first else 1
        if src.ndim == 3 and src.shape[batch_dim] != tgt.shape[batch_dim]:
            raise RuntimeError("the batch number of src and tgt must be equal")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError("the feature number of src and tgt must be equal to d_model")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
        """(sz, sz) float mask: 0 on and below the diagonal, -inf above (position i sees 0..i)."""
        return _square_subsequent_mask(sz, dtype=dtype, device=device)


class SinusoidalPositionalEncoding(Module):
    """Adds the fixed sine/cosine position code of "Attention Is All You Need" (not in PyTorch).

    pe[pos, 2i] = sin(pos / 10000^(2i/d_model)),  pe[pos, 2i+1] = cos(pos / 10000^(2i/d_model)).

    Args:
        d_model: width; max_len: longest sequence; dropout: applied after the addition;
        batch_first: input (N, T, E) (default) or (T, N, E).
    The code is a non-persistent buffer ``pe`` (max_len, d_model): not saved in the state_dict.
    """

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0,
                 batch_first: bool = True) -> None:
        super().__init__()
        pos = np.arange(max_len, dtype=np.float64)[:, None]
        div = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * (-math.log(10000.0) / d_model))
        pe = np.zeros((max_len, d_model))
        pe[:, 0::2] = np.sin(pos * div)
        pe[:, 1::2] = np.cos(pos * div[: d_model // 2])
        self.register_buffer("pe", tensor(pe, dtype=get_default_dtype()), persistent=False)
        self.dropout = Dropout(dropout)
        self.batch_first = batch_first

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        T = x.shape[1] if self.batch_first else x.shape[0]
        pe = self.pe[offset:offset + T]
        return self.dropout(x + (pe if self.batch_first else pe.unsqueeze(1)))


class LearnedPositionalEncoding(Module):
    """Adds a learned vector per position, ``weight`` (max_len, d_model) from N(0, 0.02^2) (not in PyTorch).

    Args as ``SinusoidalPositionalEncoding``; ``forward(x, offset=0)`` adds positions offset..offset+T-1.
    """

    def __init__(self, max_len: int, d_model: int, dropout: float = 0.0, batch_first: bool = True) -> None:
        super().__init__()
        self.weight = Parameter(empty((max_len, d_model)))
        init.normal_(self.weight, 0.0, 0.02)
        self.dropout = Dropout(dropout)
        self.batch_first = batch_first

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        T = x.shape[1] if self.batch_first else x.shape[0]
        if offset + T > self.weight.shape[0]:
            raise ValueError(f"LearnedPositionalEncoding: positions up to {offset + T} exceed max_len "
                             f"{self.weight.shape[0]}")
        pe = self.weight[offset:offset + T]
        return self.dropout(x + (pe if self.batch_first else pe.unsqueeze(1)))
