"""The real ``numtorch`` command, run in subprocesses (``python -m numtorch ...``) with small settings."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import numtorch

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# small matrices: one BLAS thread is fastest (and two on a busy machine are far slower)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def numtorch_cmd(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "numtorch", *map(str, args)], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=120)


def start(*args, cwd=None) -> subprocess.Popen:
    """Starts the command without waiting (the error cases run side by side)."""
    return subprocess.Popen([sys.executable, "-m", "numtorch", *map(str, args)], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def assert_png(path: Path) -> None:
    assert path.is_file(), f"{path} was not written"
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    Image = pytest.importorskip("PIL.Image")
    with Image.open(path) as im:
        im.load()
        assert im.size[0] > 100 and im.size[1] > 100


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``numtorch train`` on the digits for 3 epochs: (output folder, completed process)."""
    pytest.importorskip("sklearn")
    out = tmp_path_factory.mktemp("run")
    res = numtorch_cmd("train", "--epochs", 3, "--out", out, "--quiet", "--seed", 1)
    assert res.returncode == 0, res.stderr
    return out, res


def test_train_writes_checkpoint_curves_and_history(trained):
    out, res = trained
    acc = [float(a) for a in re.findall(r"held-out loss [\d.]+ acc ([\d.]+)", res.stdout)]
    assert len(acc) == 3 and acc[-1] > 0.8  # three epochs of the two-layer net on the digits
    assert_png(out / "curves.png")
    ckpt = numtorch.load(str(out / "checkpoint.safetensors"))
    assert set(ckpt["model"]) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    assert tuple(ckpt["model"]["fc1.weight"].shape) == (100, 64)
    assert ckpt["config"]["optimizer"] == "sgd" and ckpt["classes"] == [str(d) for d in range(10)]
    assert "state" in ckpt["optimizer"] and "param_groups" in ckpt["optimizer"]


