"""``ImageClassification``: the evaluation preprocessing that torchvision's weights enums return."""
from __future__ import annotations

from typing import Sequence

from numtorch.tensor import Tensor
from numtorch.vision.transforms.augment import CenterCrop, Resize
from numtorch.vision.transforms.basic import convert_image_dtype, normalize, pil_to_tensor

__all__ = ["ImageClassification"]


class ImageClassification:
    """Resize the smaller edge to ``resize_size``, centre-crop ``crop_size``, scale to [0, 1], normalize.

    Takes a PIL image or a uint8 / float tensor C x H x W (or N x C x H x W); returns a float tensor.
    """

    def __init__(self, *, crop_size: int, resize_size: int = 256,
                 mean: Sequence[float] = (0.485, 0.456, 0.406), std: Sequence[float] = (0.229, 0.224, 0.225),
                 interpolation="bilinear", antialias=True) -> None:
        self.crop_size, self.resize_size = [crop_size], [resize_size]
        self.mean, self.std = list(mean), list(std)
        self.interpolation, self.antialias = interpolation, antialias

    def __call__(self, img) -> Tensor:
        img = Resize(self.resize_size, self.interpolation)(img)
        img = CenterCrop(self.crop_size)(img)
        if not isinstance(img, Tensor):
            img = pil_to_tensor(img)
        return normalize(convert_image_dtype(img), self.mean, self.std)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(\n    crop_size={self.crop_size}\n"
                f"    resize_size={self.resize_size}\n"
                f"    mean={self.mean}\n    std={self.std}\n    interpolation={self.interpolation}\n)")
