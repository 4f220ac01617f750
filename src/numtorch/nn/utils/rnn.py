"""``pad_sequence``: a list of variable-length sequences as one padded batch (``torch.nn.utils.rnn``)."""
from __future__ import annotations

from typing import Sequence

from numtorch.ops.shape import constant_pad, stack
from numtorch.tensor import Tensor

__all__ = ["pad_sequence"]


def pad_sequence(sequences: Sequence[Tensor], batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stacks tensors of shape (L_i, *) into (max L, B, *) (or (B, max L, *) with ``batch_first``).

    Shorter sequences are filled with ``padding_value`` on the right (or left); differentiable.
    """
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    if len(sequences) == 0:
        raise RuntimeError("received an empty list of sequences")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        extra = longest - s.shape[0]
        before, after = (0, extra) if padding_side == "right" else (extra, 0)
        pad = (0, 0) * (s.ndim - 1) + (before, after)  # pad pairs run from the last dim backwards
        padded.append(constant_pad(s, pad, padding_value) if extra else s)
    return stack(padded, 0 if batch_first else 1)
