"""mpi4py, imported lazily: numtorch runs without it, and says how to get it when it is needed."""
from __future__ import annotations

_MPI = None


def mpi():
    """The ``mpi4py.MPI`` module (importing it starts MPI), or a clear error naming the extra."""
    global _MPI
    if _MPI is None:
        try:
            from mpi4py import MPI
        except ImportError as e:
            raise RuntimeError("numtorch.distributed: the 'mpi' backend needs mpi4py and an MPI library "
                               f"({e}): pip install numtorch[dist]") from None
        _MPI = MPI
    return _MPI


def mpi_available() -> bool:
    """True when mpi4py imports and finds an MPI library."""
    try:
        mpi()
        return True
    except (RuntimeError, OSError):
        return False


def launched_by_mpiexec() -> bool:
    """True when this process was started by mpiexec/mpirun/srun (their environment variables)."""
    import os
    return any(k in os.environ for k in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_RANK", "PMIX_RANK",
                                         "MPI_LOCALRANKID"))
