"""``ToPILImage`` and ``RandomApply``: torchvision's conversion back to Pillow and a random wrapper."""
from __future__ import annotations

from typing import Sequence

from numtorch.vision.transforms.augment import _rng
from numtorch.vision.transforms.functional import to_pil_image

__all__ = ["ToPILImage", "RandomApply"]


class ToPILImage:
    """A tensor C x H x W (float scaled by 255) or an ndarray H x W x C -> ``PIL.Image`` (see
    ``to_pil_image``)."""

    def __init__(self, mode=None) -> None:
        self.mode = mode

    def __call__(self, pic):
        return to_pil_image(pic, self.mode)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()" if self.mode is None else f"{type(self).__name__}(mode={self.mode})"


class RandomApply:
    """Applies the list of ``transforms`` (in order) with probability ``p``, else returns the input."""

    def __init__(self, transforms: Sequence, p: float = 0.5) -> None:
        self.transforms, self.p = list(transforms), p

    def __call__(self, img):
        if self.p < _rng().random():
            return img
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        body = "".join(f"\n    {t}" for t in self.transforms)
        return f"{type(self).__name__}(\n    p={self.p}{body}\n)"
