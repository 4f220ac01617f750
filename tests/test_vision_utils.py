"""numtorch.vision.utils: make_grid against a NumPy construction, save_image through Pillow, boxes drawn."""
import math

import numpy as np
import pytest

import numtorch
from numtorch.vision import utils


def _grid_reference(x, nrow, padding, pad_value):
    """torchvision's tiling, written with explicit pixel offsets: image k at row k // nrow, column k % nrow."""
    b, c, h, w = x.shape
    if c == 1:
        x = np.repeat(x, 3, axis=1)
        c = 3
    cols = min(nrow, b)
    rows = math.ceil(b / cols)
    out = np.full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value, x.dtype)
    for k in range(b):
        top = padding + (k // cols) * (h + padding)
        left = padding + (k % cols) * (w + padding)
        out[:, top:top + h, left:left + w] = x[k]
    return out


@pytest.mark.parametrize("b,c,nrow,padding,pad_value", [(10, 3, 4, 2, 0.0), (5, 1, 8, 0, 0.5),
                                                        (7, 3, 3, 3, 1.0), (2, 4, 1, 1, 0.25)])
def test_make_grid_matches_numpy(b, c, nrow, padding, pad_value):
    x = np.random.default_rng(b).random((b, c, 5, 6), dtype=np.float32)
    got = utils.make_grid(numtorch.from_numpy(x), nrow=nrow, padding=padding, pad_value=pad_value)
    np.testing.assert_array_equal(got.numpy(), _grid_reference(x, nrow, padding, pad_value))


def test_make_grid_inputs_and_normalize():
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 5, (4, 3, 4, 4)).astype(np.float32)
    # normalize: (x - min) / (max - min) over the whole batch, before tiling
    got = utils.make_grid(numtorch.from_numpy(x), nrow=2, normalize=True)
    ref = _grid_reference((x - x.min()) / (x.max() - x.min()), 2, 2, 0.0)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-6, atol=1e-6)
    # value_range clamps first; scale_each uses each image's own range
    got = utils.make_grid(numtorch.from_numpy(x), normalize=True, value_range=(-1.0, 1.0))
    ref = _grid_reference((np.clip(x, -1, 1) + 1) / 2, 8, 2, 0.0)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-6, atol=1e-7)
    got = utils.make_grid(numtorch.from_numpy(x), normalize=True, scale_each=True)
    each = np.stack([(v - v.min()) / (v.max() - v.min()) for v in x])
    np.testing.assert_allclose(got.numpy(), _grid_reference(each, 8, 2, 0.0), rtol=1e-6, atol=1e-6)
    with pytest.raises(TypeError, match="value_range has to be a tuple"):
        utils.make_grid(numtorch.from_numpy(x), normalize=True, value_range=[0, 1])
    # a list of images is stacked; one image comes back alone (grey -> 3 channels), without padding
    lst = [numtorch.from_numpy(v) for v in x]
    np.testing.assert_array_equal(utils.make_grid(lst).numpy(), _grid_reference(x, 8, 2, 0.0))
    one = utils.make_grid(numtorch.from_numpy(x[0, :1]))
    np.testing.assert_array_equal(one.numpy(), np.repeat(x[0, :1], 3, axis=0))
    assert utils.make_grid(numtorch.zeros(64, 1, 28, 28)).shape == (3, 242, 242)


def test_save_image_round_trip(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    x = np.random.default_rng(1).random((6, 3, 7, 5), dtype=np.float32)
    x[0, 0, 0, 0], x[0, 1, 0, 0] = 1.5, -0.2        # clamped to 255 and 0
    path = tmp_path / "grid.png"
    utils.save_image(numtorch.from_numpy(x), path, nrow=3, padding=1)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "RGB"
        got = np.asarray(im)
    grid = _grid_reference(x, 3, 1, 0.0)
    expected = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    np.testing.assert_array_equal(got, expected)
    assert got[1, 1, 0] == 255 and got[1, 1, 1] == 0
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]  # no temporary file left


