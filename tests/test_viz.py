"""Plot helpers: autograd derivatives of the activations against closed forms, PNGs written atomically."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from numtorch import viz

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_activation_derivatives_match_closed_forms():
    curves = viz.activation_curves(-4.0, 4.0, 81)
    x = np.linspace(-4.0, 4.0, 81)
    s = _sigmoid(x)
    np.testing.assert_allclose(curves["sigmoid"][1], s, rtol=1e-12)
    np.testing.assert_allclose(curves["sigmoid"][2], s * (1 - s), rtol=1e-10)        # s' = s (1 - s)
    np.testing.assert_allclose(curves["tanh"][2], 1 - np.tanh(x) ** 2, atol=1e-12)   # 1 - tanh^2
    np.testing.assert_allclose(curves["ReLU"][2], (x > 0).astype(float))             # 0 at the kink, as PyTorch
    for beta in (0.1, 1.0, 10.0):
        sb = _sigmoid(beta * x)
        name = f"Swish β={beta:g}"
        np.testing.assert_allclose(curves[name][1], x * sb, atol=1e-12)
        # d/dx x s(bx) = s(bx) + b x s(bx) (1 - s(bx))
        np.testing.assert_allclose(curves[name][2], sb + beta * x * sb * (1 - sb), atol=1e-10)


def _assert_png(path):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    Image = pytest.importorskip("PIL.Image")
    with Image.open(path) as im:
        im.load()
        assert im.format == "PNG" and min(im.size) > 100


def test_plots_write_pngs_and_no_temporary_files(tmp_path):
    pytest.importorskip("matplotlib")
    viz.plot_activations(tmp_path / "act.png")
    history = {"train_loss": [2.0, 1.0, 0.5], "test_loss": [2.1, 1.2, 0.7], "train_acc": [0.3, 0.7, 0.9],
               "test_acc": [0.3, 0.6, 0.8], "step_loss": list(np.linspace(2.3, 0.4, 30))}
    viz.plot_training_curves(history, tmp_path / "sub" / "curves.png", title="t")
    viz.plot_softmax_bars([0.991, 0.009] + [0.0] * 8, [str(i) for i in range(10)], tmp_path / "bars.png")
    viz.plot_lr_search([{"lr": 0.1, "weight_decay": 1e-6, "val_acc": [0.5, 0.8]},
                        {"lr": 0.01, "weight_decay": 1e-5, "val_acc": [0.3, 0.6]}], tmp_path / "lr.png")
    for name in ("act.png", "sub/curves.png", "bars.png", "lr.png"):
        _assert_png(tmp_path / name)
    assert not list(tmp_path.rglob("*.part"))


def test_failed_save_leaves_nothing(tmp_path):
    class Broken:
        def savefig(self, f, **kwargs):
            f.write(b"half a png")
            raise OSError("disk full")

    target = tmp_path / "plot.png"
    with pytest.raises(OSError, match="disk full"):
        viz.save_figure(Broken(), target)
    assert list(tmp_path.iterdir()) == []


def test_missing_matplotlib_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(RuntimeError, match=r"pip install numtorch\[plot\]"):
        viz.plot_activations(tmp_path / "act.png")
