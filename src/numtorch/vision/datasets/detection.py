"""Detection data: MNIST digits on larger canvases, and readers for COCO JSON and Pascal VOC XML.

Every data set returns ``(image, target)`` with torchvision's detection target: ``target["boxes"]``
float32 ``(K, 4)`` in xyxy pixels and ``target["labels"]`` int64 ``(K,)``.

``DigitCanvases`` draws MNIST digits at random positions and sizes on a black canvas.  Canvas i is
generated from its own random stream ``default_rng([seed, i])``, so it is the same whatever order
the canvases are read in, and ``split="train"`` / ``split="test"`` draw from disjoint digit images
(the first 8,000 and the last 2,000 of MNIST's 10,000 test images).

>>> from numtorch.vision.datasets import DigitCanvases          # doctest: +SKIP
>>> ds = DigitCanvases("../shared/data", split="train", num_canvases=1000)   # doctest: +SKIP
>>> image, target = ds[0]; image.shape, target["boxes"].shape    # doctest: +SKIP
(numtorch.Size([1, 96, 96]), numtorch.Size([3, 4]))
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from numtorch.tensor import make_tensor
from numtorch.vision.datasets.vision import VisionDataset
from numtorch.vision.detection_transforms import interpolation_matrix

__all__ = ["DigitCanvases", "CocoDetection", "VOCDetection", "detection_collate", "VOC_CLASSES"]

_SPLITS = {"train": slice(0, 8000), "test": slice(8000, 10000), "all": slice(0, 10000)}


def _load_mnist_test(root) -> tuple:
    """MNIST's 10,000 test images (uint8 ``(N, 28, 28)``) and labels from ``root/mnist`` or ``root``."""
    from numtorch.vision.datasets.mnist import read_idx
    root = Path(os.path.expanduser(str(root)))
    for folder in (root / "mnist", root, root / "MNIST" / "raw"):
        for ext in (".gz", ""):
            img = folder / f"t10k-images-idx3-ubyte{ext}"
            lab = folder / f"t10k-labels-idx1-ubyte{ext}"
            if img.exists() and lab.exists():
                return read_idx(img), read_idx(lab).astype(np.int64)
    raise RuntimeError("DigitCanvases: MNIST test files (t10k-images-idx3-ubyte[.gz], "
                       f"t10k-labels-idx1-ubyte[.gz]) not found in {root / 'mnist'} or {root}")


def detection_collate(batch):
    """Collate for detection loaders: ``[(img, tgt), ...] -> ((img, ...), (tgt, ...))`` (torchvision's
    reference ``collate_fn``); images may differ in size and targets in box count."""
    return tuple(zip(*batch))


