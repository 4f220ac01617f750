"""Transforms for detection: each takes ``(image, target)`` and moves the boxes with the image.

``image`` is a ``(C, H, W)`` tensor (or an ``(H, W)`` / ``(H, W, C)`` array or a PIL image for
``ToTensor``); ``target`` a dict with ``"boxes"`` (float32 ``(K, 4)`` xyxy) and ``"labels"``
(int64 ``(K,)``), as torchvision's detection models take.  Other keys of ``target`` that have one
row per box (``"iscrowd"``, ``"area"``) are filtered along with the boxes.

Random choices come from numtorch's global generator, so ``numtorch.manual_seed`` repeats them.

>>> import numtorch as torch
>>> from numtorch.vision import detection_transforms as T
>>> img = torch.zeros(1, 10, 20)
>>> tgt = {"boxes": torch.tensor([[0., 0., 5., 5.]]), "labels": torch.tensor([3])}
>>> T.RandomHorizontalFlip(p=1.0)(img, tgt)[1]["boxes"]
tensor([[15.,  0., 20.,  5.]])
"""
from __future__ import annotations

import numpy as np

import numtorch
from numtorch import _dtypes
from numtorch.tensor import Tensor, make_tensor

__all__ = ["Compose", "ToTensor", "RandomHorizontalFlip", "Resize", "RandomCrop", "interpolation_matrix",
           "resize_array"]


def interpolation_matrix(n_in: int, n_out: int, dtype=np.float32) -> np.ndarray:
    """``(n_out, n_in)`` matrix of bilinear weights with half-pixel centres (``align_corners=False``).

    Output pixel i samples the input at (i + 0.5) * n_in / n_out - 0.5, clamped to [0, n_in - 1],
    splitting its weight between the two neighbouring input pixels.
    """
    pos = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    pos = np.clip(pos, 0, n_in - 1)
    low = np.floor(pos).astype(np.int64)
    high = np.minimum(low + 1, n_in - 1)
    frac = pos - low
    m = np.zeros((n_out, n_in), dtype=np.float64)
    rows = np.arange(n_out)
    m[rows, low] += 1 - frac
    m[rows, high] += frac
    return m.astype(dtype)


def resize_array(a: np.ndarray, size) -> np.ndarray:
    """Bilinear resize of the last two axes of ``a`` to ``size = (h, w)``: Ry @ a @ Rx^T."""
    h, w = a.shape[-2:]
    ry = interpolation_matrix(h, size[0], a.dtype if a.dtype.kind == "f" else np.float32)
    rx = interpolation_matrix(w, size[1], ry.dtype)
    return ry @ a @ rx.T


def _filter(target: dict, keep: Tensor) -> dict:
    """Keeps the rows ``keep`` (a bool tensor) of every per-box entry of ``target``, on its device."""
    n = target["boxes"].shape[0]
    out = {}
    for k, v in target.items():
        if isinstance(v, Tensor) and v.ndim >= 1 and v.shape[0] == n:
            out[k] = v[keep.to(v.device)]
        else:
            out[k] = v
    return out


def _with_boxes(target: dict, boxes: Tensor) -> dict:
    out = dict(target)
    out["boxes"] = boxes.float()
    return out


class Compose:
    """Applies transforms one after the other to ``(image, target)``."""

    def __init__(self, transforms) -> None:
        self.transforms = list(transforms)

    def __call__(self, image, target):
        for t in self.transforms:
            image, target = t(image, target)
        return image, target

    def __repr__(self) -> str:
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


class ToTensor:
    """PIL image or ``(H, W[, C])`` uint8 array -> float32 ``(C, H, W)`` tensor in [0, 1]."""

    def __call__(self, image, target):
        if isinstance(image, Tensor):
            return image, target
        a = np.asarray(image)
        if a.ndim == 2:
            a = a[:, :, None]
        a = a.transpose(2, 0, 1)
        a = a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)
        return make_tensor(np.ascontiguousarray(a)), target

    def __repr__(self) -> str:
        return "ToTensor()"


class RandomHorizontalFlip:
    """Flips image and boxes left-right with probability ``p``: x -> W - x (x1 and x2 swap)."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, image: Tensor, target: dict):
        if numtorch.rand(1).item() >= self.p:
            return image, target
        w = image.shape[-1]
        b = target["boxes"]
        flipped = numtorch.stack([w - b[:, 2], b[:, 1], w - b[:, 0], b[:, 3]], 1)
        return image.flip(-1), _with_boxes(target, flipped)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Resize:
    """Resizes to ``size = (h, w)`` (bilinear) and scales the boxes by (w / W, h / H).

    An int ``size`` sets the shorter side, keeping the aspect ratio (torchvision's rule).
    """

    def __init__(self, size) -> None:
        self.size = size

    def _out_size(self, h: int, w: int):
        if isinstance(self.size, int):
            s = self.size
            return (s, max(1, int(s * w / h))) if h <= w else (max(1, int(s * h / w)), s)
        return tuple(self.size)

    def __call__(self, image: Tensor, target: dict):
        h, w = image.shape[-2:]
        oh, ow = self._out_size(h, w)
        # Ry @ image @ Rx^T with the bilinear matrices on the image's device
        dtype = image.dtype if image.is_floating_point() else numtorch.float32
        ry, rx = (numtorch.as_tensor(interpolation_matrix(n, m, _dtypes.np_dtype(dtype)), device=image.device)
                  for n, m in ((h, oh), (w, ow)))
        image = (ry @ image.to(dtype) @ rx.t()).to(image.dtype)
        b = target["boxes"]
        scale = numtorch.tensor([ow / w, oh / h, ow / w, oh / h], dtype=b.dtype, device=b.device)
        return image, _with_boxes(target, b * scale)

    def __repr__(self) -> str:
        return f"Resize(size={self.size})"


class RandomCrop:
    """Crops a random ``size = (h, w)`` window; boxes are shifted, clipped to the window, and those
    left with less than ``min_visible`` of their area (or no area) are dropped."""

    def __init__(self, size, min_visible: float = 0.0) -> None:
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.min_visible = min_visible

    def __call__(self, image: Tensor, target: dict):
        h, w = image.shape[-2:]
        ch, cw = self.size
        if ch > h or cw > w:
            raise ValueError(f"RandomCrop: crop size {self.size} is larger than the image ({h}, {w})")
        top = int(numtorch.randint(0, h - ch + 1, (1,)).item())
        left = int(numtorch.randint(0, w - cw + 1, (1,)).item())
        image = image[..., top:top + ch, left:left + cw].contiguous()
        b = target["boxes"]
        shifted = b - numtorch.tensor([left, top, left, top], dtype=b.dtype, device=b.device)
        clipped = numtorch.stack([shifted[:, 0].clamp(0, cw), shifted[:, 1].clamp(0, ch),
                                  shifted[:, 2].clamp(0, cw), shifted[:, 3].clamp(0, ch)], 1)
        area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
        new_area, old_area = area(clipped), area(b)
        keep = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
        keep = keep & (new_area >= self.min_visible * old_area)
        target = _with_boxes(target, clipped)
        return image, _filter(target, keep)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, min_visible={self.min_visible})"
