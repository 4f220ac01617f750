"""What a data set's ``__getitem__`` returns as the image: a PIL image, as torchvision, with Pillow."""
from __future__ import annotations

import numpy as np

import numtorch


def pillow_available() -> bool:
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        return False
    return True


def to_item(hwc: np.ndarray):
    """An H x W (grey) or H x W x C uint8 array -> ``PIL.Image`` (mode L / RGB), or a uint8 tensor C x H x W
    without Pillow (``ToTensor`` accepts either)."""
    if pillow_available():
        from PIL import Image
        if hwc.ndim == 3 and hwc.shape[2] == 1:
            hwc = hwc[:, :, 0]
        return Image.fromarray(np.ascontiguousarray(hwc), mode="L" if hwc.ndim == 2 else None)
    chw = hwc[None] if hwc.ndim == 2 else hwc.transpose(2, 0, 1)
    return numtorch.from_numpy(np.ascontiguousarray(chw))
