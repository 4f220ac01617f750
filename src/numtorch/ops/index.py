"""Indexing: ``x[...]``, gather / scatter, index_select / index_add, masked_fill.

Backward of reading some elements is writing the gradient back to where they came from and
adding where an element was read twice.  Those sums use ``bincount`` over flat positions
(one vectorised pass; no ``np.add.at`` on NumPy, no Python loop).
"""
from __future__ import annotations

import warnings

import numpy as np

from numtorch._backend import cupyx_module, xp_of
from numtorch.autograd.function import UNRECORDED, Function
from numtorch.creation import tensor as _t
from numtorch.ops._util import wrap_dim, ensure_tensor, promote, same_device, sum_to
from numtorch.ops.elementwise import where
from numtorch.ops.shape import broadcast_tensors, constant_pad, flatten
from numtorch.tensor import Tensor, make_tensor

__all__ = ["getitem", "gather", "scatter", "scatter_add", "index_select", "index_add", "index_fill",
           "index_put", "masked_fill", "masked_select", "take_along_dim", "take", "repeat_interleave"]


def _index_array(t, xp, op: str = "index"):
    """An index tensor/array/list as an integer or bool array, with PyTorch's dtype check.

    A CPU tensor, a list or a NumPy array indexing a GPU tensor (``xp`` is CuPy) is copied to the
    device, as PyTorch does; a GPU index into a CPU tensor is refused with PyTorch's message."""
    if isinstance(t, Tensor):
        a = t._data
        if xp is not np and isinstance(a, np.ndarray):
            a = xp.asarray(a)  # a CPU index into a GPU tensor is copied over, as in PyTorch
        elif xp is np and not isinstance(a, np.ndarray):
            raise RuntimeError(f"{op}: indices should be either on cpu or on the same device as the indexed "
                               f"tensor (cpu), got indices on {t.device}")
    else:
        a = xp.asarray(list(t) if isinstance(t, range) else t)
        if a.size == 0 and a.dtype.kind == "f":
            a = a.astype(np.int64)  # x[[]]: an empty list is an empty long index, not float
    if a.dtype.kind not in "iub":
        raise IndexError(f"{op}: tensors used as indices must be long, int, byte or bool tensors "
                         f"(got {a.dtype} with shape {tuple(a.shape)})")
    if a.dtype == np.uint8 and isinstance(t, Tensor):
        a = a.astype(bool)
    return a


def normalize_index(index, xp, shape=None):
    """Converts a ``__getitem__`` key to NumPy's form; returns (key, is_basic).

    An index may be an int, slice, None, Ellipsis, bool, a tensor, or a sequence (list, tuple, range,
    NumPy array) of ints or bools; a tuple of such indexes one dim each (``x[range(n), y]``).
    """
    if isinstance(index, list) and _sequence_as_tuple(index):
        warnings.warn("Using a non-tuple sequence for multidimensional indexing is deprecated and will be "
                      "changed in pytorch 2.9; use x[tuple(seq)] instead of x[seq]. In pytorch 2.9 this will "
                      "be interpreted as tensor index, x[torch.tensor(seq)], which will result either in an "
                      "error or a different result", stacklevel=3)
        index = tuple(index)
    elif not isinstance(index, tuple):
        index = (index,)
    out = []
    basic = True
    for k in index:
        if k is None or k is Ellipsis or isinstance(k, slice):
            out.append(k)
        elif isinstance(k, (bool, np.bool_)):
            out.append(k)
            basic = False
        elif isinstance(k, (int, np.integer)):
            out.append(int(k))
        elif isinstance(k, Tensor) and k._data.ndim == 0 and k._data.dtype.kind in "iu":
            out.append(int(k._data))
        elif isinstance(k, (Tensor, list, tuple, range, np.ndarray)) \
                or hasattr(k, "__cuda_array_interface__"):
            a = _index_array(k, xp)
            if a.dtype == bool:
                out.extend(xp.nonzero(a)) if a.ndim else out.append(bool(a))
            else:
                out.append(a)
            basic = False
        else:
            raise IndexError(f"only integers, slices (`:`), ellipsis (`...`), None and long or byte "
                             f"Variables are valid indices (got {type(k).__name__})")
    return tuple(out), basic


