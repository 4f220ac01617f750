"""numtorch.vision.transforms (v1 names) and transforms.functional, against torchvision's definitions.

Oracles: Pillow itself for PIL images (torchvision resizes and crops PIL images with Pillow), PyTorch's
``interpolate`` for tensors, and closed forms (ToTensor = HWC bytes / 255 transposed to CHW).
"""
import numpy as np
import pytest

import numtorch
from numtorch.vision import transforms as T
from numtorch.vision.transforms import functional as F

Image = pytest.importorskip("PIL.Image")


def _rgb(h=12, w=20, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_to_tensor_pil_hwc_uint8_to_chw_float():
    a = _rgb()
    t = T.ToTensor()(Image.fromarray(a))
    assert t.dtype == numtorch.float32 and t.shape == (3, 12, 20)
    np.testing.assert_allclose(t.numpy(), a.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    grey = T.ToTensor()(Image.fromarray(a[:, :, 0]))
    assert grey.shape == (1, 12, 20)
    np.testing.assert_array_equal(F.pil_to_tensor(Image.fromarray(a)).numpy(), a.transpose(2, 0, 1))


def test_to_pil_image_round_trip_and_modes():
    a = _rgb()
    t = numtorch.from_numpy(a.transpose(2, 0, 1).copy())
    img = T.ToPILImage()(t)
    assert img.mode == "RGB" and img.size == (20, 12)
    np.testing.assert_array_equal(np.asarray(img), a)
    # float in [0, 1] -> bytes by truncating 255 x, as torchvision's pic.mul(255).byte()
    f = np.array([[[0.0, 0.5, 1.0, 0.999]]], np.float32)
    g = F.to_pil_image(numtorch.from_numpy(f))
    assert g.mode == "L" and np.asarray(g).tolist() == [[0, 127, 255, 254]]
    assert F.to_pil_image(a).mode == "RGB"   # an ndarray is H x W x C already
    with pytest.raises(TypeError):
        F.to_pil_image([1, 2, 3])


def test_resize_pil_is_pillow_bilinear_smaller_edge():
    img = Image.fromarray(_rgb(30, 50))
    out = T.Resize(12)(img)                     # smaller edge 30 -> 12, 50 -> int(12 * 50 / 30) = 20
    assert out.size == (20, 12)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img.resize((20, 12), Image.BILINEAR)))
    out = T.Resize((7, 9), interpolation=T.InterpolationMode.NEAREST)(img)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img.resize((9, 7), Image.NEAREST)))
    assert T.Resize(12, max_size=15)(img).size == (15, 9)   # long edge capped: 12 * 15 / 20 = 9


def test_resize_tensor_antialias_matches_torch(torch):
    a = np.random.default_rng(2).random((3, 17, 23), dtype=np.float32)
    out = F.resize(numtorch.from_numpy(a), [8, 11]).numpy()
    ref = torch.nn.functional.interpolate(torch.from_numpy(a)[None], size=(8, 11), mode="bilinear",
                                          align_corners=False, antialias=True)[0].numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    up = F.resize(numtorch.from_numpy(a), [30, 40]).numpy()   # enlarging: plain bilinear
    ref = torch.nn.functional.interpolate(torch.from_numpy(a)[None], size=(30, 40), mode="bilinear",
                                          align_corners=False)[0].numpy()
    np.testing.assert_allclose(up, ref, rtol=1e-5, atol=1e-6)


def test_crops_flips_pad_on_pil_and_tensor():
    a = _rgb(10, 14)
    img, t = Image.fromarray(a), numtorch.from_numpy(a.transpose(2, 0, 1).copy())
    # CenterCrop: top = round((10 - 4) / 2) = 3, left = round((14 - 6) / 2) = 4
    np.testing.assert_array_equal(np.asarray(T.CenterCrop((4, 6))(img)), a[3:7, 4:10])
    np.testing.assert_array_equal(T.CenterCrop((4, 6))(t).numpy(), a[3:7, 4:10].transpose(2, 0, 1))
    np.testing.assert_array_equal(np.asarray(F.crop(img, 2, 3, 5, 4)), a[2:7, 3:7])
    np.testing.assert_array_equal(F.crop(t, 2, 3, 5, 4).numpy(), a[2:7, 3:7].transpose(2, 0, 1))
    np.testing.assert_array_equal(np.asarray(F.hflip(img)), a[:, ::-1])
    np.testing.assert_array_equal(F.vflip(t).numpy(), a[::-1].transpose(2, 0, 1))
    np.testing.assert_array_equal(np.asarray(T.Pad((1, 2))(img)), np.pad(a, ((2, 2), (1, 1), (0, 0))))
    np.testing.assert_array_equal(np.asarray(T.RandomHorizontalFlip(p=1.0)(img)), a[:, ::-1])
    numtorch.manual_seed(0)
    c = T.RandomCrop(8, padding=2)(img)
    assert c.size == (8, 8)
    assert F.get_image_size(img) == [14, 10] and F.get_dimensions(t) == [3, 10, 14]


