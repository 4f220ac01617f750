"""The basic image transforms of torchvision: ``Compose``, ``ToTensor``, ``Normalize`` and friends.

A transform is a callable taking one image and returning another.  Images are numtorch tensors
in PyTorch's layout, channels first: ``C x H x W``.

>>> import numtorch
>>> from numtorch.vision import transforms as T
>>> t = T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))])
>>> t(numtorch.tensor([[0, 255]], dtype=numtorch.uint8))
tensor([[[-1.,  1.]]])
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

import numtorch
from numtorch import _dtypes
from numtorch.tensor import Tensor, make_tensor

__all__ = ["Compose", "ToTensor", "PILToTensor", "Normalize", "Lambda", "ConvertImageDtype",
           "to_tensor", "pil_to_tensor", "normalize", "convert_image_dtype"]


def _is_pil(pic) -> bool:
    return hasattr(pic, "getbands") and hasattr(pic, "mode")  # duck-typed: PIL stays unimported


def _hwc_array(pic) -> np.ndarray:
    """A PIL image, ndarray or tensor of shape HxW or HxWxC as a NumPy HxWxC array."""
    if isinstance(pic, Tensor):
        arr = pic._data if isinstance(pic._data, np.ndarray) else pic.cpu()._data
    elif _is_pil(pic):
        arr = np.asarray(pic)
        if arr.dtype == np.bool_:  # mode "1": PIL's bits become 0 / 255
            arr = arr.astype(np.uint8) * 255
    elif isinstance(pic, np.ndarray):
        arr = pic
    else:
        raise TypeError(f"ToTensor: pic should be a PIL Image, ndarray or tensor. Got {type(pic).__name__}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"ToTensor: pic should be 2 or 3 dimensional (HxW or HxWxC). Got {arr.ndim} "
                         "dimensions.")
    return arr


def to_tensor(pic) -> Tensor:
    """HxW or HxWxC image (PIL, ndarray or tensor) -> CxHxW tensor; uint8 becomes float32 in [0, 1].

    Other dtypes keep their values and dtype, as in torchvision.
    """
    arr = np.ascontiguousarray(_hwc_array(pic).transpose(2, 0, 1))
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / np.float32(255)
    return make_tensor(arr)


def pil_to_tensor(pic) -> Tensor:
    """HxW(xC) image -> CxHxW tensor of the same dtype, values unchanged (no scaling)."""
    return make_tensor(np.ascontiguousarray(_hwc_array(pic).transpose(2, 0, 1)))


def normalize(tensor: Tensor, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> Tensor:
    """``(tensor - mean[c]) / std[c]`` for each channel c of a float tensor (..., C, H, W).

    Written with numtorch ops, so gradients flow through it.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"normalize: img should be a Tensor. Got {type(tensor).__name__}")
    if not tensor.is_floating_point():
        raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
    if tensor.ndim < 3:
        raise ValueError(f"Expected tensor to be a tensor image of size (..., C, H, W). Got tensor.size() = "
                         f"{tuple(tensor.shape)}")
    dt = tensor._data.dtype
    m = np.asarray(mean, dtype=dt).reshape(-1, 1, 1)
    s = np.asarray(std, dtype=dt).reshape(-1, 1, 1)
    if (s == 0).any():
        raise ValueError(f"std evaluated to zero after conversion to {tensor.dtype}, leading to division "
                         "by zero.")
    out = (tensor - numtorch.as_tensor(m, device=tensor.device)) / numtorch.as_tensor(s, device=tensor.device)
    if inplace:
        tensor._data[...] = out._data
        return tensor
    return out


def convert_image_dtype(image: Tensor, dtype=None) -> Tensor:
    """Converts an image's dtype, rescaling values: integers span [0, max], floats [0, 1]."""
    dtype = numtorch.float32 if dtype is None else dtype
    src, dst = image._data.dtype, _dtypes.np_dtype(dtype)
    if src == dst:
        return image
    a = image._data
    if src.kind == "f" and dst.kind == "f":
        return make_tensor(a.astype(dst))
    if src.kind == "f":  # [0, 1] -> [0, max]; torchvision's eps keeps 1.0 at max, not max + 1
        imax = np.iinfo(dst).max
        return make_tensor((a * (imax + 1.0 - 1e-3)).astype(dst))
    smax = np.iinfo(src).max
    if dst.kind == "f":
        return make_tensor(a.astype(dst) / dst.type(smax))
    dmax = np.iinfo(dst).max  # int -> int: scale by the ratio of the ranges, as torchvision does
    if smax > dmax:
        factor = (smax + 1) // (dmax + 1)
        return make_tensor((a // factor).astype(dst))
    factor = (dmax + 1) // (smax + 1)
    return make_tensor(a.astype(dst) * dst.type(factor))


class Compose:
    """Applies transforms one after the other: ``Compose([ToTensor(), Normalize(m, s)])``."""

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        body = "".join(f"\n    {t}" for t in self.transforms)
        return f"{type(self).__name__}({body}\n)"


class ToTensor:
    """HxW(xC) uint8 image (PIL, ndarray or tensor) -> float32 tensor CxHxW with values in [0, 1]."""

    def __call__(self, pic) -> Tensor:
        return to_tensor(pic)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class PILToTensor:
    """HxW(xC) image -> CxHxW tensor of the same dtype (uint8 stays uint8, no scaling)."""

    def __call__(self, pic) -> Tensor:
        return pil_to_tensor(pic)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Normalize:
    """Per-channel ``(x - mean) / std`` on a float tensor image (..., C, H, W).

    Args:
        mean: one mean per channel.  std: one standard deviation per channel.
        inplace: overwrite the input instead of making a new tensor.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> None:
        self.mean, self.std, self.inplace = mean, std, inplace

    def __call__(self, tensor: Tensor) -> Tensor:
        return normalize(tensor, self.mean, self.std, self.inplace)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mean={self.mean}, std={self.std})"


class Lambda:
    """Wraps a user function as a transform: ``Lambda(lambda x: x.flatten())``."""

    def __init__(self, lambd: Callable) -> None:
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {type(lambd).__name__!r}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ConvertImageDtype:
    """Converts a tensor image to ``dtype``, rescaling values (uint8 0..255 <-> float 0..1)."""

    def __init__(self, dtype) -> None:
        self.dtype = dtype

    def __call__(self, image: Tensor) -> Tensor:
        return convert_image_dtype(image, self.dtype)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dtype={self.dtype})"
