"""``repr`` of a tensor in PyTorch's style: ``tensor([[1., 2.]], requires_grad=True)``."""
from __future__ import annotations

import math

import numpy as np

from numtorch import _dtypes
from numtorch._backend import to_device, xp_of, CPU

__all__ = ["tensor_repr"]


_PRECISION, _THRESHOLD, _EDGEITEMS, _LINEWIDTH = 4, 1000, 3, 80  # PyTorch's default print options


def _summarized(a: np.ndarray) -> np.ndarray:
    """The elements PyTorch shows of a large tensor: ``_EDGEITEMS`` at each end of every dim."""
    for d in range(a.ndim):
        if a.shape[d] > 2 * _EDGEITEMS:
            a = np.concatenate([a.take(range(_EDGEITEMS), d),
                                a.take(range(a.shape[d] - _EDGEITEMS, a.shape[d]), d)], d)
    return a


class _Formatter:
    """Chooses int / fixed / scientific notation and one width for all elements (PyTorch's rules)."""

    def __init__(self, a: np.ndarray) -> None:
        self.floating = _dtypes.kind(a.dtype) == "f"
        self.int_mode, self.sci_mode, self.width = True, False, 1
        if not self.floating:
            self.width = max((len(self._plain(v)) for v in a.ravel().tolist()), default=1)
            return
        finite = a[np.isfinite(a) & (a != 0)].astype(np.float64)
        if finite.size == 0:
            return
        absf = np.abs(finite)
        ratio, big, small = absf.max() / absf.min(), absf.max(), absf.min()
        self.int_mode = bool(np.all(finite == np.ceil(finite)))
        if self.int_mode:
            self.sci_mode = ratio > 1000.0 or big > 1.0e8
        else:
            self.sci_mode = ratio > 1000.0 or big > 1.0e8 or small < 1.0e-4
        fmt = (f"{{:.{_PRECISION}e}}" if self.sci_mode
               else ("{:.0f}." if self.int_mode else f"{{:.{_PRECISION}f}}"))
        self.width = max(len(fmt.format(v)) for v in finite.tolist())

    def _plain(self, v) -> str:
        return str(v) if not isinstance(v, bool) else ("True" if v else "False")

    def __call__(self, v) -> str:
        if not self.floating:
            s = self._plain(v)
        elif self.sci_mode:
            s = f"{v:{self.width}.{_PRECISION}e}"
        elif self.int_mode:
            s = f"{v:.0f}" + ("" if math.isinf(v) or math.isnan(v) else ".")
        else:
            s = f"{v:.{_PRECISION}f}"
        return " " * (self.width - len(s)) + s


def _vector_str(a: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    per_line = max(1, (_LINEWIDTH - indent) // (fmt.width + 2))
    if summarize and a.shape[0] > 2 * _EDGEITEMS:
        data = ([fmt(v) for v in a[:_EDGEITEMS].tolist()] + [" ..."]
                + [fmt(v) for v in a[-_EDGEITEMS:].tolist()])
    else:
        data = [fmt(v) for v in a.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _tensor_str(a: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    if a.ndim == 0:
        return fmt(a.item())
    if a.ndim == 1:
        return _vector_str(a, indent, summarize, fmt)
    n = a.shape[0]
    if summarize and n > 2 * _EDGEITEMS:
        rows = list(range(_EDGEITEMS)) + [None] + list(range(n - _EDGEITEMS, n))
    else:
        rows = list(range(n))
    slices = ["..." if i is None else _tensor_str(a[i], indent + 1, summarize, fmt) for i in rows]
    return "[" + ("," + "\n" * (a.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def _body(a: np.ndarray, summarize: bool) -> str:
    fmt = _Formatter(_summarized(a) if summarize else a)
    return _tensor_str(a, len("tensor("), summarize, fmt)


def _edge_box(a):
    """The part of a large array that repr shows, cut out where the array lives: every dim longer
    than 2 * _EDGEITEMS + 1 keeps its first _EDGEITEMS + 1 and last _EDGEITEMS items (the extra one
    stands where "..." goes).  A GPU tensor's repr then copies a few numbers to the host, not all."""
    for d in range(a.ndim):
        n = a.shape[d]
        if n > 2 * _EDGEITEMS + 1:
            lead = (slice(None),) * d
            a = xp_of(a).concatenate([a[lead + (slice(0, _EDGEITEMS + 1),)],
                                      a[lead + (slice(n - _EDGEITEMS, n),)]], d)
    return a


def tensor_repr(t) -> str:
    summarize = t._data.size > _THRESHOLD
    a = np.asarray(to_device(_edge_box(t._data) if summarize else t._data, CPU))
    if a.dtype == np.float16 or a.dtype == _dtypes.bfloat16.np:
        a = a.astype(np.float32)
    if a.size == 0:
        body = "[]"
    else:
        body = _body(a, summarize)
    extras = []
    if a.size == 0 and a.ndim != 1:
        extras.append(f"size={tuple(a.shape)}")
    d = t.dtype
    if d not in (_dtypes.get_default_dtype(), _dtypes.int64, _dtypes.bool_) and d is not _dtypes.complex64:
        extras.append(f"dtype={d}")
    dev = t.device
    if dev.type != "cpu":
        extras.append(f"device='{dev}'")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"