def test_random_resized_crop_pil_is_a_resized_window():
    a = _rgb(40, 60)
    img = Image.fromarray(a)
    rrc = T.RandomResizedCrop(16)
    numtorch.manual_seed(5)
    out = rrc(img)
    numtorch.manual_seed(5)
    top, left, h, w = T.RandomResizedCrop.get_params(img, rrc.scale, rrc.ratio)  # torchvision's static form
    assert out.size == (16, 16)
    area = h * w / (40 * 60)
    assert 0.08 <= area <= 1.0 + 1e-9 and 3 / 4 - 0.05 <= w / h <= 4 / 3 + 0.05
    ref = img.crop((left, top, left + w, top + h)).resize((16, 16), Image.BILINEAR)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(ref))


def test_grayscale_colour_and_compose_pipeline():
    a = _rgb()
    t = numtorch.from_numpy(a.transpose(2, 0, 1).astype(np.float32) / 255)
    g = T.Grayscale()(t).numpy()[0]
    ref = (0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]) / 255
    np.testing.assert_allclose(g, ref, rtol=1e-5)
    x = t.numpy()
    np.testing.assert_allclose(F.adjust_brightness(t, 0.5).numpy(), x * 0.5, rtol=1e-6)
    np.testing.assert_allclose(F.adjust_saturation(t, 0.0).numpy(), np.broadcast_to(T.Grayscale()(t).numpy(), x.shape),
                               rtol=1e-5)
    np.testing.assert_allclose(F.adjust_contrast(t, 0.0).numpy(), np.full_like(x, ref.mean()), rtol=1e-5)
    with pytest.raises(ValueError, match="brightness_factor"):
        F.adjust_brightness(t, -1)
    # dcgan's and imagenet's pipelines: PIL in, normalized float tensor out
    pipe = T.Compose([T.Resize(8), T.CenterCrop(8), T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3)])
    out = pipe(Image.fromarray(a))
    assert out.shape == (3, 8, 8) and float(out.min()) >= -1 and float(out.max()) <= 1
    numtorch.manual_seed(0)
    aug = T.Compose([T.RandomResizedCrop(8), T.RandomHorizontalFlip(), T.ColorJitter(0.2, 0.2, 0.2),
                     T.RandomApply([T.Grayscale(3)], p=0.5), T.ToTensor(), T.Lambda(lambda v: v * 2)])
    assert aug(Image.fromarray(a)).shape == (3, 8, 8)


def test_functional_normalize_and_to_tensor_are_the_same_functions():
    assert F.to_tensor is T.to_tensor and F.normalize is T.normalize
    x = numtorch.ones(3, 2, 2)
    np.testing.assert_allclose(F.normalize(x, [0.5, 0.0, 1.0], [0.5, 2.0, 1.0]).numpy()[:, 0, 0], [1.0, 0.5, 0.0])


def test_adjust_hue_against_colorsys():
    import colorsys
    rng = np.random.default_rng(4)
    x = rng.random((3, 4, 5)).astype(np.float32)
    x[:, 0, 0] = 0.5   # a grey pixel: no hue, unchanged
    out = F.adjust_hue(numtorch.from_numpy(x), 0.2).numpy()
    ref = np.empty_like(x)
    for i in range(4):
        for j in range(5):
            h, s, v = colorsys.rgb_to_hsv(*x[:, i, j])
            ref[:, i, j] = colorsys.hsv_to_rgb((h + 0.2) % 1.0, s, v)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(F.adjust_hue(numtorch.from_numpy(x), 0.0).numpy(), x, atol=1e-6)
    with pytest.raises(ValueError, match="hue_factor"):
        F.adjust_hue(numtorch.from_numpy(x), 0.7)
    # ColorJitter(hue=(h, h)) is adjust_hue(h); a PIL image stays a PIL image
    np.testing.assert_allclose(T.ColorJitter(hue=(0.2, 0.2))(numtorch.from_numpy(x)).numpy(), ref, rtol=1e-5,
                               atol=1e-6)
    img = Image.fromarray(_rgb())
    assert isinstance(T.ColorJitter(0.1, 0.1, 0.1, 0.1)(img), Image.Image)
    with pytest.raises(ValueError, match="hue values"):
        T.ColorJitter(hue=0.6)


def test_random_crop_get_params_static():
    img = Image.fromarray(_rgb(10, 14))
    numtorch.manual_seed(1)
    top, left, h, w = T.RandomCrop.get_params(img, (4, 6))
    assert (h, w) == (4, 6) and 0 <= top <= 6 and 0 <= left <= 8
    numtorch.manual_seed(1)
    out = T.RandomCrop((4, 6))(img)   # the same draws: the same window
    np.testing.assert_array_equal(np.asarray(out), _rgb(10, 14)[top:top + 4, left:left + 6])
    with pytest.raises(ValueError, match="larger than input image size"):
        T.RandomCrop.get_params(img, 20)
