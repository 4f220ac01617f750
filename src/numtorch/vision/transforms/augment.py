"""Geometric and photometric transforms (data augmentation), with torchvision's names.

Each works on a numtorch tensor ``C x H x W`` (uint8 or float), on a PIL image, and on a NumPy
``H x W x C`` array (PIL's layout, e.g. an item of ``CIFAR10.data``), returning the same kind.
Random choices come from numtorch's default generator, so ``numtorch.manual_seed`` repeats them.

>>> import numtorch
>>> from numtorch.vision import transforms as T
>>> aug = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()])
>>> aug(numtorch.zeros(3, 32, 32)).shape
numtorch.Size([3, 32, 32])
"""
from __future__ import annotations

import math
import numbers

import numpy as np

import numtorch
from numtorch import _dtypes
from numtorch.tensor import Tensor, make_tensor

__all__ = ["Resize", "CenterCrop", "RandomCrop", "RandomHorizontalFlip", "RandomVerticalFlip",
           "RandomResizedCrop", "ColorJitter", "RandomErasing", "Pad", "Grayscale"]


# ---- helpers: any image kind <-> a C x H x W NumPy array ----------------------------------------

def _rng():
    from numtorch.random import default_generator
    return default_generator.rng


def _unwrap(img):
    """(C x H x W ndarray, function turning such an array back into ``img``'s kind)."""
    if isinstance(img, Tensor):  # on a GPU: a round trip through the host, where the random draws are
        dev = img.device
        return img.detach().cpu().numpy(), lambda a: make_tensor(a).to(dev)
    if hasattr(img, "getbands"):  # a PIL image
        from PIL import Image
        mode = img.mode
        arr = np.asarray(img)
        arr = arr[:, :, None] if arr.ndim == 2 else arr

        def back(a):
            a = a.transpose(1, 2, 0)
            return Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a,
                                   mode=mode if a.shape[2] != 1 else "L")
        return arr.transpose(2, 0, 1), back
    if isinstance(img, np.ndarray):
        arr = img[:, :, None] if img.ndim == 2 else img
        return arr.transpose(2, 0, 1), lambda a: np.ascontiguousarray(a.transpose(1, 2, 0))
    raise TypeError(f"expected a numtorch tensor (C, H, W), a PIL image or an ndarray (H, W, C); "
                    f"got {type(img)}")


def _size2(size) -> tuple:
    if isinstance(size, numbers.Number):
        return int(size), int(size)
    size = tuple(int(s) for s in size)
    return (size[0], size[0]) if len(size) == 1 else size


def _cast_like(a: np.ndarray, dtype) -> np.ndarray:
    """Back to the image's dtype: integers are rounded and clipped to their range."""
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.rint(a), info.min, info.max).astype(dtype)
    return a.astype(dtype, copy=False)


def _max_value(dtype) -> float:
    return float(np.iinfo(dtype).max) if np.dtype(dtype).kind in "iu" else 1.0


