"""Shape ops: reshape and views, permutations, broadcasting, joining and splitting.

Views (reshape, permute, expand, slicing) share memory with their input, as in PyTorch;
their backward is the inverse rearrangement of the gradient.
"""
from __future__ import annotations

import numpy as np

from numtorch._backend import xp_of
from numtorch.ops import _autocast
from numtorch.autograd.function import UNRECORDED, Function
from numtorch.ops._base import reduce_to, sum_to_array, wrap_dim, wrap_dims, write_out
from numtorch.tensor import Tensor, make_tensor

__all__ = ["reshape", "view", "flatten", "unflatten", "squeeze", "unsqueeze", "expand", "expand_as",
           "broadcast_to", "broadcast_tensors", "broadcast_shapes", "repeat", "tile", "cat", "concat",
           "concatenate", "stack", "hstack", "vstack", "split", "chunk", "unbind", "flip", "fliplr",
           "flipud", "roll", "narrow", "constant_pad", "tril", "triu", "permute", "transpose", "swapaxes",
           "swapdims", "t", "movedim", "moveaxis", "view_as", "reshape_as", "ravel", "atleast_1d",
           "atleast_2d", "select", "diagonal", "diag", "trace", "diag_embed"]


def _sizes(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    return tuple(int(s) for s in size)


def _infer_shape(op: str, shape: tuple, numel: int) -> tuple:
    """Replaces one -1 in ``shape`` so that it holds ``numel`` elements (PyTorch's error otherwise)."""
    known = 1
    neg = [i for i, s in enumerate(shape) if s == -1]
    for s in shape:
        if s != -1:
            known *= s
    if len(neg) > 1:
        raise RuntimeError(f"{op}: only one dimension can be inferred")
    if neg:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = shape[:neg[0]] + (numel // known,) + shape[neg[0] + 1:]
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


# ---- reshape ---------------------------------------------------------------------------------

class Reshape(Function):
    is_view = True

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, gy):
        return Reshape.apply(gy, ctx.in_shape), None

    @staticmethod
    def backward_arrays(ctx, gy):
        return gy.reshape(ctx.in_shape), None


def reshape(input, *shape) -> Tensor:
    """The same elements in a new shape (a view when the memory layout allows)."""
    shape = _infer_shape("reshape", _sizes(shape), input._data.size)
    if shape == input._data.shape:
        return Reshape.apply(input, shape) if input.requires_grad else _alias(input)
    return Reshape.apply(input, shape)


def _alias(x: Tensor) -> Tensor:
    """A new tensor object over the same memory (shares the version counter)."""
    t = make_tensor(x._data.view())
    t._vc = x._version_counter()
    return t


def _channels_last(x) -> bool:
    """Whether ``x`` (N, C, ...) lies in memory as (N, ..., C) in C order: how conv and pooling lay out
    their outputs (see docs/architecture.md), where PyTorch's are contiguous."""
    return (x.ndim >= 3 and not x.flags.c_contiguous
            and x.transpose(0, *range(2, x.ndim), 1).flags.c_contiguous)


class View(Reshape):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        xp = xp_of(x)
        try:
            return xp.reshape(x, shape, copy=False) if xp is np else x.view().reshape(shape)
        except ValueError:
            if _channels_last(x):  # numtorch's conv layout, contiguous in PyTorch: its view is a copy here
                return xp.reshape(x, shape)
            raise RuntimeError(
                f"view size is not compatible with input tensor's size and stride (at least one dimension "
                f"spans across two contiguous subspaces): input {tuple(x.shape)} -> {list(shape)}. "
                f"Use .reshape(...) instead.") from None


def view(input, *shape) -> Tensor:
    """A view with a new shape; fails (like PyTorch) when the memory layout needs a copy."""
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int)) and shape[0] is not None:
        return input.to(shape[0])  # view(dtype)
    return View.apply(input, _infer_shape("view", _sizes(shape), input._data.size))


def view_as(input, other) -> Tensor:
    return view(input, tuple(other.shape))


