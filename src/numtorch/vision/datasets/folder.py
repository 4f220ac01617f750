"""``ImageFolder`` and ``DatasetFolder``: one sub-folder per class, as torchvision.

    root/cat/001.png, root/cat/002.png, root/dog/001.jpg ...  ->  classes ["cat", "dog"]

Images are opened lazily with Pillow when an item is read (``pip install numtorch[vision]``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

from numtorch.vision.datasets.vision import VisionDataset

__all__ = ["DatasetFolder", "ImageFolder", "IMG_EXTENSIONS", "default_loader", "pil_loader"]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def pil_loader(path):
    """Opens an image file with Pillow as an RGB ``PIL.Image``."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("ImageFolder needs Pillow to read images: pip install numtorch[vision]") from None
    with open(path, "rb") as f:
        img = Image.open(f)
        return img.convert("RGB")


default_loader = pil_loader


def find_classes(directory) -> tuple:
    """(sorted class names, {name: index}) from the sub-folders of ``directory``."""
    classes = sorted(e.name for e in os.scandir(directory) if e.is_dir())
    if not classes:
        raise FileNotFoundError(f"Couldn't find any class folder in {directory}.")
    return classes, {c: i for i, c in enumerate(classes)}


class DatasetFolder(VisionDataset):
    """Samples ``(loader(path), class_index)`` from ``root/<class>/**/<file>``.

    Args:
        root: the folder of class folders.
        loader: reads one file.  extensions: accepted file endings (or use ``is_valid_file``).
        transform, target_transform: applied to the sample and to the class index.
    Attributes:
        classes, class_to_idx, samples (list of (path, class_index)), targets.
    """

    def __init__(self, root, loader: Callable, extensions=None, transform: Optional[Callable] = None,
                 target_transform: Optional[Callable] = None, is_valid_file: Optional[Callable] = None,
                 allow_empty: bool = False) -> None:
        super().__init__(Path(root), transform=transform, target_transform=target_transform)
        self.loader, self.extensions = loader, extensions
        if (extensions is None) == (is_valid_file is None):
            raise ValueError("Both extensions and is_valid_file cannot be None or not None at the same time")
        valid = is_valid_file or (lambda p: p.lower().endswith(tuple(extensions)))
        self.classes, self.class_to_idx = find_classes(self.root)
        self.samples = []
        for c in self.classes:
            for dirpath, _, files in sorted(os.walk(self.root / c, followlinks=True)):
                for name in sorted(files):
                    path = os.path.join(dirpath, name)
                    if valid(path):
                        self.samples.append((path, self.class_to_idx[c]))
        if not self.samples and not allow_empty:
            raise FileNotFoundError(f"Found no valid file for the classes {', '.join(self.classes)}. "
                                    f"Supported extensions are: {', '.join(extensions or ())}")
        self.targets = [t for _, t in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple:
        path, target = self.samples[index]
        return self._transform_item(self.loader(path), target)


class ImageFolder(DatasetFolder):
    """``DatasetFolder`` of images (Pillow, RGB): ``ImageFolder("data/train", transform=ToTensor())``."""

    def __init__(self, root, transform: Optional[Callable] = None,
                 target_transform: Optional[Callable] = None, loader: Callable = default_loader,
                 is_valid_file: Optional[Callable] = None, allow_empty: bool = False) -> None:
        super().__init__(root, loader, IMG_EXTENSIONS if is_valid_file is None else None, transform,
                         target_transform, is_valid_file, allow_empty)
        self.imgs = self.samples
