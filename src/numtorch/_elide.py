"""Temporary elision: ``(x * 0.5 + 1.0).exp() * x - x`` allocates one result buffer, not five.

In a chain of elementwise operators every intermediate tensor is a temporary: nothing else can
ever read it again, so the next operator may write its result into the temporary's memory instead
of allocating a new array (for large arrays a fresh allocation costs page faults, as much as the
arithmetic). NumPy does this for its own operators by checking reference counts in C; numtorch's
tensors hide their arrays from NumPy, so numtorch makes the same check on the tensor.

A left operand ``t`` is a temporary when

* the operator sees no more references to ``t`` than a temporary has (``TEMP_REFS``, measured at
  import on this interpreter; a named variable holds one more), and its array has no other
  reference either (no view, no alias, not saved by any graph node);
* no gradient is being recorded for the result (grad mode off, or no operand requires grad);
* the result would have ``t``'s shape and dtype (no broadcasting up, no type promotion), on the CPU,
  and ``t``'s array owns its memory (a view, e.g. ``x[0]``, shares memory with ``x``).

Anything else takes the ordinary path; the results are the same either way, only the memory differs.
"""
from __future__ import annotations

import sys

import numpy as np

from numtorch._errstate import quiet
from numtorch._grad_mode import GradMode

_ndarray = np.ndarray
_getrefcount = sys.getrefcount


class _Probe:
    """Reports how many references it has inside an operator and inside a method."""

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data = np.empty(1)

    def __add__(self, other):
        return _seen(self)

    def __radd__(self, other):
        return _seen(self)

    def method(self):
        return _seen(self)


def _seen(t) -> int:
    """The reference count of ``t`` one call below an operator: what ``binary``, ``binary_reflected``
    and ``unary`` see of their first argument (each is called straight from the operator)."""
    return _getrefcount(t)


def _array_refs(t) -> int:
    a = t._data
    return _getrefcount(a)


_GLOBAL = _Probe()


def _measure() -> tuple[int, int, int]:
    """Reference counts a temporary shows inside a binary operator, a reflected one (``1 + t``) and
    a method call; -1 where some named object (a local, a global, a closure variable, a list item)
    shows as few, so that a temporary cannot be told apart on this interpreter (elision is then off)."""
    local, items = _Probe(), [_Probe()]

    def closure():
        return local + 1, 1 + local, local.method()
    named = [min(counts) for counts in zip(
        (local + 1, 1 + local, local.method()), (_GLOBAL + 1, 1 + _GLOBAL, _GLOBAL.method()),
        (items[0] + 1, 1 + items[0], items[0].method()), closure())]
    temporary = (_Probe() + 1, 1 + _Probe(), _Probe().method())
    return tuple(t if t < n else -1 for t, n in zip(temporary, named))


TEMP_REFS, TEMP_REFS_REFLECTED, TEMP_REFS_METHOD = _measure()
ARRAY_REFS = _array_refs(_Probe())   # an array held by one tensor slot and nothing else


def _no_record(t, other) -> bool:
    if not GradMode.enabled:
        return True
    return not t.requires_grad and not getattr(other, "requires_grad", False)


TENSOR = None   # numtorch.Tensor, set by numtorch.tensor (a subclass keeps the ordinary path)


def _reusable(t) -> bool:
    """``t`` is a plain tensor whose array is on the CPU, numeric, owns its memory (not a view of
    another array) and is referenced by ``t`` alone."""
    a = t._data
    return (a.__class__ is _ndarray and _getrefcount(a) == ARRAY_REFS and a.base is None
            and t.__class__ is TENSOR and t.grad_fn is None and t._hooks is None and a.dtype.kind in "fiu")


def binary(t, other, ufunc, temp_refs: int, true_divide: bool = False):
    """``ufunc(t, other)`` written into ``t``'s array, returning ``t``, when ``t`` is a temporary
    (no more than ``temp_refs`` references, measured by ``_measure``); None where not possible.
    Called straight from the operator method (the reference count depends on it)."""
    if _getrefcount(t) > temp_refs or (GradMode.enabled and t.requires_grad) \
            or not (_no_record(t, other) and _reusable(t)):  # (the first test: a recorded op, at once)
        return None
    a = t._data
    if true_divide and a.dtype.kind != "f":
        return None
    cls = other.__class__
    if cls is float:
        if a.dtype.kind != "f":
            return None      # int tensor * float -> a float result
        b = other
    elif cls is int:
        b = other
    elif hasattr(other, "_data") and other._data.__class__ is _ndarray:
        b = other._data
        if b.dtype != a.dtype or (b.shape != a.shape and b.shape != a.shape[a.ndim - b.ndim:]):
            return None
    else:
        return None
    if true_divide:
        _quiet_ufunc(ufunc, a, b, a)   # x / 0 = inf silently, as the op itself computes it
    else:
        ufunc(a, b, out=a)
    return t


@quiet
def _quiet_ufunc(ufunc, a, b, out):
    ufunc(a, b, out=out)


def binary_reflected(t, other, ufunc, temp_refs: int):
    """``ufunc(other, t)`` into ``t`` (``2 - t``, ``1 / t``) for a Python-number ``other``."""
    if (_getrefcount(t) > temp_refs or other.__class__ not in (int, float)
            or not (_no_record(t, other) and _reusable(t))):
        return None
    a = t._data
    if a.dtype.kind != "f" and (other.__class__ is float or ufunc is np.true_divide):
        return None
    if ufunc is np.true_divide:
        _quiet_ufunc(ufunc, other, a, a)   # 1 / 0 = inf silently
    else:
        ufunc(other, a, out=a)
    return t


def unary(t, ufunc, temp_refs: int):
    """``ufunc(t)`` into ``t``'s array (float tensors only: exp of an int tensor is a float)."""
    if _getrefcount(t) > temp_refs or not (_no_record(t, None) and _reusable(t)) or t._data.dtype.kind != "f":
        return None
    _quiet_unary(ufunc, t._data)       # exp(1000) = inf silently
    return t


@quiet
def _quiet_unary(ufunc, a):
    ufunc(a, out=a)
