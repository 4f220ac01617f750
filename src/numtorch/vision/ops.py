"""``numtorch.vision.ops``: box operations, NMS, focal loss and RoIAlign (the names of torchvision.ops).

Boxes are ``(N, 4)`` tensors.  The default format is ``xyxy`` = (x1, y1, x2, y2) with
0 <= x1 < x2 and 0 <= y1 < y2, as in torchvision.

The IoU family (``box_iou``, ``generalized_box_iou``, ``distance_box_iou`` and their losses) is
written with numtorch Tensor ops, so autograd differentiates it; every pair of boxes is compared
at once by broadcasting ``(N, 1, 2)`` against ``(1, M, 2)`` -- no Python loop over pairs.

``nms`` and ``batched_nms`` are not differentiable (they return indices), as in torchvision.
``roi_align`` has a hand-written backward for the feature map (not for the boxes, as torchvision).

>>> import numtorch as torch
>>> from numtorch.vision.ops import box_iou
>>> box_iou(torch.tensor([[0., 0., 2., 2.]]), torch.tensor([[1., 1., 3., 3.]]))
tensor([[0.1429]])
"""
from __future__ import annotations

import numpy as np

import numtorch.ops as _ops
from numtorch._backend import CPU, device_of, to_device, xp_of
from numtorch.autograd.function import Function
from numtorch.tensor import Tensor, make_tensor

__all__ = ["box_convert", "box_area", "box_iou", "generalized_box_iou", "generalized_box_iou_loss",
           "distance_box_iou", "distance_box_iou_loss", "nms", "batched_nms", "clip_boxes_to_image",
           "remove_small_boxes", "sigmoid_focal_loss", "roi_align", "RoIAlign", "masks_to_boxes"]

_FORMATS = ("xyxy", "xywh", "cxcywh")


# ---- helpers -------------------------------------------------------------------------------

def _upcast(t: Tensor) -> Tensor:
    """torchvision's guard against overflow in products: float16 -> float32, small ints -> int32;
    float32/float64 and int32/int64 stay as they are."""
    dt = t._data.dtype
    if dt.kind == "f":
        return t if dt.itemsize >= 4 else t.float()
    return t if dt.kind in "iu" and dt.itemsize >= 4 else t.int()


def _upcast_non_float(t: Tensor) -> Tensor:
    """Losses work in float: anything but float32/float64 becomes float32."""
    dt = t._data.dtype
    return t if dt.kind == "f" and dt.itemsize >= 4 else t.float()


def _check_boxes(op: str, boxes: Tensor) -> None:
    if not isinstance(boxes, Tensor):
        raise TypeError(f"{op}: expected boxes to be a Tensor, got {type(boxes).__name__}")
    if boxes.ndim != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"{op}: expected boxes of shape (N, 4), got {tuple(boxes.shape)}")


def _reduce(op: str, loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"{op}: invalid value for arg 'reduction': '{reduction}'; "
                     "supported reduction modes: 'none', 'mean', 'sum'")


# ---- conversion and area -------------------------------------------------------------------

def box_convert(boxes: Tensor, in_fmt: str, out_fmt: str) -> Tensor:
    """Converts ``(N, 4)`` boxes between 'xyxy', 'xywh' (x, y, width, height) and 'cxcywh'."""
    if in_fmt not in _FORMATS or out_fmt not in _FORMATS:
        raise ValueError(f"box_convert: unsupported bounding box conversion from '{in_fmt}' to '{out_fmt}'; "
                         f"formats are {_FORMATS}")
    if in_fmt == out_fmt:
        return boxes.clone()
    a, b, c, d = boxes.unbind(-1)
    if in_fmt == "xywh":
        a, b, c, d = a, b, a + c, b + d
    elif in_fmt == "cxcywh":
        a, b, c, d = a - 0.5 * c, b - 0.5 * d, a + 0.5 * c, b + 0.5 * d
    # now (a, b, c, d) = (x1, y1, x2, y2)
    if out_fmt == "xywh":
        a, b, c, d = a, b, c - a, d - b
    elif out_fmt == "cxcywh":
        a, b, c, d = (a + c) / 2, (b + d) / 2, c - a, d - b
    return _ops.stack((a, b, c, d), dim=-1)


