"""Making tensors: ``tensor``, ``zeros``, ``arange``, ``randn`` ... with PyTorch's signatures.

Python data follows PyTorch's dtype inference: floats become the default dtype (float32),
ints int64, bools bool.  NumPy arrays keep their dtype.  ``device=`` picks the array module.
"""
from __future__ import annotations

import builtins
import math
import operator

import numpy as np

import numtorch.tensor as _tensor
from numtorch import _dtypes
from numtorch._backend import as_device, xp_for, to_device, device_context, CPU
from numtorch.random import rng_of, uniform_array


def _size(size, name: str = "zeros") -> tuple:
    """Accepts zeros(2, 3), zeros((2, 3)), zeros([2, 3]) and zeros(Size); each dimension an integer
    (anything with ``__index__``: int, NumPy integers, 0-d integer tensors), never a float or bool."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    out = tuple(_dim(s, i, name) for i, s in enumerate(size))
    for s in out:
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(out)}")
    return out


def _dim(s, pos: int, name: str) -> int:
    if s.__class__ is builtins.int:   # the common case, first
        return s
    if isinstance(s, builtins.bool) or not hasattr(type(s), "__index__"):
        raise TypeError(f"{name}(): argument 'size' must be tuple of ints, but found element of type "
                        f"{type(s).__name__} at pos {pos}")
    return operator.index(s)


def _out_of_memory(name: str, shape: tuple, dtype) -> RuntimeError:
    """PyTorch's allocator error, naming the bytes (NumPy's MemoryError names TiB)."""
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    return RuntimeError(f"{name}: can't allocate memory: you tried to allocate {nbytes} bytes "
                        f"(shape {list(shape)}, {np.dtype(dtype)})")


def _finish(arr, device, requires_grad):
    if device is not None:
        arr = to_device(arr, as_device(device))
    t = _tensor.make_tensor(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _infer_np(data, exact: bool = False):
    """Converts Python data to a NumPy array with PyTorch's default dtypes (``exact``: Python
    floats stay float64, for a caller that casts to an explicit dtype next)."""
    if isinstance(data, _tensor.Tensor):
        return data._data
    if isinstance(data, (np.ndarray, np.generic)):
        return np.asarray(data)
    if isinstance(data, (list, tuple)) and data and _holds_tensors(data):
        return np.stack([np.asarray(_infer_np(d)) for d in data])
    arr = np.asarray(data)
    if arr.dtype == np.float64 and not exact:
        arr = arr.astype(_dtypes.get_default_dtype().np)
    elif arr.dtype == np.complex128 and _dtypes.get_default_dtype() is not _dtypes.float64:
        arr = arr.astype(np.complex64)
    elif arr.dtype.kind in "iu":
        arr = arr.astype(np.int64)
    elif _dtypes.kind(arr.dtype) not in "fbc":
        raise TypeError(f"Could not infer dtype of {type(data).__name__}")
    return arr


def _holds_tensors(data) -> bool:
    first = data[0]
    while isinstance(first, (list, tuple)) and first:
        first = first[0]
    return isinstance(first, _tensor.Tensor)


def tensor(data, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False):
    """A new tensor holding a copy of ``data`` (nested lists, numbers, arrays or tensors)."""
    src_device = data.device if isinstance(data, _tensor.Tensor) else None
    arr = _infer_np(data, exact=dtype is not None)
    if dtype is not None:
        arr = _dtypes.astype(arr, _dtypes.np_dtype(dtype))
    else:
        arr = arr.copy()
    return _finish(arr, device if device is not None else src_device, requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Like ``tensor`` but shares memory with ``data`` where it can."""
    if isinstance(data, _tensor.Tensor):
        return data.to(dtype=dtype, device=device) if (dtype or device) else data
    arr = _infer_np(data)
    if dtype is not None:
        arr = _dtypes.astype(arr, _dtypes.np_dtype(dtype), copy=False)
    return _finish(arr, device, False)


asarray = as_tensor


