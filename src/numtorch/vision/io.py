"""``numtorch.vision.io``: ``read_image`` / ``decode_image`` and ``write_png`` / ``write_jpeg`` via Pillow.

Images are uint8 tensors C x H x W, as torchvision's: ``read_image("cat.png")`` -> (3, H, W).
"""
from __future__ import annotations

import io as _io
import os
from enum import Enum

import numpy as np

import numtorch
from numtorch.tensor import Tensor

__all__ = ["ImageReadMode", "read_file", "decode_image", "read_image", "encode_png", "write_png",
           "encode_jpeg", "write_jpeg"]


class ImageReadMode(Enum):
    """The channels to read: as stored, grey, grey + alpha, RGB, RGB + alpha."""

    UNCHANGED = 0
    GRAY = 1
    GRAY_ALPHA = 2
    RGB = 3
    RGB_ALPHA = 4
    RGBA = 4


_PIL_MODES = {ImageReadMode.GRAY: "L", ImageReadMode.GRAY_ALPHA: "LA", ImageReadMode.RGB: "RGB",
              ImageReadMode.RGB_ALPHA: "RGBA"}


def _image_module():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("numtorch.vision.io needs Pillow: pip install numtorch[images]") from None
    return Image


def read_file(path) -> Tensor:
    """The file's bytes as a uint8 tensor of one dimension."""
    with open(os.fspath(path), "rb") as f:
        return numtorch.from_numpy(np.frombuffer(f.read(), dtype=np.uint8).copy())


def decode_image(input, mode=ImageReadMode.UNCHANGED) -> Tensor:
    """Decodes PNG / JPEG / ... bytes (a uint8 tensor, or a path) into a uint8 tensor C x H x W."""
    Image = _image_module()
    if isinstance(mode, str):
        mode = ImageReadMode[mode.upper()]
    data = read_file(input) if isinstance(input, (str, os.PathLike)) else input
    with Image.open(_io.BytesIO(data.numpy().tobytes())) as img:
        img = img.convert(_PIL_MODES[mode]) if mode != ImageReadMode.UNCHANGED else img
        if img.mode not in ("L", "LA", "RGB", "RGBA"):
            img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
        a = np.asarray(img)
    a = a[:, :, None] if a.ndim == 2 else a
    return numtorch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))


def read_image(path, mode=ImageReadMode.UNCHANGED) -> Tensor:
    """Reads an image file into a uint8 tensor C x H x W (``mode``: the channels wanted)."""
    return decode_image(read_file(path), mode)


def _encode(input: Tensor, fmt: str, **options) -> Tensor:
    Image = _image_module()
    if not isinstance(input, Tensor) or input.dtype != numtorch.uint8 or input.ndim != 3:
        raise ValueError(f"encode_{fmt.lower()}: expected a uint8 tensor C x H x W, got "
                         f"{getattr(input, 'dtype', type(input))} of shape "
                         f"{tuple(getattr(input, 'shape', ()))}")
    a = input.detach().cpu().numpy().transpose(1, 2, 0)
    img = Image.fromarray(np.ascontiguousarray(a[:, :, 0] if a.shape[2] == 1 else a))
    buf = _io.BytesIO()
    img.save(buf, format=fmt, **options)
    return numtorch.from_numpy(np.frombuffer(buf.getvalue(), dtype=np.uint8).copy())


def _write(data: Tensor, filename) -> None:
    """Writes to a temporary file beside ``filename`` and renames it into place."""
    path = os.fspath(filename)
    tmp = f"{path}.{os.getpid()}.part"
    try:
        with open(tmp, "wb") as f:
            f.write(data.numpy().tobytes())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def encode_png(input: Tensor, compression_level: int = 6) -> Tensor:
    """PNG bytes of a uint8 image C x H x W (C = 1, 2, 3 or 4)."""
    return _encode(input, "PNG", compress_level=compression_level)


def write_png(input: Tensor, filename, compression_level: int = 6) -> None:
    _write(encode_png(input, compression_level), filename)


def encode_jpeg(input: Tensor, quality: int = 75) -> Tensor:
    """JPEG bytes of a uint8 image C x H x W (C = 1 or 3)."""
    if not 1 <= quality <= 100:
        raise ValueError(f"Image quality should be a positive number between 1 and 100, got {quality}")
    return _encode(input, "JPEG", quality=quality)


def write_jpeg(input: Tensor, filename, quality: int = 75) -> None:
    _write(encode_jpeg(input, quality), filename)
