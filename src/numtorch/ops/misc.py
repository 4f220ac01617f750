"""Sorting and counting: sort, argsort, topk, unique, bincount, one_hot, searchsorted.

Sorted values are differentiable (their gradient goes back to where each value came from,
through ``gather``); indices, counts and one-hot codes carry no gradient, as in PyTorch.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from numtorch._backend import xp_of
from numtorch.ops._util import wrap_dim
from numtorch.ops.index import device_scatter_add, gather
from numtorch.tensor import Tensor, make_tensor

__all__ = ["sort", "argsort", "topk", "kthvalue", "unique", "unique_consecutive", "bincount", "one_hot",
           "searchsorted", "bucketize", "histc"]

_sort = namedtuple("sort", ["values", "indices"])
_topk = namedtuple("topk", ["values", "indices"])


def argsort(input, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    x = input._data
    if x.ndim == 0:
        return make_tensor(xp_of(x).zeros((), dtype=np.int64))
    d = wrap_dim(dim, x.ndim, "argsort")
    xp = xp_of(x)
    if descending:
        # a stable descending order: sort the reversed array ascending, map indices back
        n = x.shape[d]
        idx = xp.flip(xp.argsort(xp.flip(x, d), axis=d, kind="stable"), d)
        idx = (n - 1) - idx
    else:
        idx = xp.argsort(x, axis=d, kind="stable")
    return make_tensor(idx.astype(np.int64, copy=False))


def sort(input, dim: int = -1, descending: bool = False, stable: bool = False):
    """``(values, indices)`` sorted along ``dim``."""
    if input.ndim == 0:
        return _sort(input.clone(), make_tensor(xp_of(input._data).zeros((), dtype=np.int64)))
    idx = argsort(input, dim, descending)
    return _sort(gather(input, wrap_dim(dim, input.ndim), idx), idx)


def topk(input, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
    """The ``k`` largest (or smallest) elements along ``dim`` and their indices."""
    d = wrap_dim(dim, input.ndim, "topk")
    n = input.shape[d] if input.ndim else 1
    if k > n or k < 0:
        raise RuntimeError(f"topk: selected index k ({k}) out of range (dimension {d} has size {n})")
    x = input._data
    xp = xp_of(x)
    if k < n // 4 and n > 64:
        key = -x if largest else x
        part = xp.argpartition(key, k - 1, axis=d).take(xp.arange(k), axis=d)
        vals = xp.take_along_axis(key, part, axis=d)
        order = xp.argsort(vals, axis=d, kind="stable")
        idx = xp.take_along_axis(part, order, axis=d)
    else:
        idx = argsort(input, d, descending=largest)._data.take(xp.arange(k), axis=d)
    idx_t = make_tensor(idx.astype(np.int64, copy=False))
    return _topk(gather(input, d, idx_t), idx_t)


def kthvalue(input, k: int, dim: int = -1, keepdim: bool = False):
    s = sort(input, dim)
    d = wrap_dim(dim, input.ndim)
    v, i = s.values.narrow(d, k - 1, 1), s.indices.narrow(d, k - 1, 1)
    if not keepdim:
        v, i = v.squeeze(d), i.squeeze(d)
    return namedtuple("kthvalue", ["values", "indices"])(v, i)


def unique(input, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False, dim=None):
    """The distinct values (sorted), optionally with the inverse indices and the counts."""
    x = input._data
    xp = xp_of(x)
    res = xp.unique(x if dim is None else x, return_inverse=return_inverse, return_counts=return_counts,
                    axis=dim)
    if not (return_inverse or return_counts):
        return make_tensor(res)
    res = list(res)
    out = [make_tensor(res[0])]
    if return_inverse:
        inv = res[1]
        out.append(make_tensor(inv.reshape(x.shape if dim is None else -1).astype(np.int64)))
    if return_counts:
        out.append(make_tensor(res[-1].astype(np.int64)))
    return tuple(out)


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    x = input._data.reshape(-1)
    xp = xp_of(x)
    if x.size == 0:
        keep = xp.zeros(0, dtype=bool)
    else:
        keep = xp.concatenate([xp.ones(1, dtype=bool), x[1:] != x[:-1]])
    vals = x[keep]
    out = [make_tensor(vals)]
    if return_inverse:
        out.append(make_tensor((xp.cumsum(keep) - 1).reshape(input.shape).astype(np.int64)))
    if return_counts:
        starts = xp.nonzero(keep)[0]
        out.append(make_tensor(xp.diff(xp.concatenate([starts, xp.asarray([x.size])])).astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def bincount(input, weights=None, minlength: int = 0) -> Tensor:
    """How often each non-negative integer occurs (summing ``weights`` if given)."""
    x = input._data
    if x.ndim != 1 or x.dtype.kind not in "iu":
        raise RuntimeError(f"bincount only supports 1-d non-negative integral inputs (got {input.dtype} "
                           f"with shape {tuple(input.shape)})")
    xp = xp_of(x)
    w = None if weights is None else weights._data
    if xp is np:
        if x.size and int(x.min()) < 0:
            raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
        out = np.bincount(x, weights=w, minlength=minlength)
    else:
        out = _bincount_device(xp, x, w, minlength)
    if w is not None and w.dtype == np.float32:
        out = out.astype(np.float32)
    return make_tensor(out if w is not None else out.astype(np.int64))


def _bincount_device(xp, x, w, minlength: int):
    """bincount on a GPU: min and max come to the host in one transfer (the output's size depends on
    them, as in PyTorch), then one scatter-add counts (float64, as NumPy's weighted bincount sums).
    ``cupy.bincount`` would wait for the device twice and fails on an empty input."""
    lo, hi = xp.stack([x.min(), x.max()]).tolist() if x.size else (0, -1)
    if lo < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    out = xp.zeros(max(hi + 1, minlength), dtype=np.float64)
    device_scatter_add(xp, out, x, xp.ones(x.shape, np.float64) if w is None else w.astype(np.float64))
    return out


def one_hot(tensor, num_classes: int = -1) -> Tensor:
    """Class indices as one-hot rows (int64), as ``torch.nn.functional.one_hot``."""
    x = tensor._data
    if x.dtype.kind not in "iu":
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    xp = xp_of(x)
    if num_classes == -1:  # the output's size depends on the data: it comes to the host (as in PyTorch)
        num_classes = int(x.max()) + 1 if x.size else 0
    if x.__class__ is np.ndarray and x.size and (int(x.min()) < 0 or int(x.max()) >= num_classes):
        # (checked on the CPU only: on a GPU it would wait for the device, as PyTorch avoids too)
        raise RuntimeError("Class values must be smaller than num_classes and non-negative.")
    return make_tensor((x[..., None] == xp.arange(num_classes)).astype(np.int64))


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None) -> Tensor:
    seq = sorted_sequence._data
    xp = xp_of(seq)
    v = input._data if isinstance(input, Tensor) else xp.asarray(input)
    side = side or ("right" if right else "left")
    if seq.ndim == 1:
        res = xp.searchsorted(seq, v, side=side)
    else:
        res = xp.stack([xp.searchsorted(s, vv, side=side) for s, vv in zip(seq.reshape(-1, seq.shape[-1]),
                                                                            v.reshape(-1, v.shape[-1]))])
        res = res.reshape(v.shape)
    return make_tensor(res.astype(np.int32 if out_int32 else np.int64))


def bucketize(input, boundaries, *, out_int32=False, right=False) -> Tensor:
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def histc(input, bins: int = 100, min=0, max=0) -> Tensor:
    x = input._data
    xp = xp_of(x)
    # (the range from the data: one transfer to the host, as PyTorch's waits too)
    lo, hi = xp.stack([x.min(), x.max()]).tolist() if min == 0 and max == 0 else (min, max)
    h, _ = xp.histogram(x, bins=bins, range=(lo, hi))
    return make_tensor(h.astype(x.dtype))
