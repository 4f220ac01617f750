"""``repr`` of a tensor in PyTorch's style: ``tensor([[1., 2.]], requires_grad=True)``."""
from __future__ import annotations

import numpy as np

from numtorch import _dtypes
from numtorch._backend import to_device, CPU

__all__ = ["tensor_repr"]


def _float_formatter(a: np.ndarray):
    finite = a[np.isfinite(a)]
    if finite.size == 0:
        return lambda v: f"{v}", 0
    absf = np.abs(finite.astype(np.float64))
    nonzero = absf[absf > 0]
    if np.all(finite == np.round(finite)) and (absf.max() < 1e8):
        fmt = lambda v: (f"{v:.0f}." if np.isfinite(v) else str(v))  # noqa: E731
    elif nonzero.size and (nonzero.max() / nonzero.min() > 1000 or nonzero.max() > 1e8 or nonzero.min() < 1e-4):
        fmt = lambda v: (f"{v:.4e}" if np.isfinite(v) else str(v))  # noqa: E731
    else:
        fmt = lambda v: (f"{v:.4f}" if np.isfinite(v) else str(v))  # noqa: E731
    shown = a.ravel() if a.size <= 1000 else np.concatenate([a.ravel()[:3], a.ravel()[-3:]])
    width = max(len(fmt(v)) for v in shown)
    return fmt, width


def _body(a: np.ndarray) -> str:
    if a.dtype.kind == "f":
        fmt, width = _float_formatter(a)
        formatter = {"float_kind": lambda v: fmt(v).rjust(width)}
    elif a.dtype.kind in "iu":
        width = max(len(str(v)) for v in (a.ravel() if a.size <= 1000 else
                                          np.concatenate([a.ravel()[:3], a.ravel()[-3:]])))
        formatter = {"int": lambda v: str(v).rjust(width)}
    elif a.dtype.kind == "b":
        formatter = {"bool": lambda v: str(bool(v)).rjust(5 if a.size > 1 and not a.all() else 4)}
    else:
        formatter = None
    return np.array2string(a, separator=", ", prefix="tensor(", formatter=formatter, threshold=1000,
                           edgeitems=3, max_line_width=80)


def tensor_repr(t) -> str:
    a = np.asarray(to_device(t._data, CPU))
    if a.dtype == np.float16:
        a = a.astype(np.float32)
    if a.size == 0:
        body = "[]"
    elif a.ndim == 0:
        body = _body(a.reshape(1))[1:-1].strip()
    else:
        body = _body(a)
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
