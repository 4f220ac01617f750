"""``numtorch export``: a checkpoint of ``numtorch train`` as an ONNX file that onnxruntime runs to
the probabilities ``numtorch predict`` prints (the oracle: predict's own output, 4 decimals)."""
from __future__ import annotations

import re

import numpy as np
import pytest

import numtorch
from test_cli import numtorch_cmd, start

ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install numtorch[onnx])")
pytest.importorskip("onnx", reason="needs onnx (pip install numtorch[onnx])")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """One epoch of ``numtorch train --model simplecnn`` on the 8x8 digits."""
    pytest.importorskip("sklearn")
    out = tmp_path_factory.mktemp("run")
    res = numtorch_cmd("train", "--model", "simplecnn", "--epochs", 1, "--out", out, "--quiet", "--seed", 3)
    assert res.returncode == 0, res.stderr
    return out


def _digit_pngs(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    from sklearn.datasets import load_digits
    digits = load_digits()
    paths = []
    for k, idx in enumerate((7, 42)):
        png = tmp_path / f"digit{k}.png"
        Image.fromarray(np.rint(digits.images[idx] * 255 / 16).astype(np.uint8), mode="L").save(png)
        paths.append(png)
    return paths


def test_export_runs_to_predicts_probabilities(run_dir, tmp_path):
    from numtorch.cli.predict import image_to_input
    onnx_path = tmp_path / "model.onnx"
    res = numtorch_cmd("export", run_dir / "checkpoint.safetensors", "--format", "onnx", "--out", onnx_path,
                       "--dynamic-batch")
    assert res.returncode == 0, res.stderr
    assert onnx_path.is_file() and "wrote" in res.stdout
    pngs = _digit_pngs(tmp_path)
    pred = numtorch_cmd("predict", run_dir, *pngs)
    assert pred.returncode == 0, pred.stderr
    printed = np.array([float(p) for p in re.findall(r"^\s+\d\s+-?[\d.]+\s+([\d.]+)$", pred.stdout, re.M)])
    printed = printed.reshape(len(pngs), 10)
    shape = tuple(numtorch.load(str(run_dir / "checkpoint.safetensors"))["config"]["image_shape"])
    x = np.stack([image_to_input(p, shape) for p in pngs])  # batch 2 through a file exported with batch 1
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["logits", "probabilities"]
    logits, probs = sess.run(None, {"input": x})
    np.testing.assert_allclose(probs, printed, atol=6e-5)  # printed with 4 decimals
    e = np.exp(logits.astype(np.float64) - logits.max(1, keepdims=True))
    np.testing.assert_allclose(probs, e / e.sum(1, keepdims=True), atol=1e-6)


def test_export_gpt_checkpoint(tmp_path):
    from numtorch.cli.train_text import GPT_DEFAULTS, save_text_run
    from numtorch.models import GPT
    from numtorch.text import CharTokenizer
    tok = CharTokenizer().fit("hello world")
    settings = dict(GPT_DEFAULTS, block_size=12, n_layer=1, n_head=2, n_embd=8, lr=1e-3)
    numtorch.manual_seed(0)
    model = GPT(tok.vocab_size, 1, 2, 8, 12)
    history = {"step_loss": [2.0], "step": [1], "train_loss": [2.0], "val_loss": [2.0]}
    save_text_run(tmp_path / "run", settings, {"model": model, "tokenizer": tok, "history": history}, "")
    out = tmp_path / "gpt.onnx"
    res = numtorch_cmd("export", tmp_path / "run", "--out", out, "--dynamic-batch")
    assert res.returncode == 0, res.stderr
    ids = np.array([tok.encode("hello w"), tok.encode("world h")], dtype=np.int64)
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"idx": ids})[0]
    with numtorch.no_grad():
        want = model.eval()(numtorch.from_numpy(ids))[0].numpy()
    np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max())


def test_export_detector_network(tmp_path):
    from numtorch.cli.train_detect import save_detector_run
    from numtorch.models.detection import centernet_digits
    numtorch.manual_seed(0)
    det = centernet_digits()
    save_detector_run(tmp_path / "run", {"model": "detector", "canvas_size": 32}, {"model": det, "history": {}})
    out = tmp_path / "det.onnx"
    res = numtorch_cmd("export", tmp_path / "run", "--out", out, "--dynamic-batch")
    assert res.returncode == 0, res.stderr
    x = np.random.default_rng(0).random((3, 1, 32, 32), dtype=np.float32)
    heat, boxes = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"images": x})
    with numtorch.no_grad():
        h = det.eval().head(det.backbone(numtorch.from_numpy(x)))
        want_heat, want_boxes = det.cls_logits(h).numpy(), det.bbox_pred(h).numpy()
    np.testing.assert_allclose(heat, want_heat, atol=1e-4 * np.abs(want_heat).max())
    np.testing.assert_allclose(boxes, want_boxes, atol=1e-4 * np.abs(want_boxes).max())


def test_bad_input_is_one_line_and_writes_nothing(run_dir, tmp_path):
    not_ckpt = tmp_path / "notes.safetensors"
    not_ckpt.write_bytes(b"not a checkpoint")
    out = tmp_path / "m.onnx"
    cases = ([not_ckpt, "--out", out], [tmp_path / "missing", "--out", out],
             [run_dir, "--out", tmp_path / "no" / "such" / "m.onnx"], [run_dir, "--out", out, "--opset", "9"],
             [run_dir, "--format", "tflite", "--out", out])
    procs = [start("export", *args) for args in cases]  # side by side: each starts a Python
    for proc in procs:
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode != 0
        assert len(stderr.strip().splitlines()) == 1 and stderr.startswith("numtorch export: error:"), stderr
    assert procs[-1].returncode == 2 and "invalid choice" in stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.safetensors"]  # no temporary left behind