def _sequence_as_tuple(index: list) -> bool:
    """PyTorch's rule (``treatSequenceAsTuple``): a short list holding a sequence, slice, None or
    Ellipsis (``x[[rows, cols]]``) indexes like the tuple of its items, not as one index tensor."""
    return len(index) < 32 and any(
        k is None or k is Ellipsis or isinstance(k, (slice, list, tuple, range, Tensor, np.ndarray))
        for k in index)


def _flat_positions(xp, shape, key):
    """Flat positions of the elements ``x[key]`` reads (an index array shaped like the result)."""
    return xp.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)[key]


def scatter_sum(xp, positions, values, size: int, dtype):
    """out[p] += v for each (p, v): one bincount over flat positions."""
    p = positions.ravel()
    v = values.ravel()
    if xp is np and v.dtype.kind in "fV":
        return np.bincount(p, weights=v, minlength=size).astype(dtype, copy=False)
    out = xp.zeros(size, dtype=dtype)
    if xp is np:
        np.add.at(out, p, v)  # integer or complex values (bincount weights are float64)
    else:
        device_scatter_add(xp, out, p, v.astype(out.dtype, copy=False))  # one atomic-add kernel on the GPU
    return out


_ATOMIC_ADD = frozenset(np.dtype(t) for t in ("int32", "uint32", "uint64", "float16", "float32", "float64"))


def device_scatter_add(xp, out, p, v) -> None:
    """``out[p] += v`` on a GPU (repeated positions add up), for 1-d ``out`` of any dtype.

    ``cupyx.scatter_add`` (CUDA's atomicAdd) takes int32, uint32, uint64 and the floats only, so:
    complex values add as pairs of floats; int64 adds as uint64 (two's-complement sums have the
    same bits); bool and the small integers add in 64 bits and are cast back (wrapping, as PyTorch).
    """
    add = cupyx_module().scatter_add
    dt = out.dtype
    if dt in _ATOMIC_ADD:
        add(out, p, v)
    elif dt.kind == "c":
        f = np.dtype(f"f{dt.itemsize // 2}")
        add(out.view(f).reshape(-1, 2), p, xp.ascontiguousarray(v).view(f).reshape(-1, 2))
    elif dt.itemsize == 8:
        add(out.view(np.uint64), p, xp.ascontiguousarray(v).view(np.uint64))
    else:
        acc = xp.zeros(out.shape, dtype=np.uint64)
        add(acc, p, v.astype(np.int64).view(np.uint64))
        out[...] = acc.view(np.int64).astype(dt)


class BasicIndex(Function):
    """x[ints, slices, None, ...]: a view; backward writes the gradient into zeros."""

    is_view = True

    @staticmethod
    def forward(ctx, x, key):
        ctx.args = (x.shape, key)
        return x[key]

    @staticmethod
    def backward(ctx, gy):
        shape, key = ctx.args
        return IndexBackward.apply(gy, shape, key, False), None

    @staticmethod
    def backward_arrays(ctx, gy):
        shape, key = ctx.args
        return IndexBackward.forward(UNRECORDED, gy, shape, key, False), None


class AdvancedIndex(Function):
    """x[index arrays or masks]: a copy; backward sums gradients of repeated elements."""

    @staticmethod
    def forward(ctx, x, key):
        ctx.args = (x.shape, key)
        return x[key]

    @staticmethod
    def backward(ctx, gy):
        shape, key = ctx.args
        return IndexBackward.apply(gy, shape, key, True), None

    @staticmethod
    def backward_arrays(ctx, gy):
        shape, key = ctx.args
        return IndexBackward.forward(UNRECORDED, gy, shape, key, True), None


class IndexBackward(Function):
    """zeros(shape) with ``g`` added at ``key``; its own backward reads ``key`` again."""

    @staticmethod
    def forward(ctx, g, shape, key, accumulate):
        ctx.args = (key, accumulate)
        xp = xp_of(g)
        if not accumulate:
            out = xp.zeros(shape, dtype=g.dtype)
            out[key] = g
            return out
        pos = _flat_positions(xp, shape, key)
        size = int(np.prod(shape))
        return scatter_sum(xp, pos, xp.broadcast_to(g, pos.shape), size, g.dtype).reshape(shape)

    @staticmethod
    def backward(ctx, gg):
        key, accumulate = ctx.args
        cls = AdvancedIndex if accumulate else BasicIndex
        return cls.apply(gg, key), None, None, None


