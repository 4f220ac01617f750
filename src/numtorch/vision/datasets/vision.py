"""``VisionDataset``: torchvision's base class for data sets of (image, target) pairs."""
from __future__ import annotations

import os
from typing import Callable, Optional

__all__ = ["VisionDataset"]


class StandardTransform:
    """Applies ``transform`` to the image and ``target_transform`` to the target."""

    def __init__(self, transform: Optional[Callable] = None, target_transform: Optional[Callable] = None) -> None:
        self.transform, self.target_transform = transform, target_transform

    def __call__(self, input, target):
        if self.transform is not None:
            input = self.transform(input)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return input, target


class VisionDataset:
    """Base of a data set under ``root``: subclasses define ``__getitem__`` and ``__len__``.

    Args:
        root: the data folder (``~`` expanded).
        transforms: a callable on ``(image, target)``; or, exclusively, ``transform`` on the image and
            ``target_transform`` on the target (combined into ``self.transforms``).
    """

    def __init__(self, root=None, transforms: Optional[Callable] = None, transform: Optional[Callable] = None,
                 target_transform: Optional[Callable] = None) -> None:
        self.root = os.path.expanduser(str(root)) if root is not None else None
        has_separate = transform is not None or target_transform is not None
        if transforms is not None and has_separate:
            raise ValueError("Only transforms or transform/target_transform can be passed as argument")
        self.transform, self.target_transform = transform, target_transform
        self.transforms = transforms if transforms is not None else (
            StandardTransform(transform, target_transform) if has_separate else None)

    def __getitem__(self, index: int):
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"Dataset {type(self).__name__}"]
        try:
            lines.append(f"    Number of datapoints: {len(self)}")
        except NotImplementedError:
            pass
        if self.root is not None:
            lines.append(f"    Root location: {self.root}")
        lines += ["    " + line for line in self.extra_repr().splitlines()]
        return "\n".join(lines)
