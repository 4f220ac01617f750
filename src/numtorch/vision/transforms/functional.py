"""``numtorch.vision.transforms.functional``: torchvision's stateless image functions (``F.resize`` ...).

Each takes a PIL image, a numtorch tensor ``C x H x W`` (uint8 or float), or an ``H x W x C`` ndarray,
and returns the same kind, as the transform classes do.

>>> import numtorch
>>> from numtorch.vision.transforms import functional as F
>>> F.resize(numtorch.zeros(3, 20, 40), 10).shape
numtorch.Size([3, 10, 20])
"""
from __future__ import annotations

import numbers
from enum import Enum

import numpy as np

from numtorch.tensor import Tensor
from numtorch.vision.transforms import augment as _aug
from numtorch.vision.transforms.basic import convert_image_dtype, normalize, pil_to_tensor, to_tensor

__all__ = ["InterpolationMode", "to_tensor", "pil_to_tensor", "to_pil_image", "normalize",
           "convert_image_dtype", "resize", "center_crop", "crop", "resized_crop", "hflip", "vflip", "pad",
           "rgb_to_grayscale", "to_grayscale", "adjust_brightness", "adjust_contrast", "adjust_saturation",
           "adjust_hue", "get_dimensions", "get_image_size", "get_image_num_channels"]


