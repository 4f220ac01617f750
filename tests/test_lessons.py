"""The lessons in ``lessons/``: each runs as a script (its own asserts check what it teaches) and writes
its figures; each is a jupytext percent-format notebook with English and Chinese text; one runs as a
real notebook through a Jupyter kernel.

The fast suite runs every lesson with ``NUMTORCH_LESSON_FAST=1`` (fewer training steps, the same
claims); the full-length runs of the lessons that train are ``slow``.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSON_DIR = ROOT / "lessons"
LESSONS = sorted(LESSON_DIR.glob("[0-9][0-9]_*.py"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HAS_DOT = shutil.which("dot") is not None

# The figures each lesson promises (PNG unless noted); the graph PNGs need Graphviz's dot.
FIGURES = {
    "01_tensors_forward_backward": ["01_graph.dot", "01_two_layer_graph.dot"]
    + (["01_graph.png", "01_two_layer_graph.png"] if HAS_DOT else []),
    "02_numpy_vs_numtorch": ["02_numpy_vs_numtorch.png"],
    "03_python_vs_cpp": ["03_two_layer_net.safetensors"],
    "04_activation_functions": ["04_activations.png", "04_swish_beta.png"],
    "05_output_layer": ["05_identity_vs_softmax.png"],
    "06_training": ["06_train_vs_test.png"],
    "07_loss_functions": ["07_loss_vs_accuracy.png"],
    "08_gradient_method": ["08_gradient_descent_saddle.png"],
    "09_numerical_gradient": ["09_error_vs_h.png", "09_time.png"],
    "10_sgd": ["10_gd_vs_sgd.png"],
    "11_learning_rate": ["11_learning_rates.png"],
    "12_minibatch_learning": ["12_minibatch_learning.png"],
    "13_affine_layer": ["13_affine_softmax_digit.png"],
    "14_resnet": ["14_plain_vs_residual.png"],
    "15_densenet": ["15_densenet_growth.png"],
    "16_object_detection": ["16_nms_boxes.png"],
    "17_transformer": ["17_attention_heatmap.png", "17_char_model_loss.png"],
}
# lessons whose length depends on NUMTORCH_LESSON_FAST: their full runs are slow
TRAINING = [p for p in LESSONS if "FAST" in p.read_text(encoding="utf-8")]


def lesson_env(out: Path, fast: bool) -> dict:
    env = {**os.environ, "NUMTORCH_LESSON_OUT": str(out), "MPLBACKEND": "Agg",
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    env.pop("NUMTORCH_LESSON_FAST", None)
    if fast:
        env["NUMTORCH_LESSON_FAST"] = "1"
    return env


def check_figures(stem: str, out: Path) -> None:
    for name in FIGURES[stem]:
        f = out / name
        assert f.is_file(), f"{stem} did not write {name}"
        if name.endswith(".png"):
            assert f.read_bytes()[:8] == PNG_SIGNATURE, f"{name} is not a PNG"
            assert f.stat().st_size > 5000, f"{name} looks empty"
        elif name.endswith(".dot"):
            assert f.read_text().startswith("digraph {")
    assert not list(out.rglob("*.part")), "a half-written file was left behind"


def run_lesson(path: Path, out: Path, fast: bool) -> None:
    res = subprocess.run([sys.executable, str(path)], cwd=ROOT, env=lesson_env(out, fast), capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, f"{path.name} failed:\n{res.stdout[-3000:]}\n{res.stderr[-5000:]}"
    check_figures(path.stem, out)


def test_every_section_has_a_lesson():
    numbers = [int(p.name[:2]) for p in LESSONS]
    assert len(LESSONS) >= 14 and numbers == list(range(1, len(LESSONS) + 1))
    assert sorted(p.stem for p in LESSONS) == sorted(FIGURES)


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_runs(path, tmp_path):
    run_lesson(path, tmp_path, fast=True)


@pytest.mark.slow
@pytest.mark.parametrize("path", TRAINING, ids=lambda p: p.stem)
def test_lesson_runs_full_length(path, tmp_path):
    run_lesson(path, tmp_path, fast=False)


_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]{3,}")


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_is_a_bilingual_percent_notebook(path):
    jupytext = pytest.importorskip("jupytext")
    nb = jupytext.read(path, fmt="py:percent")
    kinds = [c.cell_type for c in nb.cells]
    assert "markdown" in kinds and kinds.count("code") >= 2
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")  # a title
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            # each markdown cell carries English and Chinese
            assert _CJK.search(cell.source) and _LATIN.search(cell.source), cell.source[:200]


def test_a_lesson_runs_as_a_notebook(tmp_path, monkeypatch):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    path = LESSON_DIR / "01_tensors_forward_backward.py"
    nb = jupytext.read(path, fmt="py:percent")
    ipynb = tmp_path / "01.ipynb"
    jupytext.write(nb, ipynb)                            # the .py opens as a notebook
    for k, v in lesson_env(tmp_path / "out", fast=True).items():
        monkeypatch.setenv(k, v)
    nb = jupytext.read(ipynb)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(LESSON_DIR)}})
    client.execute()
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "PowBackward0" in outputs and "d/dv sum(v^2) == 2v: ok" in outputs
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
    check_figures(path.stem, tmp_path / "out")


def test_generated_figures_are_ignored_by_git():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "-q", "lessons/out/04_activations.png"], cwd=ROOT)
    kept = subprocess.run(["git", "check-ignore", "-q", "docs/img/lesson_figure.png"], cwd=ROOT)
    assert ignored.returncode == 0 and kept.returncode == 1
