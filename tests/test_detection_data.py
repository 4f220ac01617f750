"""Detection data: DigitCanvases determinism and boxes, COCO/VOC readers, box-moving transforms."""
import json
from pathlib import Path

import numpy as np
import pytest

import numtorch as nt
from numtorch.vision import detection_transforms as DT
from numtorch.vision.datasets import CocoDetection, DigitCanvases, VOCDetection, detection_collate

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def fake_digits(n=50):
    """Digit images: a filled rectangle whose size depends on the label (a known tight box)."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, n)
    imgs = np.zeros((n, 28, 28), np.uint8)
    for i, lab in enumerate(labels):
        imgs[i, 4:24, 6:12 + lab] = 255
    return imgs, labels


def canvases(**kw):
    imgs, labels = fake_digits()
    kw.setdefault("num_canvases", 20)
    return DigitCanvases(images=imgs, labels=labels, **kw)


def test_canvases_are_deterministic_and_order_free():
    a, b = canvases(seed=3), canvases(seed=3)
    x5, t5 = a[5]
    a[0], a[19]  # reading others first changes nothing
    y5, u5 = b[5]
    np.testing.assert_array_equal(x5.numpy(), y5.numpy())
    np.testing.assert_array_equal(t5["boxes"].numpy(), u5["boxes"].numpy())
    np.testing.assert_array_equal(t5["labels"].numpy(), u5["labels"].numpy())
    assert not np.array_equal(canvases(seed=4)[5][0].numpy(), x5.numpy())


def test_canvas_targets_format_and_tight_boxes():
    ds = canvases(digits=(1, 1), canvas_size=64, digit_size=(28, 28))
    for i in range(len(ds)):
        img, t = ds[i]
        assert img.dtype == nt.float32 and tuple(img.shape) == (1, 64, 64)
        assert t["boxes"].dtype == nt.float32 and t["labels"].dtype == nt.int64
        (x1, y1, x2, y2), = t["boxes"].numpy().astype(int)
        lab = int(t["labels"].item())
        # at scale 1 the rectangle is 20 rows x (6 + label) columns, and the box is tight around it
        assert (y2 - y1, x2 - x1) == (20, 6 + lab)
        on = np.argwhere(img.numpy()[0] > 0.1)
        assert on[:, 0].min() == y1 and on[:, 0].max() == y2 - 1
        assert on[:, 1].min() == x1 and on[:, 1].max() == x2 - 1


def test_canvas_counts_and_overlap_limit():
    ds = canvases(digits=(2, 5), max_iou=0.05, num_canvases=30)
    counts = []
    for i in range(len(ds)):
        b = ds[i][1]["boxes"].numpy()
        counts.append(len(b))
        assert 1 <= len(b) <= 5
        assert (b[:, 0] >= 0).all() and (b[:, 2] <= 96).all() and (b[:, 2] > b[:, 0]).all()
        if len(b) > 1:
            iou = nt.vision.ops.box_iou(nt.tensor(b), nt.tensor(b)).numpy()
            np.fill_diagonal(iou, 0)
            assert iou.max() <= 0.05 + 1e-6
    assert max(counts) >= 4


def test_canvas_arrays_match_items_and_collate():
    ds = canvases()
    imgs, tgts = ds.arrays(0, 4)
    assert imgs.shape == (4, 1, 96, 96)
    np.testing.assert_array_equal(imgs[2], ds[2][0].numpy())
    np.testing.assert_array_equal(tgts[2]["boxes"].numpy(), ds[2][1]["boxes"].numpy())
    images, targets = detection_collate([ds[0], ds[1]])
    assert len(images) == 2 and "boxes" in targets[1]


def test_canvas_errors():
    with pytest.raises(ValueError, match="split"):
        DigitCanvases(DATA, split="validation")
    with pytest.raises(IndexError):
        canvases()[20]


@pytest.mark.skipif(not (DATA / "mnist").exists(), reason="MNIST test files not present")
def test_canvases_from_mnist_splits_are_disjoint():
    tr = DigitCanvases(DATA, split="train", num_canvases=2)
    te = DigitCanvases(DATA, split="test", num_canvases=2)
    assert len(tr.images) == 8000 and len(te.images) == 2000
    from numtorch.vision.datasets.mnist import read_idx
    full = read_idx(DATA / "mnist" / "t10k-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(te.images[0], full[8000])
    img, t = tr[0]
    assert tuple(img.shape) == (1, 96, 96) and 1 <= len(t["labels"]) <= 5


# ---- readers -------------------------------------------------------------------------------

def _write_png(path, h, w, value=128):
    from PIL import Image
    Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(path)


def test_coco_reader(tmp_path):
    pytest.importorskip("PIL")
    _write_png(tmp_path / "a.png", 20, 30)
    _write_png(tmp_path / "b.png", 10, 10)
    ann = {"images": [{"id": 7, "file_name": "a.png", "height": 20, "width": 30},
                      {"id": 9, "file_name": "b.png", "height": 10, "width": 10}],
           "annotations": [{"id": 1, "image_id": 7, "bbox": [2, 3, 10, 5], "category_id": 4, "iscrowd": 0, "area": 50},
                           {"id": 2, "image_id": 7, "bbox": [0, 0, 4, 4], "category_id": 1, "iscrowd": 1}],
           "categories": [{"id": 1, "name": "one"}, {"id": 4, "name": "four"}]}
    (tmp_path / "ann.json").write_text(json.dumps(ann))
    raw = CocoDetection(tmp_path, tmp_path / "ann.json")
    img, anns = raw[0]
    assert img.size == (30, 20) and [a["id"] for a in anns] == [1, 2]
    ds = CocoDetection(tmp_path, tmp_path / "ann.json", target_format="boxes")
    assert len(ds) == 2 and ds.categories == {1: "one", 4: "four"}
    img, t = ds[0]
    assert tuple(img.shape) == (3, 20, 30) and abs(img.numpy().max() - 128 / 255) < 1e-6
    np.testing.assert_array_equal(t["boxes"].numpy(), [[2, 3, 12, 8], [0, 0, 4, 4]])
    np.testing.assert_array_equal(t["labels"].numpy(), [4, 1])
    np.testing.assert_array_equal(t["iscrowd"].numpy(), [0, 1])
    _, t2 = ds[1]
    assert tuple(t2["boxes"].shape) == (0, 4)


VOC_XML = """<annotation><filename>{name}.jpg</filename><size><width>40</width><height>30</height><depth>3</depth></size>
<object><name>dog</name><difficult>0</difficult><bndbox><xmin>5</xmin><ymin>6</ymin><xmax>20</xmax><ymax>25</ymax></bndbox></object>
{extra}</annotation>"""


def test_voc_reader(tmp_path):
    pytest.importorskip("PIL")
    base = tmp_path / "VOCdevkit" / "VOC2007"
    for d in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (base / d).mkdir(parents=True)
    extra = ("<object><name>cat</name><difficult>1</difficult><bndbox><xmin>1</xmin><ymin>1</ymin>"
             "<xmax>10</xmax><ymax>10</ymax></bndbox></object>")
    for name, ex in (("000001", extra), ("000002", "")):
        from PIL import Image
        Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(base / "JPEGImages" / f"{name}.jpg")
        (base / "Annotations" / f"{name}.xml").write_text(VOC_XML.format(name=name, extra=ex))
    (base / "ImageSets" / "Main" / "trainval.txt").write_text("000001\n000002\n")
    raw = VOCDetection(tmp_path, year="2007", image_set="trainval")
    img, t = raw[0]
    assert img.size == (40, 30)
    assert [o["name"] for o in t["annotation"]["object"]] == ["dog", "cat"]
    assert t["annotation"]["size"]["width"] == "40"
    ds = VOCDetection(tmp_path, year="2007", image_set="trainval", target_format="boxes")
    img, t = ds[0]
    assert tuple(img.shape) == (3, 30, 40)
    np.testing.assert_array_equal(t["boxes"].numpy(), [[4, 5, 20, 25], [0, 0, 10, 10]])
    np.testing.assert_array_equal(t["labels"].numpy(), [11, 7])  # VOC class indices of dog, cat
    np.testing.assert_array_equal(t["difficult"].numpy(), [0, 1])
    assert len(ds[1][1]["labels"]) == 1
    with pytest.raises(RuntimeError, match="not found"):
        VOCDetection(tmp_path, year="2007", image_set="test")


# ---- transforms ----------------------------------------------------------------------------

def _sample():
    img = nt.tensor(np.arange(2 * 10 * 20, dtype=np.float32).reshape(2, 10, 20))
    tgt = {"boxes": nt.tensor([[1.0, 2.0, 5.0, 6.0], [10.0, 0.0, 20.0, 10.0]]), "labels": nt.tensor([3, 4]),
           "iscrowd": nt.tensor([0, 1])}
    return img, tgt


def test_horizontal_flip_moves_boxes_with_pixels():
    img, tgt = _sample()
    out, t = DT.RandomHorizontalFlip(p=1.0)(img, tgt)
    np.testing.assert_array_equal(out.numpy(), img.numpy()[..., ::-1])
    np.testing.assert_array_equal(t["boxes"].numpy(), [[15, 2, 19, 6], [0, 0, 10, 10]])
    same, t0 = DT.RandomHorizontalFlip(p=0.0)(img, tgt)
    np.testing.assert_array_equal(t0["boxes"].numpy(), tgt["boxes"].numpy())


def test_resize_scales_boxes_and_matches_pytorch_bilinear():
    img, tgt = _sample()
    out, t = DT.Resize((20, 10))(img, tgt)
    assert tuple(out.shape) == (2, 20, 10)
    np.testing.assert_allclose(t["boxes"].numpy(), [[0.5, 4, 2.5, 12], [5, 0, 10, 20]])
    _, t_short = DT.Resize(5)(img, tgt)  # shorter side (height 10) -> 5, width 20 -> 10
    np.testing.assert_allclose(t_short["boxes"].numpy(), tgt["boxes"].numpy() / 2)
    torch = pytest.importorskip("torch")
    ref = torch.nn.functional.interpolate(torch.tensor(img.numpy())[None], size=(20, 10), mode="bilinear",
                                          align_corners=False)[0]
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5, atol=1e-4)


def test_random_crop_clips_and_drops_boxes():
    img, tgt = _sample()
    nt.manual_seed(0)
    for _ in range(10):
        out, t = DT.RandomCrop((10, 8))(img, tgt)
        assert tuple(out.shape) == (2, 10, 8)
        b = t["boxes"].numpy()
        assert (b[:, 0] >= 0).all() and (b[:, 2] <= 8).all() and (b[:, 2] > b[:, 0]).all()
        assert len(t["labels"]) == len(b) == len(t["iscrowd"])
        # the kept boxes are the originals shifted by the crop's offset and clipped
        left = int(np.argwhere((img.numpy()[0] == out.numpy()[0, 0, 0]))[0, 1])
        orig = tgt["boxes"].numpy()[np.isin(tgt["labels"].numpy(), t["labels"].numpy())]
        np.testing.assert_allclose(b[:, [0, 2]], np.clip(orig[:, [0, 2]] - left, 0, 8))
    # a full-width crop keeps both boxes
    out, t = DT.Compose([DT.RandomCrop((10, 20))])(img, tgt)
    assert len(t["labels"]) == 2
    with pytest.raises(ValueError, match="larger"):
        DT.RandomCrop((11, 5))(img, tgt)
