"""``numtorch.vision.utils``: ``make_grid``, ``save_image`` and ``draw_bounding_boxes``, as torchvision.

``make_grid`` tiles a batch B x C x H x W into one image: ``nrow`` images per row, ``padding`` pixels
of ``pad_value`` around and between them::

    grid height = ceil(B / nrow) * (H + padding) + padding
    grid width  = min(nrow, B)   * (W + padding) + padding

``save_image`` writes that grid with Pillow (``pip install numtorch[images]``): values in [0, 1] become
bytes as ``uint8(clamp(255 x + 0.5, 0, 255))``.

>>> import numtorch
>>> from numtorch.vision.utils import make_grid
>>> make_grid(numtorch.zeros(10, 3, 28, 28), nrow=5).shape
numtorch.Size([3, 62, 152])
"""
from __future__ import annotations

import math
import os
import pathlib
import warnings
from typing import Optional, Union

import numpy as np

from numtorch._backend import xp_of
from numtorch._dtypes import uint8
from numtorch.tensor import Tensor, make_tensor

__all__ = ["make_grid", "save_image", "draw_bounding_boxes", "draw_segmentation_masks"]


def _pil():
    try:
        from PIL import Image, ImageColor, ImageDraw, ImageFont
    except ImportError:
        raise ImportError("numtorch.vision.utils: this function needs Pillow: "
                          "pip install numtorch[images]") from None
    return Image, ImageColor, ImageDraw, ImageFont


def _as_batch(tensor) -> Tensor:
    """A list of C x H x W tensors, an H x W, C x H x W or B x C x H x W tensor -> B x C x H x W
    (C = 1 -> 3)."""
    if isinstance(tensor, (list, tuple)):
        import numtorch
        tensor = numtorch.stack(list(tensor), dim=0)
    if not isinstance(tensor, Tensor):
        raise TypeError(f"tensor should be of type torch.Tensor, got {type(tensor).__name__}")
    a = tensor.detach()._data
    xp = xp_of(a)
    if a.ndim == 2:
        a = a[None]
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"make_grid: expected a tensor of 2, 3 or 4 dimensions, got shape "
                         f"{tuple(tensor.shape)}")
    if a.shape[1] == 1:  # grey -> three equal channels, as torchvision
        a = xp.concatenate([a, a, a], axis=1)
    return a


def _normalize(a, value_range, scale_each: bool):
    """Clamps to ``value_range`` (default: the min and max) and maps it to [0, 1]; per image if
    ``scale_each``."""
    if value_range is not None and not isinstance(value_range, tuple):
        raise TypeError("value_range has to be a tuple (min, max) if specified. min and max are numbers")
    a = a.astype(a.dtype if a.dtype.kind == "f" else np.float32, copy=True)

    def norm(x):
        low, high = value_range if value_range is not None else (float(x.min()), float(x.max()))
        x.clip(low, high, out=x)
        x -= low
        x /= max(high - low, 1e-5)

    for x in (a if scale_each else [a]):
        norm(x)
    return a


def make_grid(tensor, nrow: int = 8, padding: int = 2, normalize: bool = False,
              value_range: Optional[tuple] = None, scale_each: bool = False,
              pad_value: float = 0.0) -> Tensor:
    """Tiles images into a grid: one tensor C x H' x W' (see the module docstring for the sizes).

    Args:
        tensor: B x C x H x W, C x H x W, H x W tensor, or a list of same-size C x H x W tensors.
        nrow: images per row.  padding: pixels around and between images.
        normalize: shift and scale to [0, 1] by ``value_range`` (default: the tensor's min and max).
        scale_each: normalize each image on its own range.  pad_value: the value of the padding.
    """
    a = _as_batch(tensor)
    if normalize:
        a = _normalize(a, value_range, scale_each)
    if a.shape[0] == 1:
        return make_tensor(a[0].copy())
    xp = xp_of(a)
    n, c, h, w = a.shape
    xmaps = min(nrow, n)
    ymaps = int(math.ceil(n / xmaps))
    height, width = h + padding, w + padding
    grid = xp.full((c, height * ymaps + padding, width * xmaps + padding), pad_value, dtype=a.dtype)
    for k in range(n):
        y, x = divmod(k, xmaps)
        grid[:, y * height + padding:(y + 1) * height, x * width + padding:(x + 1) * width] = a[k]
    return make_tensor(grid)


