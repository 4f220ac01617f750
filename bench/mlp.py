"""W1: one training step of the 784-100-10 ReLU MLP, numtorch vs PyTorch (and hand-written NumPy).

A step is forward + softmax cross-entropy + backward + SGD update (lr 0.1) on a batch of 100
MNIST images already in memory.  Each framework runs in its own process with one BLAS thread,
the processes alternate A B A B, and every process starts from the same weights and sees the same
batches, so their losses agree too.  Printed:

    ratio mlp_step <numtorch median / PyTorch median>          (target <= 0.8)
    ratio mlp_step_numpy <hand-written NumPy median / PyTorch median>   (for reference)

Usage: python bench/mlp.py [--rounds 3] [--iters 300] [--warmup 30] [--profile]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness  # noqa: E402

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "mnist"
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
N_BATCHES, BATCH, LR = 20, 100, 0.1
PARAMS = ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")


def make_inputs(path: Path, seed: int = 0) -> None:
    """Weights (PyTorch's Linear init, from a fixed seed) and batches, written to an .npz file."""
    rng = np.random.default_rng(seed)
    b1, b2 = 1 / np.sqrt(784), 1 / np.sqrt(100)
    weights = {"fc1.weight": rng.uniform(-b1, b1, (100, 784)), "fc1.bias": rng.uniform(-b1, b1, 100),
               "fc2.weight": rng.uniform(-b2, b2, (10, 100)), "fc2.bias": rng.uniform(-b2, b2, 10)}
    n = N_BATCHES * BATCH
    if (DATA / "t10k-images-idx3-ubyte.gz").is_file():
        sys.path.insert(0, str(ROOT / "src"))
        from numtorch.vision.datasets.mnist import read_idx
        x = read_idx(DATA / "t10k-images-idx3-ubyte.gz")[:n].reshape(n, 784) / 255.0
        y = read_idx(DATA / "t10k-labels-idx1-ubyte.gz")[:n]
    else:  # random pixels and labels: the timing is the same
        x, y = rng.random((n, 784)), rng.integers(0, 10, n)
    np.savez(path, x=x.astype(np.float32), y=y.astype(np.int64),
             **{k: v.astype(np.float32) for k, v in weights.items()})


# ---- workers: each runs in its own process ----------------------------------------------------

def _time_steps(step, batches, warmup: int, iters: int) -> tuple:
    """Wall-clock and CPU seconds of each step after warm-up, and every step's loss."""
    times, cpu, losses = [], [], []
    for i in range(warmup + iters):
        x, y = batches[i % len(batches)]
        t0, c0 = time.perf_counter(), time.process_time()
        loss = step(x, y)
        t1, c1 = time.perf_counter(), time.process_time()
        losses.append(loss())
        if i >= warmup:
            times.append(t1 - t0)
            cpu.append(c1 - c0)
    return times, cpu, losses


def worker_numtorch(d, warmup: int, iters: int) -> tuple:
    sys.path.insert(0, str(ROOT / "src"))
    import numtorch
    import numtorch.nn.functional as F
    from numtorch.models import TwoLayerNet
    model = TwoLayerNet(784, 100, 10)
    model.load_state_dict({k: numtorch.from_numpy(d[k]) for k in PARAMS})
    opt = numtorch.optim.SGD(model.parameters(), lr=LR)
    batches = [(numtorch.from_numpy(d["x"][i * BATCH:(i + 1) * BATCH]),
                numtorch.from_numpy(d["y"][i * BATCH:(i + 1) * BATCH])) for i in range(N_BATCHES)]

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item

    return _time_steps(step, batches, warmup, iters)


def worker_torch(d, warmup: int, iters: int) -> tuple:
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(1)
    model = torch.nn.Sequential()
    model.fc1, model.relu, model.fc2 = torch.nn.Linear(784, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10)
    model.load_state_dict({k: torch.from_numpy(d[k]) for k in PARAMS})
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    batches = [(torch.from_numpy(d["x"][i * BATCH:(i + 1) * BATCH]),
                torch.from_numpy(d["y"][i * BATCH:(i + 1) * BATCH])) for i in range(N_BATCHES)]

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item

    return _time_steps(step, batches, warmup, iters)


def worker_numpy(d, warmup: int, iters: int) -> tuple:
    """The same step written by hand with NumPy: the floor a framework on NumPy can approach."""
    W1, b1, W2, b2 = (d[k].copy() for k in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"))
    batches = [(d["x"][i * BATCH:(i + 1) * BATCH], d["y"][i * BATCH:(i + 1) * BATCH])
               for i in range(N_BATCHES)]
    lr = np.float32(LR)

    def step(x, y):
        n = len(y)
        h = x @ W1.T
        h += b1                                   # affine 1
        a = np.maximum(h, 0)                      # ReLU
        s = a @ W2.T
        s += b2                                   # affine 2: scores
        s -= s.max(1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(1, keepdims=True)              # softmax
        loss = -np.log(p[np.arange(n), y]).mean()
        p[np.arange(n), y] -= 1                   # d loss / d s = (p - onehot) / n
        gs = p / np.float32(n)
        gW2, gb2 = gs.T @ a, gs.sum(0)
        ga = gs @ W2
        ga *= h > 0                               # ReLU passes the gradient where h > 0
        gW1, gb1 = ga.T @ x, ga.sum(0)
        for w, g in ((W1, gW1), (b1, gb1), (W2, gW2), (b2, gb2)):
            w -= lr * g                           # SGD
        return lambda: float(loss)

    return _time_steps(step, batches, warmup, iters)


WORKERS = {"numtorch": worker_numtorch, "torch": worker_torch, "numpy": worker_numpy}


def run_worker(name: str, data: Path, warmup: int, iters: int, profile: bool) -> None:
    d = dict(np.load(data, allow_pickle=False))
    if profile:
        import cProfile
        import pstats
        prof = cProfile.Profile()
        prof.enable()
        times, cpu, losses = WORKERS[name](d, warmup, iters)
        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    else:
        times, cpu, losses = WORKERS[name](d, warmup, iters)
    print(json.dumps({"times": times, "cpu": cpu, "losses": losses}))


def launch(name: str, data: Path, warmup: int, iters: int, profile: bool = False) -> dict:
    return _harness.launch(__file__, name, data, warmup, iters, profile)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--profile", action="store_true", help="also print a cProfile of the numtorch worker")
    ap.add_argument("--worker", choices=tuple(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        run_worker(args.worker, Path(args.data), args.warmup, args.iters, args.profile)
        return
    frameworks = ["numtorch", "torch", "numpy"]
    times = {f: [] for f in frameworks}
    cpu = {f: [] for f in frameworks}
    losses = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "w1.npz"
        make_inputs(data)
        for r in range(args.rounds):  # A B C A B C ...
            for f in frameworks:
                res = launch(f, data, args.warmup, args.iters)
                times[f] += res["times"]
                cpu[f] += res["cpu"]
                losses[f] = res["losses"]
        if args.profile:
            launch("numtorch", data, args.warmup, args.iters, profile=True)
    med = {f: float(np.median(t)) for f, t in times.items()}
    med_cpu = {f: float(np.median(t)) for f, t in cpu.items()}
    for f in frameworks:
        print(f"{f:>9}: median step {med[f] * 1e3:.3f} ms wall, {med_cpu[f] * 1e3:.3f} ms CPU, "
              f"over {len(times[f])} steps")
    # on a busy machine wall time includes waiting for a core; CPU time shows the work itself
    print(f"CPU-time ratios: numtorch/torch {med_cpu['numtorch'] / med_cpu['torch']:.3f}, "
          f"numpy/torch {med_cpu['numpy'] / med_cpu['torch']:.3f}")
    steps = min(len(v) for v in losses.values())
    diff = max(abs(a - b) for a, b in zip(losses["numtorch"][:steps], losses["torch"][:steps]))
    print(f"largest |loss numtorch - loss torch| over {steps} steps: {diff:.2e}")
    print(f"ratio mlp_step {med['numtorch'] / med['torch']:.3f}")
    print(f"ratio mlp_step_numpy {med['numpy'] / med['torch']:.3f}")


if __name__ == "__main__":
    main()