def box_area(boxes: Tensor) -> Tensor:
    """Area (x2 - x1) * (y2 - y1) of each of ``(N, 4)`` xyxy boxes -> ``(N,)``."""
    boxes = _upcast(boxes)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _box_inter_union(boxes1: Tensor, boxes2: Tensor):
    """Intersection and union areas of every pair: two ``(N, M)`` tensors."""
    area1, area2 = box_area(boxes1), box_area(boxes2)
    lt = _ops.maximum(boxes1[:, None, :2], boxes2[None, :, :2])  # (N, M, 2) top-left of the overlap
    rb = _ops.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])  # (N, M, 2) bottom-right
    wh = _upcast(rb - lt).clamp(min=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    union = area1[:, None] + area2[None, :] - inter
    return inter, union


def _enclosing_wh(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Width and height ``(N, M, 2)`` of the smallest box enclosing each pair."""
    lti = _ops.minimum(boxes1[:, None, :2], boxes2[None, :, :2])
    rbi = _ops.maximum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    return _upcast(rbi - lti).clamp(min=0)


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Intersection over union of every pair: ``(N, 4)``, ``(M, 4)`` -> ``(N, M)``."""
    _check_boxes("box_iou", boxes1)
    _check_boxes("box_iou", boxes2)
    inter, union = _box_inter_union(boxes1, boxes2)
    return inter / union


def generalized_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """GIoU = IoU - (C - union) / C, C the area of the enclosing box; ``(N, M)`` in [-1, 1]."""
    _check_boxes("generalized_box_iou", boxes1)
    _check_boxes("generalized_box_iou", boxes2)
    inter, union = _box_inter_union(boxes1, boxes2)
    iou = inter / union
    whi = _enclosing_wh(boxes1, boxes2)
    areai = whi[:, :, 0] * whi[:, :, 1]
    return iou - (areai - union) / areai


def distance_box_iou(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-7) -> Tensor:
    """DIoU = IoU - d^2 / c^2: d the distance of the centres, c the enclosing box's diagonal."""
    _check_boxes("distance_box_iou", boxes1)
    _check_boxes("distance_box_iou", boxes2)
    boxes1, boxes2 = _upcast(boxes1), _upcast(boxes2)
    iou = box_iou(boxes1, boxes2)
    whi = _enclosing_wh(boxes1, boxes2)
    diag2 = whi[:, :, 0] ** 2 + whi[:, :, 1] ** 2 + eps
    cx1, cy1 = (boxes1[:, 0] + boxes1[:, 2]) / 2, (boxes1[:, 1] + boxes1[:, 3]) / 2
    cx2, cy2 = (boxes2[:, 0] + boxes2[:, 2]) / 2, (boxes2[:, 1] + boxes2[:, 3]) / 2
    d2 = (cx1[:, None] - cx2[None, :]) ** 2 + (cy1[:, None] - cy2[None, :]) ** 2
    return iou - d2 / diag2


# ---- losses on matched pairs (elementwise over rows) ----------------------------------------

def _loss_inter_union(boxes1: Tensor, boxes2: Tensor):
    """Intersection and union of row i of boxes1 with row i of boxes2 (shapes ``(..., 4)``)."""
    x1, y1, x2, y2 = boxes1.unbind(-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(-1)
    xk1, yk1 = _ops.maximum(x1, x1g), _ops.maximum(y1, y1g)
    xk2, yk2 = _ops.minimum(x2, x2g), _ops.minimum(y2, y2g)
    overlap = (yk2 > yk1) & (xk2 > xk1)
    inter = _ops.where(overlap, (xk2 - xk1) * (yk2 - yk1), 0.0)
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    return inter, union


def _enclosing_corners(boxes1: Tensor, boxes2: Tensor):
    x1, y1, x2, y2 = boxes1.unbind(-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(-1)
    return (_ops.minimum(x1, x1g), _ops.minimum(y1, y1g), _ops.maximum(x2, x2g), _ops.maximum(y2, y2g))


def generalized_box_iou_loss(boxes1: Tensor, boxes2: Tensor, reduction: str = "none",
                             eps: float = 1e-7) -> Tensor:
    """1 - GIoU of matched pairs (row i with row i): ``(..., 4)``, ``(..., 4)`` -> ``(...)``.

    Differentiable in both arguments; ``eps`` keeps the divisions finite for degenerate boxes.
    """
    boxes1, boxes2 = _upcast_non_float(boxes1), _upcast_non_float(boxes2)
    inter, union = _loss_inter_union(boxes1, boxes2)
    iou = inter / (union + eps)
    xc1, yc1, xc2, yc2 = _enclosing_corners(boxes1, boxes2)
    area_c = (xc2 - xc1) * (yc2 - yc1)
    loss = 1 - (iou - (area_c - union) / (area_c + eps))
    return _reduce("generalized_box_iou_loss", loss, reduction)


def distance_box_iou_loss(boxes1: Tensor, boxes2: Tensor, reduction: str = "none",
                          eps: float = 1e-7) -> Tensor:
    """1 - IoU + d^2 / c^2 of matched pairs (row i with row i)."""
    boxes1, boxes2 = _upcast_non_float(boxes1), _upcast_non_float(boxes2)
    inter, union = _loss_inter_union(boxes1, boxes2)
    iou = inter / (union + eps)
    xc1, yc1, xc2, yc2 = _enclosing_corners(boxes1, boxes2)
    diag2 = (xc2 - xc1) ** 2 + (yc2 - yc1) ** 2 + eps
    x1, y1, x2, y2 = boxes1.unbind(-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(-1)
    d2 = ((x1 + x2) / 2 - (x1g + x2g) / 2) ** 2 + ((y1 + y2) / 2 - (y1g + y2g) / 2) ** 2
    loss = 1 - iou + d2 / diag2
    return _reduce("distance_box_iou_loss", loss, reduction)


# ---- focal loss ----------------------------------------------------------------------------

class _BCEWithLogits(Function):
    """Elementwise binary cross-entropy on logits, computed stably:
    max(x, 0) - x t + log(1 + exp(-|x|))."""

    @staticmethod
    def forward(ctx, x, t):
        xp = xp_of(x)
        ctx.save_for_backward(x, t)
        return xp.maximum(x, 0) - x * t + xp.log1p(xp.exp(-xp.abs(x)))

    @staticmethod
    def backward(ctx, gy):
        # d/dx = sigmoid(x) - t ;  d/dt = -x
        x, t = ctx.saved_tensors
        gx = gy * (_ops.sigmoid(x) - t) if ctx.needs_input_grad[0] else None
        gt = -gy * x if ctx.needs_input_grad[1] else None
        return gx, gt


def sigmoid_focal_loss(inputs: Tensor, targets: Tensor, alpha: float = 0.25, gamma: float = 2,
                       reduction: str = "none") -> Tensor:
    """Focal loss of RetinaNet: alpha_t (1 - p_t)^gamma BCE(inputs, targets), elementwise.

    Args:
        inputs: logits of any shape.
        targets: same shape, 0/1 labels (or soft labels) as floats.
        alpha: weight of positives in (0, 1), or negative for no weighting.
        gamma: exponent that down-weights easy examples.
        reduction: 'none' | 'mean' | 'sum'.
    """
    if tuple(inputs.shape) != tuple(targets.shape):
        raise ValueError(f"sigmoid_focal_loss: inputs {tuple(inputs.shape)} and targets "
                         f"{tuple(targets.shape)} must have the same shape")
    p = _ops.sigmoid(inputs)
    ce = _BCEWithLogits.apply(inputs, targets)
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return _reduce("sigmoid_focal_loss", loss, reduction)


# ---- NMS -----------------------------------------------------------------------------------

def _iou_one_to_many(box, boxes, areas, area):
    """IoU of one xyxy box (4,) with boxes (K, 4) on raw arrays; 0/0 gives NaN (never suppresses)."""
    xp = xp_of(boxes)
    w = xp.clip(xp.minimum(box[2], boxes[:, 2]) - xp.maximum(box[0], boxes[:, 0]), 0, None)
    h = xp.clip(xp.minimum(box[3], boxes[:, 3]) - xp.maximum(box[1], boxes[:, 1]), 0, None)
    inter = w * h
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / (area + areas - inter)


def _nms_array(boxes, scores, iou_threshold: float):
    """Greedy NMS on arrays: indices kept, by decreasing score (stable for equal scores)."""
    xp = xp_of(boxes)
    if xp is not np:
        return _nms_device(boxes, xp.argsort(-scores), iou_threshold)  # CuPy's sort is always stable
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:  # one iteration per KEPT box; each suppresses with one vectorised IoU
        i = order[0]
        keep.append(i)
        rest = order[1:]
        iou = _iou_one_to_many(boxes[i], boxes[rest], areas[rest], areas[i])
        order = rest[~(iou > iou_threshold)]
    return xp.asarray(keep, dtype=xp.int64)


_NMS_ROWS = 2048  # rows of the IoU matrix computed per block on the device


def _nms_device(boxes, order, iou_threshold: float):
    """Greedy NMS on a GPU, as torchvision's CUDA kernel splits it: the device computes which
    score-sorted pairs (i, j > i) overlap by more than the threshold, in blocks of rows; the host
    walks the boxes once, keeping each box that no kept box suppressed (one transfer per block)."""
    xp = xp_of(boxes)
    b = boxes[order]
    n = b.shape[0]
    areas = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    removed = np.zeros(n, dtype=bool)
    keep = []
    for s in range(0, n, _NMS_ROWS):
        e = min(s + _NMS_ROWS, n)
        lt = xp.maximum(b[s:e, None, :2], b[None, s:, :2])
        rb = xp.minimum(b[s:e, None, 2:], b[None, s:, 2:])
        wh = xp.maximum(rb - lt, 0)
        inter = wh[..., 0] * wh[..., 1]
        iou = inter / (areas[s:e, None] + areas[None, s:] - inter)  # 0/0 is NaN: never suppresses
        over = to_device(iou > iou_threshold, CPU)                    # (e - s, n - s) on the host
        for i in range(s, e):
            if not removed[i]:
                keep.append(i)
                removed[s:] |= over[i - s]
    kept = to_device(np.asarray(keep, dtype=np.int64), device_of(b))
    return order[kept]


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Non-maximum suppression: drops every box whose IoU with a higher-scoring kept box is
    greater than ``iou_threshold``.

    Args:
        boxes: ``(N, 4)`` xyxy.  scores: ``(N,)``.
    Returns:
        int64 ``(K,)`` indices of the kept boxes, sorted by decreasing score; equal scores keep
        their input order (a stable sort, as torchvision's CPU kernel).
    """
    _check_boxes("nms", boxes)
    if scores.ndim != 1 or scores.shape[0] != boxes.shape[0]:
        raise ValueError(f"nms: scores of shape {tuple(scores.shape)} do not match boxes "
                         f"{tuple(boxes.shape)}; expected ({boxes.shape[0]},)")
    b = boxes._data
    if b.dtype.kind not in "f":
        b = b.astype(np.float64)
    return make_tensor(_nms_array(b, scores._data, float(iou_threshold)))


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """NMS within each category ``idxs`` (boxes of different categories never suppress each other).

    Shifts each category's boxes by ``idx * (max coordinate + 1)`` so that they cannot overlap,
    then runs one NMS, as torchvision does.
    """
    _check_boxes("batched_nms", boxes)
    if boxes.shape[0] == 0:
        return make_tensor(xp_of(boxes._data).zeros(0, dtype=np.int64))
    b = boxes._data
    if b.dtype.kind not in "f":
        b = b.astype(np.float64)
    offsets = idxs._data.astype(b.dtype) * (b.max() + 1)
    return make_tensor(_nms_array(b + offsets[:, None], scores._data, float(iou_threshold)))


# ---- clipping and filtering ----------------------------------------------------------------

def clip_boxes_to_image(boxes: Tensor, size) -> Tensor:
    """Clamps xyxy boxes ``(..., 4)`` to an image of ``size = (height, width)``."""
    height, width = size
    x1, y1, x2, y2 = boxes.unbind(-1)
    return _ops.stack((x1.clamp(0, width), y1.clamp(0, height), x2.clamp(0, width), y2.clamp(0, height)),
                      dim=-1)


def remove_small_boxes(boxes: Tensor, min_size: float) -> Tensor:
    """int64 indices of the boxes whose width and height are both >= ``min_size``."""
    b = boxes._data
    xp = xp_of(b)
    keep = ((b[:, 2] - b[:, 0]) >= min_size) & ((b[:, 3] - b[:, 1]) >= min_size)
    return make_tensor(xp.nonzero(keep)[0].astype(np.int64))


def masks_to_boxes(masks: Tensor) -> Tensor:
    """xyxy boxes ``(N, 4)`` of the nonzero pixels of each of ``(N, H, W)`` masks."""
    m = masks._data != 0
    xp = xp_of(m)
    n, h, w = m.shape
    if n == 0:
        return make_tensor(xp.zeros((0, 4), dtype=np.float32))
    rows, cols = m.any(2), m.any(1)  # (N, H), (N, W)
    y1 = rows.argmax(1)
    y2 = h - 1 - rows[:, ::-1].argmax(1)
    x1 = cols.argmax(1)
    x2 = w - 1 - cols[:, ::-1].argmax(1)
    return make_tensor(xp.stack([x1, y1, x2, y2], 1).astype(np.float32))


# ---- RoIAlign ------------------------------------------------------------------------------

def _axis_weights(xp, start, bin_size, grid, n_bins: int, size: int, g_max: int, dtype):
    """Bilinear weights along one axis, as a matrix ``(K, n_bins, size)``.

    For RoI k and output bin p, the sample points are start + p * bin + (i + .5) * bin / grid,
    i < grid[k].  Each point splits weight (1 - l, l) between its two neighbouring pixels
    (torchvision's rules: points beyond [-1, size] weigh 0; points in [-1, 0] snap to 0; points
    past the last pixel snap to it).  Summing over the points gives the row of the matrix.
    """
    k = start.shape[0]
    p = xp.arange(n_bins, dtype=dtype)[None, :, None]
    i = xp.arange(g_max, dtype=dtype)[None, None, :]
    g = grid[:, None, None]
    pos = start[:, None, None] + p * bin_size[:, None, None] + (i + 0.5) * bin_size[:, None, None] / g
    valid = (i < g) & (pos >= -1.0) & (pos <= size)  # (K, n_bins, g_max)
    pos = xp.maximum(pos, 0)
    low = xp.floor(pos).astype(np.int64)
    at_end = low >= size - 1
    low = xp.where(at_end, size - 1, low)
    high = xp.where(at_end, size - 1, low + 1)
    pos = xp.where(at_end, low.astype(dtype), pos)
    frac = pos - low
    w_low, w_high = (1 - frac) * valid, frac * valid
    cols = xp.arange(size)
    mat = ((low[..., None] == cols) * w_low[..., None] + (high[..., None] == cols) * w_high[..., None])
    return mat.sum(2).astype(dtype).reshape(k, n_bins, size)


def _roi_matrices(rois, output_size, spatial_scale, sampling_ratio, aligned, height, width, dtype):
    """The row and column interpolation matrices ``Ay (K, PH, H)``, ``Ax (K, PW, W)`` and counts."""
    xp = xp_of(rois)
    ph, pw = output_size
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (rois[:, j].astype(dtype) * spatial_scale - offset for j in range(1, 5))
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:
        roi_w, roi_h = xp.maximum(roi_w, 1.0), xp.maximum(roi_h, 1.0)
    bin_h, bin_w = roi_h / ph, roi_w / pw
    if sampling_ratio > 0:
        grid_h = xp.full(rois.shape[0], sampling_ratio, dtype=dtype)
        grid_w = grid_h
    else:
        grid_h, grid_w = xp.ceil(roi_h / ph), xp.ceil(roi_w / pw)
    gh_max = max(int(grid_h.max()), 1) if rois.shape[0] else 1
    gw_max = max(int(grid_w.max()), 1) if rois.shape[0] else 1
    ay = _axis_weights(xp, y1, bin_h, grid_h, ph, height, gh_max, dtype)
    ax = _axis_weights(xp, x1, bin_w, grid_w, pw, width, gw_max, dtype)
    count = xp.maximum(grid_h * grid_w, 1).astype(dtype)
    return ay, ax, count


class _RoIAlign(Function):
    """out[k, c] = Ay[k] @ x[b_k, c] @ Ax[k]^T / count_k: bilinear sampling as two matrix products.

    The interpolation is separable, so every RoI's sampling points collapse into a row matrix
    ``Ay`` (PH, H) and a column matrix ``Ax`` (PW, W); the batch index is folded into Ay's
    columns (``(N*H)``), so one BLAS product serves all RoIs at once.
    """

    @staticmethod
    def forward(ctx, x, rois, output_size, spatial_scale, sampling_ratio, aligned):
        xp = xp_of(x)
        n, c, h, w = x.shape
        k = rois.shape[0]
        ay, ax, count = _roi_matrices(rois, output_size, spatial_scale, sampling_ratio, aligned, h, w,
                                      x.dtype)
        ay = ay / count[:, None, None]
        batch = rois[:, 0].astype(np.int64)
        ay_full = xp.zeros((k, output_size[0], n, h), dtype=x.dtype)  # Ay placed at image b_k
        ay_full[xp.arange(k), :, batch, :] = ay
        ay_full = ay_full.reshape(k * output_size[0], n * h)
        t = ay_full @ x.transpose(0, 2, 1, 3).reshape(n * h, c * w)  # (K*PH, C*W)
        t = t.reshape(k, output_size[0], c, w)
        ctx.ay_full, ctx.ax, ctx.shape = ay_full, ax, x.shape
        return xp.einsum("kpcw,kqw->kcpq", t, ax).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, gy):
        # the map is linear in x: dx = Ay_full^T (gy contracted with Ax)
        return _RoIAlignBackward.apply(gy, ctx.ay_full, ctx.ax, ctx.shape), None


class _RoIAlignBackward(Function):
    @staticmethod
    def forward(ctx, gy, ay_full, ax, shape):
        xp = xp_of(gy)
        n, c, h, w = shape
        k, _, ph, _ = gy.shape
        u = xp.einsum("kcpq,kqw->kpcw", gy, ax).reshape(k * ph, c * w)
        gx = (ay_full.T @ u).reshape(n, h, c, w).transpose(0, 2, 1, 3)
        return xp.ascontiguousarray(gx)

    @staticmethod
    def backward(ctx, ggx):
        raise RuntimeError("roi_align: double backward is not implemented")


def _rois_from(boxes, x: Tensor):
    """``(K, 5)`` rois (batch index, x1, y1, x2, y2) from a tensor or a list of per-image boxes."""
    xp = xp_of(x._data)
    if isinstance(boxes, Tensor):
        if boxes.ndim != 2 or boxes.shape[1] != 5:
            raise ValueError(f"roi_align: boxes tensor must have shape (K, 5), got {tuple(boxes.shape)}")
        return boxes._data
    parts = []
    for i, b in enumerate(boxes):
        bb = b._data if isinstance(b, Tensor) else xp.asarray(b)
        if bb.ndim != 2 or bb.shape[1] != 4:
            raise ValueError(f"roi_align: boxes[{i}] must have shape (L, 4), got {tuple(bb.shape)}")
        parts.append(xp.concatenate([xp.full((bb.shape[0], 1), i, dtype=bb.dtype), bb], 1))
    return xp.concatenate(parts, 0) if parts else xp.zeros((0, 5), dtype=x._data.dtype)


def roi_align(input: Tensor, boxes, output_size, spatial_scale: float = 1.0, sampling_ratio: int = -1,
              aligned: bool = False) -> Tensor:
    """RoIAlign of Mask R-CNN: average of bilinear samples in each output bin of each box.

    Args:
        input: ``(N, C, H, W)`` features.
        boxes: ``(K, 5)`` tensor (batch index, x1, y1, x2, y2) or a list of ``(L_i, 4)`` tensors.
        output_size: int or (PH, PW).
        spatial_scale: maps box coordinates to feature coordinates (1 / stride).
        sampling_ratio: samples per bin along each axis; <= 0 uses ceil(box size / output size).
        aligned: shift boxes by -0.5 pixel (the corrected RoIAlign).
    Returns:
        ``(K, C, PH, PW)``; differentiable in ``input`` (not in ``boxes``, as torchvision).
    """
    if input.ndim != 4:
        raise ValueError(f"roi_align: expected input of shape (N, C, H, W), got {tuple(input.shape)}")
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    rois = _rois_from(boxes, input)
    return _RoIAlign.apply(input, rois, output_size=tuple(int(s) for s in output_size),
                           spatial_scale=float(spatial_scale), sampling_ratio=int(sampling_ratio),
                           aligned=bool(aligned))


class RoIAlign:
    """Module-style wrapper of :func:`roi_align` (call it like torchvision.ops.RoIAlign)."""

    def __init__(self, output_size, spatial_scale: float, sampling_ratio: int, aligned: bool = False):
        self.output_size, self.spatial_scale = output_size, spatial_scale
        self.sampling_ratio, self.aligned = sampling_ratio, aligned

    def __call__(self, input: Tensor, rois) -> Tensor:
        return roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio, self.aligned)

    def __repr__(self) -> str:
        return (f"RoIAlign(output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned})")
