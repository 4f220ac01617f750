"""A rank that leaves while the process group is live ends the job within seconds, with a message.

Without the exit guard (numtorch/distributed/faults.py) the other rank waits in its next collective
until the watchdog's timeout (120 s in the script, 30 minutes by default).  Each case runs
``mpiexec -n 2 python tests/dist_scripts/leave.py ...`` and must end within 20 s.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import mpiexec_path, mpi_skip_reason

SCRIPT = Path(__file__).resolve().parent / "dist_scripts" / "leave.py"
SRC = Path(__file__).resolve().parents[1] / "src"
_REASON = mpi_skip_reason()
pytestmark = [pytest.mark.mpi, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]


def run_two(*args: str):
    """(CompletedProcess, seconds) of the two-rank job; fails the test if it outlives 60 s."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    cmd = [mpiexec_path(), "-n", "2", sys.executable, str(SCRIPT), *args]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{' '.join(cmd)} hung:\n{e.stdout}\n{e.stderr}")
    return p, time.monotonic() - t0


def _shm_files_left(stdout: str) -> list:
    """MPI's shared-memory files (printed by rank 0 after init) that still exist after the job."""
    line = next((ln for ln in stdout.splitlines() if ln.startswith("shm")), "shm")
    return [f for f in line.split()[1:] if os.path.exists(f)]


@pytest.mark.parametrize("code", ["1", "3"])
def test_sys_exit_nonzero_on_one_rank_aborts_the_job_at_once(code):
    p, took = run_two("exit", code)
    assert p.returncode != 0 and took < 20, (p.returncode, took, p.stderr)
    assert (f"numtorch.distributed: rank 1 exited (code {code}) while the process group was active; "
            "aborting the job") in p.stderr, p.stderr
    assert "not reached" not in p.stdout
    assert _shm_files_left(p.stdout) == []   # MPI_Abort would leave MPICH's in /dev/shm


def test_sys_exit_zero_on_one_rank_is_heard_by_the_waiting_peer():
    p, took = run_two("exit", "0")
    assert p.returncode != 0 and took < 20, (p.returncode, took, p.stderr)
    assert "rank 1 exited (code 0) while the process group was active; aborting the job" in p.stderr
    assert "rank 0 was waiting in all_reduce" in p.stderr, p.stderr
    assert _shm_files_left(p.stdout) == []


@pytest.mark.parametrize("mode, waiting_in", [("raise-exit", "all_reduce"), ("end", "barrier")])
def test_leaving_without_sys_exit_is_heard_too(mode, waiting_in):
    """``raise SystemExit(0)`` and the end of the script: the status is not known, the exit is."""
    p, took = run_two(mode)
    assert p.returncode != 0 and took < 20, (p.returncode, took, p.stderr)
    assert "rank 1 exited while the process group was active; aborting the job" in p.stderr, p.stderr
    assert f"rank 0 was waiting in {waiting_in}" in p.stderr


@pytest.mark.parametrize("mode", ["clean", "undestroyed"])
def test_a_job_whose_ranks_all_finish_exits_zero(mode):
    """destroy_process_group() then exit 0, or every rank done with its collectives: status 0."""
    p, took = run_two(mode)
    assert p.returncode == 0, (p.returncode, p.stderr)
    assert "ok rank 0" in p.stdout and "ok rank 1" in p.stdout, p.stdout
    assert "numtorch.distributed" not in p.stderr, p.stderr
