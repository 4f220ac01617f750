"""The house rules that keep numtorch readable, checked on every run:

- every autograd ``Function`` reads on one screen (its class within 60 lines; faster variants live
  in named functions beside it);
- the code passes ruff with the rules in pyproject.toml (pyflakes, syntax, 110-column lines).
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import numtorch
from numtorch.autograd.function import Function

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 60


def _all_functions():
    for info in pkgutil.walk_packages(numtorch.__path__, "numtorch."):
        if info.name.startswith(("numtorch.cli", "numtorch.__main__")):
            continue
        try:
            importlib.import_module(info.name)
        except ImportError:      # an optional dependency (onnx, matplotlib, ...) is absent
            continue
    seen, stack = set(), [Function]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                stack.append(sub)
    return sorted((c for c in seen if c.__module__.startswith("numtorch.")), key=lambda c: c.__qualname__)


def test_every_function_fits_on_one_screen():
    sizes = {}
    for cls in _all_functions():
        try:
            lines, _ = inspect.getsourcelines(cls)
        except (OSError, TypeError):
            continue
        sizes[f"{cls.__module__}.{cls.__qualname__}"] = len(lines)
    assert len(sizes) > 100          # the walk found the op library
    too_long = {k: v for k, v in sizes.items() if v > MAX_FUNCTION_LINES}
    assert not too_long, f"Functions over {MAX_FUNCTION_LINES} lines (move fast paths out): {too_long}"


@pytest.mark.skipif(shutil.which("ruff") is None and importlib.util.find_spec("ruff") is None,
                    reason="ruff is not installed (pip install ruff)")
def test_ruff_passes():
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "src", "bench", "tests",
                        "examples", "lessons"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
