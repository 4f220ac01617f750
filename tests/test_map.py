"""mAP: hand-computed VOC (all-point) and COCO (101-point, IoU .5:.95) cases."""
import math

import numpy as np
import pytest

import numtorch as nt
from numtorch.vision.evaluation import (MeanAveragePrecision, average_precision_101,
                                        average_precision_all_point, coco_map, voc_map)


def P(boxes, scores, labels):
    return {"boxes": nt.tensor(np.asarray(boxes, np.float32).reshape(-1, 4)),
            "scores": nt.tensor(np.asarray(scores, np.float32)), "labels": nt.tensor(np.asarray(labels, np.int64))}


def G(boxes, labels, **extra):
    d = {"boxes": nt.tensor(np.asarray(boxes, np.float32).reshape(-1, 4)),
         "labels": nt.tensor(np.asarray(labels, np.int64))}
    d.update({k: nt.tensor(np.asarray(v, np.int64)) for k, v in extra.items()})
    return d


A1, A2, B1 = [0, 0, 10, 10], [20, 20, 30, 30], [5, 5, 15, 15]
FAR = [50, 50, 60, 60]


def ranking_case():
    """Ranked TP, FP (duplicate), TP, FP (background) against 3 ground-truth boxes.

    recall 1/3, 1/3, 2/3, 2/3; precision 1, 1/2, 2/3, 1/2.
    """
    preds = [P([A1, A1, FAR], [0.9, 0.8, 0.6], [0, 0, 0]), P([B1], [0.7], [0])]
    tgts = [G([A1, A2], [0, 0]), G([B1], [0])]
    return preds, tgts


def test_voc_all_point_hand_case():
    # envelope precision 1 up to recall 1/3, 2/3 up to 2/3, then 0: AP = 1/3 + (1/3)(2/3) = 5/9
    preds, tgts = ranking_case()
    r = voc_map(preds, tgts)
    assert r["map"] == pytest.approx(5 / 9)
    assert r["mar_per_class"][0] == pytest.approx(2 / 3)


def test_coco_101_point_hand_case():
    # recalls 0..0.33 (34 points) see precision 1, 0.34..0.66 (33) see 2/3, 0.67..1 see 0
    preds, tgts = ranking_case()
    r = coco_map(preds, tgts)  # IoUs are 1 or 0, so every threshold gives the same AP
    assert r["map"] == pytest.approx(56 / 101)
    assert r["map_50"] == pytest.approx(56 / 101) and r["map_75"] == pytest.approx(56 / 101)


def test_average_precision_functions_direct():
    assert average_precision_all_point(np.array([0.5, 1.0]), np.array([1.0, 0.5])) == pytest.approx(0.75)
    # COCO: 51 recall points <= 0.5 at precision 1, 50 points at 0.5
    assert average_precision_101(np.array([0.5, 1.0]), np.array([1.0, 0.5])) == pytest.approx((51 + 25) / 101)
    assert average_precision_all_point(np.array([]), np.array([])) == 0.0


def test_two_classes_mean_and_class_without_ground_truth():
    preds, tgts = ranking_case()
    preds = [dict(preds[0]), preds[1]]
    # class 1: one perfect detection; class 2: a detection but no ground truth -> left out
    preds.append(P([A1, A2], [0.9, 0.5], [1, 2]))
    tgts.append(G([A1], [1]))
    r = voc_map(preds, tgts, classes=[0, 1, 2])
    assert r["map_per_class"][1] == pytest.approx(1.0)
    assert math.isnan(r["map_per_class"][2])
    assert r["map"] == pytest.approx((5 / 9 + 1) / 2)


def test_threshold_rules_voc_strict_coco_inclusive():
    # IoU exactly 0.5: VOC needs IoU > 0.5 (false positive), COCO needs IoU >= 0.5 (true positive)
    preds = [P([[0, 0, 2, 1]], [0.9], [0])]
    tgts = [G([[0, 0, 1, 1]], [0])]
    assert voc_map(preds, tgts)["map"] == 0.0
    assert coco_map(preds, tgts, iou_thresholds=(0.5,))["map"] == pytest.approx(1.0)


def test_coco_averages_over_iou_thresholds():
    # IoU 0.72: a hit at 0.50 ... 0.70 (5 of 10 thresholds), a miss from 0.75 on
    preds = [P([[0, 0, 10, 7.2]], [0.9], [3])]
    tgts = [G([[0, 0, 10, 10]], [3])]
    r = coco_map(preds, tgts)
    assert r["map"] == pytest.approx(0.5)
    assert r["map_50"] == pytest.approx(1.0) and r["map_75"] == 0.0
    assert r["mar_per_class"][3] == pytest.approx(0.5)


def test_voc_duplicate_takes_best_box_even_if_taken():
    # the second detection's best box is already taken -> FP, though another box overlaps it a bit
    preds = [P([A1, [0, 0, 10, 11]], [0.9, 0.8], [0, 0])]
    tgts = [G([A1, [0, 5, 10, 15]], [0, 0])]
    # VOC: TP, FP -> recall 1/2, precision 1 then 1/2 -> AP 0.5
    assert voc_map(preds, tgts)["map"] == pytest.approx(0.5)
    # COCO at 0.3: the second detection takes the untaken box (IoU 60/150 = 0.4 > 0.3) -> AP 1
    assert coco_map(preds, tgts, iou_thresholds=(0.3,))["map"] == pytest.approx(1.0)


def test_difficult_and_crowd_boxes_are_ignored():
    preds = [P([A2, A1], [0.9, 0.8], [0, 0])]
    tgts_voc = [G([A1, A2], [0, 0], difficult=[0, 1])]
    tgts_coco = [G([A1, A2], [0, 0], iscrowd=[0, 1])]
    # the detection on the ignored box counts neither way; the other is a TP of the one counted box
    assert voc_map(preds, tgts_voc)["map"] == pytest.approx(1.0)
    assert coco_map(preds, tgts_coco)["map"] == pytest.approx(1.0)


def test_no_detections_and_missed_images():
    tgts = [G([A1], [0]), G([B1], [0])]
    preds = [P([], [], []), P([B1], [0.5], [0])]
    # one of two found at precision 1: VOC AP 0.5; COCO 51 of 101 recall points
    assert voc_map(preds, tgts)["map"] == pytest.approx(0.5)
    assert coco_map(preds, tgts)["map"] == pytest.approx(51 / 101)


def test_metric_accumulates_and_validates():
    preds, tgts = ranking_case()
    m = MeanAveragePrecision("voc")
    m.update(preds[:1], tgts[:1])
    m.update(preds[1:], tgts[1:])
    assert m.compute()["map"] == pytest.approx(5 / 9)
    with pytest.raises(ValueError):
        MeanAveragePrecision("pascal")
    with pytest.raises(ValueError, match="predictions"):
        voc_map(preds, tgts[:1])
