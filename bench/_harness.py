"""Shared benchmark harness: run each framework's workload in its own subprocess, A B A B.

A worker prints one JSON line {"name": median_seconds, ...}; ``compare`` alternates the workers
over a few rounds and takes, for each name, the median over all rounds.  One thread for both
frameworks (set before NumPy or PyTorch is imported).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
os.environ.setdefault("NUMTORCH_TUNE_MALLOC", "1")  # numtorch's opt-in malloc tuning (=0 to measure without)


def median_time(fn, iters: int, warmup: int = 5, repeat_inner: int = 1, clock=time.process_time) -> float:
    """Median seconds of ``fn()`` over ``iters`` timed calls after ``warmup`` calls.

    By default CPU time of this process (user + system), not wall time: on a shared machine wall
    time also counts the moments the process waits for a core, which swing by tens of percent
    between runs; both frameworks run on one thread, so their CPU time is their cost. Work that
    waits on something else (communication) passes ``clock=time.perf_counter``."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = clock()
        for _ in range(repeat_inner):
            fn()
        times.append((clock() - t0) / repeat_inner)
    return statistics.median(times)


def run_worker(script: str, role: str, extra_args=()) -> dict:
    env = dict(os.environ, **ONE_THREAD)
    out = subprocess.run([sys.executable, script, "--worker", role, *extra_args], env=env,
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark worker {role} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(script: str, roles=("numtorch", "torch"), rounds: int = 3, extra_args=()) -> dict:
    """{role: {name: median seconds}} from ``rounds`` alternating runs of each role's worker."""
    samples = {r: {} for r in roles}
    for _ in range(rounds):
        for r in roles:
            for name, v in run_worker(script, r, extra_args).items():
                samples[r].setdefault(name, []).append(v)
    return {r: {k: statistics.median(v) for k, v in d.items()} for r, d in samples.items()}


def worker_role(argv=None):
    argv = sys.argv if argv is None else argv
    if "--worker" in argv:
        return argv[argv.index("--worker") + 1]
    return None


def limit_torch_threads():
    import torch
    torch.set_num_threads(1)
    return torch


def emit(result: dict) -> None:
    print(json.dumps(result), flush=True)


def launch(script: str, name: str, data, warmup: int, iters: int, profile: bool = False) -> dict:
    """Runs ``script --worker name`` (one BLAS thread) on the inputs in ``data``; returns its JSON line."""
    cmd = [sys.executable, script, "--worker", name, "--data", str(data), "--warmup", str(warmup),
           "--iters", str(iters)] + (["--profile"] if profile else [])
    out = subprocess.run(cmd, env={**os.environ, **ONE_THREAD}, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{name} worker failed:\n{out.stderr}")
    if profile:
        sys.stderr.write(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])
