"""Compose, ToTensor, PILToTensor, Normalize, Lambda, ConvertImageDtype against hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
from numtorch.vision import transforms as T


def test_to_tensor_hw_uint8():
    a = np.array([[0, 51], [102, 255]], dtype=np.uint8)
    t = T.ToTensor()(a)
    assert t.shape == (1, 2, 2) and t.dtype == numtorch.float32
    np.testing.assert_allclose(t.numpy(), [[[0.0, 0.2], [0.4, 1.0]]], rtol=1e-7)


def test_to_tensor_hwc_moves_channels_first():
    a = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)  # H=2, W=3, C=3
    t = T.ToTensor()(a)
    assert t.shape == (3, 2, 3)
    assert t.numpy()[1, 0, 2] == pytest.approx(a[0, 2, 1] / 255)
    assert t.numpy()[2, 1, 0] == pytest.approx(a[1, 0, 2] / 255)


def test_to_tensor_from_tensor_and_pil():
    PIL = pytest.importorskip("PIL.Image")
    a = np.array([[10, 20, 30]], dtype=np.uint8)
    from_tensor = T.ToTensor()(numtorch.from_numpy(a))
    from_pil = T.ToTensor()(PIL.fromarray(a, mode="L"))
    expected = np.array([[[10, 20, 30]]]) / 255
    np.testing.assert_allclose(from_tensor.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(from_pil.numpy(), expected, rtol=1e-6)
    rgb = PIL.fromarray(np.dstack([a, a * 2, a * 3]), mode="RGB")
    np.testing.assert_allclose(T.ToTensor()(rgb).numpy()[:, 0, 1], [20 / 255, 40 / 255, 60 / 255], rtol=1e-6)
    bits = PIL.fromarray(np.array([[0, 255]], dtype=np.uint8)).convert("1")
    np.testing.assert_allclose(T.ToTensor()(bits).numpy(), [[[0.0, 1.0]]])


def test_to_tensor_keeps_float_values_and_rejects_other_types():
    a = np.array([[0.5, 2.0]], dtype=np.float64)
    t = T.ToTensor()(a)
    assert t.dtype == numtorch.float64
    np.testing.assert_array_equal(t.numpy(), [[[0.5, 2.0]]])
    with pytest.raises(TypeError, match="PIL Image, ndarray or tensor"):
        T.ToTensor()([[1, 2]])
    with pytest.raises(ValueError, match="2 or 3 dimensional"):
        T.ToTensor()(np.zeros((1, 2, 2, 2), dtype=np.uint8))


def test_pil_to_tensor_keeps_uint8():
    a = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    t = T.PILToTensor()(a)
    assert t.dtype == numtorch.uint8 and t.tolist() == [[[1, 2], [3, 4]]]


def test_normalize_per_channel():
    x = numtorch.tensor([[[0.0, 1.0]], [[0.5, 0.25]]])  # C=2, H=1, W=2
    y = T.Normalize((0.5, 0.25), (0.5, 0.125))(x)
    np.testing.assert_allclose(y.numpy(), [[[-1.0, 1.0]], [[2.0, 0.0]]])
    assert y.dtype == numtorch.float32
    np.testing.assert_array_equal(x.numpy(), [[[0.0, 1.0]], [[0.5, 0.25]]])  # input untouched


def test_normalize_gradient_is_one_over_std():
    x = numtorch.tensor([[[0.2, 0.4]]], requires_grad=True)
    T.Normalize((0.1,), (0.25,))(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[[4.0, 4.0]]])  # d/dx (x - m) / s = 1 / s


def test_normalize_inplace_and_errors():
    x = numtorch.tensor([[[2.0, 4.0]]])
    out = T.Normalize((1.0,), (2.0,), inplace=True)(x)
    assert out is x and x.tolist() == [[[0.5, 1.5]]]
    with pytest.raises(TypeError, match="float tensor"):
        T.Normalize((0.0,), (1.0,))(numtorch.zeros(1, 2, 2, dtype=numtorch.uint8))
    with pytest.raises(ValueError, match="division by zero"):
        T.Normalize((0.0,), (0.0,))(numtorch.zeros(1, 2, 2))


def test_convert_image_dtype():
    u8 = numtorch.tensor([[[0, 128, 255]]], dtype=numtorch.uint8)
    f = T.ConvertImageDtype(numtorch.float32)(u8)
    np.testing.assert_allclose(f.numpy(), [[[0.0, 128 / 255, 1.0]]], rtol=1e-6)
    back = T.ConvertImageDtype(numtorch.uint8)(numtorch.tensor([[[0.0, 0.5, 1.0]]]))
    assert back.tolist() == [[[0, 127, 255]]]  # floor(x * (255 + 1 - 1e-3)), as torchvision
    wide = T.ConvertImageDtype(numtorch.int32)(u8)
    assert wide.tolist() == [[[0, 128 << 23, 255 << 23]]]  # 2**31 / 2**8 = 2**23 per step


def test_compose_and_lambda():
    t = T.Compose([T.ToTensor(), T.Lambda(lambda x: x * 2), T.Normalize((1.0,), (1.0,))])
    out = t(np.array([[255, 0]], dtype=np.uint8))
    np.testing.assert_allclose(out.numpy(), [[[1.0, -1.0]]])
    assert "ToTensor()" in repr(t) and "Normalize" in repr(t)
    with pytest.raises(TypeError, match="callable"):
        T.Lambda(3)
