"""numtorch.vision.ops: hand-computed cases, NumPy references, gradcheck, and PyTorch
re-implementations of torchvision's formulas (torchvision itself is used when importable)."""
import math

import numpy as np
import pytest

import numtorch as nt
from numtorch.autograd import gradcheck
from numtorch.vision import ops


def T(a, dtype=np.float32, requires_grad=False):
    return nt.tensor(np.asarray(a, dtype=dtype), requires_grad=requires_grad)


def rand_boxes(rng, n, size=20.0):
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(1, size / 2, (n, 2))
    return np.concatenate([xy, xy + wh], 1)


# ---- box_convert / box_area ----------------------------------------------------------------

def test_box_convert_round_trips_and_values():
    b = T([[1, 2, 5, 10]])
    np.testing.assert_allclose(ops.box_convert(b, "xyxy", "xywh").numpy(), [[1, 2, 4, 8]])
    np.testing.assert_allclose(ops.box_convert(b, "xyxy", "cxcywh").numpy(), [[3, 6, 4, 8]])
    np.testing.assert_allclose(ops.box_convert(T([[3, 6, 4, 8]]), "cxcywh", "xyxy").numpy(), [[1, 2, 5, 10]])
    np.testing.assert_allclose(ops.box_convert(T([[1, 2, 4, 8]]), "xywh", "cxcywh").numpy(), [[3, 6, 4, 8]])
    with pytest.raises(ValueError, match="box_convert"):
        ops.box_convert(b, "xyxy", "polar")


def test_box_area_and_int_upcast():
    np.testing.assert_allclose(ops.box_area(T([[0, 0, 2, 3], [1, 1, 1, 5]])).numpy(), [6, 0])
    # torchvision keeps int64 areas, widens small ints to int32 and float16 to float32
    a = ops.box_area(nt.tensor(np.array([[0, 0, 2, 3]], dtype=np.int64)))
    assert a.dtype == nt.int64 and a.item() == 6
    assert ops.box_area(nt.tensor(np.array([[0, 0, 200, 200]], dtype=np.int16))).item() == 40000
    iou = ops.box_iou(nt.tensor([[0, 0, 2, 2]]), nt.tensor([[1, 1, 3, 3]]))
    assert iou.dtype == nt.float32 and iou.item() == pytest.approx(1 / 7)
    loss = ops.generalized_box_iou_loss(nt.tensor([[0, 0, 2, 2]]), nt.tensor([[0, 0, 2, 2]]))
    assert loss.dtype == nt.float32 and loss.item() == pytest.approx(0, abs=1e-6)


# ---- IoU family: hand cases ----------------------------------------------------------------

def test_box_iou_hand_cases():
    a = T([[0, 0, 2, 2]])
    b = T([[0, 0, 2, 2],     # identical -> 1
           [3, 3, 4, 4],     # disjoint -> 0
           [2, 0, 4, 2],     # touching edge -> 0
           [0.5, 0.5, 1.5, 1.5],  # nested, area 1 of 4 -> 0.25
           [1, 1, 3, 3]])    # overlap 1, union 7
    np.testing.assert_allclose(ops.box_iou(a, b).numpy(), [[1, 0, 0, 0.25, 1 / 7]], rtol=1e-6)


def test_box_iou_empty_inputs():
    e = nt.zeros(0, 4)
    assert tuple(ops.box_iou(e, T([[0, 0, 1, 1]])).shape) == (0, 1)
    assert tuple(ops.generalized_box_iou(T([[0, 0, 1, 1]]), e).shape) == (1, 0)


def test_generalized_box_iou_hand_cases():
    a = T([[0, 0, 1, 1]])
    # disjoint: enclosing box (0,0,3,1) area 3, union 2 -> 0 - (3 - 2) / 3
    b = T([[2, 0, 3, 1], [0, 0, 1, 1], [1, 0, 2, 1]])
    np.testing.assert_allclose(ops.generalized_box_iou(a, b).numpy(), [[-1 / 3, 1, 0]], rtol=1e-6)


def test_distance_box_iou_hand_case():
    # identical boxes: IoU 1, distance 0; boxes (0,0,1,1),(2,0,3,1): IoU 0, d^2 = 4, c^2 = 9 + 1
    a = T([[0, 0, 1, 1]], np.float64)
    b = T([[0, 0, 1, 1], [2, 0, 3, 1]], np.float64)
    np.testing.assert_allclose(ops.distance_box_iou(a, b).numpy(), [[1, -4 / 10]], rtol=1e-6)
    loss = ops.distance_box_iou_loss(T([[0, 0, 1, 1]], np.float64), T([[2, 0, 3, 1]], np.float64))
    np.testing.assert_allclose(loss.numpy(), [1 + 0.4], rtol=1e-6)


