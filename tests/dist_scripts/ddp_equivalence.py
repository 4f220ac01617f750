"""Run under ``mpiexec -n N``: DDP over N ranks (batch B/N each) against one process (batch B).

``python ddp_equivalence.py mlp`` (Linear-ReLU-Linear) or ``resnet`` (ResNet-20 with SyncBatchNorm).
Each rank starts from a *different* seed (DDP's broadcast must make them equal); rank 0 also trains
the single-process reference with the whole batch, and both must agree after the steps to 1e-5.
Also checks: several buckets, ``no_sync`` accumulation, find_unused_parameters, state_dict keys.
Prints "ok rank R max_diff D".
"""
import sys

import numpy as np

import numtorch
import numtorch.distributed as dist
import numtorch.nn as nn
import numtorch.nn.functional as F
from numtorch.nn.parallel import DistributedDataParallel as DDP


def mlp(seed):
    numtorch.manual_seed(seed)
    return nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))


def resnet(seed):
    from numtorch.models import resnet20
    numtorch.manual_seed(seed)
    return resnet20(num_classes=10)


def data(kind, steps, batch):
    rng = np.random.default_rng(0)
    shape = (batch, 784) if kind == "mlp" else (batch, 3, 16, 16)
    xs = [rng.random(shape, dtype=np.float32) for _ in range(steps)]
    ys = [rng.integers(0, 10, batch) for _ in range(steps)]
    return xs, ys


def train(model, opt, xs, ys, lo, hi, accumulate=1):
    """SGD steps on rows lo:hi of each batch (in ``accumulate`` micro-batches, the first ones under no_sync)."""
    for x, y in zip(xs, ys):
        opt.zero_grad()
        parts = np.array_split(np.arange(lo, hi), accumulate)
        for j, rows in enumerate(parts):
            ctx = model.no_sync() if (isinstance(model, DDP) and j < accumulate - 1) else _null()
            with ctx:
                out = model(numtorch.tensor(x[rows]))
                loss = F.cross_entropy(out, numtorch.tensor(y[rows])) \
                    * (len(rows) / (hi - lo))
                loss.backward()
        opt.step()


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def max_diff(a, b):
    pa = dict(a.named_parameters())
    return max(float(np.abs(pa[k].detach().numpy() - p.detach().numpy()).max()) for k, p in b.named_parameters())


def main():
    kind = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    dist.init_process_group("mpi")
    r, n = dist.get_rank(), dist.get_world_size()
    build = mlp if kind == "mlp" else resnet
    batch = 100 if kind == "mlp" else 8 * n
    xs, ys = data(kind, steps, batch)
    share = batch // n
    lo, hi = r * share, (r + 1) * share
    momentum = 0.0 if kind == "mlp" else 0.9

    local = build(seed=100 + r)  # different start on every rank: DDP must broadcast rank 0's
    if kind == "resnet":
        local = nn.SyncBatchNorm.convert_sync_batchnorm(local)
    cap = 0.002 if kind == "mlp" else 25  # the MLP in 4 small buckets
    ddp = DDP(local, bucket_cap_mb=cap)
    assert all(k.startswith("module.") for k in ddp.state_dict())
    if kind == "mlp":
        assert len(ddp.reducer.buckets) == 4, len(ddp.reducer.buckets)
    opt = numtorch.optim.SGD(ddp.parameters(), lr=0.1, momentum=momentum)
    train(ddp, opt, xs, ys, lo, hi, accumulate=1 if kind == "resnet" else 2)

    diff = 0.0
    if True:  # every rank trains the reference too (a rank waiting in MPI would spin on a shared core)
        ref = build(seed=100)
        ropt = numtorch.optim.SGD(ref.parameters(), lr=0.1, momentum=momentum)
        train(ref, ropt, xs, ys, 0, batch)
        diff = max_diff(ref, ddp.module)
        assert diff < 1e-5, f"{kind}: DDP over {n} ranks differs from one process by {diff}"
        if kind == "resnet":  # running statistics follow the global batch too
            for (k, b1), b2 in zip(ref.named_buffers(), ddp.module.buffers()):
                if b1.dtype == numtorch.float32:
                    d = float(np.abs(b1.detach().numpy() - b2.detach().numpy()).max())
                    assert d < 1e-5, f"buffer {k} differs by {d}"
    # every rank holds the same parameters
    flat = np.concatenate([p.detach().numpy().ravel() for p in ddp.parameters()])
    everyone = [numtorch.zeros(flat.size) for _ in range(n)]
    dist.all_gather(everyone, numtorch.tensor(flat))
    assert all(np.array_equal(e.detach().numpy(), flat) for e in everyone)

    if kind == "mlp":  # gradient_as_bucket_view: .grad is a view of the bucket, same training
        view = DDP(build(seed=7 + r), gradient_as_bucket_view=True)
        vopt = numtorch.optim.SGD(view.parameters(), lr=0.1)
        train(view, vopt, xs[:3], ys[:3], lo, hi, accumulate=2)
        ref3 = build(seed=7)
        train(ref3, numtorch.optim.SGD(ref3.parameters(), lr=0.1), xs[:3], ys[:3], 0, batch)
        assert max_diff(ref3, view.module) < 1e-5
        b = view.reducer.buckets[0]
        assert any(p.grad._data.base is b.buffer for p in b.params)

    if kind == "mlp":  # a parameter outside the graph: find_unused_parameters finishes the reduction
        numtorch.manual_seed(0)
        two = nn.ModuleDict({"used": nn.Linear(4, 2), "unused": nn.Linear(4, 2)})

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.m = two

            def forward(self, x):
                return self.m["used"](x)
        net = DDP(Net(), find_unused_parameters=True)
        x = numtorch.ones(3, 4) * (r + 1)
        net(x).sum().backward()
        g = net.module.m["used"].weight.grad.detach().numpy()
        np.testing.assert_allclose(g, np.full((2, 4), 3 * (n + 1) / 2), rtol=1e-6)  # mean over ranks of 3(r+1)
        assert float(np.abs(net.module.m["unused"].weight.grad.detach().numpy()).max()) == 0.0
        net(x).sum().backward()  # a second step works (the reduction finished)
    dist.destroy_process_group()
    print(f"ok rank {r} max_diff {diff:.3g}", flush=True)


if __name__ == "__main__":
    main()