def from_numpy(a: np.ndarray):
    """A tensor sharing memory with the NumPy array ``a``."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(a).__name__})")
    _dtypes.from_numpy_dtype(a.dtype)
    return _tensor.make_tensor(a)


def _filled(fill, size, dtype, device, requires_grad, default=None, name="zeros"):
    d = _dtypes.np_dtype(dtype) if dtype is not None else (default or _dtypes.get_default_dtype().np)
    dev = as_device(device)
    xp = xp_for(dev)
    with device_context(dev):
        try:
            arr = xp.empty(size, dtype=d) if fill is None else xp.full(size, fill, dtype=d)
        except (MemoryError, ValueError) as e:   # ValueError: "array is too big" (beyond the address space)
            if isinstance(e, ValueError) and "too big" not in str(e):
                raise
            raise _out_of_memory(name, size, d) from None
    t = _tensor.make_tensor(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*sizes, size=None, dtype=None, device=None, requires_grad=False, out=None, layout=None,
          pin_memory=False):
    return _filled(0, _size(sizes if size is None else (size,), "zeros"), dtype, device, requires_grad)


def ones(*sizes, size=None, dtype=None, device=None, requires_grad=False, out=None, layout=None,
         pin_memory=False):
    return _filled(1, _size(sizes if size is None else (size,), "ones"), dtype, device, requires_grad,
                   name="ones")


def empty(*sizes, size=None, dtype=None, device=None, requires_grad=False, out=None, layout=None,
          pin_memory=False, memory_format=None):
    return _filled(None, _size(sizes if size is None else (size,), "empty"), dtype, device, requires_grad,
                   name="empty")


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    if dtype is None:
        default = _infer_np(fill_value).dtype
        return _filled(fill_value, _size((size,), "full"), None, device, requires_grad, default, name="full")
    return _filled(fill_value, _size((size,), "full"), dtype, device, requires_grad, name="full")


def _like(t, dtype, device):
    return (t.dtype if dtype is None else dtype), (t.device if device is None else device)


def zeros_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None, layout=None):
    d, dev = _like(input, dtype, device)
    return _filled(0, tuple(input.shape), d, dev, requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None, layout=None):
    d, dev = _like(input, dtype, device)
    return _filled(1, tuple(input.shape), d, dev, requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None, layout=None):
    d, dev = _like(input, dtype, device)
    return _filled(None, tuple(input.shape), d, dev, requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    d, dev = _like(input, dtype, device)
    return _filled(fill_value, tuple(input.shape), d, dev, requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False, out=None):
    """Values from ``start`` up to (not including) ``end``; int64 for integer arguments."""
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, _tensor.Tensor) else v for v in (start, end, step)]
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if dtype is None:
        is_int = all(isinstance(v, (builtins.int, np.integer)) for v in vals)
        dtype = _dtypes.int64 if is_int else _dtypes.get_default_dtype()
    n = builtins.max(0, math.ceil((vals[1] - vals[0]) / vals[2]))
    xp = np if device is None else xp_for(as_device(device))
    with device_context(as_device(device)):  # computed where it will live: no host -> device copy
        arr = (vals[0] + xp.arange(n, dtype=np.float64) * vals[2]).astype(_dtypes.np_dtype(dtype))
    return _finish(arr, device, requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False, out=None):
    arr = np.linspace(float(start), float(end), int(steps))
    return _finish(arr.astype(_dtypes.np_dtype(dtype or _dtypes.get_default_dtype())), device, requires_grad)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False):
    arr = np.logspace(float(start), float(end), int(steps), base=base)
    return _finish(arr.astype(_dtypes.np_dtype(dtype or _dtypes.get_default_dtype())), device, requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False, out=None):
    arr = np.eye(n, n if m is None else m, dtype=_dtypes.np_dtype(dtype or _dtypes.get_default_dtype()))
    return _finish(arr, device, requires_grad)


# ---- random ------------------------------------------------------------------------

def _float_np(dtype):
    d = _dtypes.to_dtype(dtype) if dtype is not None else _dtypes.get_default_dtype()
    if not d.is_floating_point:
        raise RuntimeError(f"expected a floating point dtype for a random float tensor, got {d}")
    return d.np


def rand(*sizes, size=None, generator=None, dtype=None, device=None, requires_grad=False, out=None):
    """Uniform samples from [0, 1)."""
    d = _float_np(dtype)
    shape = _size(sizes if size is None else (size,), "rand")
    try:
        arr = rng_of(generator).random(shape, dtype=np.float64 if d != np.float32 else np.float32)
    except MemoryError:
        raise _out_of_memory("rand", shape, d) from None
    return _finish(arr.astype(d, copy=False), device, requires_grad)


def randn(*sizes, size=None, generator=None, dtype=None, device=None, requires_grad=False, out=None):
    """Samples from the standard normal distribution."""
    d = _float_np(dtype)
    shape = _size(sizes if size is None else (size,), "randn")
    try:
        arr = rng_of(generator).standard_normal(shape, dtype=np.float64 if d != np.float32 else np.float32)
    except MemoryError:
        raise _out_of_memory("randn", shape, d) from None
    return _finish(arr.astype(d, copy=False), device, requires_grad)


def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None, requires_grad=False):
    """Integers from ``low`` (inclusive) to ``high`` (exclusive); ``randint(high, size)`` too."""
    if size is None:
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing required argument 'size'")
    shape = _size((size,), "randint")
    try:
        arr = rng_of(generator).integers(low, high, size=shape)
    except MemoryError:
        raise _out_of_memory("randint", shape, np.int64) from None
    return _finish(arr.astype(_dtypes.np_dtype(dtype or _dtypes.int64)), device, requires_grad)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False):
    arr = rng_of(generator).permutation(n)
    return _finish(arr.astype(_dtypes.np_dtype(dtype or _dtypes.int64)), device, requires_grad)


def rand_like(input, *, dtype=None, device=None, requires_grad=False, generator=None):
    d, dev = _like(input, dtype, device)
    return rand(*input.shape, generator=generator, dtype=d, device=dev, requires_grad=requires_grad)


def randn_like(input, *, dtype=None, device=None, requires_grad=False, generator=None):
    d, dev = _like(input, dtype, device)
    return randn(*input.shape, generator=generator, dtype=d, device=dev, requires_grad=requires_grad)


def randint_like(input, low, high=None, *, dtype=None, device=None, generator=None):
    d, dev = _like(input, dtype, device)
    return randint(low, high, tuple(input.shape), generator=generator, dtype=d, device=dev)


def bernoulli(input, p=None, *, generator=None):
    """1 with probability ``input`` (or ``p``), else 0, in ``input``'s dtype.

    The uniform draws come from the CPU generator and go to ``input``'s device, where they meet the
    probabilities (no wait for the device)."""
    u = to_device(rng_of(generator).random(tuple(input.shape)), input.device)
    probs = input._data if p is None else p
    return _tensor.make_tensor((u < probs).astype(input._data.dtype))


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """Indices drawn from the rows of ``input`` (non-negative weights)."""
    rng = rng_of(generator)
    if input.device.type != "cpu" and (replacement or num_samples == 1):
        return _multinomial_on_device(input, num_samples, rng)
    probs = np.asarray(to_device(input.detach()._data, CPU), dtype=np.float64)
    rows = probs.reshape(-1, probs.shape[-1])
    if not replacement and num_samples > rows.shape[1]:
        raise RuntimeError("multinomial: cannot sample n_sample > prob_dist.size(-1) samples "
                           "without replacement")
    if (rows < 0).any() or not np.isfinite(rows).all():
        raise RuntimeError("multinomial: probability tensor contains either `inf`, `nan` or element < 0")
    out = np.empty((rows.shape[0], num_samples), dtype=np.int64)
    for i, r in enumerate(rows):
        s = r.sum()
        if s <= 0:
            raise RuntimeError("multinomial: invalid multinomial distribution (sum of probabilities <= 0)")
        out[i] = rng.choice(r.size, size=num_samples, replace=replacement, p=r / s)
    return _finish(out.reshape(probs.shape[:-1] + (num_samples,)), input.device, False)


def _multinomial_on_device(input, num_samples: int, rng):
    """Sampling with replacement (or one sample) on a GPU, without waiting for it: the CPU generator's
    uniforms u go over asynchronously, and each index is the number of cumulative probabilities <= u,
    as NumPy's ``choice`` computes it on the CPU (so a seed gives the same indices on both devices).
    The weights are not validated (that would wait for the device, as in PyTorch)."""
    xp = xp_for(input.device)
    with device_context(input.device):
        p = input.detach()._data.astype(np.float64)
        rows = p.reshape(-1, p.shape[-1])
        cdf = xp.cumsum(rows / rows.sum(axis=1, keepdims=True), axis=1)
        cdf /= cdf[:, -1:]
        # drawn as choice() draws them
        u = uniform_array((rows.shape[0], num_samples), input.device, np.float64, rng)
        idx = (cdf[:, None, :] <= u[:, :, None]).sum(axis=2)      # searchsorted(cdf, u, side="right")
        idx = xp.minimum(idx, rows.shape[1] - 1).astype(np.int64)
    return _tensor.make_tensor(idx.reshape(p.shape[:-1] + (num_samples,)))


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None, requires_grad=False):
    """Samples of N(mean, std^2); ``mean`` and ``std`` may be tensors (broadcast)."""
    m = mean._data if isinstance(mean, _tensor.Tensor) else mean
    s = std._data if isinstance(std, _tensor.Tensor) else std
    shape = _size((size,)) if size is not None else np.broadcast_shapes(np.shape(m), np.shape(s))
    like = mean if isinstance(mean, _tensor.Tensor) else (std if isinstance(std, _tensor.Tensor) else None)
    d = _dtypes.np_dtype(dtype) or (like._data.dtype if like is not None else _dtypes.get_default_dtype().np)
    dev = device or (like.device if like is not None else None)
    dev = as_device(dev)
    z = to_device(rng_of(generator).standard_normal(shape), dev)   # drawn on the CPU, computed on dev
    arr = z * _on(s, dev) + _on(m, dev)
    return _finish(arr.astype(d, copy=False), None, requires_grad)


def _on(v, dev):
    """A number stays a number; an array goes to ``dev``."""
    return to_device(v, dev) if hasattr(v, "shape") else v