def getitem(input: Tensor, index) -> Tensor:
    """``x[index]`` with ints, slices, None, Ellipsis, integer tensors/arrays/lists and bool masks."""
    xp = xp_of(input._data)
    key, basic = normalize_index(index, xp)
    try:
        if basic:
            if Ellipsis not in key:  # x[1, 2] must be a 0-d view, not a copied NumPy scalar
                key = key + (Ellipsis,)
            out = BasicIndex.apply(input, key)
            out._view_base = (input, key)  # so that a recorded in-place change of the view reaches input
            return out
        return AdvancedIndex.apply(input, key)
    except IndexError as e:
        raise IndexError(f"index {index!r} is out of bounds for a tensor of shape {tuple(input.shape)}: "
                         f"{e}") from None


# ---- gather / scatter along a dim -------------------------------------------------------------

def _along(x_shape, index_shape, dim):
    """Slices that cut ``x`` down to ``index``'s size in every dim but ``dim``."""
    return tuple(slice(None) if d == dim else slice(0, s) for d, s in enumerate(index_shape))


def _sum_into(g, shape, positions):
    """zeros(shape) with each element of ``g`` added at its position: ``positions(xp, flat)`` picks,
    from the grid ``flat`` of flat indices into ``shape``, the same elements the forward picked."""
    xp = xp_of(g)
    flat = xp.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    return scatter_sum(xp, positions(xp, flat), g, flat.size, g.dtype).reshape(shape)


class Gather(Function):
    @staticmethod
    def forward(ctx, x, index, dim):
        ctx.args = (x.shape, dim)
        ctx.save_for_backward(index)
        return xp_of(x).take_along_axis(x[_along(x.shape, index.shape, dim)], index, axis=dim)

    @staticmethod
    def backward(ctx, gy):
        shape, dim = ctx.args
        index, = ctx.saved_tensors
        return GatherBackward.apply(gy, index, dim, shape), None, None


class GatherBackward(Function):
    """zeros(shape) with gy added at the gathered positions; its backward is gather again."""

    @staticmethod
    def forward(ctx, g, index, dim, shape):
        ctx.save_for_backward(index)
        ctx.dim = dim
        return _sum_into(g, shape, lambda xp, flat: xp.take_along_axis(flat[_along(shape, index.shape, dim)],
                                                                       index, axis=dim))

    @staticmethod
    def backward(ctx, gg):
        index, = ctx.saved_tensors
        return Gather.apply(gg, index, ctx.dim), None, None, None


def _check_index(op, input, dim, index):
    if index._data.dtype.kind not in "iu":
        raise RuntimeError(f"{op}(): Expected dtype int64 for index (got {index.dtype})")
    if index.ndim != input.ndim and not (index.ndim <= 1 and input.ndim <= 1):
        raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions as input tensor "
                           f"(index {tuple(index.shape)}, input {tuple(input.shape)})")
    same_device(op, input, index)
    n = input.shape[dim] if input.ndim else 1
    idx = index._data
    if idx.__class__ is np.ndarray and idx.size and (int(idx.max()) >= n or int(idx.min()) < -n):
        # (on the CPU only: on a GPU this check would wait for the device; PyTorch checks there
        # asynchronously, inside the kernel)
        raise RuntimeError(f"{op}(): index {int(idx.max()) if int(idx.max()) >= n else int(idx.min())} "
                           f"is out of bounds for dimension {dim} with size {n}")


def gather(input, dim: int, index, *, sparse_grad: bool = False) -> Tensor:
    """out[i][j] = input[index[i][j]][j] (dim 0): picks along ``dim`` by ``index``."""
    d = wrap_dim(dim, input.ndim, "gather")
    _check_index("gather", input, d, index)
    return Gather.apply(input, index._data, d)


def take_along_dim(input, indices, dim=None) -> Tensor:
    if dim is None:
        return gather(input.reshape(-1), 0, indices.reshape(-1))
    d = wrap_dim(dim, input.ndim)
    shp = list(np.broadcast_shapes(tuple(input.shape[:d]) + (1,) + tuple(input.shape[d + 1:]),
                                   tuple(indices.shape[:d]) + (1,) + tuple(indices.shape[d + 1:])))
    xs = list(shp)
    xs[d] = input.shape[d]
    ishp = list(shp)
    ishp[d] = indices.shape[d]
    return gather(input.expand(tuple(xs)), d, indices.expand(tuple(ishp)))