def reshape_as(input, other) -> Tensor:
    return reshape(input, tuple(other.shape))


def flatten(input, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    nd = input.ndim
    if nd == 0:
        return reshape(input, (1,))
    s, e = wrap_dim(start_dim, nd, "flatten"), wrap_dim(end_dim, nd, "flatten")
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shp = input._data.shape
    return reshape(input, shp[:s] + (-1,) + shp[e + 1:])


ravel = lambda input: flatten(input)  # noqa: E731


def unflatten(input, dim: int, sizes) -> Tensor:
    d = wrap_dim(dim, input.ndim, "unflatten")
    shp = input._data.shape
    sizes = tuple(sizes)
    inner = _infer_shape("unflatten", sizes, shp[d])
    return reshape(input, shp[:d] + inner + shp[d + 1:])


def squeeze(input, dim=None) -> Tensor:
    shp = input._data.shape
    if dim is None:
        return reshape(input, tuple(s for s in shp if s != 1))
    dims = wrap_dims(dim, input.ndim, "squeeze") if input.ndim else ()
    return reshape(input, tuple(s for i, s in enumerate(shp) if not (i in dims and s == 1)))


def unsqueeze(input, dim: int) -> Tensor:
    nd = input.ndim + 1
    if not -nd <= dim < nd:
        raise IndexError(f"unsqueeze: Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], "
                         f"but got {dim})")
    d = dim % nd
    shp = input._data.shape
    return reshape(input, shp[:d] + (1,) + shp[d:])


def atleast_1d(input) -> Tensor:
    return reshape(input, (1,)) if input.ndim == 0 else input


def atleast_2d(input) -> Tensor:
    return reshape(input, (1,) * (2 - input.ndim) + tuple(input.shape)) if input.ndim < 2 else input


# ---- permutations --------------------------------------------------------------------------

class Permute(Function):
    is_view = True

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, gy):
        return Permute.apply(gy, tuple(np.argsort(ctx.dims))), None

    @staticmethod
    def backward_arrays(ctx, gy):
        return gy.transpose(tuple(np.argsort(ctx.dims))), None


def permute(input, *dims) -> Tensor:
    dims = _sizes(dims)
    if len(dims) != input.ndim:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match "
                           f"the length of the desired ordering of dimensions i.e. input.dim() = "
                           f"{input.ndim} is not equal to len(dims) = {len(dims)}")
    dims = tuple(wrap_dim(d, input.ndim, "permute") for d in dims)
    if len(set(dims)) != len(dims):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return Permute.apply(input, dims)


def transpose(input, dim0: int, dim1: int) -> Tensor:
    nd = input.ndim
    if nd == 0:
        return _alias(input)
    a, b = wrap_dim(dim0, nd, "transpose"), wrap_dim(dim1, nd, "transpose")
    dims = list(range(nd))
    dims[a], dims[b] = dims[b], dims[a]
    return Permute.apply(input, tuple(dims))


swapaxes = swapdims = transpose


def t(input) -> Tensor:
    """Transpose of a matrix (a vector is returned as it is): ``x.T`` / ``x.t()``."""
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    return transpose(input, 0, 1) if input.ndim == 2 else _alias(input)


def movedim(input, source, destination) -> Tensor:
    nd = input.ndim
    src = [wrap_dim(s, nd, "movedim") for s in ((source,) if isinstance(source, int) else source)]
    dst = [wrap_dim(d, nd, "movedim")
           for d in ((destination,) if isinstance(destination, int) else destination)]
    order = [d for d in range(nd) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return Permute.apply(input, tuple(order))


moveaxis = movedim


# ---- broadcasting ------------------------------------------------------------------------

class BroadcastTo(Function):
    is_view = True

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return xp_of(x).broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, gy):
        return SumTo.apply(gy, shape=ctx.in_shape) if tuple(gy.shape) != ctx.in_shape else gy, None

    @staticmethod
    def backward_arrays(ctx, gy):
        return reduce_to(gy, ctx.in_shape), None


