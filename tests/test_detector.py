"""The CenterNet detector: target assignment, heatmap loss, decoding, the torchvision interface,
a few training steps, the CLI; and (slow) the acceptance run on DigitCanvases."""
import math
import time
from pathlib import Path

import numpy as np
import pytest

import numtorch as nt
from numtorch.autograd import gradcheck
from numtorch.models.detection import CenterNet, encode_targets, gaussian_radius, heatmap_focal_loss

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def tgt(boxes, labels):
    return {"boxes": nt.tensor(np.asarray(boxes, np.float32).reshape(-1, 4)),
            "labels": nt.tensor(np.asarray(labels, np.int64))}


def small_model(**kw):
    nt.manual_seed(0)
    return CenterNet(num_classes=3, in_channels=1, widths=(4, 8, 8), **kw)


# ---- targets -------------------------------------------------------------------------------

def _reference_radius(h, w, min_overlap=0.7):
    """CenterNet's gaussian_radius as published (scalar code)."""
    a1, b1, c1 = 1, h + w, w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * a1 * c1)) / 2
    a2, b2, c2 = 4, 2 * (h + w), (1 - min_overlap) * w * h
    r2 = (b2 + math.sqrt(b2 ** 2 - 4 * a2 * c2)) / 2
    a3, b3, c3 = 4 * min_overlap, -2 * min_overlap * (h + w), (min_overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def test_gaussian_radius_matches_reference():
    hs, ws = np.array([3.0, 5.5, 10.0]), np.array([4.0, 2.5, 10.0])
    np.testing.assert_allclose(gaussian_radius(hs, ws), [_reference_radius(h, w) for h, w in zip(hs, ws)])


def test_encode_targets_hand_case():
    # box centre (30, 21) px -> (7.5, 5.25) cells at stride 4: cell (x 7, y 5), offset (0.5, 0.25)
    t = [tgt([[22, 13, 38, 29]], [2]), tgt(np.zeros((0, 4)), [])]
    enc = encode_targets(t, 3, (12, 16), 4)
    heat = enc["heatmap"]
    assert heat.shape == (2, 3, 12, 16) and heat.dtype == np.float32
    assert heat[0, 2, 5, 7] == 1.0 and (heat == 1).sum() == 1
    assert heat[1].max() == 0 and heat[0, :2].max() == 0
    r = math.floor(_reference_radius(4.0, 4.0))
    sigma = (2 * r + 1) / 6
    assert heat[0, 2, 5, 8] == pytest.approx(math.exp(-1 / (2 * sigma ** 2)), rel=1e-6)
    assert heat[0, 2, 5, 7 + r + 1] == 0  # outside the radius window
    np.testing.assert_array_equal(enc["batch"], [0])
    np.testing.assert_array_equal([enc["cy"][0], enc["cx"][0]], [5, 7])
    np.testing.assert_allclose(enc["offset"], [[0.5, 0.25]])


def test_overlapping_gaussians_keep_the_max():
    enc = encode_targets([tgt([[0, 0, 16, 16], [4, 0, 20, 16]], [1, 1])], 2, (8, 8), 4)
    h = enc["heatmap"][0, 1]
    assert h[2, 2] == 1 and h[2, 3] == 1  # two peaks, neither overwritten by the other's tail


# ---- heatmap loss --------------------------------------------------------------------------

def _np_heatmap_loss(x, y, k):
    p = 1 / (1 + np.exp(-x))
    pos = y == 1
    pl = (np.log(p) * (1 - p) ** 2)[pos].sum()
    nl = (np.log(1 - p) * p ** 2 * (1 - y) ** 4)[~pos].sum()
    return -(pl + nl) / k


def test_heatmap_focal_loss_closed_form_and_gradcheck():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 2, 3, 3))
    y = rng.uniform(0, 0.9, size=(2, 2, 3, 3))
    y[0, 1, 1, 1] = y[1, 0, 2, 0] = 1
    got = heatmap_focal_loss(nt.tensor(x), nt.tensor(y), 2)
    assert got.item() == pytest.approx(_np_heatmap_loss(x, y, 2), rel=1e-10)
    xt = nt.tensor(x, requires_grad=True)
    assert gradcheck(lambda v: heatmap_focal_loss(v, nt.tensor(y), 2), (xt,))