class ScatterAdd(Function):
    @staticmethod
    def forward(ctx, x, index, src, dim):
        ctx.save_for_backward(index)
        ctx.args = (dim, src.shape)
        xp = xp_of(x)
        flat = xp.arange(x.size, dtype=np.int64).reshape(x.shape)
        pos = xp.take_along_axis(flat[_along(x.shape, index.shape, dim)], index, axis=dim)
        added = scatter_sum(xp, pos, src[tuple(slice(0, s) for s in index.shape)], x.size, x.dtype)
        return x + added.reshape(x.shape)

    @staticmethod
    def backward(ctx, gy):
        index, = ctx.saved_tensors
        dim, src_shape = ctx.args
        gsrc = Gather.apply(gy, index, dim)
        if tuple(gsrc.shape) != tuple(src_shape):
            pad = []
            for s, t in reversed(list(zip(gsrc.shape, src_shape))):
                pad += [0, t - s]
            gsrc = constant_pad(gsrc, pad)
        return gy, None, gsrc, None


def scatter_add(input, dim: int, index, src) -> Tensor:
    """out = input, then out[index[i][j]][j] += src[i][j] (dim 0)."""
    d = wrap_dim(dim, input.ndim, "scatter_add")
    _check_index("scatter_add", input, d, index)
    a, s = promote("scatter_add", input, src)
    return ScatterAdd.apply(a, index._data, s, d)


class Scatter(Function):
    @staticmethod
    def forward(ctx, x, index, src, dim):
        ctx.save_for_backward(index)
        ctx.args = (dim, getattr(src, "shape", None))
        xp = xp_of(x)
        out = x.copy()
        if getattr(src, "ndim", 0):
            vals = src[tuple(slice(0, s) for s in index.shape)]
        else:
            vals = xp.broadcast_to(xp.asarray(src, dtype=x.dtype), index.shape)
        xp.put_along_axis(out[_along(x.shape, index.shape, dim)], index, vals, axis=dim)
        return out

    @staticmethod
    def backward(ctx, gy):
        index, = ctx.saved_tensors
        dim, src_shape = ctx.args
        gx = Scatter.apply(gy, index, 0.0, dim)
        gsrc = None
        if ctx.needs_input_grad[2]:
            gsrc = Gather.apply(gy, index, dim)
            if tuple(gsrc.shape) != tuple(src_shape):
                pad = []
                for s, t in reversed(list(zip(gsrc.shape, src_shape))):
                    pad += [0, t - s]
                gsrc = constant_pad(gsrc, pad)
        return gx, None, gsrc, None


def scatter(input, dim: int, index, src=None, *, value=None, reduce=None) -> Tensor:
    """out = input, then out[index[i][j]][j] = src[i][j] (dim 0); ``value`` for a constant."""
    d = wrap_dim(dim, input.ndim, "scatter")
    _check_index("scatter", input, d, index)
    if src is None:
        src = value
    if reduce == "add":
        return scatter_add(input, dim, index, src if isinstance(src, Tensor) else
                           ensure_tensor(src, input).expand(tuple(index.shape)))
    if reduce is not None:
        raise NotImplementedError(f"scatter: reduce={reduce!r} is not supported")
    if isinstance(src, Tensor):
        input, src = promote("scatter", input, src)
    return Scatter.apply(input, index._data, src, d)


class IndexSelect(Function):
    @staticmethod
    def forward(ctx, x, index, dim):
        ctx.args = (x.shape, dim)
        ctx.save_for_backward(index)
        return xp_of(x).take(x, index, axis=dim)

    @staticmethod
    def backward(ctx, gy):
        shape, dim = ctx.args
        index, = ctx.saved_tensors
        return IndexAddBackward.apply(gy, index, dim, shape), None, None


class IndexAddBackward(Function):
    """zeros(shape) with slices of g added at ``index`` along ``dim``."""

    @staticmethod
    def forward(ctx, g, index, dim, shape):
        ctx.save_for_backward(index)
        ctx.dim = dim
        return _sum_into(g, shape, lambda xp, flat: xp.take(flat, index, axis=dim))

    @staticmethod
    def backward(ctx, gg):
        index, = ctx.saved_tensors
        return IndexSelect.apply(gg, index, ctx.dim), None, None, None


