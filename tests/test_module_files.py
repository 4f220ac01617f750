"""``torch.save(model, f)`` / ``torch.load(f)``: whole modules in a safetensors file, never pickle.

Oracles: the rebuilt model computes what the saved one computed (same weights, same outputs); the
file is a plain safetensors file (``safetensors`` reads its tensors); PyTorch's own ``torch.load``
refusal of a class that is not allow-listed gives the wording numtorch must follow.
"""
from __future__ import annotations

import io
import json
import pickle

import numpy as np
import pytest

import numtorch
import numtorch.nn as nn
from numtorch.serialization import add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals


class Net(nn.Module):
    """A program's own module: a shared submodule, a function held as an attribute, plain values."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 6)
        self.rnn = nn.LSTM(6, 5, num_layers=2)
        self.head = nn.Linear(5, 10)
        self.again = self.head            # the same module twice
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(5, 1, dim_feedforward=8), 1)
        self.register_buffer("scale", numtorch.tensor([2.0]))
        self.act = nn.functional.relu
        self.config = {"tokens": 10, "names": ("a", "b"), "tags": {"x"}}

    def forward(self, x):
        h, _ = self.rnn(self.embed(x))
        return self.again(self.act(self.encoder(h))) * self.scale


def _roundtrip(obj, **load_kwargs):
    buf = io.BytesIO()
    numtorch.save(obj, buf)
    buf.seek(0)
    return numtorch.load(buf, **load_kwargs), buf.getvalue()


def _outputs(model):
    model.eval()
    x = numtorch.tensor([[1, 2], [3, 4], [5, 6]])
    with numtorch.no_grad():
        return model(x).numpy()


def test_own_module_needs_allow_listing_then_comes_back_equal() -> None:
    numtorch.manual_seed(0)
    model = Net()
    expected = _outputs(model)
    with pytest.raises(pickle.UnpicklingError) as e:
        _roundtrip(model)
    assert f"GLOBAL {__name__}.Net was not an allowed global by default" in str(e.value)
    assert "safe_globals" in str(e.value) and "weights_only" in str(e.value).lower()
    with safe_globals([Net]):
        loaded, data = _roundtrip(model)
    assert get_safe_globals() == []   # the context manager forgets on leaving
    assert type(loaded) is Net and loaded is not model
    np.testing.assert_array_equal(_outputs(loaded), expected)
    assert loaded.again is loaded.head and loaded.act is nn.functional.relu
    assert loaded.config == {"tokens": 10, "names": ("a", "b"), "tags": {"x"}}
    assert isinstance(loaded.head.weight, nn.Parameter) and loaded.head.weight.requires_grad
    assert list(loaded.state_dict()) == list(model.state_dict())


def test_the_file_is_safetensors_with_a_json_description() -> None:
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    _, data = _roundtrip(model)
    arrays = safetensors_numpy.load(data)
    np.testing.assert_array_equal(next(a for k, a in arrays.items() if k.endswith("weight")),
                                  model[0].weight.detach().numpy())
    header_len = int.from_bytes(data[:8], "little")
    meta = json.loads(json.loads(data[8:8 + header_len])["__metadata__"]["numtorch"])
    assert meta["object"]["__object__"] == "numtorch.nn.modules.container.Sequential"


def test_numtorch_modules_load_without_allow_listing() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3))
    model.eval()
    x = numtorch.randn(2, 1, 4, 4)
    loaded, _ = _roundtrip(model)
    assert not loaded.training
    np.testing.assert_array_equal(loaded(x).detach().numpy(), model(x).detach().numpy())


def test_add_safe_globals_and_weights_only_false() -> None:
    model = Net()
    try:
        add_safe_globals([Net])
        assert type(_roundtrip(model)[0]) is Net
    finally:
        clear_safe_globals()
    assert type(_roundtrip(model, weights_only=False)[0]) is Net  # trusts classes already imported


def _edited(obj, edit) -> io.BytesIO:
    """The file ``numtorch.save(obj)`` writes, with its JSON structure changed by ``edit(structure)``."""
    st = pytest.importorskip("safetensors.numpy")
    buf = io.BytesIO()
    numtorch.save(obj, buf)
    data = buf.getvalue()
    header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    meta = header["__metadata__"]
    description = json.loads(meta["numtorch"])
    edit(description["object"])
    meta["numtorch"] = json.dumps(description)
    return io.BytesIO(st.save(st.load(data), metadata=meta))


def test_a_class_of_no_imported_module_is_refused_even_without_weights_only() -> None:
    def rename(node):
        node["__object__"] = "some_module_never_imported.Linear"
    with pytest.raises(pickle.UnpicklingError, match="GLOBAL some_module_never_imported.Linear"):
        numtorch.load(_edited(nn.Linear(2, 2), rename), weights_only=False)
    assert "some_module_never_imported" not in __import__("sys").modules


def test_refusal_words_follow_pytorch(torch, tmp_path) -> None:
    """PyTorch's ``torch.load`` of a whole model whose class is not allow-listed: the sentence that names
    the class and the fix is the same in numtorch's message."""
    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 2)
    Model.__qualname__ = Model.__name__ = "TorchNet"  # pickle finds it by name: test_module_files.TorchNet
    Model.__module__ = __name__
    globals()["TorchNet"] = Model
    path = tmp_path / "torch.pt"
    torch.save(Model(), path)
    with pytest.raises(pickle.UnpicklingError) as theirs:
        torch.load(path)
    with pytest.raises(pickle.UnpicklingError) as ours:
        _roundtrip(Net())
    start = str(theirs.value).index("Unsupported global")
    sentence = str(theirs.value)[start:].split("\n")[0].replace("TorchNet", "Net")
    assert sentence in str(ours.value)
    del globals()["TorchNet"]


def test_corrupted_object_entries_are_runtime_errors() -> None:
    def bad_ref(node):
        node["state"]["__dict__"][0][1] = {"__ref__": 7}
    with pytest.raises(RuntimeError, match="__ref__"):
        numtorch.load(_edited(nn.Linear(2, 2), bad_ref))

    def no_state(node):
        del node["state"]
    with pytest.raises(RuntimeError, match="corrupted"):
        numtorch.load(_edited(nn.Linear(2, 2), no_state))
