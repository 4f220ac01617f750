"""``numtorch run SCRIPT.py ARGS``: an unmodified PyTorch program runs with torch resolved to numtorch.

Each test writes a small program into a temporary directory and runs it in a subprocess, through the
command (``python -m numtorch run``) and through ``python -m numtorch.run``. Python itself is the
oracle for what a program sees (``sys.argv``, ``__file__``, ``__name__``, ``sys.path[0]``) and for
tracebacks and exit codes: the same program is also run as ``python SCRIPT.py ARGS``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from numtorch.run import missing_name, numtorch_name, torch_name

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
       "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}


def write(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(source))
    return path


def numtorch_run(script: Path, *args, module: str = "numtorch", cwd=None) -> subprocess.CompletedProcess:
    """``python -m numtorch run SCRIPT ARGS`` (or ``python -m numtorch.run SCRIPT ARGS``)."""
    head = ["-m", "numtorch", "run"] if module == "numtorch" else ["-m", "numtorch.run"]
    return subprocess.run([sys.executable, *head, str(script), *map(str, args)], cwd=cwd or script.parent,
                          env=ENV, capture_output=True, text=True, timeout=120)


def plain_python(script: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script), *map(str, args)], cwd=script.parent, env=ENV,
                          capture_output=True, text=True, timeout=120)


REPORT = """
    import json, sys
    print(json.dumps({"argv": sys.argv, "file": __file__, "name": __name__, "path0": sys.path[0],
                      "main_file": sys.modules["__main__"].__file__}))
"""


@pytest.mark.parametrize("module", ["numtorch", "numtorch.run"])
def test_program_sees_what_python_gives_it(tmp_path: Path, module: str) -> None:
    """argv, __file__, __name__, sys.path[0] and __main__ are those of ``python SCRIPT.py ARGS``."""
    script = write(tmp_path, "prog.py", REPORT)
    args = ("--epochs", "1", "--dry-run", "pos", "-x")
    ours, theirs = numtorch_run(script, *args, module=module), plain_python(script, *args)
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    assert json.loads(ours.stdout) == json.loads(theirs.stdout)
    assert json.loads(ours.stdout)["argv"][1:] == list(args)


def test_torch_and_torchvision_are_numtorch_with_all_submodules(tmp_path: Path) -> None:
    script = write(tmp_path, "prog.py", """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        import torch.optim.lr_scheduler
        from torch.utils.data import DataLoader
        import torchvision
        import torchvision.transforms as T
        from torchvision import datasets
        import torch.backends.cudnn as cudnn
        import numtorch, numtorch.vision, numtorch.vision.transforms
        import sys
        cudnn.benchmark = True
        checks = [torch is numtorch, nn is numtorch.nn, F is numtorch.nn.functional,
                  torch.nn is numtorch.nn, DataLoader is numtorch.utils.data.DataLoader,
                  torch.optim.lr_scheduler is numtorch.optim.lr_scheduler,
                  torchvision is numtorch.vision, T is numtorch.vision.transforms,
                  datasets is numtorch.vision.datasets, sys.modules["torch.nn"] is numtorch.nn,
                  numtorch.nn.__spec__.name == "numtorch.nn", isinstance(nn.Linear(2, 3), numtorch.nn.Module),
                  cudnn is numtorch.backends.cudnn, numtorch.backends.cudnn.benchmark is True]
        print(checks)
    """)
    out = numtorch_run(script)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str([True] * 14)


MISSING_CASES = {
    "module attribute": ("import torch\nx = 1\ny = torch.no_such_function(x)\n", "torch.no_such_function", 3),
    "submodule attribute": ("import torch.nn.functional as F\n\nF.no_such_op(1)\n", "torch.nn.functional.no_such_op", 3),
    "missing submodule": ("import os\nimport torch.no_such_module\n", "torch.no_such_module", 2),
    "from-import": ("from torch.nn import NoSuchLayer\n", "torch.nn.NoSuchLayer", 1),
    "tensor method": ("import torch\nt = torch.ones(2)\nt.no_such_method_()\n", "torch.Tensor.no_such_method_", 3),
    "class attribute": ("import torch\ntorch.nn.Linear.no_such_thing\n", "torch.nn.Linear.no_such_thing", 2),
    "torchvision": ("import torchvision\n\n\ntorchvision.no_such_thing\n", "torchvision.no_such_thing", 4),
    "torchvision submodule": ("import torchvision.no_such_module\n", "torchvision.no_such_module", 1),
}


@pytest.mark.parametrize("case", sorted(MISSING_CASES))
def test_missing_name_is_one_line_with_file_and_line(tmp_path: Path, case: str) -> None:
    source, name, line = MISSING_CASES[case]
    script = tmp_path / "main.py"
    script.write_text(source)
    out = numtorch_run(script)
    assert out.returncode == 1
    assert out.stderr == f"numtorch run: {name} is not in numtorch (main.py:{line})\n"


def test_missing_name_in_a_helper_module_names_that_file(tmp_path: Path) -> None:
    """The line reported is the program's last frame: here in ``model.py``, called from ``main.py``."""
    write(tmp_path, "model.py", """
        import torch

        def build():
            return torch.no_such_layer(3)
    """)
    script = write(tmp_path, "main.py", "from model import build\nbuild()\n")
    out = numtorch_run(script)
    assert (out.returncode, out.stderr) == (1, "numtorch run: torch.no_such_layer is not in numtorch (model.py:5)\n")


