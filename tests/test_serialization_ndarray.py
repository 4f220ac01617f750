"""``numtorch.save`` / ``numtorch.load`` of NumPy arrays: they come back as NumPy arrays (PyTorch pickles
them; numtorch stores them in the safetensors part), through paths and file objects alike."""
from __future__ import annotations

import io

import numpy as np
import pytest

import numtorch


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "uint8", "bool", "complex64"])
def test_array_round_trip_through_a_file_object(tmp_path, dtype) -> None:
    a = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    path = tmp_path / "a.pt"
    with open(path, "wb") as f:
        numtorch.save(a, f)
    back = numtorch.load(path)
    assert type(back) is np.ndarray and back.dtype == a.dtype and back.shape == a.shape
    np.testing.assert_array_equal(back, a)
    with open(path, "rb") as f:   # a file object to read from, as well as a path
        np.testing.assert_array_equal(numtorch.load(f), a)


def test_arrays_nested_with_tensors() -> None:
    """Non-contiguous and 0-d arrays, beside tensors in a dict; the same array saved twice stays one."""
    a = np.arange(20.0).reshape(4, 5)[:, ::2]
    obj = {"x": a, "y": [a, np.float64(2.5), np.array(7)], "t": numtorch.ones(2)}
    buf = io.BytesIO()
    numtorch.save(obj, buf)
    buf.seek(0)
    back = numtorch.load(buf)
    np.testing.assert_array_equal(back["x"], a)
    assert back["y"][0] is back["x"] and back["y"][1] == 2.5
    assert type(back["y"][2]) is np.ndarray and back["y"][2].shape == () and back["y"][2] == 7
    assert isinstance(back["t"], numtorch.Tensor) and back["t"].tolist() == [1.0, 1.0]


def test_object_arrays_are_refused_and_nothing_is_written(tmp_path) -> None:
    path = tmp_path / "bad.pt"
    with pytest.raises(TypeError, match="cannot save a NumPy array of dtype object at 'k'"):
        numtorch.save({"k": np.array([{}, 1], dtype=object)}, path)
    assert not path.exists()


def test_loads_the_sine_waves_as_the_program_uses_them(tmp_path) -> None:
    """``torch.save(data, open(path, "wb"))`` without closing the file (as generate_sine_wave.py does),
    then ``torch.from_numpy(torch.load(path)[3:, :-1])``."""
    data = np.sin(np.arange(30.0).reshape(3, 10) / 20)
    numtorch.save(data, open(tmp_path / "traindata.pt", "wb"))
    x = numtorch.from_numpy(numtorch.load(str(tmp_path / "traindata.pt"))[1:, :-1])
    assert x.dtype == numtorch.float64 and tuple(x.shape) == (2, 9)
    np.testing.assert_array_equal(x.numpy(), data[1:, :-1])
