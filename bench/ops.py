"""Core-op benchmarks: per-op overhead and large ops, numtorch against PyTorch and raw NumPy.

    OMP_NUM_THREADS=1 python bench/ops.py

Prints ``ratio <name> <value>`` (numtorch time / reference time; below 1 is faster):
- tiny_graph: x, w 10x10, b 10: ``relu(x @ w + b).sum().backward()`` vs PyTorch (target <= 0.5);
- add_10x10 / add_10x10_grad: one small add without and with grad recording vs PyTorch;
- matmul_1024_vs_numpy, chain_1e7_vs_numpy: large ops vs raw NumPy (target <= 1.05).
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import compare, emit, median_time, worker_role  # noqa: E402


def _tiny(lib):
    x = lib.randn(10, 10)
    w = lib.randn(10, 10, requires_grad=True)
    b = lib.randn(10, requires_grad=True)

    def step():
        y = (x @ w + b).relu().sum()
        y.backward()
    return step


def _adds(lib):
    a, b = lib.randn(10, 10), lib.randn(10, 10)
    g = lib.randn(10, 10, requires_grad=True)
    return (lambda: a + b), (lambda: a + g)


def worker(role: str) -> None:
    if role == "numpy":
        import numpy as np
        rng = np.random.default_rng(0)
        A = rng.standard_normal((1024, 1024), dtype=np.float32)
        B = rng.standard_normal((1024, 1024), dtype=np.float32)
        x = rng.standard_normal(10 ** 7, dtype=np.float32)
        emit({"matmul": median_time(lambda: A @ B, 15),
              "chain": median_time(lambda: np.exp(x * 0.5 + 1.0) * x - x, 15)})
        return
    if role == "torch":
        import torch
        torch.set_num_threads(1)
        lib = torch
    else:
        import numtorch as lib
    lib.manual_seed(0)
    step = _tiny(lib)
    add, add_grad = _adds(lib)
    res = {"tiny_graph": median_time(step, 300, warmup=100, repeat_inner=20),
           "add": median_time(add, 300, warmup=100, repeat_inner=50),
           "add_grad": median_time(add_grad, 300, warmup=100, repeat_inner=50)}
    if role == "numtorch":
        A, B = lib.randn(1024, 1024), lib.randn(1024, 1024)
        x = lib.randn(10 ** 7)
        res["matmul"] = median_time(lambda: A @ B, 15)
        res["chain"] = median_time(lambda: (x * 0.5 + 1.0).exp() * x - x, 15)
    emit(res)


def main() -> None:
    r = compare(os.path.abspath(__file__), roles=("numtorch", "torch", "numpy"), rounds=7)
    nt, pt, npy = r["numtorch"], r["torch"], r["numpy"]
    print(f"# median seconds: numtorch tiny_graph {nt['tiny_graph'] * 1e6:.1f} us, "
          f"torch {pt['tiny_graph'] * 1e6:.1f} us")
    print(f"ratio tiny_graph {nt['tiny_graph'] / pt['tiny_graph']:.3f}")
    print(f"ratio add_10x10 {nt['add'] / pt['add']:.3f}")
    print(f"ratio add_10x10_grad {nt['add_grad'] / pt['add_grad']:.3f}")
    print(f"ratio matmul_1024_vs_numpy {nt['matmul'] / npy['matmul']:.3f}")
    print(f"ratio chain_1e7_vs_numpy {nt['chain'] / npy['chain']:.3f}")


if __name__ == "__main__":
    role = worker_role()
    if role:
        worker(role)
    else:
        main()
