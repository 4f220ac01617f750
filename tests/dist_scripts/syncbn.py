"""Run under ``mpiexec -n N``: SyncBatchNorm on uneven shares of a batch == BatchNorm on the whole batch.

Rank r holds rows [start_r, end_r) of a fixed (N, C, H, W) batch (shares of different sizes); the
forward output, input gradient, weight/bias gradients (summed over ranks) and running statistics
must equal those of ``batch_norm`` on the whole batch in one process.  Prints "ok rank R".
"""
import numpy as np

import numtorch
import numtorch.distributed as dist
from numtorch.nn.modules.syncbatchnorm import SyncBatchNorm
from numtorch.ops.batchnorm import batch_norm


def main():
    dist.init_process_group("mpi")
    r, n = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(0)
    N, C = 2 * n + 3, 4
    x = (rng.standard_normal((N, C, 3, 5)) * 2 + 1).astype(np.float64)
    dy = rng.standard_normal((N, C, 3, 5))
    gamma, beta = rng.standard_normal(C) + 1, rng.standard_normal(C)
    cuts = np.linspace(0, N, n + 1).astype(int)
    cuts[1:-1] += np.arange(1, n) % 2  # uneven shares
    lo, hi = cuts[r], cuts[r + 1]

    bn = SyncBatchNorm(C, momentum=0.3, dtype=numtorch.float64)
    bn.weight.data = numtorch.tensor(gamma)
    bn.bias.data = numtorch.tensor(beta)
    xl = numtorch.tensor(x[lo:hi], requires_grad=True)
    y = bn(xl)
    (y * numtorch.tensor(dy[lo:hi])).sum().backward()

    w = numtorch.tensor(gamma, requires_grad=True)
    b = numtorch.tensor(beta, requires_grad=True)
    xr = numtorch.tensor(x, requires_grad=True)
    rm, rv = numtorch.zeros(C, dtype=numtorch.float64), numtorch.ones(C, dtype=numtorch.float64)
    yr = batch_norm(xr, rm, rv, w, b, training=True, momentum=0.3)
    (yr * numtorch.tensor(dy)).sum().backward()

    tol = dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(y.detach().numpy(), yr.detach().numpy()[lo:hi], **tol)
    np.testing.assert_allclose(xl.grad.numpy(), xr.grad.numpy()[lo:hi], **tol)
    for mine, ref in ((bn.weight.grad, w.grad), (bn.bias.grad, b.grad)):
        total = mine.clone()
        dist.all_reduce(total)  # local parameter gradients add up to the whole batch's
        np.testing.assert_allclose(total.numpy(), ref.numpy(), **tol)
    np.testing.assert_allclose(bn.running_mean.numpy(), rm.numpy(), **tol)
    np.testing.assert_allclose(bn.running_var.numpy(), rv.numpy(), **tol)
    bn.eval()  # eval: the running statistics, no communication
    np.testing.assert_allclose(bn(numtorch.tensor(x[:2])).detach().numpy(),
                               batch_norm(numtorch.tensor(x[:2]), rm, rv, numtorch.tensor(gamma),
                                          numtorch.tensor(beta)).numpy(), **tol)
    dist.destroy_process_group()
    print(f"ok rank {r}", flush=True)


if __name__ == "__main__":
    main()
