"""Sliding-window geometry shared by convolution and pooling (``ops.conv``, ``ops.pool``).

A window op reads, for every output pixel (oh, ow), the input pixels
``(oh*stride + i*dilation, ow*stride + j*dilation)`` for kernel offsets (i, j). Both families
build that as a strided view of the padded input (``windows``: no copy) and send gradients
back by adding one slab per kernel offset into a padded buffer (``_col2im_add``).
"""
from __future__ import annotations

import numpy as np

from numtorch._backend import xp_of


def _pair(v, name: str = "value") -> tuple:
    if isinstance(v, (int, np.integer)):
        return (int(v), int(v))
    v = tuple(int(a) for a in v)
    if len(v) == 1:
        return (v[0], v[0])
    if len(v) != 2:
        raise ValueError(f"expected {name} to be an int or a pair of ints, got {v}")
    return v


def pad_nhwc(x, pads, value=0.0):
    """Zero-pads (N, C, H, W) by ``pads = ((top, bottom), (left, right))``; returns an NCHW view of
    a channels-last buffer (so the im2col copy reads contiguous channels)."""
    (pt, pb), (pl, pr) = pads
    if pt == pb == pl == pr == 0:
        return x
    xp = xp_of(x)
    n, c, h, w = x.shape
    buf = xp.full((n, h + pt + pb, w + pl + pr, c), value, dtype=x.dtype)
    out = buf.transpose(0, 3, 1, 2)
    out[:, :, pt:pt + h, pl:pl + w] = x
    return out


def strided_view(a, shape, strides):
    """A strided view of ``a`` (read-only on NumPy; CuPy's ``as_strided`` has no ``writeable``)."""
    if a.__class__ is np.ndarray:
        return np.lib.stride_tricks.as_strided(a, shape, strides, writeable=False)
    return xp_of(a).lib.stride_tricks.as_strided(a, shape, strides)


def windows(xp_arr, kh: int, kw: int, oh: int, ow: int, stride, dilation):
    """The strided view (N, C, OH, OW, KH, KW) of a padded (N, C, H, W) array: no copy."""
    sn, sc, sh, sw = xp_arr.strides
    shape = (xp_arr.shape[0], xp_arr.shape[1], oh, ow, kh, kw)
    strides = (sn, sc, sh * stride[0], sw * stride[1], sh * dilation[0], sw * dilation[1])
    return strided_view(xp_arr, shape, strides)


def out_size(size: int, k: int, s: int, p_total: int, d: int) -> int:
    return (size + p_total - d * (k - 1) - 1) // s + 1


def _col2im_add(buf, slab, i: int, j: int, oh: int, ow: int, stride, dilation) -> None:
    """buf[:, :, i*d + s*oh, j*d + s*ow] += slab (N, C, OH, OW): one kernel offset of col2im."""
    r0, c0 = i * dilation[0], j * dilation[1]
    buf[:, :, r0:r0 + stride[0] * (oh - 1) + 1:stride[0], c0:c0 + stride[1] * (ow - 1) + 1:stride[1]] += slab
