"""``FakeData``: random images with random labels, the same for the same index (torchvision's).

Item ``i`` is drawn from a generator seeded with ``i + random_offset``: a standard-normal image
``image_size`` (C, H, W), turned into bytes as torchvision's ``to_pil_image`` does for a float image
(``uint8(255 x)``, wrapping modulo 256), and a label uniform in ``[0, num_classes)``.  The global
random state is not touched.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from numtorch.vision.datasets._image import to_item
from numtorch.vision.datasets.vision import VisionDataset

__all__ = ["FakeData"]


class FakeData(VisionDataset):
    """A data set of ``size`` random images (PIL images when Pillow is installed, as torchvision's).

    Args:
        size: number of items.  image_size: (C, H, W), C = 1 (grey) or 3 (RGB).
        num_classes: labels are 0 .. num_classes - 1.
        transform, target_transform: applied to the image and to the label.
        random_offset: added to the index to seed each item (another offset, other images).
    """

    def __init__(self, size: int = 1000, image_size=(3, 224, 224), num_classes: int = 10,
                 transform: Optional[Callable] = None, target_transform: Optional[Callable] = None,
                 random_offset: int = 0) -> None:
        super().__init__(None, transform=transform, target_transform=target_transform)
        self.size, self.image_size, self.num_classes = size, tuple(image_size), num_classes
        self.random_offset = random_offset

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        if not -self.size <= index < self.size:
            raise IndexError(f"{type(self).__name__} index out of range")
        index %= self.size
        rng = np.random.default_rng(index + self.random_offset)
        x = rng.standard_normal(self.image_size, dtype=np.float32)
        target = int(rng.integers(0, self.num_classes))
        chw = ((x * np.float32(255)).astype(np.int64) & 0xFF).astype(np.uint8)  # torch's float -> byte
        return self._transform_item(to_item(chw.transpose(1, 2, 0)), target)
