"""Data-parallel throughput and all-reduce bandwidth (numtorch.distributed over MPI).

    python bench/distributed.py            # needs mpi4py + an MPI (pip install numtorch[dist])
    python bench/distributed.py allreduce  # only part 2 (or `train`: only part 1)

1. Training throughput, samples/s, of W1 (MLP, batch 100 per rank) and W4 (ResNet-20, batch 32 per
   rank) on 1 and 2 ranks (one thread each), numtorch DDP against PyTorch DDP (gloo) started the
   same way; scaling efficiency = samples/s on 2 ranks / (2 x samples/s on 1 rank) (weak scaling:
   the per-rank batch is fixed).  Median step after warm-up, the frameworks alternating A B A B.
2. All-reduce of 1, 10 and 100 MB float32 tensors on 2 ranks: ``numtorch.distributed.all_reduce``
   against raw ``mpi4py`` ``Allreduce(IN_PLACE)`` on the same array (target: >= 0.9 of raw's
   bandwidth, i.e. a time ratio <= 1.11).

Prints ``ratio <name> <numtorch time / reference time>`` lines and the figures behind them.  On a
machine with fewer free cores than ranks the 2-rank figures measure the scheduler, not MPI.
"""
from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import ONE_THREAD, median_time  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _mpiexec() -> str:
    here = Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else "mpiexec"


def launch(n: int, *args: str) -> dict:
    """Runs this file's worker on ``n`` ranks; returns rank 0's JSON line."""
    env = dict(os.environ, **ONE_THREAD, PYTHONPATH=str(ROOT / "src"))
    cmd = [_mpiexec(), "-n", str(n), sys.executable, __file__, "--worker", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stderr[-3000:]}")
    return json.loads([line for line in p.stdout.splitlines() if line.startswith("{")][-1])


# ---- workers (inside mpiexec) ---------------------------------------------------------------
def _rank_size() -> tuple[int, int]:
    from mpi4py import MPI
    return MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()


def train_numtorch(workload: str, iters: int) -> float:
    import numpy as np
    import numtorch
    import numtorch.distributed as dist
    import numtorch.nn as nn
    import numtorch.nn.functional as F
    from numtorch.nn.parallel import DistributedDataParallel
    dist.init_process_group("mpi")
    numtorch.manual_seed(0)
    if workload == "w1":
        model = nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))
        batch, shape, momentum = 100, (784,), 0.0
    else:
        from numtorch.models import resnet20
        model = nn.SyncBatchNorm.convert_sync_batchnorm(resnet20(num_classes=10))
        batch, shape, momentum = 32, (3, 32, 32), 0.9
    if dist.get_world_size() > 1:
        model = DistributedDataParallel(model)
    opt = numtorch.optim.SGD(model.parameters(), lr=0.1, momentum=momentum)
    rng = np.random.default_rng(dist.get_rank())
    x = numtorch.tensor(rng.random((batch, *shape), dtype=np.float32))
    y = numtorch.tensor(rng.integers(0, 10, batch))

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    t = median_time(step, iters, warmup=3, clock=time.perf_counter)
    return _max_over_ranks(t, dist)


def _max_over_ranks(t: float, dist) -> float:
    """The slowest rank's median (a step is done when every rank is)."""
    import numtorch
    v = numtorch.tensor([t], dtype=numtorch.float64)
    dist.all_reduce(v, op=dist.ReduceOp.MAX)
    return float(v)


def train_torch(workload: str, iters: int, port: str) -> float:
    import numpy as np
    import torch
    import torch.distributed as tdist
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(1)
    rank, size = _rank_size()
    tdist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=size)
    torch.manual_seed(0)
    if workload == "w1":
        model = nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))
        batch, shape, momentum = 100, (784,), 0.0
    else:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(_torch_resnet20())
        batch, shape, momentum = 32, (3, 32, 32), 0.9
        if size == 1:  # PyTorch's SyncBatchNorm needs a GPU; with one rank it is plain BatchNorm
            model = _sync_to_plain(model)
    if size > 1:
        if workload == "w4":
            model = _sync_to_plain(model)  # CPU SyncBatchNorm is not supported by PyTorch: plain BN
        model = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=momentum)
    rng = np.random.default_rng(rank)
    x = torch.tensor(rng.random((batch, *shape), dtype=np.float32))
    y = torch.tensor(rng.integers(0, 10, batch))

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    t = median_time(step, iters, warmup=3, clock=time.perf_counter)
    v = torch.tensor([t], dtype=torch.float64)
    tdist.all_reduce(v, op=tdist.ReduceOp.MAX)
    return float(v)


