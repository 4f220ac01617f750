"""Convolution and pooling through im2col (``unfold``): slow, plain, and differentiable by autograd.

A 2-D convolution slides a (C, kh, kw) kernel over the input and takes a dot product at each
position.  im2col lays every patch the kernel sees out as one column, so the convolution of all
positions and all output channels becomes one matrix product:

    cols = unfold(x)            # (N, C*kh*kw, OH*OW): column l = the patch under output pixel l
    y    = W.reshape(OC, -1) @ cols + b     # (N, OC, OH*OW), then reshaped to (N, OC, OH, OW)

Pooling takes the same patches and reduces each one (max or mean) instead of a dot product.
Output size along one axis: OH = floor((H + 2 p - d (k - 1) - 1) / s) + 1.

>>> import numtorch as torch
>>> from numtorch.nn import textbook
>>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
>>> textbook.max_pool2d(x, 2)
tensor([[[[ 5.,  7.],
          [13., 15.]]]])
"""
from __future__ import annotations

import numtorch
import numtorch.nn.functional as F
from numtorch.tensor import Tensor

__all__ = ["unfold", "conv2d", "max_pool2d", "avg_pool2d"]


def _pair(v) -> tuple:
    return (v, v) if isinstance(v, int) else tuple(v)


def _out_size(size: int, k: int, s: int, p: int, d: int) -> int:
    """floor((size + 2p - d(k-1) - 1) / s) + 1: the positions a dilated kernel fits in."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _windows(x: Tensor, kernel_size, stride, padding, dilation, pad_value: float = 0.0) -> Tensor:
    """Every patch of the padded input, one kernel offset at a time: (N, C, kh*kw, OH, OW).

    Output pixel (oh, ow) under kernel offset (i, j) reads x_pad[oh*sh + i*dh, ow*sw + j*dw];
    for one offset, the reads of all output pixels form one strided slice of x_pad.
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = map(_pair, (kernel_size, stride, padding, dilation))
    N, C, H, W = x.shape
    OH, OW = _out_size(H, kh, sh, ph, dh), _out_size(W, kw, sw, pw, dw)
    if OH < 1 or OW < 1:
        raise RuntimeError(f"the padded input ({H + 2 * ph}, {W + 2 * pw}) is smaller than the "
                           f"dilated kernel ({dh * (kh - 1) + 1}, {dw * (kw - 1) + 1})")
    xp = F.pad(x, (pw, pw, ph, ph), value=pad_value)
    offsets = [xp[:, :, i * dh: i * dh + sh * (OH - 1) + 1: sh, j * dw: j * dw + sw * (OW - 1) + 1: sw]
               for i in range(kh) for j in range(kw)]
    return numtorch.stack(offsets, dim=2)


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """im2col: (N, C, H, W) -> (N, C*kh*kw, OH*OW), the layout of ``F.unfold``.

    Row c*kh*kw + i*kw + j of column l holds input channel c under kernel offset (i, j) at output
    pixel l (row-major over (OH, OW)).
    """
    w = _windows(input, kernel_size, stride, padding, dilation)
    N, C, K, OH, OW = w.shape
    return w.reshape(N, C * K, OH * OW)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """y[n, o] = b[o] + sum_{c,i,j} W[o, c, i, j] x_pad[n, c, oh*s + i*d, ow*s + j*d], via im2col.

    Shapes: input (N, C, H, W), weight (OC, C / groups, kh, kw), bias (OC,), y (N, OC, OH, OW).
    ``groups`` splits the channels into independent convolutions, each of C / groups inputs and
    OC / groups outputs, whose outputs are concatenated.
    Gradients: dL/dW = gy @ cols^T (summed over the batch), dL/dcols = W^T @ gy, and dL/dx adds
    each column's gradient back onto the pixels it was read from (col2im) -- here autograd does
    that through the slices of ``_windows``.
    """
    if groups > 1:
        xs, Ws = input.chunk(groups, dim=1), weight.chunk(groups, dim=0)
        bs = bias.chunk(groups) if bias is not None else [None] * groups
        ys = [conv2d(x, W, b, stride, padding, dilation) for x, W, b in zip(xs, Ws, bs)]
        return numtorch.cat(ys, dim=1)
    OC, _, kh, kw = weight.shape
    N, _, H, W_in = input.shape
    (sh, sw), (ph, pw), (dh, dw) = map(_pair, (stride, padding, dilation))
    OH, OW = _out_size(H, kh, sh, ph, dh), _out_size(W_in, kw, sw, pw, dw)
    cols = unfold(input, (kh, kw), dilation, padding, stride)   # (N, C*kh*kw, OH*OW)
    y = weight.reshape(OC, -1) @ cols                           # (N, OC, OH*OW)
    if bias is not None:
        y = y + bias.reshape(OC, 1)
    return y.reshape(N, OC, OH, OW)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1) -> Tensor:
    """y[n, c, oh, ow] = max over the (dilated) window of x_pad; padding counts as -inf.

    ``stride`` defaults to ``kernel_size``.  The gradient goes to the position of the maximum.
    """
    w = _windows(input, kernel_size, kernel_size if stride is None else stride, padding, dilation,
                 pad_value=float("-inf"))
    return w.max(dim=2)[0]


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """y[n, c, oh, ow] = mean of the kh*kw window of x_pad, the zeros of padding included.

    This is ``F.avg_pool2d``'s default (``count_include_pad=True``).  The gradient spreads gy / (kh kw)
    over the window.
    """
    w = _windows(input, kernel_size, kernel_size if stride is None else stride, padding, 1)
    return w.mean(dim=2)
