"""The default process group and sub-groups: ``init_process_group``, ``new_group``, ``get_rank`` ...

``init_process_group("mpi")`` takes the ranks from MPI (``mpiexec -n 4 python train.py`` starts
four ranks); ``init_process_group("nccl")`` takes them from MPI too when started by mpiexec, else from
the ``RANK``/``WORLD_SIZE`` variables or arguments that other launchers set.  It also installs the
fault guards of ``faults.py``: one rank's uncaught exception, its exit while the group is live, or
a collective that outlives ``timeout``, ends every rank with a message naming the rank.
"""
from __future__ import annotations

import datetime
import os

from numtorch.distributed import faults
from numtorch.distributed._mpi import mpi, mpi_available, launched_by_mpiexec
from numtorch.distributed.process_group import Backend, ProcessGroupMPI

default_pg_timeout = datetime.timedelta(minutes=30)


class GroupMember:
    """``GroupMember.WORLD`` is the default group; ``new_group`` returns ``NON_GROUP_MEMBER`` to
    ranks outside the group (collectives on it are then no-ops for them)."""

    WORLD = None
    NON_GROUP_MEMBER = object()


class group:
    """``group.WORLD``: the default group (as ``torch.distributed.group.WORLD``)."""

    WORLD = None  # set by init_process_group


_GroupNamespace = group  # functions below take a parameter named ``group``


class _State:
    """The process-wide state: the default group, its fault guards, every group made."""

    default = None
    groups: list = []
    watchdog = None
    excepthook = None
    exit_guard = None
    notices = None
    abort = None


# ---- availability --------------------------------------------------------------------------
def is_mpi_available() -> bool:
    """True when mpi4py and an MPI library load (``pip install numtorch[dist]``)."""
    return mpi_available()


def is_nccl_available() -> bool:
    """True when CuPy with NCCL loads and a GPU is present."""
    try:
        import cupy
        from cupy.cuda import nccl  # noqa: F401
        return bool(cupy.cuda.is_available())
    except Exception:
        return False


def is_gloo_available() -> bool:
    return False


def is_available() -> bool:
    """True: the package is always importable; see is_mpi_available / is_nccl_available for backends."""
    return True


def is_initialized() -> bool:
    return _State.default is not None


def is_torchelastic_launched() -> bool:
    return False


# ---- init / destroy ----------------------------------------------------------------------------
def init_process_group(backend: str | None = None, init_method: str | None = None, timeout=None,
                       world_size: int = -1, rank: int = -1, store=None, group_name: str = "",
                       pg_options=None, device_id=None) -> None:
    """Joins this process to the job's default process group.

    Args:
        backend: "mpi" (CPU, NumPy arrays; "gloo" is taken as "mpi") or "nccl" (GPU, CuPy arrays).
            None picks "mpi".
        init_method: for "nccl" started without mpiexec, where the ranks meet: "file:///shared/path"
            (default: the ``NUMTORCH_NCCL_ID_FILE`` variable); "mpi" ignores it (MPI has met already).
        timeout: seconds or a ``timedelta`` (default 30 minutes); a collective running longer ends
            the job, naming the rank and the collective.
        world_size, rank: checked against MPI's; for "nccl" without MPI, taken from here or from
            the ``WORLD_SIZE`` and ``RANK`` variables.
    """
    if _State.default is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    name = Backend(backend or "mpi")
    timeout_s = _seconds(default_pg_timeout if timeout is None else timeout)
    if name == "nccl":
        from numtorch.distributed.nccl import init_nccl_world
        pg, abort = init_nccl_world(init_method, world_size, rank, timeout_s, _State)
    else:
        pg, abort = _init_mpi_world(world_size, rank, timeout_s)
    _State.default, _State.abort = pg, abort
    _State.groups = [pg]
    GroupMember.WORLD = group.WORLD = pg
    if pg.size_ > 1:
        _State.excepthook = faults.ExceptHook(pg.rank_, pg.size_, abort).install()
        _State.exit_guard = faults.ExitGuard(pg.rank_, pg.size_, abort, _stop_watchdog,
                                             _State.notices).install()


