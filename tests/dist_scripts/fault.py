"""Run under ``mpiexec -n N``; the fault scenarios of tests/test_distributed.py.

``fault.py raise CKPT``   DDP training where rank 1 raises at step 5; rank 0 checkpoints every step
                          (numtorch.save: temporary file + rename).  The job must die, naming rank 1.
``fault.py hang``         rank 1 never joins an all_reduce; the watchdog (timeout=2 s) must end the job.
``fault.py resume CKPT``  resumes from the checkpoint on this many ranks; prints "resumed at step S".
"""
import sys
import time

import numpy as np

import numtorch
import numtorch.distributed as dist
import numtorch.nn as nn
import numtorch.nn.functional as F
from numtorch.nn.parallel import DistributedDataParallel as DDP


def model_and_opt():
    numtorch.manual_seed(0)
    model = DDP(nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 4)))
    return model, numtorch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def step(model, opt, i, r, n):
    rng = np.random.default_rng(i)
    x, y = rng.random((12, 20), dtype=np.float32), rng.integers(0, 4, 12)
    rows = np.array_split(np.arange(12), n)[r]
    opt.zero_grad()
    loss = F.cross_entropy(model(numtorch.tensor(x[rows])), numtorch.tensor(y[rows]))
    loss.backward()
    opt.step()
    return float(loss)


def main():
    mode = sys.argv[1]
    dist.init_process_group("mpi", timeout=2 if mode == "hang" else 60)
    r, n = dist.get_rank(), dist.get_world_size()
    if mode == "hang":
        if r == 1:
            time.sleep(60)  # never reaches the collective
        dist.all_reduce(numtorch.ones(4))
        print("not reached", flush=True)
        return
    path = sys.argv[2]
    model, opt = model_and_opt()
    start = 0
    if mode == "resume":
        ckpt = numtorch.load(path)
        model.module.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        start = ckpt["step"] + 1
        print(f"resumed at step {start} on {n} ranks", flush=True)
    for i in range(start, start + 8):
        if mode == "raise" and r == 1 and i == 5:
            raise ValueError("injected failure at step 5")
        step(model, opt, i, r, n)
        if dist.is_main_process():  # rank 0 alone writes checkpoints
            numtorch.save({"model": model.module.state_dict(), "optimizer": opt.state_dict(), "step": i}, path)
    flat = np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])
    everyone = [None] * n
    dist.all_gather_object(everyone, float(flat.sum()))
    assert len(set(everyone)) == 1, everyone  # every rank holds the same model
    dist.destroy_process_group()
    print(f"ok rank {r}", flush=True)


if __name__ == "__main__":
    main()
