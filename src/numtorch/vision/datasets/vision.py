"""``VisionDataset``: torchvision's base class for data sets of (image, target) pairs."""
from __future__ import annotations

import os
from typing import Callable, Optional

from numtorch.utils.data import Dataset

__all__ = ["VisionDataset", "StandardTransform"]


def _apply_pair(transform, target_transform, input, target) -> tuple:
    """``(transform(input), target_transform(target))``, each only when it is not None."""
    if transform is not None:
        input = transform(input)
    if target_transform is not None:
        target = target_transform(target)
    return input, target


def _format_transform_repr(transform: Callable, head: str) -> list:
    """``head`` before the first line of ``repr(transform)``, the other lines indented to match."""
    lines = repr(transform).splitlines()
    return [head + lines[0]] + [" " * len(head) + line for line in lines[1:]]


class StandardTransform:
    """Applies ``transform`` to the image and ``target_transform`` to the target."""

    def __init__(self, transform: Optional[Callable] = None,
                 target_transform: Optional[Callable] = None) -> None:
        self.transform, self.target_transform = transform, target_transform

    def __call__(self, input, target):
        return _apply_pair(self.transform, self.target_transform, input, target)

    def __repr__(self) -> str:
        body = [type(self).__name__]
        if self.transform is not None:
            body += _format_transform_repr(self.transform, "Transform: ")
        if self.target_transform is not None:
            body += _format_transform_repr(self.target_transform, "Target transform: ")
        return "\n".join(body)


class VisionDataset(Dataset):
    """Base of a data set under ``root``: subclasses define ``__getitem__`` and ``__len__``.

    Args:
        root: the data folder (``~`` expanded; a ``str`` stays a ``str``, a ``Path`` a ``Path``).
        transforms: a callable on ``(image, target)``; or, exclusively, ``transform`` on the image and
            ``target_transform`` on the target (combined into ``self.transforms``).

    A classification set applies ``self.transform`` and ``self.target_transform`` to each item
    (``_transform_item``: read at call time, so assigning ``ds.transform = ...`` later takes effect, as
    in torchvision); a detection set applies ``self.transforms`` to the pair.
    """

    _repr_indent = 4

    def __init__(self, root=None, transforms: Optional[Callable] = None, transform: Optional[Callable] = None,
                 target_transform: Optional[Callable] = None) -> None:
        if isinstance(root, (str, os.PathLike)):
            root = type(root)(os.path.expanduser(root))
        self.root = root
        has_separate = transform is not None or target_transform is not None
        if transforms is not None and has_separate:
            raise ValueError("Only transforms or transform/target_transform can be passed as argument")
        self.transform, self.target_transform = transform, target_transform
        self.transforms = StandardTransform(transform, target_transform) if has_separate else transforms

    def __getitem__(self, index: int):
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def _transform_item(self, input, target) -> tuple:
        """``(transform(input), target_transform(target))``, each only when set."""
        return _apply_pair(self.transform, self.target_transform, input, target)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        body = []
        try:
            body.append(f"Number of datapoints: {len(self)}")
        except NotImplementedError:
            pass
        if self.root is not None:
            body.append(f"Root location: {self.root}")
        body += self.extra_repr().splitlines()
        if getattr(self, "transforms", None) is not None:
            body.append(repr(self.transforms))
        return "\n".join([f"Dataset {type(self).__name__}"] + [" " * self._repr_indent + b for b in body])