def _init_mpi_world(world_size: int, rank: int, timeout_s: float):
    MPI = mpi()
    comm = MPI.COMM_WORLD
    size, me = comm.Get_size(), comm.Get_rank()
    env_size = int(os.environ.get("WORLD_SIZE", "-1"))
    if size == 1 and env_size > 1 and not launched_by_mpiexec():
        raise RuntimeError(f"init_process_group('mpi'): WORLD_SIZE={env_size} but MPI sees one process: "
                           f"start the job with `mpiexec -n {env_size} python ...`")
    if world_size not in (-1, size) or rank not in (-1, me):
        raise ValueError(f"init_process_group('mpi'): world_size={world_size}, rank={rank} disagree with "
                         f"MPI's world size {size} and rank {me} (leave them at -1 under mpiexec)")

    def abort(code: int = 1) -> None:
        faults.unlink_mpi_shared_memory()
        MPI.COMM_WORLD.Abort(code)
    watchdog = None
    if size > 1:
        # peers that left are heard by the watchdog thread: it needs MPI_THREAD_MULTIPLE
        if MPI.Query_thread() == MPI.THREAD_MULTIPLE:
            _State.notices = faults.LeaveNotices(comm, MPI)
        watchdog = faults.Watchdog(me, timeout_s, abort, _State.notices)
    _State.watchdog = watchdog
    return ProcessGroupMPI(comm, list(range(size)), me, watchdog), abort


def destroy_process_group(group=None) -> None:
    """Leaves the job (``group=None``) or frees one sub-group; restores the exception hook."""
    if group is not None and group is not _State.default:
        if group in _State.groups:
            _State.groups.remove(group)
            group.destroy()
        return
    if _State.default is None:
        return
    for pg in _State.groups[1:]:
        pg.destroy()
    _stop_watchdog()
    _State.default.destroy()
    if _State.notices is not None:
        _State.notices.free()
    for hook in (_State.excepthook, _State.exit_guard):
        if hook is not None:
            hook.uninstall()
    _State.default = _State.watchdog = _State.excepthook = _State.exit_guard = _State.abort = None
    _State.notices = None
    _State.groups = []
    GroupMember.WORLD = _GroupNamespace.WORLD = None


def _stop_watchdog() -> None:
    if _State.watchdog is not None:
        _State.watchdog.stop()


def abort_job(code: int = 1) -> None:
    """Ends every rank at once (MPI_Abort under MPI); for fatal errors seen by one rank."""
    if _State.abort is not None:
        _State.abort(code)
    raise SystemExit(code)


# ---- queries -------------------------------------------------------------------------------------
def _default():
    if _State.default is None:
        raise ValueError("Default process group has not been initialized, please make sure to call "
                         "init_process_group.")
    return _State.default


def resolve(group):
    """The group to run a collective on: the default for None, None for a non-member."""
    if group is None:
        return _default()
    if group is GroupMember.NON_GROUP_MEMBER:
        return None
    return group


def resolve_if_initialized(group):
    """``resolve(group)``, or None before ``init_process_group`` (what ``SyncBatchNorm`` asks)."""
    return resolve(group) if _State.default is not None else None


def get_rank(group=None) -> int:
    """This process's rank in ``group`` (the default: its global rank); -1 outside the group."""
    pg = resolve(group)
    return -1 if pg is None else pg.rank_


def get_world_size(group=None) -> int:
    """The number of ranks in ``group``; -1 outside the group."""
    pg = resolve(group)
    return -1 if pg is None else pg.size_


def get_backend(group=None) -> str:
    pg = resolve(group)
    if pg is None:
        raise ValueError("Invalid process group specified")
    return Backend(pg.backend)


def get_global_rank(group, group_rank: int) -> int:
    """The global rank of ``group``'s rank ``group_rank``."""
    pg = resolve(group)
    if not 0 <= group_rank < pg.size_:
        raise ValueError(f"Group rank {group_rank} is not part of group {pg}")
    return pg.ranks[group_rank]


def get_group_rank(group, global_rank: int) -> int:
    """The rank inside ``group`` of global rank ``global_rank``."""
    pg = resolve(group)
    try:
        return pg.ranks.index(global_rank)
    except ValueError:
        raise ValueError(f"Global rank {global_rank} is not part of group {pg}") from None


def get_process_group_ranks(group) -> list[int]:
    return list(resolve(group).ranks)


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False):
    """A group of some ranks (every rank of the job must call it, with the same ``ranks``).

    Ranks outside get ``GroupMember.NON_GROUP_MEMBER``; collectives on it do nothing for them.
    """
    world = _default()
    ranks = sorted(range(world.size_) if ranks is None else {int(r) for r in ranks})
    for r in ranks:
        if not 0 <= r < world.size_:
            raise ValueError(f"new_group: rank {r} is not in the world of {world.size_} ranks")
    if world.backend == "nccl":
        pg = world.split(ranks)
    else:
        comm = world.comm.Create(world.comm.Get_group().Incl(ranks))
        pg = None if comm == world.MPI.COMM_NULL else ProcessGroupMPI(comm, ranks, world.global_rank,
                                                                        world.watchdog)
    if pg is None:
        return GroupMember.NON_GROUP_MEMBER
    _State.groups.append(pg)
    return pg


def _seconds(timeout) -> float:
    return timeout.total_seconds() if hasattr(timeout, "total_seconds") else float(timeout)
