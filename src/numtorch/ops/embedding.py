"""Embedding: a lookup of rows of a weight matrix by integer indices.

Forward reads ``weight[idx]``.  Backward adds each output row's gradient into the row it was read
from; a row read twice gets the sum.  On NumPy that sum is one sort and one ``add.reduceat`` over
the rows (cost independent of the vocabulary size, no ``np.add.at``); other array modules use
``scatter_sum``.  Rows at ``padding_idx`` get no gradient.
"""
from __future__ import annotations

import numpy as np

from numtorch._backend import xp_of
from numtorch.autograd.function import Function
from numtorch.ops._util import same_device
from numtorch.ops.index import scatter_sum
from numtorch.tensor import Tensor, make_tensor

__all__ = ["embedding"]


def _row_sums(g2, rows, n: int):
    """out (n, D) with out[r] = sum of g2[i] over i where rows[i] == r."""
    xp = xp_of(g2)
    D = g2.shape[1]
    if xp is np:
        out = np.zeros((n, D), dtype=g2.dtype)
        if rows.size == 0:
            return out
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
        out[sorted_rows[starts]] = np.add.reduceat(g2[order], starts, axis=0)
        return out
    pos = rows[:, None] * D + xp.arange(D)
    return scatter_sum(xp, pos, g2, n * D, g2.dtype).reshape(n, D)


class EmbeddingFunction(Function):
    @staticmethod
    def forward(ctx, weight, idx, padding_idx):
        ctx.args = (idx, weight.shape[0], padding_idx)
        return xp_of(weight).take(weight, idx, axis=0)

    @staticmethod
    def backward(ctx, gy):
        idx, n, padding_idx = ctx.args
        return EmbeddingBackward.apply(gy, idx, n, padding_idx), None, None


class EmbeddingBackward(Function):
    """gweight (n, D): the rows of ``g`` summed into the rows they were read from."""

    @staticmethod
    def forward(ctx, g, idx, n, padding_idx):
        ctx.args = (idx, padding_idx)
        D = g.shape[-1]
        rows = idx.reshape(-1)
        g2 = g.reshape(-1, D)
        if padding_idx is not None:
            keep = rows != padding_idx
            rows, g2 = rows[keep], g2[keep]
        return _row_sums(g2, rows, n)

    @staticmethod
    def backward(ctx, gg):
        # linear in g: its backward reads the rows again (padding rows contribute nothing)
        idx, padding_idx = ctx.args
        out = EmbeddingFunction.apply(gg, idx, None)
        if padding_idx is not None:
            out = out * make_tensor((idx != padding_idx)[..., None].astype(gg._data.dtype))
        return out, None, None, None


def _renorm_(weight: Tensor, idx, max_norm: float, norm_type: float) -> None:
    """Rescales (in place, without gradient) the rows read by ``idx`` whose norm exceeds ``max_norm``."""
    xp = xp_of(weight._data)
    rows = xp.unique(idx.reshape(-1))
    w = weight._data
    norms = (xp.linalg.norm(w[rows], ord=norm_type, axis=1) if norm_type != 2
             else xp.sqrt((w[rows] ** 2).sum(1)))
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(w.dtype)
    w[rows] *= scale[:, None]
    weight._bump_version()      # an in-place change: backward of earlier uses of weight must notice


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` picked by integer ``input`` (``torch.nn.functional.embedding``).

    Args:
        input: integer tensor of any shape (*).
        weight: (num_embeddings, embedding_dim).
        padding_idx: that row receives no gradient.
        max_norm: rows read are first renormalised in place to norm <= max_norm.

    Returns:
        (*, embedding_dim).

    >>> import numtorch as torch
    >>> w = torch.arange(6.0).reshape(3, 2)
    >>> torch.nn.functional.embedding(torch.tensor([2, 0]), w)
    tensor([[4., 5.],
            [0., 1.]])
    """
    if isinstance(input, Tensor):
        same_device("embedding", weight, input)
        idx = input._data
    else:
        idx = xp_of(weight._data).asarray(input)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"embedding: Expected tensor for argument #1 'indices' to have one of the "
                           f"following scalar types: Long, Int; but got {idx.dtype} instead")
    n = weight.shape[0]
    if idx.__class__ is np.ndarray and idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n):
        # (host only: on a GPU the check would wait for the device every step)
        raise IndexError(f"embedding: index out of range in self (indices must be in [0, {n}), got min "
                         f"{int(idx.min())} and max {int(idx.max())})")
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise AssertionError("Padding_idx must be within num_embeddings")
        padding_idx = padding_idx % n
    if max_norm is not None:
        _renorm_(weight, idx, max_norm, norm_type)
    if scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: scale_grad_by_freq and sparse gradients are not supported")
    return EmbeddingFunction.apply(weight, idx, padding_idx)