def index_select(input, dim: int, index) -> Tensor:
    """The slices of ``input`` at positions ``index`` along ``dim`` (an embedding lookup on dim 0)."""
    d = wrap_dim(dim, input.ndim, "index_select")
    same_device("index_select", input, index)  # (unlike x[index], PyTorch wants the index on x's device)
    idx = _index_array(index, xp_of(input._data), "index_select")
    if idx.ndim > 1:
        raise IndexError(f"index_select(): Index is supposed to be a vector, got {idx.ndim}-d")
    n = input.shape[d] if input.ndim else 1
    if xp_of(idx) is np and idx.size and (int(idx.max()) >= n or int(idx.min()) < -n):  # (host only)
        raise IndexError(f"index_select(): index out of range in self (size {n} along dim {d})")
    return IndexSelect.apply(input, idx, d)


def index_add(input, dim: int, index, source, *, alpha=1) -> Tensor:
    """out = input, then out[index[i]] += alpha * source[i] along ``dim``."""
    d = wrap_dim(dim, input.ndim, "index_add")
    same_device("index_add", input, index, source)
    src = source if alpha == 1 else source * alpha
    idx = _index_array(index, xp_of(input._data))
    return input + IndexAddBackward.apply(src, idx, d, tuple(input.shape))


def index_fill(input, dim: int, index, value) -> Tensor:
    d = wrap_dim(dim, input.ndim, "index_fill")
    xp = xp_of(input._data)
    mask = xp.zeros(input.shape[d], dtype=bool)
    mask[_index_array(index, xp)] = True
    shape = [1] * input.ndim
    shape[d] = -1
    return where(make_tensor(mask.reshape(shape)), value, input)


class IndexPut(Function):
    """y = x with y[key] = v; the gradient of x is zero where it was overwritten."""

    @staticmethod
    def forward(ctx, x, v, key):
        ctx.args = (key, getattr(v, "shape", None))
        y = x.copy()
        y[key] = v
        return y

    @staticmethod
    def backward(ctx, gy):
        key, vshape = ctx.args
        gx = IndexPut.apply(gy, 0.0, key) if ctx.needs_input_grad[0] else None
        gv = None
        if ctx.needs_input_grad[1]:
            _, basic = normalize_index(key, xp_of(gy._data))
            gv = sum_to((BasicIndex if basic else AdvancedIndex).apply(gy, key), tuple(vshape))
        return gx, gv, None


def index_put(input, indices, values, accumulate: bool = False) -> Tensor:
    """out = input, then out[indices] = values (``accumulate``: +=, repeated positions summed)."""
    xp = xp_of(input._data)
    key, _ = normalize_index(tuple(indices), xp)
    values = ensure_tensor(values, input)
    same_device("index_put", input, values)
    if values._data.dtype != input._data.dtype:
        values = values.to(input.dtype)
    if not accumulate:
        return IndexPut.apply(input, values, key)
    shape = tuple(input.shape)
    v = values.expand(_flat_positions(xp, shape, key).shape)  # one value per indexed element
    return input + IndexBackward.apply(v, shape, key, True)


def masked_fill(input, mask, value) -> Tensor:
    """``value`` where ``mask`` is True (broadcast), ``input`` elsewhere."""
    if mask._data.dtype.kind != "b":
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {mask.dtype}")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor "
                               f"with {value.ndim} dimension(s).")
        value = value.to(input.dtype)
    elif input._data.dtype.kind in "iub" and isinstance(value, float):
        value = int(value) if input._data.dtype.kind != "b" else bool(value)
    return where(mask, value, input).to(input.dtype)


def masked_select(input, mask) -> Tensor:
    same_device("masked_select", input, mask)
    x, m = broadcast_tensors(input, mask)
    return x[m]


def take(input, index) -> Tensor:
    return input.reshape(-1)[index]


def repeat_interleave(input, repeats, dim=None) -> Tensor:
    if dim is None:
        input, dim = flatten(input), 0
    d = wrap_dim(dim, input.ndim)
    n = input.shape[d]
    # the output's size depends on a repeats tensor's values: they come to the host (as in PyTorch)
    reps = repeats.tolist() if isinstance(repeats, Tensor) else repeats
    idx = np.repeat(np.arange(n), reps)
    return index_select(input, d, _t(idx, device=input.device))
