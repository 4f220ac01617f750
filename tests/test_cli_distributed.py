"""``mpiexec -n 2 python -m numtorch train ...``: the command, data-parallel over MPI.

Each test starts its own ``mpiexec`` (with a timeout) and checks the exit status, what rank 0
prints, the files it writes, and that the checkpoint evaluates with ``numtorch eval``.  They skip
when no mpiexec or MPI library is found.
"""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import numtorch

SRC = Path(__file__).resolve().parents[1] / "src"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
DIGITS_HELD_OUT = 355  # numtorch's split of scikit-learn's 1797 digits (as in tests/test_cli.py)


from helpers import mpiexec_path as _mpiexec, mpi_skip_reason as _skip_reason  # noqa: E402


_REASON = _skip_reason()
pytestmark = [pytest.mark.mpi, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]


def cli(*args) -> list:
    return [sys.executable, "-m", "numtorch", *map(str, args)]


def mpirun(*programs: list, n: int = 2, cwd=None, timeout: float = 60):
    """``mpiexec -n n PROGRAM`` (or, for several programs, ``mpiexec -n 1 P0 : -n 1 P1 ...``, one per rank);
    returns (CompletedProcess, seconds)."""
    cmd = [_mpiexec()]
    if len(programs) == 1:
        cmd += ["-n", str(n), *programs[0]]
    else:
        for i, program in enumerate(programs):
            cmd += [":"] * (i > 0) + ["-n", "1", *program]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{' '.join(cmd)} did not finish within {timeout} s:\n{e.stdout}\n{e.stderr}")
    return p, time.monotonic() - t0


def error_lines(stderr: str) -> list:
    return [line for line in stderr.splitlines() if line.startswith("numtorch train: error:")]


def test_two_ranks_train_one_checkpoint_that_evaluates(tmp_path):
    pytest.importorskip("sklearn")
    p, _ = mpirun(cli("train", "--epochs", 2, "--optimizer", "momentum", "--seed", 1, "--out", "run", "--quiet"),
                  cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    # rank 0 alone talks: each epoch line, the summary and the file lines appear once
    epochs = re.findall(r"^epoch (\d+): .* held-out loss [\d.]+ acc ([\d.]+)$", p.stdout, re.M)
    assert [e for e, _ in epochs] == ["1", "2"], p.stdout
    assert p.stdout.count("data-parallel on 2 ranks: global batch 32 = 16 per rank") == 1
    assert len(re.findall(r"^held-out accuracy ", p.stdout, re.M)) == 1
    assert len(re.findall(r"^checkpoint: ", p.stdout, re.M)) == 1
    acc = float(epochs[-1][1])
    assert acc >= 0.85, p.stdout
    # exactly one checkpoint, written by rank 0, holding the unwrapped model (no DDP "module." prefix)
    assert [c.relative_to(tmp_path) for c in tmp_path.rglob("*.safetensors")] == [Path("run/checkpoint.safetensors")]
    ckpt = numtorch.load(str(tmp_path / "run" / "checkpoint.safetensors"))
    assert set(ckpt["model"]) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    assert ckpt["config"]["batch_size"] == 32 and ckpt["config"]["world_size"] == 2
    # each rank iterated only its share: ceil(ceil(n / 2) / 16) steps per epoch, not ceil(n / 16)
    from sklearn.datasets import load_digits
    n_train = len(load_digits().target) - DIGITS_HELD_OUT
    assert len(ckpt["history"]["train_loss"]) == 2
    import json
    steps = json.loads((tmp_path / "run" / "history.json").read_text())["step_loss"]
    assert len(steps) == 2 * math.ceil(math.ceil(n_train / 2) / 16)
    # the held-out figures summed over the ranks' shares are those of the saved model on the whole split
    ev = subprocess.run(cli("eval", tmp_path / "run" / "checkpoint.safetensors"), env=ENV, capture_output=True,
                        text=True, timeout=120)
    assert ev.returncode == 0, ev.stderr
    assert f"{DIGITS_HELD_OUT} images" in ev.stdout
    assert float(re.search(r"accuracy ([\d.]+)", ev.stdout).group(1)) == pytest.approx(acc, abs=1e-4)


def test_bad_argument_ends_the_job_quickly_with_one_line(tmp_path):
    p, took = mpirun(cli("train", "--epochs", 0, "--out", "run"), cwd=tmp_path)
    assert p.returncode == 1 and took < 30, (took, p.stderr)
    assert error_lines(p.stderr) == ["numtorch train: error: --epochs must be at least 1, got 0"], p.stderr
    assert "Traceback" not in p.stderr and not (tmp_path / "run").exists()
    p, took = mpirun(cli("train", "--model", "nosuch"), cwd=tmp_path)  # argparse: each rank says it, exit 2
    assert p.returncode != 0 and took < 30 and "invalid choice: 'nosuch'" in p.stderr


def test_one_rank_failing_in_setup_is_named_and_every_rank_leaves(tmp_path):
    """Rank 1 alone cannot find its data (mpiexec's ``P0 : P1`` gives the ranks different arguments)."""
    pytest.importorskip("sklearn")
    ok = cli("train", "--epochs", 1, "--quiet", "--out", "run")
    p, took = mpirun(ok, cli("train", "--epochs", 1, "--quiet", "--out", "run", "--data", "mnist",
                             "--data-dir", tmp_path / "missing"), cwd=tmp_path)
    assert p.returncode == 1 and took < 30, (took, p.stderr)
    lines = error_lines(p.stderr)
    assert len(lines) == 1 and lines[0].startswith("numtorch train: error: rank 1: MNIST"), p.stderr
    p, _ = mpirun(ok, ok[:-2] + ["--seed", "3", "--out", "run"], cwd=tmp_path)  # ranks disagree: no hang
    assert p.returncode == 1
    assert error_lines(p.stderr) == ["numtorch train: error: rank 1 was started with other settings than "
                                     "rank 0 (seed 0 vs 3): every rank must run the same command"], p.stderr
    assert not (tmp_path / "run").exists()


def test_rank_0_failing_to_save_aborts_the_job(tmp_path):
    """Rank 0 cannot write its checkpoint (a folder stands where the file should go) while rank 1 waits
    for it: the job ends non-zero at once, not when the collective timeout (30 min) would."""
    pytest.importorskip("sklearn")
    (tmp_path / "taken" / "run" / "checkpoint.safetensors").mkdir(parents=True)
    p, took = mpirun(cli("train", "--epochs", 1, "--quiet", "--out", "taken/run"), cwd=tmp_path)
    assert p.returncode != 0 and took < 40, (took, p.stderr)
    lines = error_lines(p.stderr)
    assert len(lines) == 1 and lines[0].startswith("numtorch train: error: rank 0: "), p.stderr
    assert "stopping all 2 ranks" in lines[0]
