"""``numtorch.testing``: ``assert_close`` and ``make_tensor``, as in ``torch.testing``.

``assert_close`` compares tensors, numbers, and lists / tuples / dicts of them, element by element:
|actual - expected| <= atol + rtol * |expected|. Without ``rtol`` / ``atol`` the tolerances are
PyTorch's defaults for the dtype (float32: rtol 1.3e-6, atol 1e-5; float64: 1e-7, 1e-7; integers
and bool: exact). A failure raises ``AssertionError`` with PyTorch's message layout.
"""
from __future__ import annotations

import math

import numpy as np

from numtorch.tensor import Tensor
from numtorch.creation import as_tensor, from_numpy

__all__ = ["assert_close", "make_tensor"]

# dtype -> (rtol, atol), PyTorch's defaults
_TOLERANCES = {"float16": (1e-3, 1e-5), "bfloat16": (1.6e-2, 1e-5), "float32": (1.3e-6, 1e-5),
               "float64": (1e-7, 1e-7), "complex64": (1.3e-6, 1e-5), "complex128": (1e-7, 1e-7)}


def _default_tolerances(*dtypes) -> tuple:
    tols = [_TOLERANCES.get(np.dtype(d).name, (0.0, 0.0)) for d in dtypes]
    return max(t[0] for t in tols), max(t[1] for t in tols)


def assert_close(actual, expected, *, allow_subclasses: bool = True, rtol=None, atol=None,
                 equal_nan: bool = False, check_device: bool = True, check_dtype: bool = True,
                 check_layout: bool = True, check_stride: bool = False, msg=None) -> None:
    """Raises ``AssertionError`` unless ``actual`` and ``expected`` are close (see the module docstring).

    >>> import numtorch
    >>> assert_close(numtorch.tensor([1.0, 2.0]), numtorch.tensor([1.0, 2.0 + 1e-7]))
    """
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, "
                         f"but got no {'rtol' if rtol is None else 'atol'}.")
    _compare(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, msg, path=())


def _compare(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, msg, path) -> None:
    if isinstance(expected, dict) and isinstance(actual, dict):
        if set(actual) != set(expected):
            _fail(f"The keys of the mappings do not match: {sorted(map(str, actual))} != "
                  f"{sorted(map(str, expected))}", path, msg)
        for k in expected:
            _compare(actual[k], expected[k], rtol, atol, equal_nan, check_device, check_dtype, msg,
                     path + (k,))
        return
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)):
        if len(actual) != len(expected):
            _fail(f"The length of the sequences mismatch: {len(actual)} != {len(expected)}", path, msg)
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, rtol, atol, equal_nan, check_device, check_dtype, msg, path + (i,))
        return
    if isinstance(actual, Tensor) or isinstance(expected, Tensor):
        _compare_tensors(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, msg, path)
    elif isinstance(actual, (bool, int, float, complex)) \
            and isinstance(expected, (bool, int, float, complex)):
        _compare_scalars(actual, expected, rtol, atol, equal_nan, check_dtype, msg, path)
    else:
        raise TypeError(f"No comparison pair was able to handle inputs of type {type(actual)} and "
                        f"{type(expected)}.")


def _fail(text: str, path, msg) -> None:
    if msg is not None:
        text = msg(text) if callable(msg) else msg
    elif path:
        text += "\n\nThe failure occurred for item " + "".join(f"[{p!r}]" for p in path)
    raise AssertionError(text)


def _compare_scalars(actual, expected, rtol, atol, equal_nan, check_dtype, msg, path) -> None:
    if check_dtype and type(actual) is not type(expected):
        _fail(f"The values for attribute 'dtype' do not match: {type(actual)} != {type(expected)}.", path,
              msg)
    kind = "close" if isinstance(expected, (float, complex)) else "equal"
    if rtol is None:
        rtol, atol = _default_tolerances(np.float64) if kind == "close" else (0.0, 0.0)
    if equal_nan and isinstance(expected, float) and math.isnan(actual) and math.isnan(expected):
        return
    diff = abs(actual - expected)
    if diff <= atol + rtol * abs(expected):
        return
    rel = diff / abs(expected) if expected != 0 else math.inf
    lines = [f"Scalars are not {kind}!", "", f"Expected {expected} but got {actual}."]
    tail = lambda t: f" (up to {t} allowed)" if kind == "close" else ""  # noqa: E731
    lines += [f"Absolute difference: {diff}{tail(atol)}", f"Relative difference: {rel}{tail(rtol)}"]
    _fail("\n".join(lines), path, msg)


