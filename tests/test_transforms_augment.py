"""Augmentation transforms on tensors, PIL images and HWC arrays, against closed forms and PyTorch."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
from numtorch.vision import transforms as T


def _img(c=3, h=6, w=8, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.random((c, h, w)) if dtype == np.float32 else rng.integers(0, 256, (c, h, w))
    return a.astype(dtype)


def test_flips_and_pad():
    a = _img()
    t = numtorch.tensor(a)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(t).numpy(), a[:, :, ::-1])
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1.0)(t).numpy(), a[:, ::-1, :])
    assert T.RandomHorizontalFlip(p=0.0)(t) is t
    np.testing.assert_array_equal(T.Pad((1, 2))(t).numpy(), np.pad(a, ((0, 0), (2, 2), (1, 1))))
    np.testing.assert_array_equal(T.Pad((1, 2, 3, 4), padding_mode="reflect")(t).numpy(),
                                  np.pad(a, ((0, 0), (2, 4), (1, 3)), mode="reflect"))


def test_center_and_random_crop():
    a = _img(h=7, w=9)
    np.testing.assert_array_equal(T.CenterCrop(3)(numtorch.tensor(a)).numpy(), a[:, 2:5, 3:6])
    numtorch.manual_seed(0)
    out = T.RandomCrop(8, padding=4)(numtorch.tensor(_img(h=8, w=8))).numpy()
    assert out.shape == (3, 8, 8)
    padded = np.pad(_img(h=8, w=8), ((0, 0), (4, 4), (4, 4)))
    windows = [padded[:, i:i + 8, j:j + 8] for i in range(9) for j in range(9)]
    assert any(np.array_equal(out, wdw) for wdw in windows)
    with pytest.raises(ValueError, match="larger than input"):
        T.RandomCrop(10)(numtorch.tensor(a))


def test_seeded_randomness_repeats():
    t = numtorch.tensor(_img(h=16, w=16))
    aug = T.Compose([T.RandomResizedCrop(8), T.RandomHorizontalFlip(), T.ColorJitter(0.4, 0.4)])
    numtorch.manual_seed(3)
    a = aug(t).numpy()
    numtorch.manual_seed(3)
    b = aug(t).numpy()
    assert a.shape == (3, 8, 8) and np.array_equal(a, b)


def test_resize_matches_torch_bilinear(torch):
    a = _img(h=6, w=8)
    out = T.Resize((9, 5), antialias=False)(numtorch.tensor(a)).numpy()
    ref = torch.nn.functional.interpolate(torch.tensor(a)[None], size=(9, 5), mode="bilinear",
                                          align_corners=False)[0].numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    # torchvision's default antialias=True: shrinking averages (torch's antialiased bilinear)
    out = T.Resize((9, 5))(numtorch.tensor(a)).numpy()
    ref = torch.nn.functional.interpolate(torch.tensor(a)[None], size=(9, 5), mode="bilinear",
                                          align_corners=False, antialias=True)[0].numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    assert T.Resize(12)(numtorch.tensor(a)).shape == (3, 12, 16)  # smaller edge 6 -> 12


def test_grayscale_and_color_jitter_closed_form():
    a = _img()
    g = T.Grayscale()(numtorch.tensor(a)).numpy()
    np.testing.assert_allclose(g[0], 0.299 * a[0] + 0.587 * a[1] + 0.114 * a[2], rtol=1e-6)
    assert T.Grayscale(3)(numtorch.tensor(a)).shape == (3, 6, 8)
    out = T.ColorJitter(brightness=(2.0, 2.0))(numtorch.tensor(a)).numpy()
    np.testing.assert_allclose(out, np.clip(a * 2, 0, 1), rtol=1e-6)
    out = T.ColorJitter(contrast=(0.5, 0.5))(numtorch.tensor(a)).numpy()
    mean = (0.299 * a[0] + 0.587 * a[1] + 0.114 * a[2]).mean()
    np.testing.assert_allclose(out, np.clip(0.5 * a + 0.5 * mean, 0, 1), rtol=1e-5)


def test_random_erasing():
    a = _img(h=16, w=16) + 1.0
    out = T.RandomErasing(p=1.0, value=0)(numtorch.tensor(a)).numpy()
    zero = out == 0
    assert zero.any() and zero.all(axis=0).any()
    rows, cols = np.where(zero[0])
    assert zero[:, rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()  # one rectangle
    np.testing.assert_array_equal(out[~zero], a[~zero])


def test_pil_and_hwc_array_inputs():
    pytest.importorskip("PIL")
    from PIL import Image
    a = _img(dtype=np.uint8).transpose(1, 2, 0).copy()
    pil = Image.fromarray(a)
    out = T.RandomHorizontalFlip(p=1.0)(pil)
    assert isinstance(out, Image.Image)
    np.testing.assert_array_equal(np.asarray(out), a[:, ::-1])
    np.testing.assert_array_equal(np.asarray(T.CenterCrop(4)(pil)), a[1:5, 2:6])
    assert np.asarray(T.Grayscale()(pil)).shape == (6, 8)
    np.testing.assert_array_equal(T.Pad(1)(a), np.pad(a, ((1, 1), (1, 1), (0, 0))))
    r = T.Resize((3, 4))(a)
    assert r.shape == (3, 4, 3) and r.dtype == np.uint8
