"""A small decoder-only GPT (the shape of GPT-2 / nanoGPT): token and learned position embeddings,
``n_layer`` pre-LayerNorm blocks of causal self-attention and a GELU MLP, a final LayerNorm and a
linear head to vocabulary logits (tied to the token embedding by default).

    x = wte(idx) + wpe(0..T-1)
    for each block:  x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))
    logits = lm_head(ln_f(x))

``generate`` samples autoregressively; with ``use_cache`` every block keeps the keys and values of
the tokens it has already seen (a KV cache), so each new token costs one position instead of the
whole prefix.  With and without the cache the same seed gives the same tokens.

>>> import numtorch as torch
>>> from numtorch.models import GPT
>>> model = GPT(vocab_size=65, n_layer=2, n_head=2, n_embd=32, block_size=16)
>>> logits, loss = model(torch.randint(0, 65, (4, 16)), torch.randint(0, 65, (4, 16)))
>>> logits.shape
numtorch.Size([4, 16, 65])
"""
from __future__ import annotations

import math

import numtorch
import numtorch.nn.functional as F
from numtorch.nn import init
from numtorch.nn.modules.container import ModuleDict, ModuleList
from numtorch.nn.modules.activation import GELU
from numtorch.nn.modules.dropout import Dropout
from numtorch.nn.modules.linear import Linear
from numtorch.nn.modules.module import Module
from numtorch.nn.modules.normalization import LayerNorm
from numtorch.nn.modules.sparse import Embedding
from numtorch.tensor import Tensor

__all__ = ["GPT", "GPTConfig"]


class GPTConfig:
    """The hyper-parameters of ``GPT`` (defaults: the W5 benchmark model for Tiny Shakespeare)."""

    def __init__(self, vocab_size: int = 65, n_layer: int = 4, n_head: int = 4, n_embd: int = 128,
                 block_size: int = 64, dropout: float = 0.0, bias: bool = True,
                 tie_weights: bool = True) -> None:
        self.vocab_size, self.n_layer, self.n_head, self.n_embd = vocab_size, n_layer, n_head, n_embd
        self.block_size, self.dropout, self.bias, self.tie_weights = block_size, dropout, bias, tie_weights

    def to_dict(self) -> dict:
        return dict(vars(self))


class CausalSelfAttention(Module):
    """Multi-head causal self-attention with one fused q/k/v projection ``c_attn`` and output ``c_proj``."""

    def __init__(self, n_embd: int, n_head: int, dropout: float, bias: bool) -> None:
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"GPT: n_embd ({n_embd}) must be divisible by n_head ({n_head})")
        self.c_attn = Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = Linear(n_embd, n_embd, bias=bias)
        self.resid_dropout = Dropout(dropout)
        self.n_head = n_head
        self.n_embd = n_embd
        self.dropout = dropout

    def forward(self, x: Tensor, cache: list | None = None) -> Tensor:
        """x (B, T, C).  ``cache`` is None or a list [k, v] (B, H, T_past, D) that is extended in place."""
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        p = self.dropout if self.training else 0.0
        past = 0
        if cache is not None:
            if cache:
                past = cache[0].shape[2]
                k = numtorch.cat([cache[0], k], 2)
                v = numtorch.cat([cache[1], v], 2)
            cache[:] = [k, v]
        if past == 0:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=p, is_causal=True)
        else:   # new query i sits at position past + i: it sees keys 0 .. past + i
            keys = numtorch.arange(past + T, device=x.device)
            queries = numtorch.arange(past, past + T, device=x.device)
            keep = keys[None, :] <= queries[:, None]  # (T, past + T), built on x's device
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, dropout_p=p)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble all head outputs side by side
        return self.resid_dropout(self.c_proj(y))


class MLP(Module):
    """Linear(C, 4C) -> GELU -> Linear(4C, C) -> dropout."""

    def __init__(self, n_embd: int, dropout: float, bias: bool) -> None:
        super().__init__()
        self.c_fc = Linear(n_embd, 4 * n_embd, bias=bias)
        self.gelu = GELU()
        self.c_proj = Linear(4 * n_embd, n_embd, bias=bias)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = self.c_fc(x)
        x = self.gelu(x)
        x = self.c_proj(x)
        x = self.dropout(x)
        return x


