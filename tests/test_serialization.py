"""numtorch.save / numtorch.load: safetensors + JSON structure, PyTorch interop, failure modes."""
import io
import json
import math
import os
import struct
from collections import OrderedDict

import numpy as np
import pytest

import numtorch as nt

pytest.importorskip("safetensors")


def _eq(a, b):
    """Deep equality of loaded objects: tensors by dtype, shape and values."""
    if isinstance(a, nt.Tensor):
        assert isinstance(b, nt.Tensor) and a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a.numpy(force=True), b.numpy(force=True))
    elif isinstance(a, dict):
        assert type(a) is type(b) and list(a) == list(b)
        for k in a:
            _eq(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _eq(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert type(a) is type(b) and a == b


def _checkpoint():
    w = nt.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    a = nt.tensor([1.0, 2.0], requires_grad=True)
    opt = nt.optim.Adam([a], lr=0.1, amsgrad=True)
    (a * a).sum().backward()
    opt.step()
    sched = nt.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 5])
    plateau = nt.optim.lr_scheduler.ReduceLROnPlateau(opt)
    return {
        "model": OrderedDict([("fc.weight", w), ("fc.bias", nt.zeros(2)), ("steps", nt.tensor(7)),
                              ("mask", nt.tensor([True, False])), ("half", nt.ones(3, dtype=nt.float16)),
                              ("scalar", nt.tensor(2.5, dtype=nt.float64)), ("empty", nt.zeros(0, 4))]),
        "optimizer": opt.state_dict(),
        "scheduler": {k: v for k, v in sched.state_dict().items() if k != "milestones"},
        "plateau": plateau.state_dict(),
        "epoch": 3, "loss": 0.25, "name": "run-1", "done": False, "note": None, "nan": float("nan"),
        "shape": (2, 3), "history": [1, 2.5, [3, {"x": 1}]], "by_int": {0: "a", 1: "b", -2: "c"},
        "dtype": nt.float16, "device": nt.device("cpu"),
    }


