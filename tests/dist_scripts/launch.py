"""Run under ``mpiexec -n N``: what a training script (or the numtorch CLI) does with launch_context."""
import numtorch
import numtorch.distributed as dist
from numtorch.nn.parallel import DistributedDataParallel

with dist.launch_context() as ctx:
    assert dist.is_initialized() and ctx.distributed and ctx.world_size == dist.get_world_size()
    model = ctx.wrap(numtorch.nn.Linear(3, 2))
    assert isinstance(model, DistributedDataParallel)
    sampler = ctx.sampler(list(range(10)), shuffle=False)
    assert list(sampler) == list(range(ctx.rank, 10, ctx.world_size))
    assert dist.is_main_process() == (ctx.rank == 0)
    ctx.print(f"epoch 0 world {ctx.world_size}")
assert not dist.is_initialized()