def _aa_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) antialiased bilinear weights (Pillow's and torch's ``antialias=True``).

    Output pixel i covers input centre c = s (i + 1/2), s = n_in / n_out > 1; the triangle filter is
    stretched to support s:  w_ij ~ max(0, 1 - |j + 1/2 - c| / s)  for the j within c +- s, each row
    normalized to sum 1.  So shrinking averages every input pixel instead of skipping some.
    """
    s = n_in / n_out
    a = np.zeros((n_out, n_in))
    for i in range(n_out):
        c = s * (i + 0.5)
        lo, hi = max(int(c - s + 0.5), 0), min(int(c + s + 0.5), n_in)
        j = np.arange(lo, hi)
        w = np.maximum(0.0, 1.0 - np.abs((j - c + 0.5) / s))
        a[i, lo:hi] = w / w.sum()
    return a


def _axis_matrix(n_in: int, n_out: int, interpolation: str, antialias: bool) -> np.ndarray:
    from numtorch.ops.resample import _interp_matrix
    if interpolation == "nearest":
        return _interp_matrix(n_in, n_out, "nearest", False, None)
    if antialias and n_out < n_in:
        return _aa_matrix(n_in, n_out)
    return _interp_matrix(n_in, n_out, "linear", False, None)


def _resize(a: np.ndarray, size: tuple, interpolation: str, antialias: bool = False) -> np.ndarray:
    """Resamples C x H x W to C x size (bilinear with half-pixel centres, antialiased when shrinking
    if ``antialias``; or nearest): one small matrix per axis, ``A_h @ a @ A_w^T``."""
    ah = _axis_matrix(a.shape[1], size[0], interpolation, antialias).astype(np.float32)
    aw = _axis_matrix(a.shape[2], size[1], interpolation, antialias).astype(np.float32)
    out = ah @ a.astype(np.float32) @ aw.T
    return _cast_like(out, a.dtype)


_PIL_FILTERS = {"nearest": 0, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5, "lanczos": 1}


def _resize_any(img, size: tuple, interpolation: str, antialias: bool = True):
    """Resizes a PIL image with Pillow itself (as torchvision), anything else with ``_resize``."""
    if hasattr(img, "getbands"):
        if interpolation not in _PIL_FILTERS:
            raise ValueError(f"Resize: unknown interpolation {interpolation!r}")
        return img.resize((size[1], size[0]), _PIL_FILTERS[interpolation])
    if interpolation not in ("nearest", "bilinear"):
        raise NotImplementedError(f"Resize: interpolation {interpolation!r} is implemented for PIL images "
                                  f"only; tensors support 'bilinear' and 'nearest'")
    a, back = _unwrap(img)
    return back(_resize(a, size, interpolation, antialias))


def _mode_name(interpolation) -> str:
    """``InterpolationMode.BILINEAR``, ``"bilinear"`` or Pillow's integer codes -> "bilinear"."""
    if isinstance(interpolation, int) and not isinstance(interpolation, bool):
        inverse = {v: k for k, v in _PIL_FILTERS.items()}
        if interpolation in inverse:
            return inverse[interpolation]
    return str(getattr(interpolation, "value", interpolation)).lower().split(".")[-1]


def _image_hw(img) -> tuple:
    if hasattr(img, "getbands"):
        return img.size[1], img.size[0]
    if isinstance(img, np.ndarray):
        return img.shape[0], img.shape[1]
    return tuple(img.shape[-2:])


def _crop(a: np.ndarray, top: int, left: int, h: int, w: int) -> np.ndarray:
    return a[:, top:top + h, left:left + w]


# ---- transforms ------------------------------------------------------------------------------

class Resize:
    """Resizes to ``size`` (h, w); an int matches the smaller edge, keeping the aspect ratio.

    Interpolation ``"bilinear"`` (default) or ``"nearest"``; no antialiasing when shrinking.
    """

    def __init__(self, size, interpolation: str = "bilinear", max_size=None, antialias=True) -> None:
        self.size, self.interpolation, self.max_size = size, _mode_name(interpolation), max_size
        self.antialias = True if antialias is None else bool(antialias)

    def _target(self, h: int, w: int) -> tuple:
        if isinstance(self.size, numbers.Number) or len(self.size) == 1:
            s = int(self.size if isinstance(self.size, numbers.Number) else self.size[0])
            short, long = (h, w) if h <= w else (w, h)
            new_long = int(s * long / short)
            if self.max_size is not None and new_long > self.max_size:
                s, new_long = int(self.max_size * s / new_long), self.max_size
            return (s, new_long) if h <= w else (new_long, s)
        return tuple(self.size)

    def __call__(self, img):
        return _resize_any(img, self._target(*_image_hw(img)), self.interpolation, self.antialias)

    def __repr__(self) -> str:
        return (f"Resize(size={self.size}, interpolation={self.interpolation}, max_size={self.max_size}, "
                f"antialias={self.antialias})")


