"""examples/cpp: the LibTorch program reads numtorch checkpoints and computes what numtorch computes.

The oracle is numtorch's forward on the same checkpoint and input (x[i] = sin(0.37 i)), in float32:
logits agree within 1e-5 x (1 + |y|) (a few hundred to a few thousand accumulated products, summed
in another order by LibTorch's kernels) and the argmax is the same.  The build (g++ -std=c++20 against
the torch wheel's headers and libraries) takes about 30 s of CPU; the binary is cached in the temp
folder under a hash of the source and of torch's version, so later runs only run it.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "cpp"
SOURCE = EXAMPLE / "load_numtorch.cpp"


def _torch_dirs():
    """(include dirs, lib dir, version) of the installed torch wheel, or a reason to skip."""
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        pytest.skip("the C++ example needs PyTorch's C++ files (pip install torch)")
    root = Path(spec.origin).parent
    inc = [root / "include", root / "include" / "torch" / "csrc" / "api" / "include"]
    lib = root / "lib"
    if not (inc[1] / "torch" / "torch.h").is_file() or not list(lib.glob("libtorch_cpu.*")):
        pytest.skip(f"the torch installation at {root} has no C++ headers/libraries (torch/include, torch/lib)")
    version = (root / "version.py").read_text() if (root / "version.py").is_file() else ""
    return inc, lib, version


def compile_command(out: Path, inc, lib) -> list:
    """The plain g++ line of examples/cpp/README.md."""
    return ["g++", "-std=c++20", "-O1", str(SOURCE), "-o", str(out), *[f"-I{d}" for d in inc], f"-L{lib}",
            "-ltorch", "-ltorch_cpu", "-lc10", f"-Wl,-rpath,{lib}"]


@pytest.fixture(scope="module")
def binary():
    if shutil.which("g++") is None:
        pytest.skip("the C++ example needs g++ (apt-get install g++)")
    inc, lib, version = _torch_dirs()
    key = hashlib.sha256(SOURCE.read_bytes() + version.encode() + str(lib).encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"numtorch-cpp-example-{key}"
    exe = cache / "load_numtorch"
    if not exe.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        part = cache / f"load_numtorch.{os.getpid()}.part"
        res = subprocess.run(compile_command(part, inc, lib), capture_output=True, text=True, timeout=900)
        assert res.returncode == 0, res.stderr[-3000:]
        os.replace(part, exe)  # atomic: a parallel run sees either no binary or a whole one
    return exe


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """The example's own Python side: the checkpoints and the values numtorch prints for them."""
    sys.path.insert(0, str(EXAMPLE))
    try:
        import make_checkpoints
    finally:
        sys.path.remove(str(EXAMPLE))
    out = tmp_path_factory.mktemp("cpp")
    return out, make_checkpoints.main(str(out))


def _run(binary, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", ["mlp", "simplecnn"])
def test_libtorch_computes_numtorchs_output(binary, checkpoints, name):
    folder, expected = checkpoints
    res = _run(binary, folder / f"{name}.safetensors", name, 1, 28, 28)
    assert res.returncode == 0, res.stderr
    m = re.search(rf"^{name}: y\[0\]\[0\] = (\S+)  argmax = (\d+)$", res.stdout, re.M)
    assert m, res.stdout
    y, argmax = float(m.group(1)), int(m.group(2))
    want_y, want_argmax = expected[name]
    assert abs(y - want_y) <= 1e-5 * (1 + abs(want_y)), (y, want_y)
    assert argmax == want_argmax
    x01 = float(re.search(r"x\[0\]\[0\]\[0\]\[1\] = (\S+)", res.stdout).group(1))
    assert abs(x01 - 0.361615449) < 1e-7  # sin(0.37) in float32: the input was built alike


def test_reads_a_numtorch_train_checkpoint(binary, tmp_path):
    """Weights under "model." (a `numtorch train` checkpoint, with its config and history) are found."""
    import numtorch
    from numtorch.models import TwoLayerNet
    numtorch.manual_seed(1)
    net = TwoLayerNet(64, 12, 10)
    numtorch.save({"model": net.state_dict(), "config": {"model": "mlp"}, "history": {"loss": [1.5, 0.5]}},
                  str(tmp_path / "checkpoint.safetensors"))
    res = _run(binary, tmp_path / "checkpoint.safetensors", "mlp", 1, 8, 8)
    assert res.returncode == 0, res.stderr
    x = numtorch.sin(numtorch.arange(64, dtype=numtorch.float32) * 0.37).reshape(1, 1, 8, 8)
    with numtorch.no_grad():
        y = net(x)
    got = float(re.search(r"y\[0\]\[0\] = (\S+)", res.stdout).group(1))
    assert abs(got - y[0, 0].item()) <= 1e-5 * (1 + abs(y[0, 0].item()))
    assert f"argmax = {y.argmax(1)[0].item()}" in res.stdout


def test_bad_input_is_one_line(binary, checkpoints, tmp_path):
    folder, _ = checkpoints
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{oops")
    for args, what in [((tmp_path / "missing", "mlp", 1, 28, 28), "cannot open"),
                       ((bad, "mlp", 1, 28, 28), "bad JSON"),
                       ((folder / "mlp.safetensors", "simplecnn", 1, 28, 28), "conv1.weight")]:
        res = _run(binary, *args)
        assert res.returncode == 1 and what in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_deploy_table_cells_are_lines_the_examples_run():
    """Every code cell of docs/deploy.md's Python / C++ / onnxruntime tables appears in the example sources."""
    sources = "\n".join((EXAMPLE / f).read_text(encoding="utf-8")
                        for f in ("make_checkpoints.py", "load_numtorch.cpp", "run_onnx.py"))
    doc = (EXAMPLE.parent.parent / "docs" / "deploy.md").read_text(encoding="utf-8")
    rows = [line for line in doc.splitlines() if line.startswith("| ") and "`" in line]
    cells = [c for row in rows for c in re.findall(r"`([^`]+)`", row)]
    assert len(rows) >= 14 and len(cells) >= 42  # two languages' tables, 7 rows of 3 cells
    missing = [c for c in cells if c not in sources]
    assert not missing, missing


def test_onnxruntime_example_prints_numtorchs_values(checkpoints):
    pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install numtorch[onnx])")
    pytest.importorskip("onnx", reason="needs onnx (pip install numtorch[onnx])")
    folder, expected = checkpoints
    sys.path.insert(0, str(EXAMPLE))
    try:
        import run_onnx
    finally:
        sys.path.remove(str(EXAMPLE))
    y, argmax = run_onnx.main(str(folder))
    want_y, want_argmax = expected["simplecnn"]
    assert abs(y - want_y) <= 1e-5 * (1 + abs(want_y)) and argmax == want_argmax
