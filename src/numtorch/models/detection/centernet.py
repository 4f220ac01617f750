"""CenterNet ("Objects as Points", Zhou et al. 2019): a detector that finds object centres.

One stride-4 feature map predicts, at every cell,

* ``num_classes`` heatmap logits: is the centre of an object of class c in this cell?
* 4 box numbers: the centre's offset inside the cell (dx, dy) and the log of the box's width and
  height in cells (lw, lh).

Training targets (``encode_targets``): each ground-truth box puts a Gaussian peak (1 at its centre
cell, falling off with a radius that grows with the box) on its class's heatmap; the box numbers
are supervised only at the centre cell.  Losses: CenterNet's penalty-reduced focal loss on the
heatmap, GIoU and L1 (log size) on the decoded box, L1 on the offset.

Decoding (``postprocess``): sigmoid heatmap -> local maxima (3x3 max-pool test) -> top-k cells ->
score threshold -> boxes -> class-wise NMS -> at most ``detections_per_img`` per image.

The interface is torchvision's: ``model(images, targets)`` in training mode returns a dict of
losses; ``model(images)`` in eval mode returns one dict per image with "boxes" (xyxy pixels),
"scores" and "labels".
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence

import numpy as np

import numtorch
from numtorch import nn
from numtorch.nn import functional as F
from numtorch.tensor import Tensor
from numtorch.vision.ops import batched_nms, generalized_box_iou_loss
from numtorch.models.detection.backbone import TinyFPNBackbone

__all__ = ["CenterNet", "centernet_digits", "heatmap_focal_loss", "encode_targets", "gaussian_radius"]


# ---- losses --------------------------------------------------------------------------------

def heatmap_focal_loss(logits: Tensor, heatmap: Tensor, num_objects: int, alpha: float = 2.0,
                       beta: float = 4.0) -> Tensor:
    """CenterNet's penalty-reduced focal loss.

    With p = sigmoid(logits) and y the Gaussian target heatmap:
    at centres (y == 1): -(1 - p)^alpha log p; elsewhere: -(1 - y)^beta p^alpha log(1 - p);
    summed and divided by the number of objects.  log p = logsigmoid(x) and log(1 - p) =
    logsigmoid(-x) keep it finite for large logits.
    """
    p = numtorch.sigmoid(logits)
    pos = (heatmap == 1).float()
    neg_weight = (1 - heatmap) ** beta * (1 - pos)
    pos_loss = F.logsigmoid(logits) * (1 - p) ** alpha * pos
    neg_loss = F.logsigmoid(-logits) * p ** alpha * neg_weight
    return -(pos_loss.sum() + neg_loss.sum()) / max(num_objects, 1)


# ---- target assignment -----------------------------------------------------------------------

def gaussian_radius(height: np.ndarray, width: np.ndarray, min_overlap: float = 0.7) -> np.ndarray:
    """CornerNet/CenterNet's radius: the smallest of three corner-shift radii that keep IoU >=
    ``min_overlap`` (the reference code's formula, kept as is for comparable targets)."""
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + np.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + np.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + np.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return np.minimum(np.minimum(r1, r2), r3)


def encode_targets(targets: Sequence[dict], num_classes: int, feat_hw, stride: int) -> dict:
    """Builds CenterNet's training targets for a batch.

    Args:
        targets: per image {"boxes" (K_i, 4) xyxy pixels, "labels" (K_i,)}.
        feat_hw: (H, W) of the output map; stride: pixels per cell.
    Returns:
        {"heatmap": float32 (N, C, H, W); per object (K = sum K_i): "batch", "cy", "cx" int64
         (K,), "offset" float32 (K, 2) = centre / stride - cell, "boxes" float32 (K, 4)}.
    """
    h, w = feat_hw
    n = len(targets)
    boxes = np.concatenate([_host(t["boxes"]).astype(np.float32).reshape(-1, 4) for t in targets])
    labels = np.concatenate([_host(t["labels"]).astype(np.int64).reshape(-1) for t in targets])
    batch = np.concatenate([np.full(len(t["labels"]), i, np.int64) for i, t in enumerate(targets)])
    centre = (boxes[:, :2] + boxes[:, 2:]) / (2 * stride)  # (K, 2) in cells, (x, y)
    cell = np.clip(np.floor(centre).astype(np.int64), 0, [w - 1, h - 1])
    size = (boxes[:, 2:] - boxes[:, :2]) / stride
    radius = np.maximum(0, np.floor(gaussian_radius(size[:, 1], size[:, 0])))
    sigma = (2 * radius + 1) / 6
    dx = np.arange(w)[None, None, :] - cell[:, 0, None, None]  # (K, 1, W)
    dy = np.arange(h)[None, :, None] - cell[:, 1, None, None]  # (K, H, 1)
    g = np.exp(-(dx ** 2 + dy ** 2) / (2 * sigma[:, None, None] ** 2))
    g *= (np.abs(dx) <= radius[:, None, None]) & (np.abs(dy) <= radius[:, None, None])
    heat = np.zeros((n * num_classes, h, w), np.float32)
    # overlapping Gaussians of one class keep the larger value; K is a handful per image
    np.maximum.at(heat, batch * num_classes + labels, g.astype(np.float32))
    return {"heatmap": heat.reshape(n, num_classes, h, w), "batch": batch, "cy": cell[:, 1], "cx": cell[:, 0],
            "offset": (centre - cell).astype(np.float32), "boxes": boxes}


def _host(t) -> np.ndarray:
    """A target entry (tensor on any device, or array-like) as a NumPy array: target assignment is
    a handful of boxes per image, computed on the host like a data-loading step."""
    if isinstance(t, Tensor):
        return t.detach().cpu().numpy()
    return np.asarray(getattr(t, "_data", t))  # an array, or an object holding one in ``_data``


# ---- the model -----------------------------------------------------------------------------

class CenterNet(nn.Module):
    """A single-stage, anchor-free detector on one stride-4 feature map.

    Args:
        num_classes: object classes (no background class: the heatmap is per class).
        in_channels: image channels.
        widths: backbone channels at strides 2, 4, 8.
        score_thresh: detections below this score are dropped in eval mode.
        nms_thresh: IoU threshold of the class-wise NMS after decoding.
        topk: heatmap peaks decoded per image.  detections_per_img: kept after NMS.
        loss_weights: weights of "heatmap", "bbox_giou", "offset", "size" in the loss dict.
    Shape:
        images: (N, C, H, W) tensor or a list of (C, H_i, W_i) tensors (padded to one size, a
        multiple of 8, at the bottom/right -- box coordinates are unchanged).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, widths=(16, 32, 64),
                 score_thresh: float = 0.05, nms_thresh: float = 0.5, topk: int = 100,
                 detections_per_img: int = 100, loss_weights: Optional[dict] = None) -> None:
        super().__init__()
        self.num_classes, self.in_channels, self.widths = num_classes, in_channels, tuple(widths)
        self.score_thresh, self.nms_thresh = score_thresh, nms_thresh
        self.topk, self.detections_per_img = topk, detections_per_img
        self.loss_weights = {"heatmap": 1.0, "bbox_giou": 1.0, "offset": 1.0, "size": 0.5}
        self.loss_weights.update(loss_weights or {})
        self.backbone = TinyFPNBackbone(in_channels, widths)
        self.stride = self.backbone.stride
        c = self.backbone.out_channels
        self.head = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.ReLU())
        self.cls_logits = nn.Conv2d(c, num_classes, 1)
        self.bbox_pred = nn.Conv2d(c, 4, 1)
        nn.init.constant_(self.cls_logits.bias, -math.log((1 - 0.1) / 0.1))  # start at p = 0.1
        nn.init.normal_(self.bbox_pred.weight, std=0.01)
        nn.init.zeros_(self.bbox_pred.bias)
        with numtorch.no_grad():
            self.bbox_pred.bias[2:] = math.log(16 / self.stride)  # start near 16-pixel boxes

    def config(self) -> dict:
        """The constructor arguments (stored with checkpoints)."""
        return {"num_classes": self.num_classes, "in_channels": self.in_channels, "widths": list(self.widths),
                "score_thresh": self.score_thresh, "nms_thresh": self.nms_thresh, "topk": self.topk,
                "detections_per_img": self.detections_per_img}

    # ---- input ----
    def _batch(self, images):
        """A (N, C, H, W) tensor padded to multiples of 8 (on the images' device), and each image's (h, w)."""
        if isinstance(images, Tensor):
            if images.ndim != 4:
                raise ValueError(f"CenterNet: expected images (N, C, H, W) or a list of (C, H, W), got "
                                 f"{tuple(images.shape)}")
            sizes = [tuple(images.shape[-2:])] * images.shape[0]
        else:
            sizes = [tuple(im.shape[-2:]) for im in images]
        hmax = -(-max(h for h, _ in sizes) // 8) * 8
        wmax = -(-max(w for _, w in sizes) // 8) * 8
        if isinstance(images, Tensor):
            if tuple(images.shape[-2:]) == (hmax, wmax):
                return images, sizes
            h, w = sizes[0]
            return F.pad(images.float(), (0, wmax - w, 0, hmax - h)), sizes
        # zeros at the bottom/right of each image: box coordinates are unchanged
        padded = [F.pad(im.float(), (0, wmax - w, 0, hmax - h)) for im, (h, w) in zip(images, sizes)]
        return numtorch.stack(padded), sizes

    @staticmethod
    def _check_targets(targets) -> None:
        if targets is None:
            raise ValueError("CenterNet: in training mode, targets should be passed")
        for i, t in enumerate(targets):
            b = _host(t["boxes"])
            if b.ndim != 2 or b.shape[-1] != 4:
                raise ValueError(f"CenterNet: expected target boxes of shape (K, 4), got {b.shape} for "
                                 f"target {i}")
            bad = (b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1])
            if bad.any():
                raise ValueError(f"CenterNet: all bounding boxes should have positive height and width; "
                                 f"found invalid box {b[bad][0].tolist()} for target at index {i}")

    # ---- forward ----
    def forward(self, images, targets: Optional[List[dict]] = None):
        if self.training:
            self._check_targets(targets)
        x, sizes = self._batch(images)
        head = self.head(self.backbone(x))
        cls, reg = self.cls_logits(head), self.bbox_pred(head)
        if self.training:
            return self.compute_loss(cls, reg, targets)
        return self.postprocess(cls, reg, sizes)

    def compute_loss(self, cls: Tensor, reg: Tensor, targets: Sequence[dict]) -> dict:
        """The weighted losses {"heatmap", "bbox_giou", "offset", "size"}; their sum is the objective."""
        enc = encode_targets(targets, self.num_classes, tuple(cls.shape[-2:]), self.stride)
        dev = cls.device

        def on_dev(a: np.ndarray) -> Tensor:  # the encoded targets, uploaded to the maps' device
            return numtorch.as_tensor(a, device=dev)

        k = len(enc["batch"])
        losses = {"heatmap": heatmap_focal_loss(cls, on_dev(enc["heatmap"]), k)}
        if k == 0:  # no objects: the box head gets no signal
            zero = reg.sum() * 0
            losses.update(bbox_giou=zero, offset=zero, size=zero)
        else:
            b, cy, cx = (on_dev(enc[key]) for key in ("batch", "cy", "cx"))
            r = reg[b, :, cy, cx]  # (K, 4) at the centre cells
            offset, log_wh = r[:, :2], r[:, 2:].clamp(-6, 6)
            cell = on_dev(np.stack([enc["cx"], enc["cy"]], 1).astype(np.float32))
            centre = (cell + offset) * self.stride
            half = log_wh.exp() * (self.stride / 2)
            boxes = numtorch.cat([centre - half, centre + half], 1)
            gt_log_wh = np.log((enc["boxes"][:, 2:] - enc["boxes"][:, :2]) / self.stride)
            losses["bbox_giou"] = generalized_box_iou_loss(boxes, on_dev(enc["boxes"]), reduction="mean")
            losses["offset"] = (offset - on_dev(enc["offset"])).abs().mean()
            losses["size"] = (log_wh - on_dev(gt_log_wh.astype(np.float32))).abs().mean()
        return {name: loss * self.loss_weights[name] for name, loss in losses.items()}

    def postprocess(self, cls: Tensor, reg: Tensor, sizes) -> List[dict]:
        """Decodes the maps into per-image {"boxes", "scores", "labels"} (see the module doc), on the
        maps' device."""
        with numtorch.no_grad():
            heat = cls.detach().sigmoid()
            n, c, h, w = heat.shape
            # a peak is a cell equal to the max of its 3x3 neighbourhood (max_pool2d pads with -inf)
            peaks = heat * (heat == F.max_pool2d(heat, 3, 1, 1)).to(heat.dtype)
            k = min(self.topk, c * h * w)
            scores, top = numtorch.topk(peaks.reshape(n, -1), k, dim=1)  # (N, k), by decreasing score
            labels, pix = top // (h * w), top % (h * w)
            ys, xs = pix // w, pix % w
            box = reg.detach().reshape(n, 4, h * w).gather(2, pix[:, None, :].expand(n, 4, k)).transpose(1, 2)
            cx = (xs + box[..., 0]) * self.stride
            cy = (ys + box[..., 1]) * self.stride
            half = box[..., 2:].clamp(-6, 6).exp() * (self.stride / 2)
            boxes = numtorch.stack([cx - half[..., 0], cy - half[..., 1],
                                    cx + half[..., 0], cy + half[..., 1]], -1)
            return [self._filter(boxes[i], scores[i], labels[i], sizes[i]) for i in range(n)]

    def _filter(self, boxes: Tensor, scores: Tensor, labels: Tensor, size) -> dict:
        """Clipping to the image, score threshold, class-wise NMS and the per-image cap."""
        h, w = size
        limit = numtorch.tensor([w, h, w, h], dtype=boxes.dtype, device=boxes.device)
        boxes = numtorch.minimum(boxes.clamp(min=0), limit)
        keep = (scores > self.score_thresh) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        kept = batched_nms(boxes, scores, labels, self.nms_thresh)[:self.detections_per_img]
        return {"boxes": boxes[kept].float(), "scores": scores[kept].float(), "labels": labels[kept].long()}


def centernet_digits(**kwargs) -> CenterNet:
    """The CenterNet configured for ``DigitCanvases``: 10 classes, 1 channel, widths (16, 32, 64)."""
    kwargs.setdefault("num_classes", 10)
    kwargs.setdefault("in_channels", 1)
    return CenterNet(**kwargs)
