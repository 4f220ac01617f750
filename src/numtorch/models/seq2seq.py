"""A small encoder-decoder Transformer for sequence-to-sequence tasks (translation, reversal, ...).

Token embeddings (scaled by sqrt(d_model)) plus a sinusoidal position code feed ``nn.Transformer``;
a linear ``generator`` turns decoder states into target-vocabulary logits.  Training uses teacher
forcing (the decoder reads the target shifted right, behind a causal mask); ``greedy_decode``
produces a translation one token at a time.

>>> import numtorch as torch
>>> from numtorch.models import Seq2SeqTransformer
>>> model = Seq2SeqTransformer(12, 12, d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
...                            dim_feedforward=32)
>>> model(torch.randint(0, 12, (2, 7)), torch.randint(0, 12, (2, 5))).shape
numtorch.Size([2, 5, 12])
"""
from __future__ import annotations

import math

import numtorch
from numtorch.nn.modules.linear import Linear
from numtorch.nn.modules.module import Module
from numtorch.nn.modules.sparse import Embedding
from numtorch.nn.modules.transformer import SinusoidalPositionalEncoding, Transformer
from numtorch.tensor import Tensor

__all__ = ["Seq2SeqTransformer"]


class Seq2SeqTransformer(Module):
    """Embeddings + ``nn.Transformer`` (batch first) + a generator head.

    Args:
        src_vocab_size, tgt_vocab_size: token ids of source and target.
        d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout: of the Transformer.
        max_len: longest sequence the position code covers.
        norm_first: pre-LayerNorm layers (train faster and more stably than the default post-norm).
    Shapes:
        ``forward(src (N, S), tgt_in (N, T), src_key_padding_mask=None, tgt_key_padding_mask=None)`` ->
        logits (N, T, tgt_vocab_size); position t sees tgt_in[:, :t+1] only.
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, d_model: int = 64, nhead: int = 4,
                 num_encoder_layers: int = 2, num_decoder_layers: int = 2, dim_feedforward: int = 128,
                 dropout: float = 0.1, max_len: int = 512, norm_first: bool = False) -> None:
        super().__init__()
        self.d_model = d_model
        self.src_tok_emb = Embedding(src_vocab_size, d_model)
        self.tgt_tok_emb = Embedding(tgt_vocab_size, d_model)
        self.positional_encoding = SinusoidalPositionalEncoding(d_model, max_len, dropout)
        self.transformer = Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers,
                                       dim_feedforward, dropout, batch_first=True, norm_first=norm_first)
        self.generator = Linear(d_model, tgt_vocab_size)

    def _embed(self, emb: Embedding, tokens: Tensor) -> Tensor:
        return self.positional_encoding(emb(tokens) * math.sqrt(self.d_model))

    def encode(self, src: Tensor, src_key_padding_mask: Tensor | None = None) -> Tensor:
        """Encoder states (N, S, d_model)."""
        return self.transformer.encoder(self._embed(self.src_tok_emb, src),
                                        src_key_padding_mask=src_key_padding_mask)

    def decode(self, tgt: Tensor, memory: Tensor, tgt_key_padding_mask: Tensor | None = None,
               memory_key_padding_mask: Tensor | None = None) -> Tensor:
        """Decoder states (N, T, d_model) under a causal mask."""
        T = tgt.shape[1]
        mask = Transformer.generate_square_subsequent_mask(T, device=memory.device, dtype=memory.dtype)
        return self.transformer.decoder(self._embed(self.tgt_tok_emb, tgt), memory, tgt_mask=mask,
                                        tgt_key_padding_mask=tgt_key_padding_mask,
                                        memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=True)

    def forward(self, src: Tensor, tgt: Tensor, src_key_padding_mask: Tensor | None = None,
                tgt_key_padding_mask: Tensor | None = None) -> Tensor:
        memory = self.encode(src, src_key_padding_mask)
        out = self.decode(tgt, memory, tgt_key_padding_mask, src_key_padding_mask)
        return self.generator(out)

    def greedy_decode(self, src: Tensor, max_len: int, start_symbol: int,
                      end_symbol: int | None = None) -> Tensor:
        """The most likely target, token by token: (N, <= max_len) ids, without the start symbol.

        Stops early when every sequence has produced ``end_symbol``.
        """
        was_training = self.training
        self.eval()
        try:
            with numtorch.no_grad():
                memory = self.encode(src)
                ys = numtorch.full((src.shape[0], 1), start_symbol, dtype=numtorch.int64, device=src.device)
                for _ in range(max_len):
                    logits = self.generator(self.decode(ys, memory)[:, -1])
                    ys = numtorch.cat([ys, logits.argmax(-1, keepdim=True)], 1)
                    if end_symbol is not None and bool((ys == end_symbol).any(1).all()):
                        break
        finally:
            self.train(was_training)
        return ys[:, 1:]