def _numpy_probs(ckpt, x: np.ndarray) -> np.ndarray:
    """Softmax of the two-layer net, computed by hand from the checkpoint's weights."""
    w = {k: v.numpy().astype(np.float64) for k, v in ckpt["model"].items()}
    h = np.maximum(x @ w["fc1.weight"].T + w["fc1.bias"], 0)
    s = h @ w["fc2.weight"].T + w["fc2.bias"]
    e = np.exp(s - s.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_eval_and_predict(trained, tmp_path):
    Image = pytest.importorskip("PIL.Image")
    from sklearn.datasets import load_digits
    out, res = trained
    ckpt_path = out / "checkpoint.safetensors"
    ev = start("eval", ckpt_path)
    # a held-out digit as an 8x8 PNG, light on dark like the training images
    digits = load_digits()
    idx = int(np.flatnonzero(digits.target == 2)[4])  # the fifth "2" is in the held-out split
    pixels = np.rint(digits.images[idx] * 255 / 16).astype(np.uint8)
    png = tmp_path / "two.png"
    Image.fromarray(pixels, mode="L").save(png)
    pred = numtorch_cmd("predict", ckpt_path, png, "--plot", tmp_path / "bars.png")
    assert pred.returncode == 0, pred.stderr
    rows = re.findall(r"^\s+(\d)\s+(-?[\d.]+)\s+([\d.]+)$", pred.stdout, re.M)
    probs = np.array([float(p) for _, _, p in rows])
    assert len(probs) == 10 and abs(probs.sum() - 1) < 2e-3
    expected = _numpy_probs(numtorch.load(str(ckpt_path)), pixels.reshape(1, 64) / 255.0)[0]
    np.testing.assert_allclose(probs, expected, atol=6e-5)  # printed with 4 decimals
    assert pred.stdout.startswith(f"{png}: {expected.argmax()} (probability")
    assert_png(tmp_path / "bars.png")
    stdout, stderr = ev.communicate(timeout=120)
    assert ev.returncode == 0, stderr
    acc = float(re.search(r"accuracy ([\d.]+)", stdout).group(1))
    last_epoch = float(re.findall(r"held-out loss [\d.]+ acc ([\d.]+)", res.stdout)[-1])
    assert acc == pytest.approx(last_epoch, abs=1e-4)  # the saved model is the trained one
    assert "355 images" in stdout


def test_plot_activations(tmp_path):
    pytest.importorskip("matplotlib")
    res = numtorch_cmd("plot", "activations", "--out", tmp_path / "act.png")
    assert res.returncode == 0, res.stderr
    assert_png(tmp_path / "act.png")


def test_gradcheck_passes_and_fails_with_zero_tolerance():
    ok, strict = start("gradcheck"), start("gradcheck", "--tol", "0")
    out, err = ok.communicate(timeout=120)
    assert ok.returncode == 0, err
    diffs = [float(d) for d in re.findall(r"^\s+fc\d\.\w+\s+(\S+)$", out, re.M)]
    assert len(diffs) == 4 and max(diffs) < 1e-7
    strict.communicate(timeout=120)
    assert strict.returncode == 1


def test_lr_search_two_trials(tmp_path):
    pytest.importorskip("sklearn")
    res = numtorch_cmd("lr-search", "--trials", 2, "--epochs", 1, "--out", tmp_path / "search.png")
    assert res.returncode == 0, res.stderr
    ranks = re.findall(r"^\s+(\d)\s+\S+e[-+]\d+\s+\S+e[-+]\d+\s+([\d.]+)", res.stdout, re.M)
    assert [r for r, _ in ranks] == ["1", "2"]
    assert float(ranks[0][1]) >= float(ranks[1][1])
    assert_png(tmp_path / "search.png")


def test_errors_are_one_line_and_non_zero(trained, tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    cases = {  # arguments -> (expected exit status, a phrase the line must contain)
        ("train", "--epochs", "x"): (2, "invalid int value"),
        ("train", "--lr", "-1"): (2, "argument --lr: expected a positive finite number"),
        ("eval", tmp_path / "missing.pt"): (1, "checkpoint not found"),
        ("eval", garbage): (1, "cannot read checkpoint"),
        ("predict", garbage, tmp_path / "x.png"): (1, "cannot read checkpoint"),
        ("predict", trained[0] / "checkpoint.safetensors", tmp_path / "x.png"): (1, "image not found"),
        ("train", "--data", "mnist", "--data-dir", tmp_path, "--quiet"): (1, "t10k-images-idx3-ubyte"),
        ("plot", "nothing"): (2, "invalid choice"),
    }
    procs = {args: start(*args, cwd=tmp_path) for args in cases}
    for args, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        status, phrase = cases[args]
        lines = err.strip().splitlines()
        assert proc.returncode == status, (args, err)
        assert len(lines) == 1 and "Traceback" not in err, (args, err)
        assert phrase in lines[0] and lines[0].startswith("numtorch "), (args, lines[0])


def test_version_and_help():
    res = numtorch_cmd("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"numtorch {numtorch.__version__}"
    res = numtorch_cmd("train", "--help")
    assert res.returncode == 0 and "--batch-size" in res.stdout and "--eval-interval" in res.stdout


def test_plain_progress_bar_is_one_line():
    import io
    from numtorch.cli.common import PlainBar
    stream = io.StringIO()
    bar = PlainBar(4, "epoch 1/1", stream=stream, width=8)
    for _ in range(4):
        bar.update(1)
        bar.set_postfix_str("loss=0.5")
    bar.close()
    text = stream.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1  # redrawn in place with \r
    assert "epoch 1/1 [########] 4/4" in text.split("\r")[-1] and "loss=0.5" in text


@pytest.mark.slow
def test_default_train_reaches_095_within_a_minute(tmp_path):
    """The acceptance run: `numtorch train` with no arguments (30 epochs on the digits)."""
    pytest.importorskip("sklearn")
    import time
    t0 = time.perf_counter()
    res = numtorch_cmd("train", cwd=tmp_path)
    elapsed = time.perf_counter() - t0
    assert res.returncode == 0, res.stderr
    assert float(re.search(r"^held-out accuracy ([\d.]+)$", res.stdout, re.M).group(1)) >= 0.95
    assert elapsed < 60
    assert len(list((tmp_path / "runs").glob("*/checkpoint.safetensors"))) == 1


@pytest.mark.slow
def test_train_simplecnn_on_mnist(tmp_path, data_dir):
    if not (data_dir / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("shared MNIST files not present")
    res = numtorch_cmd("train", "--model", "simplecnn", "--data", "mnist", "--data-dir", data_dir / "mnist",
                       "--epochs", 1, "--out", tmp_path / "cnn", "--quiet")
    assert res.returncode == 0, res.stderr
    assert float(re.search(r"^held-out accuracy ([\d.]+)$", res.stdout, re.M).group(1)) >= 0.8