def test_heatmap_focal_loss_matches_pytorch_gradient():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.normal(0, 3, size=(2, 3, 4, 4)).astype(np.float32)
    y = rng.uniform(0, 0.9, size=x.shape).astype(np.float32)
    y[0, 0, 0, 0] = 1
    tx = torch.tensor(x, requires_grad=True)
    p = torch.sigmoid(tx)
    pos = torch.tensor(y) == 1
    ref = -((torch.nn.functional.logsigmoid(tx) * (1 - p) ** 2)[pos].sum()
            + (torch.nn.functional.logsigmoid(-tx) * p ** 2 * (1 - torch.tensor(y)) ** 4)[~pos].sum()) / 1
    ref.backward()
    nx = nt.tensor(x, requires_grad=True)
    got = heatmap_focal_loss(nx, nt.tensor(y), 1)
    got.backward()
    assert got.item() == pytest.approx(ref.item(), rel=1e-5)
    np.testing.assert_allclose(nx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-6)


# ---- decoding ------------------------------------------------------------------------------

def test_postprocess_decodes_a_hand_made_map():
    model = small_model(score_thresh=0.1).eval()
    cls = np.full((1, 3, 12, 16), -10.0, np.float32)
    reg = np.zeros((1, 4, 12, 16), np.float32)
    cls[0, 1, 5, 7] = 3.0
    cls[0, 1, 5, 8] = 2.0  # a weaker neighbour: not a local maximum, suppressed
    cls[0, 2, 9, 2] = 1.0
    reg[0, :, 5, 7] = [0.5, 0.25, math.log(4), math.log(2)]  # 16 x 8 px box centred at (30, 21)
    reg[0, 2:, 9, 2] = math.log(2)
    out = model.postprocess(nt.tensor(cls), nt.tensor(reg), [(48, 64)])
    assert len(out) == 1
    d = out[0]
    assert d["boxes"].dtype == nt.float32 and d["labels"].dtype == nt.int64 and d["scores"].dtype == nt.float32
    np.testing.assert_array_equal(d["labels"].numpy(), [1, 2])
    np.testing.assert_allclose(d["scores"].numpy(), [1 / (1 + math.exp(-3)), 1 / (1 + math.exp(-1))], rtol=1e-6)
    np.testing.assert_allclose(d["boxes"].numpy(), [[22, 17, 38, 25], [4, 32, 12, 40]], atol=1e-5)


def test_postprocess_clips_to_the_image_and_thresholds():
    model = small_model(score_thresh=0.5).eval()
    cls = np.full((1, 3, 4, 4), -10.0, np.float32)
    cls[0, 0, 0, 0] = 5.0
    cls[0, 0, 3, 3] = 0.0  # score 0.5: not above the threshold
    reg = np.zeros((1, 4, 4, 4), np.float32)
    reg[0, 2:, 0, 0] = math.log(8)
    d = model.postprocess(nt.tensor(cls), nt.tensor(reg), [(16, 16)])[0]
    np.testing.assert_allclose(d["boxes"].numpy(), [[0, 0, 16, 16]])


# ---- the torchvision interface -------------------------------------------------------------

def _toy_batch(n=4, size=32, seed=0):
    """Images with bright squares, labelled by square size (class 0: 8 px, 1: 12 px, 2: 16 px)."""
    rng = np.random.default_rng(seed)
    imgs = np.zeros((n, 1, size, size), np.float32)
    targets = []
    for i in range(n):
        c = int(rng.integers(3))
        s = 8 + 4 * c
        x, y = rng.integers(0, size - s, 2)
        imgs[i, 0, y:y + s, x:x + s] = 1
        targets.append(tgt([[x, y, x + s, y + s]], [c]))
    return nt.tensor(imgs), targets