class SumTo(Function):
    """Sums a broadcast gradient back to the shape it was broadcast from."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return sum_to_array(x, shape)

    @staticmethod
    def backward(ctx, gy):
        return BroadcastTo.apply(gy, ctx.in_shape)

    @staticmethod
    def backward_arrays(ctx, gy):
        return xp_of(gy).broadcast_to(gy, ctx.in_shape)


def broadcast_shapes(*shapes) -> tuple:
    try:
        return tuple(np.broadcast_shapes(*[tuple(s) if not isinstance(s, int) else (s,) for s in shapes]))
    except ValueError:
        raise RuntimeError(f"Shape mismatch: objects cannot be broadcast to a single shape: "
                           f"{[tuple(s) for s in shapes]}") from None


def broadcast_to(input, size) -> Tensor:
    size = tuple(size)
    shp = input._data.shape
    if len(size) < len(shp):
        raise RuntimeError(f"expand: the number of sizes provided ({len(size)}) must be greater or equal to "
                           f"the number of dimensions in the tensor ({len(shp)})")
    lead = len(size) - len(shp)
    out = []
    for i, s in enumerate(size):
        cur = shp[i - lead] if i >= lead else None
        if s == -1:
            if cur is None:
                raise RuntimeError(f"expand: -1 is not allowed in a leading, non-existing dimension {i}")
            s = cur
        elif cur is not None and cur != 1 and cur != s:
            raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing size ({cur}) "
                               f"at non-singleton dimension {i}.  Target sizes: {list(size)}.  Tensor "
                               f"sizes: {list(shp)}")
        out.append(s)
    out = tuple(out)
    if out == shp:
        return _alias(input) if not input.requires_grad else BroadcastTo.apply(input, out)
    return BroadcastTo.apply(input, out)


def expand(input, *sizes) -> Tensor:
    return broadcast_to(input, _sizes(sizes))


def expand_as(input, other) -> Tensor:
    return broadcast_to(input, tuple(other.shape))


def sum_to_size(input, *size) -> Tensor:
    """``x.sum_to_size(*size)``: ``x`` summed down to ``size``, to which it must broadcast (a method only)."""
    size = _sizes(size)
    try:
        ok = broadcast_shapes(size, tuple(input.shape)) == tuple(input.shape)
    except (ValueError, RuntimeError):
        ok = False
    if not ok:
        raise RuntimeError(f"size {{{list(size)}}} is not expandable to size {{{list(input.shape)}}}.")
    return input if size == tuple(input.shape) else SumTo.apply(input, shape=size)


def broadcast_tensors(*tensors) -> tuple:
    shape = broadcast_shapes(*[t.shape for t in tensors])
    return tuple(broadcast_to(t, shape) for t in tensors)


class Tile(Function):
    @staticmethod
    def forward(ctx, x, reps):
        ctx.in_shape = x.shape
        return xp_of(x).tile(x, reps)

    @staticmethod
    def backward(ctx, gy):
        # gy has shape (r0*s0, r1*s1, ...): view it as (r0, s0, r1, s1, ...) and sum the r axes
        s = ctx.in_shape
        lead = gy.ndim - len(s)
        s = (1,) * lead + tuple(s)
        reps = [g // d if d else 0 for g, d in zip(gy.shape, s)]
        g = gy.reshape(tuple(v for r, d in zip(reps, s) for v in (r, d)))
        g = g.sum(dim=tuple(range(0, 2 * len(s), 2)))
        return g.reshape(ctx.in_shape), None


def repeat(input, *sizes) -> Tensor:
    sizes = _sizes(sizes)
    if len(sizes) < input.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions "
                           "of tensor")
    return Tile.apply(input, sizes)


def tile(input, dims) -> Tensor:
    dims = tuple(dims)
    dims = (1,) * (input.ndim - len(dims)) + dims
    return Tile.apply(input, dims)


# ---- joining and splitting -----------------------------------------------------------------

class Cat(Function):
    @staticmethod
    def forward(ctx, *xs, dim):
        ctx.dim = dim
        ctx.sizes = [x.shape[dim] for x in xs]
        return xp_of(xs[0]).concatenate(xs, axis=dim)

    @staticmethod
    def backward(ctx, gy):
        return split(gy, ctx.sizes, ctx.dim)

    @staticmethod
    def backward_arrays(ctx, gy):
        return Split.forward(UNRECORDED, gy, ctx.sizes, ctx.dim)


def cat(tensors, dim: int = 0, *, out=None) -> Tensor:
    """Joins tensors along an existing dimension."""
    if out is not None:
        return write_out(cat(tensors, dim), out, "cat")
    tensors = [t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)] or list(tensors)[:1]
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    ref = tensors[0]
    d = wrap_dim(dim, ref.ndim, "cat")
    for i, x in enumerate(tensors[1:], 1):
        if x.ndim != ref.ndim:
            raise RuntimeError(f"cat(): Tensors must have same number of dimensions: got {ref.ndim} and "
                               f"{x.ndim} (shapes {tuple(ref.shape)} and {tuple(x.shape)})")
        for k in range(ref.ndim):
            if k != d and x.shape[k] != ref.shape[k]:
                raise RuntimeError(f"cat(): Sizes of tensors must match except in dimension {d} (shapes "
                                   f"{tuple(ref.shape)} and {tuple(x.shape)}). Expected size "
                                   f"{ref.shape[k]} but got size {x.shape[k]} for tensor number {i} in "
                                   "the list.")
    tensors = _common_dtype(tensors)
    if len(tensors) == 1:
        return tensors[0] * 1 if tensors[0].requires_grad else tensors[0].clone()
    return Cat.apply(*tensors, dim=d)


concat = concatenate = cat


def _common_dtype(tensors):
    from numtorch import _dtypes
    dt = _dtypes.promote_types(*[(t._data.dtype, max(t.ndim, 1)) for t in tensors])
    return [t if t._data.dtype == dt else t.to(_dtypes.from_numpy_dtype(dt)) for t in tensors]


class Stack(Function):
    @staticmethod
    def forward(ctx, *xs, dim):
        ctx.dim = dim
        return xp_of(xs[0]).stack(xs, axis=dim)

    @staticmethod
    def backward(ctx, gy):
        return unbind(gy, ctx.dim)

    @staticmethod
    def backward_arrays(ctx, gy):
        pre = (slice(None),) * ctx.dim
        return tuple([gy[pre + (i,)] for i in range(gy.shape[ctx.dim])])


def stack(tensors, dim: int = 0, *, out=None) -> Tensor:
    """Joins equally shaped tensors along a new dimension."""
    if out is not None:
        return write_out(stack(tensors, dim), out, "stack")
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for i, x in enumerate(tensors[1:], 1):
        if tuple(x.shape) != tuple(tensors[0].shape):
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{list(tensors[0].shape)} at entry 0 and {list(x.shape)} at entry {i}")
    nd = tensors[0].ndim + 1
    d = wrap_dim(dim, nd, "stack")
    return Stack.apply(*_common_dtype(tensors), dim=d)


def hstack(tensors) -> Tensor:
    tensors = [atleast_1d(t) for t in tensors]
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors) -> Tensor:
    return cat([atleast_2d(t) for t in tensors], 0)


def narrow(input, dim: int, start: int, length: int) -> Tensor:
    d = wrap_dim(dim, input.ndim, "narrow")
    size = input.shape[d]
    start = int(start)
    if start < 0:
        start += size
    if not (0 <= start and start + length <= size):
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    return input[(slice(None),) * d + (slice(start, start + length),)]


def select(input, dim: int, index: int) -> Tensor:
    d = wrap_dim(dim, input.ndim, "select")
    return input[(slice(None),) * d + (index,)]


class Split(Function):
    """Pieces of ``x`` along ``dim`` with the given sizes: views.  One node for all pieces (PyTorch's
    SplitBackward0): backward joins their gradients, a piece nobody used contributing zeros."""

    is_view = True

    @staticmethod
    def forward(ctx, x, sizes, dim):
        ctx.args = (x.shape, dim)
        pre, start, out = (slice(None),) * dim, 0, []
        for s in sizes:
            out.append(x[pre + (slice(start, start + s),)])
            start += s
        return tuple(out)

    @staticmethod
    def backward(ctx, *gys):
        return cat(gys, ctx.args[1]), None, None

    @staticmethod
    def backward_arrays(ctx, *gys):
        shape, dim = ctx.args
        joined = _tiled(gys, shape, dim)  # a view when the pieces lie side by side
        return (xp_of(gys[0]).concatenate(gys, axis=dim) if joined is None else joined), None, None


def _tiled(parts, shape, dim):
    """The array of ``shape`` whose pieces along ``dim`` are ``parts``, when they lie side by side in
    one NumPy buffer with equal strides (as an op that writes its gradients packed returns them): then
    joining them is a view, not a copy.  None otherwise."""
    p0 = parts[0]
    base, other = p0.base, p0.shape[:dim] + p0.shape[dim + 1:]
    if p0.__class__ is not np.ndarray or base is None:
        return None
    step, at = p0.strides[dim], p0.__array_interface__["data"][0]
    for p in parts:
        if (p.__class__ is not np.ndarray or p.base is not base or p.strides != p0.strides
                or p.__array_interface__["data"][0] != at or p.shape[:dim] + p.shape[dim + 1:] != other):
            return None
        at += p.shape[dim] * step
    # every element of the whole is an element of one of the parts, so the view stays inside ``base``
    return np.lib.stride_tricks.as_strided(p0, shape, p0.strides)


def split(tensor, split_size_or_sections, dim: int = 0) -> tuple:
    """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or of the given sizes."""
    d = wrap_dim(dim, tensor.ndim, "split")
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0 and n:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size "
                               f"of {n}")
        sizes = [min(step, n - i) for i in range(0, n, step)] if step else [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's "
                               f"size at dimension {d}), but got split_sizes={sizes}")
    out = Split.apply(tensor, tuple(sizes), d)
    vc, pre, start = tensor._version_counter(), (slice(None),) * d, 0
    for t, s in zip(out, sizes):  # views of ``tensor``: its version counter; in-place writes reach it
        t._vc = vc
        t._view_base = (tensor, pre + (slice(start, start + s), Ellipsis))
        start += s
    return out


def chunk(input, chunks: int, dim: int = 0) -> tuple:
    d = wrap_dim(dim, input.ndim, "chunk")
    n = input.shape[d]
    step = -(-n // chunks) if n else 1
    return split(input, step, d)


def unbind(input, dim: int = 0) -> tuple:
    d = wrap_dim(dim, input.ndim, "unbind")
    pre = (slice(None),) * d
    return tuple(input[pre + (i,)] for i in range(input.shape[d]))


# ---- rearranging ---------------------------------------------------------------------------

class Flip(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return xp_of(x).flip(x, dims)

    @staticmethod
    def backward(ctx, gy):
        return Flip.apply(gy, ctx.dims), None


def flip(input, *dims) -> Tensor:
    """Reverses the order of elements along ``dims``: ``flip(x, (0, 1))`` or ``x.flip(0, 1)``."""
    dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
    dims = wrap_dims(dims, input.ndim, "flip")
    return Flip.apply(input, dims)


def fliplr(input) -> Tensor:
    return flip(input, (1,))


def flipud(input) -> Tensor:
    return flip(input, (0,))


class Roll(Function):
    @staticmethod
    def forward(ctx, x, shifts, dims):
        ctx.shifts, ctx.dims = shifts, dims
        return xp_of(x).roll(x, shifts, dims)

    @staticmethod
    def backward(ctx, gy):
        neg = tuple(-s for s in ctx.shifts) if isinstance(ctx.shifts, tuple) else -ctx.shifts
        return Roll.apply(gy, neg, ctx.dims), None, None


def roll(input, shifts, dims=None) -> Tensor:
    if dims is None:
        return Roll.apply(flatten(input), shifts, None).reshape(tuple(input.shape))
    if isinstance(shifts, int):
        shifts, dims = (shifts,), (dims,) if isinstance(dims, int) else tuple(dims)
    return Roll.apply(input, tuple(shifts), tuple(wrap_dim(d, input.ndim) for d in dims))


class ConstantPad(Function):
    @staticmethod
    def forward(ctx, x, widths, value):
        ctx.slices = tuple(slice(a, a + s) for (a, _), s in zip(widths, x.shape))
        return xp_of(x).pad(x, widths, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, gy):
        return gy[ctx.slices], None, None


def constant_pad(input, pad, value=0.0) -> Tensor:
    """``F.pad(input, pad, value=...)``: ``pad`` pairs (before, after) from the last dim backwards."""
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise RuntimeError(f"Padding length must be divisible by 2 and at most twice the number of "
                           f"dimensions of the input; got pad of length {len(pad)} for a {input.ndim}-d "
                           "input")
    widths = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        widths[input.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    if any(a < 0 or b < 0 for a, b in widths):  # negative padding crops
        crop = tuple(slice(max(-a, 0), s - max(-b, 0)) for (a, b), s in zip(widths, input.shape))
        input = input[crop]
        widths = [(max(a, 0), max(b, 0)) for a, b in widths]
    return ConstantPad.apply(input, tuple(widths), value)


class _Tri(Function):
    @staticmethod
    def forward(ctx, x, diagonal, upper):
        ctx.diagonal, ctx.upper = diagonal, upper
        xp = xp_of(x)
        return xp.triu(x, diagonal) if upper else xp.tril(x, diagonal)

    @staticmethod
    def backward(ctx, gy):
        return _Tri.apply(gy, ctx.diagonal, ctx.upper), None, None


def tril(input, diagonal: int = 0) -> Tensor:
    """The lower triangle (entries at and below ``diagonal``); the rest zero."""
    return _Tri.apply(input, diagonal, False)


def triu(input, diagonal: int = 0) -> Tensor:
    return _Tri.apply(input, diagonal, True)


class Diagonal(Function):
    @staticmethod
    def forward(ctx, x, offset, dim1, dim2):
        ctx.args = (x.shape, offset, dim1, dim2)
        return xp_of(x).diagonal(x, offset, dim1, dim2).copy()

    @staticmethod
    def backward(ctx, gy):
        shape, offset, d1, d2 = ctx.args
        return DiagonalBackward.apply(gy, shape, offset, d1, d2), None, None, None


class DiagonalBackward(Function):
    @staticmethod
    def forward(ctx, g, shape, offset, d1, d2):
        ctx.args = (offset, d1, d2)
        xp = xp_of(g)
        out = xp.zeros(shape, dtype=g.dtype)
        k = g.shape[-1]
        rows = xp.arange(k) + max(-offset, 0)
        cols = xp.arange(k) + max(offset, 0)
        xp.moveaxis(out, (d1, d2), (-2, -1))[..., rows, cols] = g  # a view: writes into out
        return out

    @staticmethod
    def backward(ctx, gg):
        return Diagonal.apply(gg, *ctx.args), None, None, None, None


def diagonal(input, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    nd = input.ndim
    return Diagonal.apply(input, offset, wrap_dim(dim1, nd), wrap_dim(dim2, nd))


def diag_embed(input, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    n = input.shape[-1] + abs(offset)
    shape = tuple(input.shape[:-1]) + (n, n)
    return DiagonalBackward.apply(input, shape, offset, len(shape) - 2, len(shape) - 1)


def diag(input, diagonal: int = 0) -> Tensor:
    if input.ndim == 1:
        n = input.shape[0] + abs(diagonal)
        return DiagonalBackward.apply(input, (n, n), diagonal, 0, 1)
    return Diagonal.apply(input, diagonal, 0, 1)


def trace(input) -> Tensor:
    if _autocast.active:
        input, = _autocast.cast("trace", input)
    return Diagonal.apply(input, 0, 0, 1).sum()