class CenterCrop:
    """Crops the centre ``size`` (h, w); pads with zeros first if the image is smaller."""

    def __init__(self, size) -> None:
        self.size = _size2(size)

    def __call__(self, img):
        a, back = _unwrap(img)
        th, tw = self.size
        _, h, w = a.shape
        if th > h or tw > w:
            ph, pw = max(th - h, 0), max(tw - w, 0)
            a = np.pad(a, ((0, 0), (ph // 2, (ph + 1) // 2), (pw // 2, (pw + 1) // 2)))
            h, w = a.shape[1:]
        top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
        return back(_crop(a, top, left, th, tw))

    def __repr__(self) -> str:
        return f"CenterCrop(size={self.size})"


def _pad(a: np.ndarray, padding, fill=0, padding_mode: str = "constant") -> np.ndarray:
    """Pads H, W: ``padding`` int, (lr, tb) or (left, top, right, bottom) as torchvision."""
    if isinstance(padding, numbers.Number):
        l = t = r = b = int(padding)
    elif len(padding) == 2:
        l, t, r, b = padding[0], padding[1], padding[0], padding[1]
    else:
        l, t, r, b = padding
    widths = ((0, 0), (t, b), (l, r))
    if padding_mode == "constant":
        return np.pad(a, widths, mode="constant", constant_values=fill)
    modes = {"edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}
    if padding_mode not in modes:
        raise ValueError(f"Padding mode should be either constant, edge, reflect or symmetric, got "
                         f"{padding_mode}")
    return np.pad(a, widths, mode=modes[padding_mode])


class Pad:
    """Pads the borders: ``padding`` int, (left/right, top/bottom) or (left, top, right, bottom)."""

    def __init__(self, padding, fill=0, padding_mode: str = "constant") -> None:
        self.padding, self.fill, self.padding_mode = padding, fill, padding_mode

    def __call__(self, img):
        a, back = _unwrap(img)
        return back(_pad(a, self.padding, self.fill, self.padding_mode))

    def __repr__(self) -> str:
        return f"Pad(padding={self.padding}, fill={self.fill}, padding_mode={self.padding_mode})"


class RandomCrop:
    """Crops a random ``size`` window, after optional ``padding`` (CIFAR: ``RandomCrop(32, padding=4)``)."""

    def __init__(self, size, padding=None, pad_if_needed: bool = False, fill=0,
                 padding_mode: str = "constant"):
        self.size, self.padding, self.pad_if_needed = _size2(size), padding, pad_if_needed
        self.fill, self.padding_mode = fill, padding_mode

    @staticmethod
    def get_params(img, output_size) -> tuple:
        """(top, left, height, width) of a random ``output_size`` window of ``img`` (torchvision's
        signature)."""
        (h, w), (th, tw) = _image_hw(img), _size2(output_size)
        if h < th or w < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size {(h, w)}")
        rng = _rng()
        return int(rng.integers(0, h - th + 1)), int(rng.integers(0, w - tw + 1)), th, tw

    def __call__(self, img):
        a, back = _unwrap(img)
        if self.padding is not None:
            a = _pad(a, self.padding, self.fill, self.padding_mode)
        th, tw = self.size
        if self.pad_if_needed and (a.shape[1] < th or a.shape[2] < tw):
            a = _pad(a, (max(tw - a.shape[2], 0), max(th - a.shape[1], 0)), self.fill, self.padding_mode)
        _, h, w = a.shape
        if h < th or w < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size {(h, w)}")
        rng = _rng()
        top, left = int(rng.integers(0, h - th + 1)), int(rng.integers(0, w - tw + 1))
        return back(_crop(a, top, left, th, tw))

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirrors left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, img):
        if _rng().random() >= self.p:
            return img
        a, back = _unwrap(img)
        return back(a[:, :, ::-1].copy())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"


class RandomVerticalFlip(RandomHorizontalFlip):
    """Mirrors top-bottom with probability ``p``."""

    def __call__(self, img):
        if _rng().random() >= self.p:
            return img
        a, back = _unwrap(img)
        return back(a[:, ::-1, :].copy())


class RandomResizedCrop:
    """A random crop of area ``scale`` and aspect ``ratio`` (log-uniform), resized to ``size``
    (Inception's)."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0), interpolation: str = "bilinear",
                 antialias=True) -> None:
        self.size, self.scale, self.ratio = _size2(size), scale, ratio
        self.interpolation = _mode_name(interpolation)
        self.antialias = True if antialias is None else bool(antialias)

    @staticmethod
    def get_params(img, scale, ratio) -> tuple:
        """(top, left, height, width) of a random crop of ``img`` (torchvision's static signature):
        10 tries of area ~ U(scale) and log-uniform aspect ratio, then the central crop of the clamped
        ratio."""
        (h, w), rng = _image_hw(img), _rng()
        area, log_ratio = h * w, (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(10):
            target = area * rng.uniform(*scale)
            aspect = math.exp(rng.uniform(*log_ratio))
            cw, ch = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
            if 0 < cw <= w and 0 < ch <= h:
                return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw
        in_ratio = w / h
        if in_ratio < min(ratio):
            cw, ch = w, int(round(w / min(ratio)))
        elif in_ratio > max(ratio):
            ch, cw = h, int(round(h * max(ratio)))
        else:
            cw, ch = w, h
        return (h - ch) // 2, (w - cw) // 2, ch, cw

    def __call__(self, img):
        top, left, ch, cw = self.get_params(img, self.scale, self.ratio)
        if hasattr(img, "getbands"):  # Pillow crops and resizes a PIL image, as in torchvision
            return _resize_any(img.crop((left, top, left + cw, top + ch)), self.size, self.interpolation)
        a, back = _unwrap(img)
        return back(_resize(_crop(a, top, left, ch, cw), self.size, self.interpolation, self.antialias))

    def __repr__(self) -> str:
        return f"RandomResizedCrop(size={self.size}, scale={self.scale}, ratio={self.ratio})"


def _gray(a: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma: 0.299 R + 0.587 G + 0.114 B (1 x H x W, float32)."""
    if a.shape[0] == 1:
        return a.astype(np.float32)
    return (0.299 * a[0] + 0.587 * a[1] + 0.114 * a[2]).astype(np.float32)[None]


def _rgb_to_hsv(x: np.ndarray) -> tuple:
    """3 x H x W RGB in [0, 1] -> (h, s, v), h in [0, 1): the hexcone model, as torchvision's ``_rgb2hsv``."""
    r, g, b = x
    v, c = x.max(axis=0), x.max(axis=0) - x.min(axis=0)
    flat = c == 0
    s = c / np.where(flat, 1, v)
    d = np.where(flat, 1, c)
    rc, gc, bc = (v - r) / d, (v - g) / d, (v - b) / d
    h = np.where(v == r, bc - gc, np.where(v == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = np.where(flat, 0.0, h)
    return np.mod(h / 6.0 + 1.0, 1.0), s, v


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inverse of ``_rgb_to_hsv``: sector i = floor(6 h) picks the (R, G, B) from v, p, q, t."""
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.astype(np.int64) % 6
    p, q, t = (np.clip(v * (1.0 - s * k), 0, 1) for k in (1.0, f, 1.0 - f))
    table = np.stack([np.stack(c) for c in ((v, q, p, p, t, v), (t, v, v, q, p, p), (p, p, t, v, v, q))])
    return np.take_along_axis(table, i[None, None], axis=1)[:, 0]


def _shift_hue(x: np.ndarray, factor: float, top: float) -> np.ndarray:
    """Rotates the hue of a float RGB image in [0, top] by ``factor`` turns (-0.5 .. 0.5)."""
    if x.shape[0] == 1:
        return x
    h, s, v = _rgb_to_hsv(x / top)
    return (_hsv_to_rgb(np.mod(h + factor, 1.0), s, v) * top).astype(np.float32)


class ColorJitter:
    """Random brightness, contrast, saturation and hue changes, applied in a random order.

    ``brightness=b`` scales by a factor from U[max(0, 1-b), 1+b]; ``contrast=c`` blends with the mean
    grey level by a factor from U[max(0, 1-c), 1+c]; ``saturation`` blends with the grey image;
    ``hue=h`` (0 .. 0.5) rotates the hue by U[-h, h] turns in HSV space.
    """

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0) -> None:
        self.brightness, self.contrast, self.saturation = (
            self._range(brightness), self._range(contrast), self._range(saturation))
        self.hue = self._hue_range(hue)

    @staticmethod
    def _range(v):
        if isinstance(v, numbers.Number):
            if v < 0:
                raise ValueError("ColorJitter: values must be non negative")
            return None if v == 0 else (max(0.0, 1.0 - v), 1.0 + v)
        return tuple(v)

    @staticmethod
    def _hue_range(v):
        lo, hi = (-v, v) if isinstance(v, numbers.Number) else tuple(v)
        if not -0.5 <= lo <= hi <= 0.5:
            raise ValueError(f"hue values should be between (-0.5, 0.5), got {v}")
        return None if lo == hi == 0 else (lo, hi)

    def __call__(self, img):
        a, back = _unwrap(img)
        dtype, top = a.dtype, _max_value(a.dtype)
        x = a.astype(np.float32)
        rng = _rng()
        for i in rng.permutation(4):
            rngs = (self.brightness, self.contrast, self.saturation, self.hue)[i]
            if rngs is None:
                continue
            f = float(rng.uniform(*rngs))
            if i == 0:
                x = x * f
            elif i == 1:
                x = x * f + (1 - f) * float(_gray(x).mean())
            elif i == 2:
                x = x * f + (1 - f) * _gray(x)
            else:
                x = _shift_hue(x, f, top)
            x = np.clip(x, 0, top)
        return back(_cast_like(x, dtype))

    def __repr__(self) -> str:
        return (f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, "
                f"saturation={self.saturation}, hue={self.hue})")


class Grayscale:
    """Converts to grey (0.299 R + 0.587 G + 0.114 B), with 1 or 3 identical output channels."""

    def __init__(self, num_output_channels: int = 1) -> None:
        self.num_output_channels = num_output_channels

    def __call__(self, img):
        a, back = _unwrap(img)
        g = _cast_like(_gray(a), a.dtype)
        return back(np.repeat(g, self.num_output_channels, axis=0))

    def __repr__(self) -> str:
        return f"Grayscale(num_output_channels={self.num_output_channels})"


class RandomErasing:
    """With probability ``p`` erases a random rectangle (area ``scale``, aspect ``ratio``) of a tensor.

    ``value``: a number, a per-channel sequence, or ``"random"`` (normal noise).  Tensors only, as
    torchvision.
    """

    def __init__(self, p: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, inplace: bool = False):
        if not 0 <= p <= 1:
            raise ValueError("Random erasing probability should be between 0 and 1")
        self.p, self.scale, self.ratio, self.value, self.inplace = p, scale, ratio, value, inplace

    def __call__(self, img):
        if not isinstance(img, Tensor):
            raise TypeError(f"RandomErasing: img should be a Tensor, got {type(img)}")
        rng = _rng()
        if rng.random() >= self.p:
            return img
        dtype = _dtypes.np_dtype(img.dtype)
        c, h, w = img.shape[-3:]
        area, log_ratio = h * w, (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target = area * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(*log_ratio))
            eh, ew = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
            if eh < h and ew < w:
                break
        else:
            return img
        top, left = int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1))
        if self.value == "random":
            v = rng.standard_normal((c, eh, ew)).astype(dtype)
        else:
            v = np.asarray(self.value, dtype=dtype).reshape(-1, 1, 1)
        out = img if self.inplace else img.detach().clone()
        with numtorch.no_grad():  # the patch drawn on the host, written on img's device
            out[..., top:top + eh, left:left + ew] = make_tensor(v).to(img.device)
        return out

    def __repr__(self) -> str:
        return f"RandomErasing(p={self.p}, scale={self.scale}, ratio={self.ratio}, value={self.value})"
