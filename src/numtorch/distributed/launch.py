"""Helpers for scripts and the ``numtorch`` command run as ``mpiexec -n N ...``.

The rule of data-parallel training: every rank computes, rank 0 alone talks -- it prints progress,
writes logs and checkpoints.  ``launch_context`` sets up what a training script needs::

    with dist.launch_context() as ctx:          # one process, or N under mpiexec
        model = ctx.wrap(model)                 # DistributedDataParallel when N > 1
        sampler = ctx.sampler(train_set, shuffle=True)   # this rank's share (None when N == 1)
        ...
        ctx.print(f"epoch {epoch} loss {loss:.4f}")      # rank 0 only
        if ctx.is_main:
            numtorch.save(model.state_dict(), path)
"""
from __future__ import annotations

import os

from numtorch.distributed import world
from numtorch.distributed._mpi import launched_by_mpiexec


def is_main_process() -> bool:
    """True on rank 0 of the job, and in a process that is not part of a job."""
    return not world.is_initialized() or world.get_rank() == 0


def launched_distributed() -> bool:
    """True when a launcher started this process as one of several (mpiexec, srun, WORLD_SIZE>1)."""
    if launched_by_mpiexec():
        size = next((os.environ[k] for k in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_NTASKS")
                     if k in os.environ), None)
        if size is None:  # a launcher that does not say the size: ask MPI
            from numtorch.distributed._mpi import mpi
            return mpi().COMM_WORLD.Get_size() > 1
        return int(size) > 1
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


class LaunchContext:
    """Rank, world size and the helpers a training loop needs; see the module docstring."""

    # What wrap() and sampler() build. Both are built on this package's process groups, so they sit
    # above it and set these as they load (nn/parallel/distributed.py, utils/data/distributed.py).
    DistributedDataParallel = None
    DistributedSampler = None

    def __init__(self, backend: str | None = None, timeout=None) -> None:
        self.backend, self.timeout = backend, timeout
        self.owns_group = False

    def __enter__(self) -> "LaunchContext":
        if launched_distributed() and not world.is_initialized():
            world.init_process_group(self.backend, timeout=self.timeout)
            self.owns_group = True
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self.owns_group and exc_type is None:
            from numtorch.distributed.collectives import barrier
            barrier()
            world.destroy_process_group()
        return False  # an exception propagates: the excepthook names the rank and ends the job

    @property
    def distributed(self) -> bool:
        return world.is_initialized() and world.get_world_size() > 1

    @property
    def rank(self) -> int:
        return world.get_rank() if world.is_initialized() else 0

    @property
    def world_size(self) -> int:
        return world.get_world_size() if world.is_initialized() else 1

    @property
    def local_rank(self) -> int:
        for k in ("LOCAL_RANK", "MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"):
            if k in os.environ:
                return int(os.environ[k])
        return self.rank

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def print(self, *args, **kwargs) -> None:
        """``print`` on rank 0 only."""
        if self.is_main:
            print(*args, **kwargs, flush=True)

    def wrap(self, model, **ddp_kwargs):
        """``DistributedDataParallel(model)`` in a job of several ranks, else the model itself."""
        if not self.distributed:
            return model
        return self.DistributedDataParallel(model, **ddp_kwargs)

    def sampler(self, dataset, shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        """This rank's ``DistributedSampler`` in a job of several ranks, else None."""
        if not self.distributed:
            return None
        return self.DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last)


def launch_context(backend: str | None = None, timeout=None) -> LaunchContext:
    """Joins the job when started by a launcher (else runs as one process); see the module docstring."""
    return LaunchContext(backend, timeout)