class Block(Module):
    """Pre-LayerNorm Transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, n_embd: int, n_head: int, dropout: float, bias: bool) -> None:
        super().__init__()
        self.ln_1 = LayerNorm(n_embd, bias=bias)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout, bias)
        self.ln_2 = LayerNorm(n_embd, bias=bias)
        self.mlp = MLP(n_embd, dropout, bias)

    def forward(self, x: Tensor, cache: list | None = None) -> Tensor:
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


class GPT(Module):
    """Decoder-only Transformer language model.

    Args:
        vocab_size: number of token ids.
        n_layer, n_head, n_embd: depth, heads, width.
        block_size: the longest context (number of learned positions).
        dropout: on embeddings, attention weights and residual branches (training only).
        bias: biases in Linear and LayerNorm layers.
        tie_weights: ``lm_head.weight`` is ``transformer.wte.weight`` (one matrix, fewer parameters).
    Init:
        Linear and Embedding weights from N(0, 0.02^2), biases 0; the residual projections
        (``c_proj``) from N(0, (0.02 / sqrt(2 n_layer))^2), as GPT-2.
    Shapes:
        ``forward(idx (B, T), targets (B, T) or None)`` -> (logits (B, T, vocab_size), loss or None).
    """

    def __init__(self, vocab_size: int = 65, n_layer: int = 4, n_head: int = 4, n_embd: int = 128,
                 block_size: int = 64, dropout: float = 0.0, bias: bool = True,
                 tie_weights: bool = True) -> None:
        super().__init__()
        self.config = GPTConfig(vocab_size, n_layer, n_head, n_embd, block_size, dropout, bias, tie_weights)
        self.block_size = block_size
        self.transformer = ModuleDict(dict(
            wte=Embedding(vocab_size, n_embd),
            wpe=Embedding(block_size, n_embd),
            drop=Dropout(dropout),
            h=ModuleList([Block(n_embd, n_head, dropout, bias) for _ in range(n_layer)]),
            ln_f=LayerNorm(n_embd, bias=bias),
        ))
        self.lm_head = Linear(n_embd, vocab_size, bias=False)
        if tie_weights:
            self.lm_head.weight = self.transformer.wte.weight
        self._init_weights(n_layer)

    def _init_weights(self, n_layer: int) -> None:
        for m in self.modules():
            if isinstance(m, (Linear, Embedding)):
                init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, Linear) and m.bias is not None:
                init.zeros_(m.bias)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layer))

    def num_params(self, non_embedding: bool = True) -> int:
        """Number of parameters (without the position embedding when ``non_embedding``)."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def forward(self, idx: Tensor, targets: Tensor | None = None, caches: list | None = None,
                offset: int = 0):
        """Logits for every position and, given ``targets``, the mean cross-entropy loss.

        ``caches`` (one list per block) and ``offset`` (positions already cached) serve ``generate``.
        """
        B, T = idx.shape
        if offset + T > self.block_size:
            raise ValueError(f"GPT: cannot forward a sequence of length {offset + T}, block size is only "
                             f"{self.block_size}")
        pos = numtorch.arange(offset, offset + T, dtype=numtorch.int64, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for i, block in enumerate(self.transformer.h):
            x = block(x, None if caches is None else caches[i])
        logits = self.lm_head(self.transformer.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(B * T), ignore_index=-1)
        return logits, loss

    def _next_logits(self, idx: Tensor, caches: list | None) -> Tensor:
        """Logits of the last position; with caches only the tokens not yet cached are fed."""
        T = idx.shape[1]
        if caches is None:
            return self(idx[:, -self.block_size:])[0][:, -1, :]
        cached = caches[0][0].shape[2] if caches[0] else 0
        if cached + (T - cached) > self.block_size or cached == 0:
            # (re)fill: the window slid past the learned positions, so every key must be recomputed
            for c in caches:
                c.clear()
            return self(idx[:, -self.block_size:], caches=caches)[0][:, -1, :]
        return self(idx[:, cached:], caches=caches, offset=cached)[0][:, -1, :]

    def generate(self, idx: Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 use_cache: bool = True, generator=None) -> Tensor:
        """Appends ``max_new_tokens`` sampled tokens to ``idx`` (B, T) and returns (B, T + max_new_tokens).

        Each step samples from softmax(logits / temperature), restricted to the ``top_k`` most likely
        tokens when given; ``temperature=0`` picks the most likely token.  The model runs in eval mode
        without recording gradients.
        """
        was_training = self.training
        self.eval()
        caches = [[] for _ in self.transformer.h] if use_cache else None
        try:
            with numtorch.no_grad():
                for _ in range(max_new_tokens):
                    logits = self._next_logits(idx, caches)
                    if temperature <= 0:
                        nxt = logits.argmax(-1, keepdim=True)
                    else:
                        logits = logits / temperature
                        if top_k is not None:
                            kth = numtorch.topk(logits, min(top_k, logits.shape[-1]))[0][:, -1:]
                            logits = logits.masked_fill(logits < kth, float("-inf"))
                        nxt = numtorch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)
                    idx = numtorch.cat([idx, nxt], 1)
        finally:
            self.train(was_training)
        return idx