def _np_iou(a, b):
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None] - inter)


def test_box_iou_matches_numpy_reference():
    rng = np.random.default_rng(0)
    a, b = rand_boxes(rng, 7), rand_boxes(rng, 5)
    np.testing.assert_allclose(ops.box_iou(T(a, np.float64), T(b, np.float64)).numpy(), _np_iou(a, b), rtol=1e-12)


def test_giou_loss_hand_cases_and_reduction():
    a = T([[0, 0, 1, 1], [0, 0, 1, 1]], np.float64)
    b = T([[0, 0, 1, 1], [2, 0, 3, 1]], np.float64)
    np.testing.assert_allclose(ops.generalized_box_iou_loss(a, b).numpy(), [0, 1 + 1 / 3], atol=1e-6)
    np.testing.assert_allclose(ops.generalized_box_iou_loss(a, b, reduction="mean").item(), (4 / 3) / 2,
                               rtol=1e-6)
    with pytest.raises(ValueError, match="reduction"):
        ops.generalized_box_iou_loss(a, b, reduction="max")
    e = nt.zeros(0, 4)
    assert ops.generalized_box_iou_loss(e, e, reduction="mean").item() == 0


def test_giou_loss_gradcheck():
    rng = np.random.default_rng(1)
    a = T(rand_boxes(rng, 4), np.float64, True)
    b = T(rand_boxes(rng, 4), np.float64, True)
    assert gradcheck(lambda x, y: ops.generalized_box_iou_loss(x, y), (a, b))
    assert gradcheck(lambda x, y: ops.distance_box_iou_loss(x, y), (a, b))
    assert gradcheck(lambda x, y: ops.generalized_box_iou(x, y), (a, b))


def _torch_giou_loss(torch, b1, b2, eps=1e-7):
    """torchvision.ops.generalized_box_iou_loss, transcribed."""
    x1, y1, x2, y2 = b1.unbind(-1)
    x1g, y1g, x2g, y2g = b2.unbind(-1)
    xk1, yk1, xk2, yk2 = torch.max(x1, x1g), torch.max(y1, y1g), torch.min(x2, x2g), torch.min(y2, y2g)
    inter = torch.zeros_like(x1)
    m = (yk2 > yk1) & (xk2 > xk1)
    inter[m] = (xk2[m] - xk1[m]) * (yk2[m] - yk1[m])
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    iou = inter / (union + eps)
    xc1, yc1, xc2, yc2 = torch.min(x1, x1g), torch.min(y1, y1g), torch.max(x2, x2g), torch.max(y2, y2g)
    area_c = (xc2 - xc1) * (yc2 - yc1)
    return 1 - (iou - (area_c - union) / (area_c + eps))