def test_training_mode_returns_losses_and_eval_mode_detections():
    model = small_model()
    images, targets = _toy_batch()
    losses = model(images, targets)
    assert set(losses) == {"heatmap", "bbox_giou", "offset", "size"}
    assert all(v.ndim == 0 and math.isfinite(v.item()) for v in losses.values())
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with nt.no_grad():
        out = model(images)
    assert len(out) == 4 and set(out[0]) == {"boxes", "scores", "labels"}
    assert out[0]["boxes"].shape[1] == 4 and len(out[0]["scores"]) <= model.detections_per_img
    # a list of differently sized images: padded to one batch, boxes stay inside each image
    with nt.no_grad():
        out = model([nt.zeros(1, 20, 28), nt.zeros(1, 32, 40)])
    assert len(out) == 2
    b = out[0]["boxes"].numpy()
    assert (b[:, 2] <= 28).all() and (b[:, 3] <= 20).all()


def test_training_mode_validates_targets():
    model = small_model()
    images, targets = _toy_batch(2)
    with pytest.raises(ValueError, match="targets should be passed"):
        model(images)
    with pytest.raises(ValueError, match="positive height and width"):
        model(images, [tgt([[5, 5, 5, 9]], [0]), targets[1]])
    losses = model(images, [tgt(np.zeros((0, 4)), []), tgt(np.zeros((0, 4)), [])])  # no objects
    assert losses["bbox_giou"].item() == 0 and losses["heatmap"].item() > 0


def test_loss_decreases_over_a_few_steps():
    model = small_model()
    images, targets = _toy_batch(4)
    opt = nt.optim.Adam(model.parameters(), lr=1e-2)
    totals = []
    for _ in range(12):
        loss = sum(model(images, targets).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        totals.append(loss.item())
    assert totals[-1] < 0.6 * totals[0]


def test_state_dict_round_trip_gives_same_detections():
    model = small_model()
    images, targets = _toy_batch(2)
    model(images, targets)  # one training forward updates BatchNorm statistics
    other = small_model()
    other.load_state_dict(model.state_dict())
    model.eval(), other.eval()
    with nt.no_grad():
        a, b = model(images), other(images)
    np.testing.assert_array_equal(a[0]["scores"].numpy(), b[0]["scores"].numpy())


# ---- CLI -----------------------------------------------------------------------------------

def test_detect_cli_draws_boxes(tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image
    from numtorch.cli.main import main
    from numtorch.cli.train_detect import save_detector_run
    model = small_model()
    save_detector_run(tmp_path, {"model": "detector"}, {"model": model, "history": {}})
    img = np.zeros((32, 40), np.uint8)
    img[8:20, 10:22] = 255
    Image.fromarray(img).save(tmp_path / "in.png")
    rc = main(["detect", str(tmp_path / "checkpoint.safetensors"), str(tmp_path / "in.png"), "--out",
               str(tmp_path / "boxes.png"), "--score-thresh", "0.0"])
    assert rc == 0
    with Image.open(tmp_path / "boxes.png") as im:
        assert im.size == (160, 128)
    assert main(["detect", str(tmp_path / "missing.pt"), str(tmp_path / "in.png")]) == 1


# ---- acceptance (slow) ---------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "mnist").exists(), reason="MNIST test files not present")
def test_acceptance_map50_on_held_out_canvases(tmp_path):
    """`numtorch train --model detector` with its defaults, on the CPU: mAP@0.5 >= 0.90 on 500
    held-out canvases (digits 8000..9999) within 15 minutes; then `numtorch detect` draws a canvas."""
    import json
    from numtorch.cli.main import main
    from numtorch.vision.datasets import DigitCanvases
    t0 = time.perf_counter()
    rc = main(["train", "--model", "detector", "--data-dir", str(DATA), "--out", str(tmp_path), "--quiet"])
    seconds = time.perf_counter() - t0
    assert rc == 0
    history = json.loads((tmp_path / "history.json").read_text())
    print(f"acceptance: mAP@0.5 per epoch {history['map_50']}, mAP@[.5:.95] {history['coco_map']}, "
          f"{seconds:.0f}s; run folder {tmp_path}")
    assert history["map_50"][-1] >= 0.90
    assert seconds <= 15 * 60
    from PIL import Image
    image, _ = DigitCanvases(DATA, split="test", num_canvases=1, seed=7)[0]
    Image.fromarray((image.numpy()[0] * 255).astype(np.uint8)).save(tmp_path / "canvas.png")
    assert main(["detect", str(tmp_path / "checkpoint.safetensors"), str(tmp_path / "canvas.png"),
                 "--out", str(tmp_path / "boxes.png")]) == 0
