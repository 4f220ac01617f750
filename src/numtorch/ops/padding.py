"""``F.pad``: constant padding (``ops.shape.constant_pad``) and the reflect / replicate / circular modes."""
from __future__ import annotations

import numpy as np

from numtorch._backend import xp_of
from numtorch.autograd.function import Function
from numtorch.ops._util import first_order_only
from numtorch.ops.shape import constant_pad
from numtorch.tensor import Tensor, make_tensor

__all__ = ["pad"]


# ---- F.pad --------------------------------------------------------------------------------

_NP_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


class IndexPad(Function):
    """Reflect / replicate / circular padding: each padded position copies one input position."""

    @staticmethod
    def forward(ctx, x, widths, mode):
        ctx.widths, ctx.mode, ctx.shape = widths, mode, x.shape
        return xp_of(x).pad(x, widths, mode=_NP_MODES[mode])

    @staticmethod
    def backward(ctx, gy):
        # y[p] = x[src(p)]  =>  dx[i] = sum of gy[p] over the positions p with src(p) = i
        first_order_only("pad")
        g = gy._data
        for axis, (a, b) in enumerate(ctx.widths):
            if a == b == 0:
                continue
            n = ctx.shape[axis]
            src = np.pad(np.arange(n), (a, b), mode=_NP_MODES[ctx.mode])
            g = _unpad_axis(g, axis, a, n, src)
        return make_tensor(g), None, None


def _unpad_axis(g, axis: int, a: int, n: int, src):
    """Folds the border of ``g`` along ``axis`` back onto the interior (a loop over border positions)."""
    idx = [slice(None)] * g.ndim
    idx[axis] = slice(a, a + n)
    out = g[tuple(idx)].copy()
    for p in list(range(a)) + list(range(a + n, len(src))):
        dst, sl = list(idx), list(idx)
        dst[axis], sl[axis] = int(src[p]), p
        out[tuple(dst)] += g[tuple(sl)]
    return out


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pads the last ``len(pad) // 2`` dims: ``pad = (left, right, top, bottom, ...)``, last dim first.

    Modes: ``'constant'`` (with ``value``), ``'reflect'`` (mirror without the edge), ``'replicate'``
    (repeat the edge), ``'circular'`` (wrap around).
    """
    if mode == "constant":
        return constant_pad(input, pad, 0.0 if value is None else value)
    if mode not in _NP_MODES:
        raise NotImplementedError(f"pad: Unrecognised padding mode {mode}; expected one of 'constant', "
                                  f"'reflect', 'replicate', 'circular'")
    pad = tuple(int(p) for p in pad)
    k = len(pad) // 2
    if len(pad) % 2 or k > input.ndim - 1:
        raise NotImplementedError(f"pad: padding size {len(pad)} is not supported for {input.ndim}-d input "
                                  f"in mode '{mode}'")
    widths = [(0, 0)] * input.ndim
    for i in range(k):
        a, b = pad[2 * i], pad[2 * i + 1]
        size = input.shape[input.ndim - 1 - i]
        if mode == "reflect" and (a >= size or b >= size):
            raise RuntimeError(f"pad: Padding size should be less than the corresponding input dimension, "
                               f"but got: padding ({a}, {b}) at dimension {input.ndim - 1 - i} of input "
                               f"{list(input.shape)}")
        if mode == "circular" and (a > size or b > size):
            raise RuntimeError(f"pad: Padding value causes wrapping around more than once: padding ({a}, "
                               f"{b}) for input {list(input.shape)}")
        if a < 0 or b < 0:
            raise NotImplementedError("pad: negative padding is only supported in mode 'constant'")
        widths[input.ndim - 1 - i] = (a, b)
    return IndexPad.apply(input, tuple(widths), mode)