def test_giou_loss_matches_pytorch_forward_backward():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    a, b = rand_boxes(rng, 16).astype(np.float32), rand_boxes(rng, 16).astype(np.float32)
    na, nb = T(a, requires_grad=True), T(b, requires_grad=True)
    ops.generalized_box_iou_loss(na, nb, reduction="sum").backward()
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    loss = _torch_giou_loss(torch, ta, tb)
    loss.sum().backward()
    np.testing.assert_allclose(ops.generalized_box_iou_loss(T(a), T(b)).numpy(), loss.detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(na.grad.numpy(), ta.grad.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(nb.grad.numpy(), tb.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_against_torchvision_when_importable():
    pytest.importorskip("torch")
    tv = pytest.importorskip("torchvision")
    import torch
    rng = np.random.default_rng(3)
    a, b = rand_boxes(rng, 9).astype(np.float32), rand_boxes(rng, 6).astype(np.float32)
    for name in ("box_iou", "generalized_box_iou", "distance_box_iou"):
        np.testing.assert_allclose(getattr(ops, name)(T(a), T(b)).numpy(),
                                   getattr(tv.ops, name)(torch.tensor(a), torch.tensor(b)).numpy(), rtol=1e-5)
    s = rng.random(9).astype(np.float32)
    np.testing.assert_array_equal(ops.nms(T(a), T(s), 0.3).numpy(),
                                  tv.ops.nms(torch.tensor(a), torch.tensor(s), 0.3).numpy())


# ---- NMS -----------------------------------------------------------------------------------

def test_nms_hand_case_and_order():
    boxes = T([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9]])
    scores = T([0.5, 0.9, 0.7, 0.8])
    # 1 (0.9) kept; 0 overlaps 1 with IoU 81/119 = 0.68 -> suppressed; 3 vs 1: inter 9*8=72,
    # union 100+90-72=118 -> 0.61 -> suppressed; 2 disjoint -> kept
    np.testing.assert_array_equal(ops.nms(boxes, scores, 0.5).numpy(), [1, 2])
    # threshold above every IoU keeps all, sorted by score
    np.testing.assert_array_equal(ops.nms(boxes, scores, 0.99).numpy(), [1, 3, 2, 0])
    assert ops.nms(boxes, scores, 0.5).dtype == nt.int64


def test_nms_ties_are_stable_and_threshold_is_strict():
    boxes = T([[0, 0, 1, 1], [5, 5, 6, 6], [0, 0, 1, 1], [5, 5, 6, 6]])
    scores = T([0.5, 0.5, 0.5, 0.5])
    # equal scores: input order; identical boxes: the earlier one wins
    np.testing.assert_array_equal(ops.nms(boxes, scores, 0.5).numpy(), [0, 1])
    # IoU exactly equal to the threshold does not suppress (torchvision: ovr > threshold)
    b2 = T([[0, 0, 2, 1], [1, 0, 3, 1]])  # IoU 1/3
    np.testing.assert_array_equal(ops.nms(b2, T([0.9, 0.8]), 1 / 3 + 1e-9).numpy(), [0, 1])
    np.testing.assert_array_equal(ops.nms(b2, T([0.9, 0.8]), 0.3).numpy(), [0])


def test_nms_empty_and_bad_shapes():
    assert ops.nms(nt.zeros(0, 4), nt.zeros(0), 0.5).numel() == 0
    assert ops.batched_nms(nt.zeros(0, 4), nt.zeros(0), nt.zeros(0, dtype=nt.int64), 0.5).numel() == 0
    with pytest.raises(ValueError, match="nms"):
        ops.nms(nt.zeros(3, 4), nt.zeros(2), 0.5)


def _np_nms(b, s, thr):
    order = sorted(range(len(s)), key=lambda i: (-s[i], i))
    keep, dead = [], set()
    for i in order:
        if i in dead:
            continue
        keep.append(i)
        for j in order:
            if j not in dead and j != i and _np_iou(b[i:i + 1], b[j:j + 1])[0, 0] > thr:
                dead.add(j)
    return keep


def test_nms_matches_naive_reference_on_random_boxes():
    rng = np.random.default_rng(4)
    b = rand_boxes(rng, 60, 30)
    s = rng.random(60).round(1)  # many ties
    np.testing.assert_array_equal(ops.nms(T(b, np.float64), T(s, np.float64), 0.4).numpy(), _np_nms(b, s, 0.4))


def test_batched_nms_keeps_other_categories():
    boxes = T([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]])
    scores = T([0.9, 0.8, 0.7])
    idxs = nt.tensor([0, 1, 0])
    np.testing.assert_array_equal(ops.batched_nms(boxes, scores, idxs, 0.5).numpy(), [0, 1])


# ---- clipping, small boxes, masks ----------------------------------------------------------

def test_clip_and_remove_small():
    b = T([[-5, -1, 50, 20], [10, 10, 12, 40]])
    np.testing.assert_allclose(ops.clip_boxes_to_image(b, (30, 40)).numpy(), [[0, 0, 40, 20], [10, 10, 12, 30]])
    np.testing.assert_array_equal(ops.remove_small_boxes(b, 3).numpy(), [0])


def test_masks_to_boxes():
    m = np.zeros((1, 5, 6), bool)
    m[0, 1:3, 2:5] = True
    np.testing.assert_allclose(ops.masks_to_boxes(nt.tensor(m)).numpy(), [[2, 1, 4, 2]])


# ---- focal loss ----------------------------------------------------------------------------

def test_sigmoid_focal_loss_closed_form_and_gradcheck():
    x = np.array([-2.0, 0.0, 0.5, 3.0])
    t = np.array([0.0, 1.0, 1.0, 0.0])
    p = 1 / (1 + np.exp(-x))
    ce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    pt = p * t + (1 - p) * (1 - t)
    at = 0.25 * t + 0.75 * (1 - t)
    want = at * ce * (1 - pt) ** 2
    got = ops.sigmoid_focal_loss(T(x, np.float64), T(t, np.float64))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)
    np.testing.assert_allclose(ops.sigmoid_focal_loss(T(x, np.float64), T(t, np.float64), reduction="sum").item(),
                               want.sum(), rtol=1e-10)
    xi = T(x, np.float64, True)
    assert gradcheck(lambda v: ops.sigmoid_focal_loss(v, T(t, np.float64), alpha=-1, gamma=1.5), (xi,))