def _to_uint8_hwc(grid: Tensor) -> np.ndarray:
    """float image in [0, 1] (C x H x W) -> H x W x C bytes: uint8(clamp(255 x + 0.5, 0, 255))."""
    a = grid._data
    a = a if isinstance(a, np.ndarray) else a.get()
    b = np.clip(a * a.dtype.type(255) + a.dtype.type(0.5), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(b.transpose(1, 2, 0))


def save_image(tensor, fp: Union[str, pathlib.Path, "os.PathLike", object], format: Optional[str] = None,
               **kwargs) -> None:
    """Saves a tensor (or a batch, as a ``make_grid`` of it) as an image file; ``kwargs`` go to ``make_grid``.

    Args:
        tensor: image(s) with values in [0, 1].
        fp: a file name or a binary file object.
        format: the image format (``"png"``, ``"jpeg"`` ...); needed for file objects, else from the name.
    A file name is written to a temporary file beside it and renamed into place: no half-written image.
    """
    Image = _pil()[0]
    grid = make_grid(tensor, **kwargs)
    if grid.ndim == 2:
        grid = make_tensor(grid._data[None])
    hwc = _to_uint8_hwc(grid)
    img = Image.fromarray(hwc[:, :, 0] if hwc.shape[2] == 1 else hwc)
    if not isinstance(fp, (str, os.PathLike)):
        img.save(fp, format=format)
        return
    path = pathlib.Path(fp)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.part{path.suffix}")
    try:
        img.save(tmp, format=format)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _palette(n: int) -> list:
    """torchvision's default box colours: (i * (2^25 - 1, 2^15 - 1, 2^21 - 1)) mod 255."""
    palette = np.array([2 ** 25 - 1, 2 ** 15 - 1, 2 ** 21 - 1], dtype=np.int64)
    return [tuple(int(v) for v in (i * palette) % 255) for i in range(n)]


def _parse_colors(colors, num_objects: int) -> list:
    """None (the palette), one colour for all, or a list of at least ``num_objects`` (names or RGB
    triplets)."""
    ImageColor = _pil()[1]
    if colors is None:
        colors = _palette(num_objects)
    elif isinstance(colors, list):
        if len(colors) < num_objects:
            raise ValueError(f"Number of colors must be equal or larger than the number of objects, but got "
                             f"{len(colors)} < {num_objects}.")
    elif not isinstance(colors, (tuple, str)):
        raise ValueError(f"colors must be a tuple or a string, or a list thereof, but got {colors}.")
    elif isinstance(colors, tuple) and len(colors) != 3:
        raise ValueError(f"If passed as tuple, colors should be an RGB triplet, but got {colors}.")
    else:
        colors = [colors] * num_objects
    return [ImageColor.getrgb(c) if isinstance(c, str) else tuple(c) for c in colors]


def draw_bounding_boxes(image: Tensor, boxes: Tensor, labels: Optional[list] = None, colors=None,
                        fill: bool = False, width: int = 1, font: Optional[str] = None,
                        font_size: Optional[int] = None, label_colors=None) -> Tensor:
    """Draws (xmin, ymin, xmax, ymax) boxes, and optional text labels, on a uint8 C x H x W image
    (C = 1 or 3).

    ``fill`` paints each box with its colour at alpha 100/255; ``width`` is the outline's width in pixels;
    ``font`` a TrueType file for the labels (else Pillow's default font).  Returns a new uint8 3 x H x W
    tensor.
    """
    Image, _, ImageDraw, ImageFont = _pil()
    if not isinstance(image, Tensor):
        raise TypeError(f"Tensor expected, got {type(image)}")
    if image.dtype != uint8:
        raise ValueError(f"The image dtype must be uint8, got {image.dtype}")
    if image.ndim != 3:
        raise ValueError("Pass individual images, not batches")
    if image.shape[0] not in (1, 3):
        raise ValueError("Only grayscale and RGB images are supported")
    b = boxes.detach().cpu().numpy() if isinstance(boxes, Tensor) else np.asarray(boxes)
    b = b.reshape(-1, 4)
    if (b[:, 0] > b[:, 2]).any() or (b[:, 1] > b[:, 3]).any():
        raise ValueError("Boxes need to be in (xmin, ymin, xmax, ymax) format. Use "
                         "torchvision.ops.box_convert to convert them")
    n = len(b)
    if n == 0:
        warnings.warn("boxes doesn't contain any box. No box was drawn")
        return image
    if labels is None:
        labels = [None] * n
    elif len(labels) != n:
        raise ValueError(f"Number of boxes ({n}) and labels ({len(labels)}) mismatch. Please specify "
                         f"labels for each box.")
    colors = _parse_colors(colors, n)
    label_colors = _parse_colors(label_colors, n) if label_colors else colors
    if font is None:
        if font_size is not None:
            warnings.warn("Argument 'font_size' will be ignored since 'font' is not set.")
        txt_font = ImageFont.load_default()
    else:
        txt_font = ImageFont.truetype(font=font, size=font_size or 10)
    a = image.detach().cpu().numpy()
    if a.shape[0] == 1:
        a = np.repeat(a, 3, axis=0)
    canvas = Image.fromarray(np.ascontiguousarray(a.transpose(1, 2, 0)))
    draw = ImageDraw.Draw(canvas, "RGBA" if fill else None)
    for box, color, label, label_color in zip(b.astype(np.int64).tolist(), colors, labels, label_colors):
        draw.rectangle(box, width=width, outline=color, fill=color + (100,) if fill else None)
        if label is not None:
            margin = width + 1
            draw.text((box[0] + margin, box[1] + margin), label, fill=label_color, font=txt_font)
    out = np.ascontiguousarray(np.asarray(canvas).transpose(2, 0, 1))
    return make_tensor(out).to(image.device)


def draw_segmentation_masks(image: Tensor, masks: Tensor, alpha: float = 0.8, colors=None) -> Tensor:
    """Paints boolean ``masks`` (N x H x W or H x W) over an RGB image (uint8 or float in [0, 1]).

    ``out = (1 - alpha) image + alpha painted``, where ``painted`` has each mask's colour on its pixels
    and black where masks overlap; the result has the image's dtype (uint8 truncated, as torchvision).
    """
    if not isinstance(image, Tensor):
        raise TypeError(f"The image must be a tensor, got {type(image)}")
    a = image.detach().cpu().numpy()
    if not (a.dtype == np.uint8 or a.dtype.kind == "f"):
        raise ValueError(f"The image dtype must be uint8 or float, got {image.dtype}")
    if a.ndim != 3:
        raise ValueError("Pass individual images, not batches")
    if a.shape[0] != 3:
        raise ValueError("Pass an RGB image. Other Image formats are not supported")
    m = masks.detach().cpu().numpy() if isinstance(masks, Tensor) else np.asarray(masks)
    m = m[None] if m.ndim == 2 else m
    if m.ndim != 3:
        raise ValueError("masks must be of shape (H, W) or (batch_size, H, W)")
    if m.dtype != np.bool_:
        raise ValueError(f"The masks must be of dtype bool. Got {masks.dtype}")
    if m.shape[-2:] != a.shape[-2:]:
        raise ValueError("The image and the masks must have the same height and width")
    if len(m) == 0:
        warnings.warn("masks doesn't contain any mask. No mask was drawn")
        return image
    scale = 1.0 if a.dtype == np.uint8 else 1 / 255
    painted = a.astype(np.float32)
    for mask, color in zip(m, _parse_colors(colors, len(m))):
        painted[:, mask] = (np.asarray(color, np.float32) * scale)[:, None]
    painted[:, m.sum(axis=0) > 1] = 0
    out = a.astype(np.float32) * (1 - alpha) + painted * alpha
    return make_tensor(out.astype(a.dtype)).to(image.device)
