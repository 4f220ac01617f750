"""``numtorch.distributed``: many processes training one model (``torch.distributed``'s API).

Start N copies of a script with MPI, one per core, node or GPU::

    mpiexec -n 4 python train.py

and in the script join them into one job::

    import numtorch.distributed as dist
    dist.init_process_group("mpi")           # "nccl" for GPUs (CuPy)
    rank, world = dist.get_rank(), dist.get_world_size()
    t = numtorch.ones(3) * rank
    dist.all_reduce(t)                       # in place: every rank now holds 0 + 1 + ... + (world-1)

Data-parallel training wraps the model in ``numtorch.nn.parallel.DistributedDataParallel`` and
splits the data with ``numtorch.utils.data.distributed.DistributedSampler``.  An uncaught exception
on any rank, or a collective that outlives ``init_process_group(timeout=...)``, ends every rank with
a message naming the failed rank (``faults.py``).  See docs/distributed.md.
"""
from numtorch.distributed.process_group import ReduceOp, Backend, Work, ProcessGroup  # noqa: F401
from numtorch.distributed.world import (  # noqa: F401
    init_process_group, destroy_process_group, is_initialized, is_available, is_mpi_available,
    is_nccl_available, is_gloo_available, is_torchelastic_launched, get_rank, get_world_size, get_backend,
    new_group, get_global_rank, get_group_rank, get_process_group_ranks, GroupMember, group,
    default_pg_timeout, abort_job)
from numtorch.distributed.collectives import *  # noqa: F401,F403
from numtorch.distributed.launch import is_main_process, launch_context, LaunchContext  # noqa: F401
from numtorch.distributed import world as _world
from numtorch.nn.modules import syncbatchnorm as _syncbatchnorm

_syncbatchnorm.resolve_group = _world.resolve_if_initialized  # SyncBatchNorm (in nn, below) asks the world
