"""Variable-length sequences (``torch.nn.utils.rnn``): ``pad_sequence`` (a padded batch) and packed
sequences, which the recurrent layers run without computing on the padding.

A ``PackedSequence`` holds the batch sorted by decreasing length and read time step by time step:
``data`` is the steps' rows one after another (``batch_sizes[t]`` rows at step t: the sequences still
running), ``sorted_indices`` the order of the original batch sorted, ``unsorted_indices`` its inverse::

    lengths [2, 3] -> sorted [3, 2], sorted_indices [1, 0]
    data = [x1[0], x0[0], x1[1], x0[1], x1[2]],   batch_sizes = [2, 2, 1]
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from numtorch.creation import tensor as _tensor
from numtorch.ops.shape import cat, constant_pad, stack
from numtorch.tensor import Tensor

__all__ = ["pad_sequence", "PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pack_sequence",
           "invert_permutation"]


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


class PackedSequence(NamedTuple):
    """A packed batch of variable-length sequences (see the module docstring); made by
    ``pack_padded_sequence`` / ``pack_sequence``, accepted by ``nn.RNN`` / ``LSTM`` / ``GRU``."""
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None

    def to(self, *args, **kwargs) -> "PackedSequence":
        """The same packing with ``data`` moved or cast (``batch_sizes`` stays on the CPU)."""
        return self._replace(data=self.data.to(*args, **kwargs))

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The inverse permutation: ``out[permutation[i]] = i``."""
    if permutation is None:
        return None
    idx = permutation.numpy()
    out = np.empty_like(idx)
    out[idx] = np.arange(idx.size)
    return _tensor(out)


def _lengths_array(lengths) -> np.ndarray:
    if isinstance(lengths, Tensor):
        return lengths.cpu().numpy().astype(np.int64).reshape(-1)
    return np.asarray(lengths, dtype=np.int64).reshape(-1)


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Packs a padded batch (T, B, *) (or (B, T, *) with ``batch_first``) of sequences of ``lengths``.

    With ``enforce_sorted`` the lengths must decrease; otherwise the batch is sorted here and the
    order kept in ``sorted_indices``.  Differentiable in ``input``.
    """
    n = _lengths_array(lengths)
    if enforce_sorted:
        if np.any(n[:-1] < n[1:]):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is "
                               "True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
                               "pack_sequence to sidestep this requirement if you do not need ONNX "
                               "exportability.")
        sorted_indices = None
    else:
        order = np.argsort(-n, kind="stable")
        n, sorted_indices = n[order], _tensor(order)
        input = input.index_select(0 if batch_first else 1, sorted_indices)
    if n.size and n[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in "
                           "'lengths' that is <= 0")
    x = input.transpose(0, 1) if batch_first else input
    if n.size and n[0] > x.shape[0]:
        raise RuntimeError(f"Expected sequence length to be at most {x.shape[0]}, but got {n[0]}")
    batch_sizes = np.array([(n > t).sum() for t in range(int(n[0]) if n.size else 0)], dtype=np.int64)
    data = cat([x[t, :int(b)] for t, b in enumerate(batch_sizes)], 0)
    return PackedSequence(data, _tensor(batch_sizes), sorted_indices, invert_permutation(sorted_indices))


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple:
    """The inverse of ``pack_padded_sequence``: ``(padded batch, lengths)`` in the original batch order,
    the steps past a sequence's end filled with ``padding_value``.  Differentiable."""
    data, batch_sizes = sequence.data, sequence.batch_sizes.numpy()
    T, N = len(batch_sizes), int(batch_sizes[0])
    if total_length is not None:
        if total_length < T:
            raise ValueError("Expected total_length to be at least the length of the longest sequence in "
                             f"input, but got total_length={total_length} and max sequence length being {T}")
    steps, offset = [], 0
    for b in batch_sizes:
        piece = data[offset:offset + int(b)]
        offset += int(b)
        pad = (0, 0) * (piece.ndim - 1) + (0, N - int(b))
        steps.append(constant_pad(piece, pad, padding_value) if b < N else piece)
    padded = stack(steps, 0)
    if total_length is not None and total_length > T:
        padded = constant_pad(padded, (0, 0) * (padded.ndim - 1) + (0, total_length - T), padding_value)
    lengths = np.array([(batch_sizes > i).sum() for i in range(N)], dtype=np.int64)
    if sequence.unsorted_indices is not None:
        padded = padded.index_select(1, sequence.unsorted_indices)
        lengths = lengths[sequence.unsorted_indices.numpy()]
    return (padded.transpose(0, 1) if batch_first else padded), _tensor(lengths)


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Packs a list of tensors (L_i, *) of decreasing length (or any order without ``enforce_sorted``)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)
