"""Resampling: ``interpolate`` (``upsample``), ``pixel_shuffle`` / ``pixel_unshuffle`` -- the names of
``torch.nn.functional``."""
from __future__ import annotations

import math

import numpy as np

from numtorch.creation import as_tensor
from numtorch.ops.pool import adaptive_avg_pool1d, adaptive_avg_pool2d
from numtorch.tensor import Tensor

__all__ = ["interpolate", "upsample", "pixel_shuffle", "pixel_unshuffle"]


# ---- interpolate: a separable linear map, y = A_h @ x @ A_w^T ----------------------------

def _interp_matrix(n_in: int, n_out: int, mode: str, align_corners, scale):
    """The (n_out, n_in) matrix that resamples one axis (nearest or linear), float64 then cast."""
    a = np.zeros((n_out, n_in))
    o = np.arange(n_out)
    if mode == "nearest":
        s = (1.0 / scale) if scale else n_in / n_out
        src = np.minimum(np.floor(o * s).astype(np.int64), n_in - 1)
        a[o, src] = 1.0
        return a
    if align_corners:
        src = o * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(n_out)
    else:
        s = (1.0 / scale) if scale else n_in / n_out
        src = np.maximum((o + 0.5) * s - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = src - i0
    a[o, i0] += 1.0 - lam  # each row appears once per statement, so fancy += loses nothing
    a[o, i1] += lam        # (i0 == i1 at the last pixel: the two weights add up to 1)
    return a


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False) -> Tensor:
    """Resizes (N, C, L) or (N, C, H, W) by ``size`` or ``scale_factor``.

    Modes: ``'nearest'``, ``'linear'`` (3-D), ``'bilinear'`` (4-D), with ``align_corners`` for the latter,
    and ``'area'`` (adaptive average pooling to the output size).
    Each spatial axis is a matrix product with a small resampling matrix, so backward is the transpose.
    """
    sp = input.ndim - 2
    if sp not in (1, 2):
        raise NotImplementedError(f"interpolate: expected 3-D or 4-D input, got {input.ndim}-D")
    if mode not in ("nearest", "linear", "bilinear", "area"):
        raise NotImplementedError(f"interpolate: mode '{mode}' is not supported (nearest, linear, "
                                  "bilinear, area)")
    if mode in ("linear", "bilinear") and {"linear": 1, "bilinear": 2}[mode] != sp:
        raise NotImplementedError(f"interpolate: got {input.ndim}D input, but {mode} mode needs "
                                  f"{2 + {'linear': 1, 'bilinear': 2}[mode]}D input")
    if mode in ("nearest", "area") and align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: exactly one of size or scale_factor must be given")
    in_sizes = tuple(input.shape[2:])
    if size is not None:
        out_sizes = (size,) * sp if isinstance(size, int) else tuple(int(v) for v in size)
        scales = (None,) * sp
    else:
        sf = (scale_factor,) * sp if isinstance(scale_factor, (int, float)) else tuple(scale_factor)
        out_sizes = tuple(int(math.floor(n * f)) for n, f in zip(in_sizes, sf))
        scales = (None,) * sp if recompute_scale_factor else tuple(float(f) for f in sf)
    if mode == "area":
        return (adaptive_avg_pool1d if sp == 1 else adaptive_avg_pool2d)(input, out_sizes)
    dtype = input._data.dtype
    mats = [as_tensor(_interp_matrix(n, m, mode, align_corners, s).astype(dtype), device=input.device)
            for n, m, s in zip(in_sizes, out_sizes, scales)]
    y = input @ mats[-1].t()                                   # last axis: (..., W) -> (..., OW)
    if sp == 2:
        y = mats[0] @ y                                        # (OH, H) @ (N, C, H, OW)
    return y


upsample = interpolate


# ---- pixel shuffle ------------------------------------------------------------------------

def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(N, C*r^2, H, W) -> (N, C, H*r, W*r)."""
    r = int(upscale_factor)
    *b, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the "
                           f"square of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    nb = len(b)
    y = input.reshape(*b, c // (r * r), r, r, h, w)
    y = y.permute(*range(nb), nb, nb + 3, nb + 1, nb + 4, nb + 2)
    return y.reshape(*b, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(N, C, H*r, W*r) -> (N, C*r^2, H, W)."""
    r = int(downscale_factor)
    *b, c, h, w = input.shape
    if h % r or w % r:
        raise RuntimeError(f"pixel_unshuffle expects height and width to be divisible by downscale_factor, "
                           f"but input.size(-2)={h} or input.size(-1)={w} is not divisible by {r}")
    nb = len(b)
    y = input.reshape(*b, c, h // r, r, w // r, r)
    y = y.permute(*range(nb), nb, nb + 2, nb + 4, nb + 1, nb + 3)
    return y.reshape(*b, c * r * r, h // r, w // r)
