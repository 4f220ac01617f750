"""Mean average precision (mAP) for object detection: Pascal VOC's and COCO's.

Predictions and targets are lists (one entry per image) of dicts as torchvision's detection models
give and take: predictions ``{"boxes" (D, 4) xyxy, "scores" (D,), "labels" (D,)}``, targets
``{"boxes" (G, 4), "labels" (G,)}`` plus optionally ``"difficult"`` (VOC) or ``"iscrowd"`` (COCO):
those ground-truth boxes are ignored -- a detection matching one counts neither way.

How AP is computed, per class:

1. Detections of the class are sorted by score (stable: ties keep image order).  Each image's
   detections are matched greedily, highest score first, to its ground truth boxes:
   * VOC: a detection takes the box of largest IoU; it is a true positive when IoU > threshold and
     that box is not taken yet, else a false positive (the devkit's rule).
   * COCO: a detection takes the untaken box of largest IoU >= threshold (non-ignored boxes first);
     at most ``max_detections`` (100) detections per image and class are kept.
2. Precision and recall after each detection give the P-R curve; precision is made monotone
   (each point takes the largest precision at any higher recall).
3. VOC (``voc_map``): AP = area under that curve at every recall step (all-point interpolation,
   VOC2010+).  COCO (``coco_map``): AP = mean precision at the 101 recalls 0, 0.01, ..., 1,
   averaged over IoU thresholds 0.50, 0.55, ..., 0.95.

Classes without ground truth are left out of the mean (their AP is NaN in ``map_per_class``).

>>> import numtorch as torch
>>> pred = [{"boxes": torch.tensor([[0., 0., 10., 10.]]), "scores": torch.tensor([0.9]),
...          "labels": torch.tensor([1])}]
>>> tgt = [{"boxes": torch.tensor([[0., 0., 10., 10.]]), "labels": torch.tensor([1])}]
>>> voc_map(pred, tgt)["map"]
1.0
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

__all__ = ["voc_map", "coco_map", "average_precision_all_point", "average_precision_101",
           "MeanAveragePrecision"]

COCO_IOU_THRESHOLDS = tuple(np.round(np.linspace(0.5, 0.95, 10), 2))


def _np(x, dtype=None) -> np.ndarray:
    """A prediction or target entry as a NumPy array; tensors on a GPU are copied to the host (the
    matching below is sequential host work)."""
    if hasattr(x, "_data"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x)
    return a.astype(dtype, copy=False) if dtype is not None else a


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every pair of xyxy boxes, ``(D, 4)`` x ``(G, 4)`` -> ``(D, G)`` (float64)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


# ---- AP from a P-R curve -----------------------------------------------------------------------

def _monotone(precision: np.ndarray) -> np.ndarray:
    """Precision envelope: p[i] = max(p[i:])."""
    return np.maximum.accumulate(precision[::-1])[::-1]


def average_precision_all_point(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC's all-point AP: sum over recall steps of (r_{i+1} - r_i) * envelope precision."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = _monotone(np.concatenate([[0.0], precision, [0.0]]))
    steps = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def average_precision_101(recall: np.ndarray, precision: np.ndarray) -> float:
    """COCO's AP: mean envelope precision at recalls 0, 0.01, ..., 1 (0 beyond the last recall)."""
    if recall.size == 0:
        return 0.0
    q = _monotone(precision)
    idx = np.searchsorted(recall, np.linspace(0, 1, 101), side="left")
    return float(np.where(idx < q.size, q[np.minimum(idx, q.size - 1)], 0.0).mean())


# ---- matching within one image ---------------------------------------------------------------

def _match_voc(ious: np.ndarray, ignore: np.ndarray, thr: float):
    """Flags (tp, fp) of detections sorted by score, VOC devkit's rule."""
    d, g = ious.shape
    tp, fp = np.zeros(d, bool), np.zeros(d, bool)
    taken = np.zeros(g, bool)
    for i in range(d):
        j = int(np.argmax(ious[i])) if g else -1
        if j < 0 or not ious[i, j] > thr:
            fp[i] = True
        elif ignore[j]:
            continue  # a difficult box: neither
        elif not taken[j]:
            tp[i] = taken[j] = True
        else:
            fp[i] = True
    return tp, fp


def _match_coco(ious: np.ndarray, ignore: np.ndarray, thr: float):
    """Flags (tp, fp) of detections sorted by score, pycocotools' rule (ignored boxes come last)."""
    d, g = ious.shape
    tp, fp = np.zeros(d, bool), np.zeros(d, bool)
    free = np.ones(g, bool)
    for i in range(d):
        ok = free & (ious[i] >= thr)
        for group in (ok & ~ignore, ok & ignore):  # prefer boxes that count
            if group.any():
                cand = np.where(group, ious[i], -1.0)
                j = g - 1 - int(np.argmax(cand[::-1]))  # ties: the last box, as pycocotools
                free[j] = bool(ignore[j])  # taken (a crowd box may match many detections)
                tp[i] = not ignore[j]
                break
        else:
            fp[i] = True
    return tp, fp


# ---- evaluation ------------------------------------------------------------------------------

def _per_class(predictions, targets, ignore_key):
    """For each class: list over images of (scores, boxes, gt_boxes, gt_ignore)."""
    if len(predictions) != len(targets):
        raise ValueError(f"mAP: {len(predictions)} predictions for {len(targets)} targets")
    per = {}
    for p, t in zip(predictions, targets):
        pl, tl = _np(p["labels"]).astype(np.int64), _np(t["labels"]).astype(np.int64)
        pb, tb = _np(p["boxes"]).reshape(-1, 4), _np(t["boxes"]).reshape(-1, 4)
        ps = _np(p["scores"]).astype(np.float64)
        ign = _np(t[ignore_key]).astype(bool) if ignore_key in t else np.zeros(len(tl), bool)
        for c in np.union1d(pl, tl):
            per.setdefault(int(c), []).append((ps[pl == c], pb[pl == c], tb[tl == c], ign[tl == c]))
    return per