def _compare_tensors(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, msg, path) -> None:
    a = actual if isinstance(actual, Tensor) else as_tensor(actual)
    e = expected if isinstance(expected, Tensor) else as_tensor(expected)
    if a.shape != e.shape:
        _fail(f"The values for attribute 'shape' do not match: {a.shape} != {e.shape}.", path, msg)
    if check_device and a.device != e.device:
        _fail(f"The values for attribute 'device' do not match: {a.device} != {e.device}.", path, msg)
    if check_dtype and a.dtype != e.dtype:
        _fail(f"The values for attribute 'dtype' do not match: {a.dtype} != {e.dtype}.", path, msg)
    x, y = _host(a), _host(e)
    if rtol is None:
        rtol, atol = _default_tolerances(x.dtype, y.dtype)
    if x.dtype != y.dtype:  # compared in the promoted dtype, as PyTorch does
        common = np.promote_types(x.dtype, y.dtype)
        x, y = x.astype(common), y.astype(common)
    if x.dtype.kind == "b":
        x, y = x.astype(np.uint8), y.astype(np.uint8)
    _compare_values(x, y, rtol, atol, equal_nan, path, msg)


def _host(t: Tensor) -> np.ndarray:
    d = t.detach()._data
    return d.get() if hasattr(d, "get") else np.asarray(d)


def _compare_values(x: np.ndarray, y: np.ndarray, rtol, atol, equal_nan, path, msg) -> None:
    with np.errstate(invalid="ignore", over="ignore"):
        signed = x.astype(np.int64) if x.dtype.kind in "ub" else x
        ref = y.astype(np.int64) if y.dtype.kind in "ub" else y
        diff = np.abs(signed - ref)
        ok = diff <= atol + rtol * np.abs(ref)
        ok |= signed == ref  # equal infinities
        if equal_nan:
            ok |= np.isnan(x) & np.isnan(y) if x.dtype.kind in "fcV" else False
    if ok.all():
        return
    float_kind = x.dtype.kind in "fcV"
    kind = "close" if float_kind else "equal"
    n_bad, n = int((~ok).sum()), ok.size
    with np.errstate(divide="ignore", invalid="ignore"):
        absdiff = np.where(np.isnan(diff), np.inf, diff) if float_kind else diff
        rel = (absdiff / np.abs(ref)).astype(x.dtype if float_kind else np.float32)
        rel = np.where(np.isnan(rel), np.inf if float_kind else 0, rel)
    i_abs = np.unravel_index(int(np.argmax(np.where(ok, -1, absdiff))), x.shape)
    i_rel = np.unravel_index(int(np.argmax(np.where(ok, -1, rel))), x.shape)
    tail = (lambda t: f" (up to {t} allowed)") if float_kind else (lambda t: "")
    lines = [f"Tensor-likes are not {kind}!", "",
             f"Mismatched elements: {n_bad} / {n} ({100 * n_bad / n:.1f}%)",
             f"Greatest absolute difference: {absdiff[i_abs].item()} at index {tuple(int(i) for i in i_abs)}"
             f"{tail(atol)}",
             f"Greatest relative difference: {rel[i_rel].item()} at index {tuple(int(i) for i in i_rel)}"
             f"{tail(rtol)}"]
    _fail("\n".join(lines), path, msg)


def make_tensor(*shape, dtype, device=None, low=None, high=None, requires_grad: bool = False,
                noncontiguous: bool = False, exclude_zero: bool = False, memory_format=None) -> Tensor:
    """A random tensor of ``shape`` and ``dtype``, uniform in [low, high): floats default to
    [-9, 9), signed integers to [-9, 10), unsigned to [0, 10); bool is a fair coin.

    >>> import numtorch
    >>> make_tensor(2, 3, dtype=numtorch.float32, low=0, high=1).shape
    numtorch.Size([2, 3])
    """
    from numtorch.random import rng_of
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = tuple(int(s) for s in shape)
    np_dtype = np.dtype(dtype.np if hasattr(dtype, "np") else dtype)
    rng = rng_of(None)
    if np_dtype.kind == "b":
        arr = rng.integers(0, 2, size=shape).astype(bool)
    elif np_dtype.kind in "iu":
        lo = (0 if np_dtype.kind == "u" else -9) if low is None else math.ceil(low)
        hi = 10 if high is None else math.ceil(high)
        arr = rng.integers(lo, hi, size=shape).astype(np_dtype)
        if exclude_zero:
            arr[arr == 0] = 1
    else:
        lo, hi = (-9.0 if low is None else low), (9.0 if high is None else high)
        arr = rng.uniform(lo, hi, size=shape).astype(np_dtype)
        if exclude_zero:
            arr[arr == 0] = np.finfo(np_dtype).tiny
    t = from_numpy(arr)
    if device is not None:
        t = t.to(device)
    if requires_grad:
        t.requires_grad_(True)
    return t