class InterpolationMode(Enum):
    """torchvision's interpolation names; tensors support NEAREST and BILINEAR, PIL images all of Pillow's."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


# ---- conversions -------------------------------------------------------------------------

def to_pil_image(pic, mode=None):
    """A tensor C x H x W or ndarray H x W x C -> ``PIL.Image``; float tensors are scaled by 255 first.

    One channel gives mode "L" (uint8), "I;16" / "I" / "F" for int16 / int32 / float32 arrays; three "RGB";
    four "RGBA"; ``mode`` overrides.
    """
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("to_pil_image needs Pillow: pip install numtorch[images]") from None
    if isinstance(pic, Tensor):
        if pic.ndim not in (2, 3):
            raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
        a = pic.detach().cpu().numpy()
        a = a[None] if a.ndim == 2 else a
        if a.dtype.kind == "f" and mode != "F":  # torch's pic.mul(255).byte(): truncate, wrap modulo 256
            a = ((a * np.float32(255)).astype(np.int64) & 0xFF).astype(np.uint8)
        a = a.transpose(1, 2, 0)
    elif isinstance(pic, np.ndarray):
        if pic.ndim not in (2, 3):
            raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
        a = pic[:, :, None] if pic.ndim == 2 else pic
    else:
        raise TypeError(f"pic should be Tensor or ndarray. Got {type(pic)}.")
    if a.shape[2] == 1:
        a = a[:, :, 0]
        default = {np.uint8: "L", np.int16: "I;16", np.int32: "I", np.float32: "F"}.get(a.dtype.type)
    else:
        default = {3: "RGB", 4: "RGBA", 2: "LA"}.get(a.shape[2])
        if a.dtype != np.uint8:
            raise TypeError(f"Input type {a.dtype} is not supported for a {a.shape[2]}-channel image")
    if default is None and mode is None:
        raise TypeError(f"Input type {a.dtype} with {a.shape[-1] if a.ndim == 3 else 1} channels is not "
                        "supported")
    img = Image.fromarray(np.ascontiguousarray(a))
    target = mode or default
    return img if img.mode == target else img.convert(target)


# ---- geometry ----------------------------------------------------------------------------

def get_dimensions(img) -> list:
    """[channels, height, width]."""
    if hasattr(img, "getbands"):
        return [len(img.getbands()), img.size[1], img.size[0]]
    if isinstance(img, np.ndarray):
        return [1 if img.ndim == 2 else img.shape[2], img.shape[0], img.shape[1]]
    return [1 if img.ndim == 2 else int(img.shape[-3]), int(img.shape[-2]), int(img.shape[-1])]


def get_image_size(img) -> list:
    """[width, height], as torchvision."""
    _, h, w = get_dimensions(img)
    return [w, h]


def get_image_num_channels(img) -> int:
    return get_dimensions(img)[0]


def resize(img, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=True):
    """Resizes to ``size`` (h, w), or, with one number, the smaller edge to it (aspect ratio kept)."""
    return _aug.Resize(size, interpolation, max_size, antialias)(img)


def crop(img, top: int, left: int, height: int, width: int):
    """The window rows ``top .. top+height``, columns ``left .. left+width`` (zero padded where outside)."""
    if hasattr(img, "getbands"):
        return img.crop((left, top, left + width, top + height))
    a, back = _aug._unwrap(img)
    _, h, w = a.shape
    pad = (max(-left, 0), max(-top, 0), max(left + width - w, 0), max(top + height - h, 0))
    if any(pad):
        a = _aug._pad(a, pad)
        top, left = top + pad[1], left + pad[0]
    return back(a[:, top:top + height, left:left + width].copy())


def center_crop(img, output_size):
    return _aug.CenterCrop(output_size)(img)


def resized_crop(img, top: int, left: int, height: int, width: int, size,
                 interpolation=InterpolationMode.BILINEAR, antialias=True):
    """``crop`` then ``resize`` to ``size``."""
    return resize(crop(img, top, left, height, width), size, interpolation, antialias=antialias)


def hflip(img):
    """Mirror left-right."""
    if hasattr(img, "getbands"):
        return img.transpose(0)   # Image.FLIP_LEFT_RIGHT
    a, back = _aug._unwrap(img)
    return back(a[:, :, ::-1].copy())


def vflip(img):
    """Mirror top-bottom."""
    if hasattr(img, "getbands"):
        return img.transpose(1)   # Image.FLIP_TOP_BOTTOM
    a, back = _aug._unwrap(img)
    return back(a[:, ::-1, :].copy())


def pad(img, padding, fill=0, padding_mode: str = "constant"):
    """Pads by ``padding``: int, (left/right, top/bottom) or (left, top, right, bottom)."""
    return _aug.Pad(padding, fill, padding_mode)(img)


# ---- colour ------------------------------------------------------------------------------

def rgb_to_grayscale(img, num_output_channels: int = 1):
    """0.299 R + 0.587 G + 0.114 B, repeated ``num_output_channels`` (1 or 3) times."""
    if num_output_channels not in (1, 3):
        raise ValueError("num_output_channels should be either 1 or 3")
    return _aug.Grayscale(num_output_channels)(img)


to_grayscale = rgb_to_grayscale


def _blend(img, other, factor: float):
    """``factor * img + (1 - factor) * other``, clipped to the dtype's range (torchvision's _blend)."""
    a, back = _aug._unwrap(img)
    top = _aug._max_value(a.dtype)
    x = a.astype(np.float32)
    out = np.clip(factor * x + (1.0 - factor) * np.asarray(other(x), np.float32), 0, top)
    return back(_aug._cast_like(out, a.dtype))


def _check_factor(name: str, factor) -> None:
    if not isinstance(factor, numbers.Number) or factor < 0:
        raise ValueError(f"{name} ({factor}) is not non-negative.")


def adjust_brightness(img, brightness_factor: float):
    """Scales the image: 0 gives black, 1 the original, 2 twice as bright (clipped)."""
    _check_factor("brightness_factor", brightness_factor)
    return _blend(img, lambda x: np.zeros_like(x), brightness_factor)


def adjust_contrast(img, contrast_factor: float):
    """Blends with the mean grey level: 0 gives a flat grey image, 1 the original."""
    _check_factor("contrast_factor", contrast_factor)
    return _blend(img, lambda x: np.full_like(x, _aug._gray(x).mean()), contrast_factor)


def adjust_saturation(img, saturation_factor: float):
    """Blends with the grey image: 0 gives grey, 1 the original, 2 doubles the saturation."""
    _check_factor("saturation_factor", saturation_factor)
    return _blend(img, lambda x: np.broadcast_to(_aug._gray(x), x.shape), saturation_factor)



def adjust_hue(img, hue_factor: float):
    """Rotates the hue by ``hue_factor`` turns (-0.5 .. 0.5) in HSV space; grey images are unchanged."""
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f"hue_factor ({hue_factor}) is not in [-0.5, 0.5].")
    a, back = _aug._unwrap(img)
    top = _aug._max_value(a.dtype)
    out = np.clip(_aug._shift_hue(a.astype(np.float32), hue_factor, top), 0, top)
    return back(_aug._cast_like(out, a.dtype))