def _sync_to_plain(model):
    import torch.nn as nn
    for name, child in model.named_children():
        if isinstance(child, nn.SyncBatchNorm):
            bn = nn.BatchNorm2d(child.num_features)
            bn.load_state_dict(child.state_dict())
            setattr(model, name, bn)
        else:
            _sync_to_plain(child)
    return model


def _torch_resnet20():
    """CIFAR ResNet-20 in PyTorch (16/32/64 channels, 3x3 basic blocks, 1x1-conv+BN shortcut)."""
    import torch.nn as nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                              nn.BatchNorm2d(cout))

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))

    layers, cin = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()], 16
    for cout, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(3):
            layers.append(Block(cin, cout, stride if i == 0 else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def allreduce_worker(sizes_mb: list[float], reps: int) -> dict:
    """Median seconds per all-reduce, numtorch and raw mpi4py on the same buffer, alternating which
    goes first; smaller messages get more repetitions (``reps`` at 100 MB, 8x that at 1 MB)."""
    from mpi4py import MPI
    import numtorch
    import numtorch.distributed as dist
    dist.init_process_group("mpi")
    comm = MPI.COMM_WORLD
    out = {}
    for mb in sizes_mb:
        t = numtorch.ones(int(mb * (1 << 20)) // 4)
        a = t._data
        runs = {"numtorch": lambda: dist.all_reduce(t),
                "raw": lambda: comm.Allreduce(MPI.IN_PLACE, [a, MPI.FLOAT], MPI.SUM)}
        times = {k: [] for k in runs}
        n = max(reps, int(reps * 8 / max(mb, 1) ** 0.5))
        for i in range(n + 2):
            for k in (("numtorch", "raw") if i % 2 else ("raw", "numtorch")):
                comm.Barrier()
                t0 = time.perf_counter()
                runs[k]()
                times[k].append(time.perf_counter() - t0)
        for k, v in times.items():
            out[f"{k}_{mb:g}MB"] = statistics.median(v[2:])
    return out


def worker(args: list[str]) -> None:
    kind = args[0]
    if kind == "allreduce":
        res = allreduce_worker([1, 10, 100], int(args[1]))
    elif kind == "numtorch":
        res = {"t": train_numtorch(args[1], int(args[2]))}
    else:
        res = {"t": train_torch(args[1], int(args[2]), args[3])}
    if _rank_size()[0] == 0:
        print(json.dumps(res), flush=True)


# ---- driver ------------------------------------------------------------------------------------
def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def main(parts=("train", "allreduce")) -> None:
    rounds = int(os.environ.get("BENCH_ROUNDS", "2"))
    if "train" in parts:
        train_figures(rounds)
    if "allreduce" in parts:
        allreduce_figures()


def train_figures(rounds: int) -> None:
    try:
        import torch  # noqa: F401
        roles = ("numtorch", "torch")
    except ImportError:
        roles = ("numtorch",)
    for workload, batch, iters in (("w1", 100, 40), ("w4", 32, 5)):
        times = {}
        for n in (1, 2):
            samples = {r: [] for r in roles}
            for _ in range(rounds):
                for r in roles:
                    extra = (_free_port(),) if r == "torch" else ()
                    try:
                        samples[r].append(launch(n, r, workload, str(iters), *extra)["t"])
                    except RuntimeError as e:
                        print(f"# {workload} {r} on {n} ranks failed: {str(e).splitlines()[-1]}")
            for r in roles:
                if samples[r]:
                    times[(r, n)] = statistics.median(samples[r])
                    sps = n * batch / times[(r, n)]
                    print(f"{workload} {r:8s} ranks={n} step={times[(r, n)] * 1e3:8.2f} ms  "
                          f"{sps:9.1f} samples/s")
        for r in roles:
            if (r, 1) in times and (r, 2) in times:
                print(f"{workload} {r} scaling efficiency 2 ranks: {times[(r, 1)] / times[(r, 2)]:.2f}")
        for n in (1, 2):
            if ("numtorch", n) in times and ("torch", n) in times:
                print(f"ratio ddp_{workload}_{n}ranks {times[('numtorch', n)] / times[('torch', n)]:.3f}")


def allreduce_figures() -> None:
    res = launch(2, "allreduce", "10")
    for mb in (1, 10, 100):
        nt, raw = res[f"numtorch_{mb}MB"], res[f"raw_{mb}MB"]
        print(f"allreduce {mb:3d} MB: numtorch {mb / nt / 1024:6.2f} GB/s  "
              f"raw mpi4py {mb / raw / 1024:6.2f} GB/s "
              f"(fraction of raw {raw / nt:.3f})")
        print(f"ratio allreduce_{mb}MB_vs_mpi4py {nt / raw:.3f}")


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker(sys.argv[sys.argv.index("--worker") + 1:])
    else:
        main(sys.argv[1:] or ("train", "allreduce"))  # e.g. `python bench/distributed.py allreduce`
