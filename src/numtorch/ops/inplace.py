"""In-place ops and assignment (``x.add_(y)``, ``x[i] = v``) with PyTorch's autograd rules.

An in-place op computes the out-of-place result and writes it into the tensor's own memory,
so views of the tensor see the change.  Each write bumps the tensor's version counter; a
backward that needs the old value then raises instead of computing a wrong gradient.
With grad recording on:
- a leaf that requires grad may not be changed in place (PyTorch's error);
- otherwise the result is computed from a snapshot (a differentiable clone) of the old value,
  and the tensor takes over the result's place in the graph.
"""
from __future__ import annotations

from numtorch._backend import to_device, xp_of
from numtorch.autograd.function import Function
from numtorch.autograd.grad_mode import GradMode
from numtorch.random import rng_of
from numtorch.ops._util import ensure_tensor
from numtorch.ops.convert import clone, to_copy
from numtorch.ops.index import IndexPut, normalize_index
from numtorch.ops.shape import broadcast_to
from numtorch.tensor import Tensor, make_tensor

__all__ = ["apply_inplace", "fill_inplace", "setitem", "copy_from", "fill_random"]


def _check_leaf(t: Tensor) -> None:
    if t.grad_fn is None and t.requires_grad:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    if t.grad_fn is not None and t.grad_fn.fn.is_view and "_view_base" not in t.__dict__:
        # PyTorch rewrites the base's history here (CopySlices); numtorch does so for views made by
        # indexing (base[key]) and refuses for the others rather than give the base a wrong gradient.
        raise RuntimeError(f"an in-place operation on a view ({t.grad_fn.name()}) of a tensor that requires "
                           "grad is not supported by numtorch; clone() the view or modify the base tensor "
                           "(e.g. base[index] = value) instead.")


def _is_indexed_view(t: Tensor) -> bool:
    return "_view_base" in t.__dict__


def _rebase_view(t: Tensor, new: Tensor) -> Tensor:
    """``t`` is ``base[key]`` and takes the value ``new``: written as ``base[key] = new`` (so the base's
    history records it, as PyTorch's CopySlices), then ``t`` is ``base[key]`` of the new base."""
    from numtorch.ops.index import BasicIndex
    base, key = t._view_base
    setitem(base, key, new)
    fresh = BasicIndex.apply(base, key)
    t.grad_fn, t._output_nr, t.requires_grad = fresh.grad_fn, fresh._output_nr, fresh.requires_grad
    return t


def _write(t: Tensor, value_array, op: str) -> None:
    dst = t._data
    if value_array.dtype != dst.dtype:
        if dst.dtype.kind in "iub" and value_array.dtype.kind in "fcV":
            raise RuntimeError(f"{op}: result type {value_array.dtype} can't be cast to the desired output "
                               f"type {t.dtype}")
        if dst.dtype.kind == "b" and value_array.dtype.kind != "b":
            raise RuntimeError(f"{op}: result type {value_array.dtype} can't be cast to the desired output "
                               f"type {t.dtype}")
    if value_array.shape != dst.shape:
        try:
            xp_of(dst).broadcast_to(value_array, dst.shape)
        except ValueError:
            raise RuntimeError(f"{op}: output with shape {list(dst.shape)} doesn't match the broadcast shape "
                               f"{list(value_array.shape)}") from None
    if _overlapping(dst):
        raise RuntimeError(f"{op}: unsupported operation: more than one element of the written-to tensor "
                           "refers to a single memory location. Please clone() the tensor before performing "
                           "the operation.")
    dst[...] = value_array


def _overlapping(a) -> bool:
    """Does more than one element of ``a`` refer to one memory location (an expanded view)?

    NumPy marks such views read-only; CuPy's arrays have no ``writeable`` flag, so there a zero
    stride over a dim longer than 1 tells."""
    w = getattr(a.flags, "writeable", None)
    if w is not None:
        return not w
    return any(s == 0 and n > 1 for s, n in zip(a.strides, a.shape))


def _records(t: Tensor, args) -> bool:
    if not GradMode.enabled:
        return False
    return t.requires_grad or any(isinstance(a, Tensor) and a.requires_grad for a in args)


def _take_over(t: Tensor, out: Tensor, op: str) -> Tensor:
    _write(t, out._data, op)
    t.grad_fn, t._output_nr, t.requires_grad = out.grad_fn, out._output_nr, out.requires_grad
    t._bump_version()
    return t