class DigitCanvases(VisionDataset):
    """MNIST digits scattered on ``canvas_size`` x ``canvas_size`` canvases, with tight boxes.

    Args:
        root: folder with ``mnist/t10k-images-idx3-ubyte.gz`` (or the files themselves).
        split: "train" (digit images 0..7999), "test" (8000..9999) or "all".
        num_canvases: length of the data set.
        canvas_size: side of the square canvas in pixels.
        digits: (min, max) digits per canvas, inclusive.
        digit_size: (min, max) side in pixels of the scaled 28x28 MNIST patch.
        max_iou: largest IoU allowed between two digits' boxes (placement is re-drawn until it holds).
        clutter: number of unlabelled 6x6 fragments of other digits sprinkled on each canvas.
        seed: base seed; canvas i uses ``default_rng([seed, i])``.
        transforms: optional callable ``(image, target) -> (image, target)``.
        images, labels: digit images uint8 ``(N, 28, 28)`` and labels to use instead of reading MNIST.
    Returns (per item):
        image float32 ``(1, H, W)`` in [0, 1]; target {"boxes", "labels", "image_id"}.
    """

    classes = [str(d) for d in range(10)]

    def __init__(self, root=None, split: str = "train", num_canvases: int = 1000, canvas_size: int = 96,
                 digits: Sequence[int] = (1, 5), digit_size: Sequence[int] = (20, 40), max_iou: float = 0.1,
                 clutter: int = 0, seed: int = 0, transforms: Optional[Callable] = None,
                 images: Optional[np.ndarray] = None, labels: Optional[np.ndarray] = None) -> None:
        if images is None:
            if split not in _SPLITS:
                raise ValueError(f"DigitCanvases: split must be one of {sorted(_SPLITS)}, got '{split}'")
            if root is None:
                raise ValueError("DigitCanvases: pass root (the folder holding mnist/) or images and labels")
            images, labels = _load_mnist_test(root)
            images, labels = images[_SPLITS[split]], labels[_SPLITS[split]]
        if not 1 <= digits[0] <= digits[1]:
            raise ValueError(f"DigitCanvases: digits must be (min, max) with 1 <= min <= max, got {digits}")
        if digit_size[1] > canvas_size:
            raise ValueError(f"DigitCanvases: digit_size {digit_size} does not fit a {canvas_size} canvas")
        self.images, self.labels = np.asarray(images), np.asarray(labels, dtype=np.int64)
        self.split, self.num_canvases, self.canvas_size = split, int(num_canvases), int(canvas_size)
        self.digits, self.digit_size = tuple(digits), tuple(digit_size)
        super().__init__(root, transforms=transforms)
        self.max_iou, self.clutter, self.seed = max_iou, clutter, seed
        self._resizers: dict = {}

    def __len__(self) -> int:
        return self.num_canvases

    def _resizer(self, s: int) -> np.ndarray:
        if s not in self._resizers:
            self._resizers[s] = interpolation_matrix(28, s)
        return self._resizers[s]

    def _digit(self, index: int, size: int):
        """The digit scaled to ``size`` pixels, and its tight box inside that patch."""
        r = self._resizer(size)
        patch = r @ (self.images[index].astype(np.float32) / 255.0) @ r.T
        ys, xs = np.nonzero(patch > 0.1)
        return patch, np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float32)

    def generate(self, i: int):
        """Canvas ``i`` as arrays: float32 ``(H, W)``, boxes ``(K, 4)``, labels ``(K,)``."""
        rng = np.random.default_rng([self.seed, i])
        n = self.canvas_size
        canvas = np.zeros((n, n), dtype=np.float32)
        boxes, labels = [], []
        for _ in range(int(rng.integers(self.digits[0], self.digits[1] + 1))):
            idx = int(rng.integers(len(self.images)))
            size = int(rng.integers(self.digit_size[0], self.digit_size[1] + 1))
            patch, tight = self._digit(idx, size)
            for _attempt in range(30):  # re-draw the position until the overlap is small enough
                x, y = rng.integers(0, n - size + 1, 2)
                box = tight + np.array([x, y, x, y], dtype=np.float32)
                if not boxes or _iou_one(box, np.array(boxes)).max() <= self.max_iou:
                    break
            else:
                continue  # no room: skip this digit
            canvas[y:y + size, x:x + size] = np.maximum(canvas[y:y + size, x:x + size], patch)
            boxes.append(box)
            labels.append(self.labels[idx])
        self._add_clutter(rng, canvas)
        return canvas, np.array(boxes, np.float32).reshape(-1, 4), np.array(labels, np.int64)

    def _add_clutter(self, rng, canvas: np.ndarray) -> None:
        n = self.canvas_size
        for _ in range(self.clutter):
            src = self.images[int(rng.integers(len(self.images)))].astype(np.float32) / 255.0
            sy, sx = rng.integers(6, 17, 2)
            y, x = rng.integers(0, n - 6, 2)
            canvas[y:y + 6, x:x + 6] = np.maximum(canvas[y:y + 6, x:x + 6], src[sy:sy + 6, sx:sx + 6])

    def __getitem__(self, i: int):
        if not -len(self) <= i < len(self):
            raise IndexError(f"DigitCanvases: index {i} out of range for {len(self)} canvases")
        i = i % len(self)
        canvas, boxes, labels = self.generate(i)
        image = make_tensor(canvas[None])
        target = {"boxes": make_tensor(boxes), "labels": make_tensor(labels), "image_id": i}
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target

    def arrays(self, start: int = 0, stop: Optional[int] = None):
        """All canvases at once: images float32 ``(N, 1, H, W)`` and a list of target dicts
        (no transforms) -- the fast way to feed a training loop."""
        stop = len(self) if stop is None else stop
        items = [self.generate(i) for i in range(start, stop)]
        images = np.stack([c for c, _, _ in items])[:, None]
        targets = [{"boxes": make_tensor(b), "labels": make_tensor(l)} for _, b, l in items]
        return images, targets

    def __repr__(self) -> str:
        return (f"DigitCanvases(split={self.split!r}, num_canvases={self.num_canvases}, "
                f"canvas_size={self.canvas_size}, "
                f"digits={self.digits}, digit_size={self.digit_size}, max_iou={self.max_iou}, "
                f"clutter={self.clutter}, seed={self.seed})")