def test_save_image_file_object_and_single_grey(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    import io
    x = np.linspace(0, 1, 28 * 28, dtype=np.float32).reshape(1, 1, 28, 28)
    buf = io.BytesIO()
    utils.save_image(numtorch.from_numpy(x), buf, format="png")
    buf.seek(0)
    got = np.asarray(Image.open(buf))
    assert got.shape == (28, 28, 3)   # grey becomes RGB, as torchvision
    np.testing.assert_array_equal(got[:, :, 1], (x[0, 0] * 255 + 0.5).astype(np.uint8))


def test_draw_bounding_boxes_against_pil():
    pytest.importorskip("PIL")
    from PIL import Image, ImageDraw
    img = np.zeros((3, 20, 30), np.uint8)
    boxes = np.array([[2, 3, 10, 12], [15, 1, 28, 18]], np.float32)
    out = utils.draw_bounding_boxes(numtorch.from_numpy(img), numtorch.from_numpy(boxes),
                                    colors=["red", (0, 255, 0)], width=2)
    ref = Image.fromarray(img.transpose(1, 2, 0).copy())
    d = ImageDraw.Draw(ref)
    d.rectangle([2, 3, 10, 12], outline=(255, 0, 0), width=2)
    d.rectangle([15, 1, 28, 18], outline=(0, 255, 0), width=2)
    assert out.dtype == numtorch.uint8 and out.shape == (3, 20, 30)
    np.testing.assert_array_equal(out.numpy(), np.asarray(ref).transpose(2, 0, 1))
    # outline pixels and an untouched interior, checked by hand
    assert tuple(out.numpy()[:, 3, 5]) == (255, 0, 0) and tuple(out.numpy()[:, 7, 6]) == (0, 0, 0)
    assert img.max() == 0   # the input is not changed
    # grey input gives RGB; fill blends the box colour at alpha 100 (Pillow's RGBA drawing as the oracle)
    grey = utils.draw_bounding_boxes(numtorch.zeros(1, 8, 8, dtype=numtorch.uint8), numtorch.tensor([[1, 1, 6, 6]]),
                                     colors="white", fill=True)
    ref = Image.new("RGB", (8, 8))
    ImageDraw.Draw(ref, "RGBA").rectangle([1, 1, 6, 6], outline=(255, 255, 255), fill=(255, 255, 255, 100))
    np.testing.assert_array_equal(grey.numpy(), np.asarray(ref).transpose(2, 0, 1))
    assert 90 < int(grey.numpy()[0, 3, 3]) < 110
    # a label writes text pixels inside the box, below and right of the outline
    big = numtorch.zeros(3, 40, 60, dtype=numtorch.uint8)
    plain = utils.draw_bounding_boxes(big, numtorch.tensor([[0, 0, 59, 39]]), colors="white")
    text = utils.draw_bounding_boxes(big, numtorch.tensor([[0, 0, 59, 39]]), colors="white", labels=["cat"])
    diff = np.argwhere((text.numpy() != plain.numpy()).any(0))
    assert len(diff) > 0 and diff.min() >= 2


def test_draw_bounding_boxes_errors():
    pytest.importorskip("PIL")
    img = numtorch.zeros(3, 10, 10, dtype=numtorch.uint8)
    with pytest.raises(ValueError, match="xmin, ymin, xmax, ymax"):
        utils.draw_bounding_boxes(img, numtorch.tensor([[5, 5, 1, 1]]))
    with pytest.raises(ValueError, match="image dtype must be uint8"):
        utils.draw_bounding_boxes(img.float(), numtorch.tensor([[1, 1, 5, 5]]))
    with pytest.raises(ValueError, match="Number of boxes"):
        utils.draw_bounding_boxes(img, numtorch.tensor([[1, 1, 5, 5]]), labels=["a", "b"])
    with pytest.raises(ValueError, match="individual images"):
        utils.draw_bounding_boxes(numtorch.zeros(1, 3, 4, 4, dtype=numtorch.uint8), numtorch.tensor([[0, 0, 1, 1]]))


def test_io_png_round_trip_and_modes(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    from numtorch.vision import io
    a = np.random.default_rng(3).integers(0, 256, (3, 6, 9), dtype=np.uint8)
    path = tmp_path / "x.png"
    io.write_png(numtorch.from_numpy(a), path)
    with Image.open(path) as im:   # Pillow reads back what was written
        np.testing.assert_array_equal(np.asarray(im), a.transpose(1, 2, 0))
    back = io.read_image(path)
    assert back.dtype == numtorch.uint8 and back.shape == (3, 6, 9)
    np.testing.assert_array_equal(back.numpy(), a)
    grey = io.read_image(str(path), io.ImageReadMode.GRAY)
    ref = np.asarray(Image.open(path).convert("L"))
    np.testing.assert_array_equal(grey.numpy()[0], ref)
    assert io.decode_image(io.read_file(path), mode="RGB_ALPHA").shape == (4, 6, 9)
    smooth = np.broadcast_to(np.linspace(0, 255, 16, dtype=np.uint8), (3, 16, 16)).copy()  # JPEG keeps gradients
    jpg = io.decode_image(io.encode_jpeg(numtorch.from_numpy(smooth), quality=95))
    assert jpg.shape == (3, 16, 16) and np.abs(jpg.numpy().astype(int) - smooth).mean() < 3
    with pytest.raises(ValueError, match="uint8 tensor C x H x W"):
        io.encode_png(numtorch.zeros(3, 4, 4))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]