def apply_inplace(t: Tensor, fn, *args, **kwargs) -> Tensor:
    """``t = fn(t, *args)`` written into ``t``'s memory."""
    op = getattr(fn, "__name__", "op") + "_"
    if not _records(t, args):
        out = fn(t, *args, **kwargs)
        _write(t, out._data, op)
        t._bump_version()
        return t
    _check_leaf(t)
    out = fn(clone(t) if t.requires_grad else t.detach(), *args, **kwargs)
    if _is_indexed_view(t):
        return _rebase_view(t, out)
    return _take_over(t, out, op)


def copy_from(input: Tensor, src) -> Tensor:
    """The value ``input.copy_(src)`` writes: ``src`` cast and broadcast to ``input``."""
    src = ensure_tensor(src, input)
    src = to_copy(src, input.dtype, input.device)
    return broadcast_to(src, tuple(input.shape))


def fill_inplace(t: Tensor, value) -> Tensor:
    """``t.fill_(value)`` / ``t.zero_()``: every element set to ``value``."""
    if isinstance(value, Tensor) and (value.requires_grad or value.ndim):
        if value.ndim:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with "
                               f"{value.ndim} dimensions.")
        return apply_inplace(t, copy_from, value)
    v = value._data if isinstance(value, Tensor) else value
    if isinstance(value, Tensor) and value.device != t.device:  # a 0-d value may sit on another device
        v = to_device(v, t.device)
    if GradMode.enabled and t.requires_grad:  # the old values get a zero gradient, as in PyTorch
        return apply_inplace(t, _fill, v)
    t._data[...] = v
    t._bump_version()
    return t


class Fill(Function):
    """y = value everywhere; nothing of x survives, so its gradient is zero."""

    @staticmethod
    def forward(ctx, x, value):
        return xp_of(x).full(x.shape, value, dtype=x.dtype)

    @staticmethod
    def backward(ctx, gy):
        return gy * 0, None


def _fill(input: Tensor, value) -> Tensor:
    return Fill.apply(input, value)


def setitem(t: Tensor, index, value) -> None:
    """``t[index] = value`` (a number, an array or a tensor, broadcast to the indexed shape)."""
    xp = xp_of(t._data)
    key, _ = normalize_index(index, xp)
    if isinstance(value, Tensor) and value.device != t.device:
        raise RuntimeError(f"setitem: expected value on {t.device}, got a tensor on {value.device}; "
                           f"move it first with .to(\"{t.device}\")")
    if isinstance(value, (list, tuple)) or (hasattr(value, "shape") and not isinstance(value, Tensor)):
        value = xp.asarray(value)  # host data (a list, a NumPy array) is copied to the tensor's device
    if not _records(t, (value,)):
        v = value._data if isinstance(value, Tensor) else value
        if getattr(v, "dtype", None) is not None and v.dtype.kind in "fcV" and t._data.dtype.kind in "iub":
            v = v.astype(t._data.dtype)
        try:
            t._data[key] = v
        except (ValueError, IndexError) as e:
            raise (IndexError if isinstance(e, IndexError) else RuntimeError)(
                f"setitem: cannot assign a value of shape {tuple(getattr(v, 'shape', ()))} to index "
                f"{index!r} of a tensor of shape {tuple(t.shape)}: {e}") from None
        t._bump_version()
        return
    _check_leaf(t)
    if isinstance(value, Tensor) and value._data.dtype != t._data.dtype:
        value = value.to(t.dtype)
    src = clone(t) if t.requires_grad else t.detach()
    if _is_indexed_view(t):
        _rebase_view(t, IndexPut.apply(src, value, key))
        return
    _take_over(t, IndexPut.apply(src, value, key), "setitem")


def fill_random(t, kind: str, a, b, generator):
    """In-place random fill (``uniform_``, ``normal_``, ...): drawn on the CPU, copied in."""
    rng = rng_of(generator)
    shape = tuple(t.shape)
    if kind == "uniform":
        arr = rng.uniform(a, b, shape)
    elif kind == "normal":
        arr = rng.normal(a, b, shape)
    elif kind == "bernoulli":
        arr = to_device(rng.random(shape), t.device) < (a._data if isinstance(a, Tensor) else a)
    elif kind == "exponential":
        arr = rng.exponential(1.0 / a, shape)
    else:
        if b is None:
            a, b = 0, a if a else 2 ** 24
        arr = rng.integers(a, b, shape)
    src = make_tensor(to_device(arr.astype(t._data.dtype), t.device))
    return apply_inplace(t, copy_from, src)  # (fill_ takes only one value)