def _iou_one(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lt = np.maximum(box[:2], boxes[:, :2])
    rb = np.minimum(box[2:], boxes[:, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[:, 0] * wh[:, 1]
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / (area(box) + area(boxes) - inter)


# ---- readers -------------------------------------------------------------------------------

def _open_image(path: Path):
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("reading detection images needs Pillow: pip install numtorch[vision]") from None
    return Image.open(path).convert("RGB")


def _image_tensor(img):
    a = np.asarray(img, dtype=np.float32) / 255.0
    return make_tensor(np.ascontiguousarray(a.transpose(2, 0, 1)))


class CocoDetection(VisionDataset):
    """A folder of images with a COCO-format annotation file (torchvision's ``CocoDetection``).

    Args:
        root: folder of the images (``file_name`` of each image entry is relative to it).
        annFile: the JSON file with "images", "annotations" and "categories".
        transform, target_transform, transforms: as torchvision.
        target_format: "coco" returns torchvision's raw list of annotation dicts and a PIL image;
            "boxes" returns a float32 ``(3, H, W)`` tensor and {"boxes" xyxy, "labels" (category
            ids), "image_id", "iscrowd", "area"}.
    """

    def __init__(self, root, annFile, transform=None, target_transform=None, transforms=None,
                 target_format: str = "coco") -> None:
        if target_format not in ("coco", "boxes"):
            raise ValueError(f"CocoDetection: target_format must be 'coco' or 'boxes', got '{target_format}'")
        super().__init__(Path(root), transforms, transform, target_transform)
        with open(annFile, encoding="utf-8") as f:
            data = json.load(f)
        self.images = {img["id"]: img for img in data.get("images", [])}
        self.ids = sorted(self.images)
        self.anns: dict = {i: [] for i in self.ids}
        for ann in data.get("annotations", []):
            self.anns.setdefault(ann["image_id"], []).append(ann)
        self.categories = {c["id"]: c["name"] for c in data.get("categories", [])}
        self.target_format = target_format

    def __len__(self) -> int:
        return len(self.ids)

    def _boxes_target(self, image_id, anns) -> dict:
        xywh = np.array([a["bbox"] for a in anns], dtype=np.float32).reshape(-1, 4)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
        return {"boxes": make_tensor(xyxy),
                "labels": make_tensor(np.array([a["category_id"] for a in anns], np.int64)),
                "image_id": image_id,
                "iscrowd": make_tensor(np.array([a.get("iscrowd", 0) for a in anns], np.int64)),
                "area": make_tensor(np.array([a.get("area", w * h) for a, (_, _, w, h) in zip(anns, xywh)],
                                             np.float32))}

    def __getitem__(self, index: int):
        image_id = self.ids[index]
        image = _open_image(self.root / self.images[image_id]["file_name"])
        target = self.anns.get(image_id, [])
        if self.target_format == "boxes":
            image, target = _image_tensor(image), self._boxes_target(image_id, target)
        if self.transforms is not None:     # transform / target_transform are combined into it
            image, target = self.transforms(image, target)
        return image, target


VOC_CLASSES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor"]


def _parse_xml(node) -> dict:
    """torchvision's ``parse_voc_xml``: an element as nested dicts; repeated "object" is a list."""
    children = list(node)
    if not children:
        return {node.tag: node.text}
    d: dict = {}
    for child in children:
        for k, v in _parse_xml(child).items():
            d.setdefault(k, []).append(v)
    d = {k: (v if k == "object" else v[0]) for k, v in d.items()}
    return {node.tag: d}


class VOCDetection(VisionDataset):
    """Pascal VOC: ``root/VOCdevkit/VOC<year>/{JPEGImages, Annotations, ImageSets/Main/<set>.txt}``.

    Args:
        root, year, image_set: as torchvision's ``VOCDetection`` (no download here).
        target_format: "voc" returns torchvision's parsed-XML dict and a PIL image; "boxes" returns a
            float32 ``(3, H, W)`` tensor and {"boxes", "labels", "difficult"}, with boxes converted
            from VOC's 1-based inclusive corners to xyxy pixels (x1 = xmin - 1, x2 = xmax) and labels
            the index in ``classes`` (VOC's 20 classes by default).
    """

    def __init__(self, root, year: str = "2012", image_set: str = "train", download: bool = False,
                 transform=None, target_transform=None, transforms=None, target_format: str = "voc",
                 classes: Optional[Sequence[str]] = None) -> None:
        if download:
            raise RuntimeError("VOCDetection: download is not supported; place the VOCdevkit folder "
                               "under root")
        if target_format not in ("voc", "boxes"):
            raise ValueError(f"VOCDetection: target_format must be 'voc' or 'boxes', got '{target_format}'")
        super().__init__(Path(root), transforms, transform, target_transform)
        base = self.root / "VOCdevkit" / f"VOC{year}"
        split_file = base / "ImageSets" / "Main" / f"{image_set}.txt"
        if not split_file.exists():
            raise RuntimeError(f"VOCDetection: {split_file} not found")
        names = [line.strip() for line in split_file.read_text().splitlines() if line.strip()]
        self.images = [base / "JPEGImages" / f"{n}.jpg" for n in names]
        self.annotations = [base / "Annotations" / f"{n}.xml" for n in names]
        self.classes = list(classes) if classes is not None else list(VOC_CLASSES)
        self.target_format = target_format

    def __len__(self) -> int:
        return len(self.images)

    def _boxes_target(self, parsed: dict) -> dict:
        objs = parsed["annotation"].get("object", [])
        coords = [[float(o["bndbox"][k]) for k in ("xmin", "ymin", "xmax", "ymax")] for o in objs]
        b = np.array(coords, np.float32).reshape(-1, 4) - np.array([1, 1, 0, 0], np.float32)
        unknown = [o["name"] for o in objs if o["name"] not in self.classes]
        if unknown:
            raise ValueError(f"VOCDetection: class names {unknown} are not in classes {self.classes}")
        return {"boxes": make_tensor(b),
                "labels": make_tensor(np.array([self.classes.index(o["name"]) for o in objs], np.int64)),
                "difficult": make_tensor(np.array([int(o.get("difficult", 0) or 0) for o in objs], np.int64))}

    def __getitem__(self, index: int):
        import xml.etree.ElementTree as ET
        image = _open_image(self.images[index])
        target = _parse_xml(ET.parse(self.annotations[index]).getroot())
        if self.target_format == "boxes":
            image, target = _image_tensor(image), self._boxes_target(target)
        if self.transforms is not None:     # transform / target_transform are combined into it
            image, target = self.transforms(image, target)
        return image, target