def test_sigmoid_focal_loss_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.normal(0, 3, (6, 5)).astype(np.float32)
    t = (rng.random((6, 5)) < 0.3).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    p = torch.sigmoid(tx)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(tx, torch.tensor(t), reduction="none")
    pt = p * torch.tensor(t) + (1 - p) * (1 - torch.tensor(t))
    ref = ((0.25 * torch.tensor(t) + 0.75 * (1 - torch.tensor(t))) * ce * (1 - pt) ** 2).mean()
    ref.backward()
    nx = T(x, requires_grad=True)
    got = ops.sigmoid_focal_loss(nx, T(t), reduction="mean")
    got.backward()
    np.testing.assert_allclose(got.item(), ref.item(), rtol=1e-5)
    np.testing.assert_allclose(nx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-7)


# ---- RoIAlign ------------------------------------------------------------------------------

def _bilinear(img, y, x):
    h, w = img.shape[-2:]
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return 0 * img[..., 0, 0]
    y, x = max(y, 0.0), max(x, 0.0)
    yl, xl = int(y), int(x)
    if yl >= h - 1:
        yh = yl = h - 1
        y = float(yl)
    else:
        yh = yl + 1
    if xl >= w - 1:
        xh = xl = w - 1
        x = float(xl)
    else:
        xh = xl + 1
    ly, lx = y - yl, x - xl
    hy, hx = 1 - ly, 1 - lx
    return hy * hx * img[..., yl, xl] + hy * lx * img[..., yl, xh] + ly * hx * img[..., yh, xl] + ly * lx * img[..., yh, xh]


def _roi_align_ref(x, rois, out, scale, sr, aligned):
    """torchvision's CPU kernel transcribed with loops (the slow reference)."""
    ph, pw = out
    res = np.zeros((len(rois), x.shape[1], ph, pw))
    off = 0.5 if aligned else 0.0
    for k, (b, x1, y1, x2, y2) in enumerate(rois):
        sw, sh, ew, eh = x1 * scale - off, y1 * scale - off, x2 * scale - off, y2 * scale - off
        rw, rh = ew - sw, eh - sh
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / ph, rw / pw
        gh = sr if sr > 0 else math.ceil(rh / ph)
        gw = sr if sr > 0 else math.ceil(rw / pw)
        cnt = max(gh * gw, 1)
        for p in range(ph):
            for q in range(pw):
                acc = 0
                for iy in range(gh):
                    yy = sh + p * bh + (iy + 0.5) * bh / gh
                    for ix in range(gw):
                        xx = sw + q * bw + (ix + 0.5) * bw / gw
                        acc = acc + _bilinear(x[int(b)], yy, xx)
                res[k, :, p, q] = acc / cnt
    return res


@pytest.mark.parametrize("sr,aligned", [(-1, False), (2, False), (0, True), (3, True)])
def test_roi_align_matches_loop_reference(sr, aligned):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 3, 9, 11))
    rois = np.array([[0, 1.2, 0.5, 7.7, 6.1], [1, -2, -1, 4, 3], [1, 3, 3, 12, 10], [0, 2, 2, 2.4, 2.2],
                     [0, 0, 0, 21, 17]])
    got = ops.roi_align(T(x, np.float64), T(rois, np.float64), (3, 2), spatial_scale=0.5, sampling_ratio=sr,
                        aligned=aligned)
    np.testing.assert_allclose(got.numpy(), _roi_align_ref(x, rois, (3, 2), 0.5, sr, aligned), rtol=1e-10,
                               atol=1e-12)


def test_roi_align_list_boxes_and_float32():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 2, 6, 6)).astype(np.float32)
    got = ops.roi_align(T(x), [T([[0, 0, 3, 3]]), T([[1, 1, 5, 4], [0, 0, 6, 6]])], 2, sampling_ratio=2)
    assert got.dtype == nt.float32 and tuple(got.shape) == (3, 2, 2, 2)
    want = _roi_align_ref(x.astype(np.float64), [[0, 0, 0, 3, 3], [1, 1, 1, 5, 4], [1, 0, 0, 6, 6]],
                          (2, 2), 1.0, 2, False)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


def test_roi_align_backward_gradcheck():
    rng = np.random.default_rng(8)
    x = T(rng.normal(size=(2, 1, 4, 5)), np.float64, True)
    rois = T([[0, 0.3, 0.2, 4.1, 3.7], [1, 1, 1, 5, 4]], np.float64)
    assert gradcheck(lambda v: ops.roi_align(v, rois, (2, 2), sampling_ratio=2, aligned=True), (x,))