def _class_curve(images, thr: float, rule: str, max_det: Optional[int]):
    """Precision, recall arrays and the number of counted ground-truth boxes for one class."""
    scores, tps, fps = [], [], []
    npos = 0
    for s, b, gb, gi in images:
        order = np.argsort(-s, kind="stable")
        if max_det is not None:
            order = order[:max_det]
        if rule == "coco" and gi.any():  # pycocotools sorts ignored boxes last
            go = np.argsort(gi, kind="stable")
            gb, gi = gb[go], gi[go]
        ious = _iou_matrix(b[order], gb)
        tp, fp = (_match_voc if rule == "voc" else _match_coco)(ious, gi, thr)
        scores.append(s[order])
        tps.append(tp)
        fps.append(fp)
        npos += int((~gi).sum())
    s, tp, fp = np.concatenate(scores), np.concatenate(tps), np.concatenate(fps)
    order = np.argsort(-s, kind="stable")
    ctp, cfp = np.cumsum(tp[order]), np.cumsum(fp[order])
    keep = (tp[order] | fp[order])  # ignored detections do not make a point on the curve
    ctp, cfp = ctp[keep], cfp[keep]
    recall = ctp / max(npos, 1)
    precision = ctp / np.maximum(ctp + cfp, np.finfo(np.float64).eps)
    return precision, recall, npos


def _summary(ap: dict, rec: dict, classes) -> dict:
    classes = sorted(ap) if classes is None else list(classes)
    ap_c = np.array([ap.get(c, np.nan) for c in classes], np.float64)
    rec_c = np.array([rec.get(c, np.nan) for c in classes], np.float64)
    valid = ~np.isnan(ap_c)
    return {"map": float(ap_c[valid].mean()) if valid.any() else float("nan"),
            "map_per_class": dict(zip(classes, ap_c.tolist())),
            "mar_per_class": dict(zip(classes, rec_c.tolist())),
            "classes": classes}


def voc_map(predictions: Sequence[dict], targets: Sequence[dict], iou_threshold: float = 0.5,
            classes: Optional[Sequence[int]] = None) -> dict:
    """Pascal VOC mAP at one IoU threshold (0.5), all-point interpolation.

    Returns:
        {"map": mean AP over classes that have ground truth, "map_per_class": {class: AP},
         "mar_per_class": {class: recall at the end of the ranking}, "classes": [...]}
    """
    ap, rec = {}, {}
    for c, images in _per_class(predictions, targets, "difficult").items():
        precision, recall, npos = _class_curve(images, iou_threshold, "voc", None)
        if npos == 0:
            continue
        ap[c] = average_precision_all_point(recall, precision)
        rec[c] = float(recall[-1]) if recall.size else 0.0
    return _summary(ap, rec, classes)


def coco_map(predictions: Sequence[dict], targets: Sequence[dict],
             iou_thresholds: Sequence[float] = COCO_IOU_THRESHOLDS, max_detections: int = 100,
             classes: Optional[Sequence[int]] = None) -> dict:
    """COCO mAP@[.5:.95]: 101-point AP averaged over IoU thresholds, then over classes.

    Returns the keys of ``voc_map`` (``mar_per_class`` is the largest recall averaged over the
    thresholds, COCO's AR@max_detections) plus "map_50" and "map_75" when those thresholds are used.
    """
    per = _per_class(predictions, targets, "iscrowd")
    ap = {t: {} for t in iou_thresholds}
    rec = {t: {} for t in iou_thresholds}
    for c, images in per.items():
        for t in iou_thresholds:
            precision, recall, npos = _class_curve(images, t, "coco", max_detections)
            if npos == 0:
                continue
            ap[t][c] = average_precision_101(recall, precision)
            rec[t][c] = float(recall[-1]) if recall.size else 0.0
    cls = sorted(ap[iou_thresholds[0]])
    mean_ap = {c: float(np.mean([ap[t][c] for t in iou_thresholds])) for c in cls}
    mean_rec = {c: float(np.mean([rec[t][c] for t in iou_thresholds])) for c in cls}
    out = _summary(mean_ap, mean_rec, classes)
    for t, name in ((0.5, "map_50"), (0.75, "map_75")):
        if any(abs(t - x) < 1e-9 for x in iou_thresholds):
            tt = [x for x in iou_thresholds if abs(t - x) < 1e-9][0]
            out[name] = _summary(ap[tt], rec[tt], classes)["map"]
    return out


class MeanAveragePrecision:
    """Collects predictions and targets batch by batch; ``compute()`` gives VOC or COCO mAP.

    >>> metric = MeanAveragePrecision("voc")      # doctest: +SKIP
    >>> metric.update(model(images), targets)     # doctest: +SKIP
    >>> metric.compute()["map"]                   # doctest: +SKIP
    """

    def __init__(self, method: str = "voc", **kwargs) -> None:
        if method not in ("voc", "coco"):
            raise ValueError(f"MeanAveragePrecision: method must be 'voc' or 'coco', got '{method}'")
        self.method, self.kwargs = method, kwargs
        self.reset()

    def reset(self) -> None:
        self.predictions, self.targets = [], []

    def update(self, predictions: Sequence[dict], targets: Sequence[dict]) -> None:
        self.predictions.extend(predictions)
        self.targets.extend(targets)

    def compute(self) -> dict:
        fn = voc_map if self.method == "voc" else coco_map
        return fn(self.predictions, self.targets, **self.kwargs)