def test_round_trip_path(tmp_path):
    ck = _checkpoint()
    path = tmp_path / "ckpt.safetensors"
    nt.save(ck, path)
    out = nt.load(path)
    _eq(ck, out)
    assert list(os.listdir(tmp_path)) == ["ckpt.safetensors"]      # no temporary file left behind
    assert out["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert out["plateau"]["best"] == math.inf and out["plateau"]["mode_worse"] == math.inf


def test_round_trip_file_object():
    ck = _checkpoint()
    buf = io.BytesIO()
    nt.save(ck, buf)
    buf.seek(0)
    _eq(ck, nt.load(buf))


def test_single_tensor_and_list():
    buf = io.BytesIO()
    t = nt.randn(3, 4)[:, ::2]               # non-contiguous
    nt.save([t, t], buf)
    buf.seek(0)
    out = nt.load(buf)
    np.testing.assert_array_equal(out[0].numpy(), t.numpy())
    assert out[0] is out[1]                   # one tensor saved twice is stored once


def test_optimizer_resumes_from_file(tmp_path):
    """save optimizer + scheduler mid-training, load into fresh objects, continue == uninterrupted."""
    def make():
        w = nt.tensor([1.0, -2.0, 3.0], dtype=nt.float64, requires_grad=True)
        opt = nt.optim.Adam([w], lr=0.1)
        return w, opt, nt.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)

    def train(w, opt, sched, n):
        for _ in range(n):
            opt.zero_grad()
            (w ** 4).sum().backward()
            opt.step()
            sched.step()

    w_ref, opt_ref, sched_ref = make()
    train(w_ref, opt_ref, sched_ref, 10)
    w, opt, sched = make()
    train(w, opt, sched, 4)
    nt.save({"w": w.detach(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict()},
            tmp_path / "ck.safetensors")
    ck = nt.load(tmp_path / "ck.safetensors")
    w2, opt2, sched2 = make()
    with nt.no_grad():
        w2.copy_(ck["w"])
    opt2.load_state_dict(ck["optimizer"])
    sched2.load_state_dict(ck["scheduler"])
    train(w2, opt2, sched2, 6)
    np.testing.assert_array_equal(w2.detach().numpy(), w_ref.detach().numpy())
    assert sched2.get_last_lr() == sched_ref.get_last_lr()


def test_state_dict_file_loads_in_torch(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file
    sd = OrderedDict([("fc.weight", nt.randn(4, 3)), ("fc.bias", nt.randn(4)),
                      ("bn.num_batches_tracked", nt.tensor(5))])
    nt.save(sd, tmp_path / "model.safetensors")
    out = load_file(str(tmp_path / "model.safetensors"))
    assert set(out) == set(sd)
    for k, v in sd.items():
        assert out[k].dtype == getattr(torch, str(v.dtype).split(".")[-1])
        np.testing.assert_array_equal(out[k].numpy(), v.numpy())


def test_torch_safetensors_file_loads_here(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file
    ref = {"a.weight": torch.randn(3, 2), "a.bias": torch.arange(4), "flag": torch.tensor([True])}
    save_file(ref, str(tmp_path / "t.safetensors"))
    out = nt.load(tmp_path / "t.safetensors")
    assert set(out) == set(ref)
    for k, v in ref.items():
        assert str(out[k].dtype).split(".")[-1] == str(v.dtype).split(".")[-1]
        np.testing.assert_array_equal(out[k].numpy(), v.numpy())
    flat = nt.serialization.load_file(tmp_path / "t.safetensors")
    assert set(flat) == set(ref)


def test_save_file_helper_round_trip(tmp_path):
    t = {"x": nt.arange(5), "y": nt.ones(2, 2)}
    nt.serialization.save_file(t, tmp_path / "f.safetensors")
    out = nt.serialization.load_file(tmp_path / "f.safetensors")
    _eq(t, {k: out[k] for k in t})


def test_parameter_and_requires_grad_kept():
    p = nt.nn.Parameter(nt.ones(2))
    buf = io.BytesIO()
    nt.save({"p": p, "q": nt.zeros(1, requires_grad=True)}, buf)
    buf.seek(0)
    out = nt.load(buf)
    assert isinstance(out["p"], nt.nn.Parameter) and out["p"].requires_grad
    assert out["q"].requires_grad and not isinstance(out["q"], nt.nn.Parameter)


def test_map_location_variants():
    buf = io.BytesIO()
    nt.save({"t": nt.ones(2)}, buf)
    for ml in ["cpu", nt.device("cpu"), {"cpu": "cpu"}, None]:
        buf.seek(0)
        assert nt.load(buf, map_location=ml)["t"].device == nt.device("cpu")
    seen = []
    buf.seek(0)
    out = nt.load(buf, map_location=lambda t, loc: seen.append(loc) or t * 2)
    assert seen == ["cpu"] and out["t"].tolist() == [2.0, 2.0]


def test_map_location_cuda_without_gpu_raises():
    if nt.cuda.is_available():
        pytest.skip("a GPU is present")
    buf = io.BytesIO()
    nt.save({"t": nt.ones(2)}, buf)
    buf.seek(0)
    with pytest.raises(RuntimeError, match="CUDA"):
        nt.load(buf, map_location="cuda:0")


def test_truncated_and_corrupted_files_raise(tmp_path):
    path = tmp_path / "good.safetensors"
    nt.save({"w": nt.randn(100)}, path)
    data = path.read_bytes()
    bad = tmp_path / "truncated.safetensors"
    bad.write_bytes(data[:len(data) // 2])
    with pytest.raises(RuntimeError, match="truncated.safetensors"):
        nt.load(bad)
    tiny = tmp_path / "tiny.bin"
    tiny.write_bytes(b"abc")
    with pytest.raises(RuntimeError, match="tiny.bin"):
        nt.load(tiny)
    pickle_like = tmp_path / "model.pt"
    pickle_like.write_bytes(b"PK\x03\x04" + b"\x00" * 200)     # what torch.save writes: a zip of pickles
    with pytest.raises(RuntimeError, match="model.pt"):
        nt.load(pickle_like)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(struct.pack("<Q", 10) + b"not json!!" + b"\x00" * 8)
    with pytest.raises(RuntimeError, match="garbage.safetensors"):
        nt.load(garbage)
    with pytest.raises(FileNotFoundError):
        nt.load(tmp_path / "missing.safetensors")


def test_corrupted_structure_raises(tmp_path):
    from safetensors.numpy import save_file
    path = tmp_path / "bad_meta.safetensors"
    save_file({"a": np.zeros(2)}, str(path), metadata={"numtorch": json.dumps({"object": {"__tensor__": "zz"}})})
    with pytest.raises(RuntimeError, match="bad_meta.safetensors.*'zz' is missing"):
        nt.load(path)


def test_failed_save_leaves_old_file_intact(tmp_path):
    path = tmp_path / "ck.safetensors"
    nt.save({"epoch": 1, "w": nt.ones(2)}, path)
    with pytest.raises(TypeError, match="cannot save an object of type object"):
        nt.save({"epoch": 2, "bad": object()}, path)
    assert nt.load(path)["epoch"] == 1
    assert sorted(os.listdir(tmp_path)) == ["ck.safetensors"]


def test_never_pickles(monkeypatch, tmp_path):
    import pickle

    def boom(*a, **k):
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "dumps", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    nt.save(_checkpoint(), tmp_path / "c.safetensors")
    nt.load(tmp_path / "c.safetensors")


def test_model_state_dict_round_trip_with_torch(tmp_path):
    """numtorch model -> file -> torch model gives the same outputs, and back again."""
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file, save_file
    try:
        model = nt.nn.Sequential(nt.nn.Linear(5, 7), nt.nn.ReLU(), nt.nn.Linear(7, 2))
    except (AttributeError, NotImplementedError) as e:      # nn is another engineer's work in progress
        pytest.skip(f"numtorch.nn not ready: {e}")
    ref = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 2))
    nt.save(model.state_dict(), tmp_path / "nt.safetensors")
    ref.load_state_dict(load_file(str(tmp_path / "nt.safetensors")))
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    np.testing.assert_allclose(model(nt.tensor(x)).detach().numpy(), ref(torch.tensor(x)).detach().numpy(),
                               rtol=1e-6, atol=1e-6)
    ref2 = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 2))
    save_file(ref2.state_dict(), str(tmp_path / "torch.safetensors"))
    model.load_state_dict(nt.load(tmp_path / "torch.safetensors"))
    np.testing.assert_allclose(model(nt.tensor(x)).detach().numpy(), ref2(torch.tensor(x)).detach().numpy(),
                               rtol=1e-6, atol=1e-6)


def test_float8_file_gives_clear_error(tmp_path):
    # (bfloat16 loads: tests/test_bfloat16.py; float8 has no numtorch dtype)
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file
    save_file({"w": torch.ones(2, dtype=torch.float8_e4m3fn)}, str(tmp_path / "f8.safetensors"))
    with pytest.raises(RuntimeError, match="f8.safetensors.*'w' of dtype F8_E4M3"):
        nt.load(tmp_path / "f8.safetensors")