@pytest.mark.parametrize("source", [
    "def f():\n    raise ValueError('boom')\n\nf()\n",
    "class A:\n    pass\n\nA().missing\n",          # the program's own AttributeError: a traceback
    "import torch\ntorch.ones(2) @ torch.ones(3)\n",  # numtorch's own error: a traceback too
    "import os\nimport nothing_here_at_all\n",
])
def test_other_exceptions_give_pythons_traceback_and_status(tmp_path: Path, source: str) -> None:
    script = write(tmp_path, "main.py", source)
    ours, theirs = numtorch_run(script), plain_python(script)
    assert ours.returncode == 1
    assert ours.stderr.startswith("Traceback (most recent call last):\n")
    assert f'File "{script}", line' in ours.stderr and "runpy" not in ours.stderr
    if "torch" not in source:  # without torch in it, the program is the same under both
        assert (ours.returncode, ours.stderr) == (theirs.returncode, theirs.stderr)


@pytest.mark.parametrize("source, status, stderr", [
    ("import sys\nsys.exit(3)\n", 3, ""),
    ("import sys\nsys.exit()\n", 0, ""),
    ("import sys\nsys.exit('stopped: bad data')\n", 1, "stopped: bad data\n"),
    ("raise SystemExit(0)\n", 0, ""),
    ("import argparse\nargparse.ArgumentParser().parse_args()\n", 2, None),  # --bad: usage error
])
def test_system_exit_passes_through(tmp_path: Path, source: str, status: int, stderr) -> None:
    script = write(tmp_path, "main.py", source)
    ours, theirs = numtorch_run(script, "--bad"), plain_python(script, "--bad")
    assert ours.returncode == theirs.returncode == status
    assert ours.stderr == theirs.stderr
    if stderr is not None:
        assert ours.stderr == stderr


def test_a_missing_script_is_one_line(tmp_path: Path) -> None:
    out = numtorch_run(tmp_path / "nope.py")
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "nope.py" in out.stderr


def test_names_map_both_ways() -> None:
    assert numtorch_name("torch") == "numtorch"
    assert numtorch_name("torch.nn.functional") == "numtorch.nn.functional"
    assert numtorch_name("torchvision.transforms") == "numtorch.vision.transforms"
    assert numtorch_name("torchaudio") is None and numtorch_name("torchx.y") is None
    assert torch_name("numtorch.vision.models") == "torchvision.models"
    assert torch_name("numtorch.nn") == "torch.nn"


def test_missing_name_reads_the_exception() -> None:
    import numtorch
    try:
        numtorch.nn.no_such_thing_here
    except AttributeError as e:
        assert missing_name(e) == "torch.nn.no_such_thing_here"
    assert missing_name(ModuleNotFoundError("No module named 'torch.fft'", name="torch.fft")) == "torch.fft"
    assert missing_name(ModuleNotFoundError("No module named 'scipy'", name="scipy")) is None
    assert missing_name(ImportError("cannot import name 'rfft' from 'numtorch.linalg' (x.py)")) == "torch.linalg.rfft"
    assert missing_name(ValueError("module 'numtorch' has no attribute 'x'")) is None
    try:
        object().nothing
    except AttributeError as e:
        assert missing_name(e) is None


SPAWN = """
    import torch
    import torch.multiprocessing as mp

    def work(q):
        import torch
        q.put([type(torch).__name__, torch.__name__, torch.nn.__name__])

    if __name__ == "__main__":
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        p = ctx.Process(target=work, args=(q,))
        p.start()
        print(q.get(timeout=60))
        p.join()
        print(p.exitcode)
"""


def test_spawned_processes_see_numtorch_as_torch(tmp_path: Path) -> None:
    """A process started with ``spawn`` imports the program afresh: ``torch`` is numtorch there too."""
    out = numtorch_run(write(tmp_path, "main.py", SPAWN))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["['module', 'numtorch', 'numtorch.nn']", "0"]
