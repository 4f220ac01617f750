"""Process groups: who takes part in a collective, and the backend that moves the bytes.

A job is ``world_size`` processes (ranks ``0 .. world_size-1``), each with its own copy of the
model.  A *process group* is a set of ranks that meet in collectives; the default group holds all
of them.  Two backends implement the same small set of array primitives:

* ``ProcessGroupMPI`` (this file) -- MPI through mpi4py, on NumPy arrays.  mpi4py's buffer methods
  (upper-case ``Allreduce``, ``Bcast`` ...) read and write the ndarray's memory directly, so a
  collective costs what MPI costs: no pickling, no copies.  ``MPI.IN_PLACE`` makes the reduction
  overwrite the input, as PyTorch's collectives do.
* ``ProcessGroupNCCL`` (``nccl.py``) -- NCCL through CuPy, on CuPy arrays on the GPU.

Ranks given to the primitives are *group* ranks; ``collectives.py`` translates PyTorch's global
ranks.  Every primitive takes ``async_op``: False runs the blocking call (under the watchdog) and
returns None; True starts the nonblocking call and returns a ``Work`` to ``wait()`` on.
"""
from __future__ import annotations

import time

import numpy as np

from numtorch._backend import CPU


class ReduceOp:
    """How ``all_reduce``/``reduce``/``reduce_scatter`` combine the ranks' values:
    ``ReduceOp.SUM``, ``AVG``, ``PRODUCT``, ``MIN``, ``MAX``, ``BAND``, ``BOR``, ``BXOR``.

    Plain objects compared by identity (an ``enum.Enum`` hashes in Python, a microsecond per
    collective on the hot path).
    """

    __slots__ = ("name",)
    SUM = AVG = PRODUCT = MIN = MAX = BAND = BOR = BXOR = None  # set below
    members: tuple = ()

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<ReduceOp.{self.name}>"


for _name in ("SUM", "AVG", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR"):
    setattr(ReduceOp, _name, ReduceOp(_name))
ReduceOp.members = tuple(getattr(ReduceOp, n)
                         for n in ("SUM", "AVG", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR"))


class Backend(str):
    """Backend names, as ``torch.distributed.Backend``: ``Backend.MPI == "mpi"``."""

    MPI = "mpi"
    NCCL = "nccl"
    GLOO = "gloo"  # accepted as another name for "mpi" on the CPU

    def __new__(cls, name: str) -> "Backend":
        name = str(name).lower()
        if name not in ("mpi", "nccl", "gloo"):
            raise ValueError(f"Invalid backend: '{name}' (numtorch.distributed has 'mpi' and 'nccl')")
        return str.__new__(cls, name)


class Work:
    """A collective in flight (``async_op=True``): ``wait()`` blocks until it is done.

    ``finish`` runs once, after the transfer: it completes what MPI cannot do in place (divide by
    the world size for ``AVG``, copy a gathered buffer into a list of tensors).
    """

    def __init__(self, pg, name: str, requests=(), finish=None, done: bool = False, status=None) -> None:
        self.pg, self.name = pg, name
        self._requests = list(requests)
        self._finish = finish
        self._done = done
        self._status = status  # an MPI.Status for a receive: it tells the sender
        self._source = None

    def is_completed(self) -> bool:
        """True once the transfer is done (and ``finish`` has run); never blocks."""
        if not self._done and self.pg._test(self._requests, self._status):
            self._complete()
        return self._done

    def wait(self, timeout=None) -> bool:
        """Blocks until done; with ``timeout`` (seconds or timedelta) raises RuntimeError if it is not."""
        if self._done:
            return True
        if timeout is None:
            self.pg._wait(self._requests, self.name, self._status)
        else:
            limit = time.monotonic() + _seconds(timeout)
            while not self.pg._test(self._requests, self._status):
                if time.monotonic() > limit:
                    raise RuntimeError(f"{self.name}: Work.wait timed out after {_seconds(timeout):g} s "
                                       f"on rank {self.pg.global_rank}")
                time.sleep(1e-4)
        self._complete()
        return True

    def _complete(self) -> None:
        self._done = True
        if self._status is not None:
            self._source = self.pg.ranks[self._status.Get_source()]
        if self._finish is not None:
            f, self._finish = self._finish, None
            f()

    def result(self):
        return None

    def _source_rank(self) -> int:
        """The global rank a ``irecv`` from any source received from (after ``wait``)."""
        return self._source

    def __repr__(self) -> str:
        return f"Work({self.name}, completed={self._done})"


def _seconds(timeout) -> float:
    return timeout.total_seconds() if hasattr(timeout, "total_seconds") else float(timeout)


def _chain(*fs):
    """One callable running each of ``fs`` that is not None (or None when all are)."""
    fs = [f for f in fs if f is not None]
    if not fs:
        return None
    if len(fs) == 1:
        return fs[0]

    def run():
        for f in fs:
            f()
    return run


class ProcessGroup:
    """What every backend provides: ranks, size, the array module and the watchdog."""

    backend = "?"
    device = CPU
    xp = np

    def __init__(self, rank: int, size: int, ranks: list[int], global_rank: int, watchdog) -> None:
        self.rank_ = rank  # this process's rank inside the group
        self.size_ = size
        self.ranks = ranks  # global rank of each group rank
        self.global_rank = global_rank
        self.watchdog = watchdog

    def rank(self) -> int:
        return self.rank_

    def size(self) -> int:
        return self.size_

    def name(self) -> str:
        return self.backend

    def __repr__(self) -> str:
        return f"ProcessGroup{self.backend.upper()}(rank={self.rank_}, size={self.size_}, ranks={self.ranks})"


class ProcessGroupMPI(ProcessGroup):
    """Collectives over an MPI communicator, on NumPy arrays (zero-copy, in place)."""

    backend = "mpi"

    def __init__(self, comm, ranks: list[int], global_rank: int, watchdog) -> None:
        super().__init__(comm.Get_rank(), comm.Get_size(), ranks, global_rank, watchdog)
        from numtorch.distributed._mpi import mpi
        self.MPI = mpi()
        self.comm = comm
        self._types = _mpi_types(self.MPI)
        self._ops = _mpi_ops(self.MPI)
        self._plans = {}  # (dtype, ReduceOp) -> (MPI op, average?)

    # ---- helpers ---------------------------------------------------------------------
    def _buf(self, a):
        """``[array, MPI datatype]`` (float16 travels as int16 bits when nothing is reduced)."""
        t = self._types.get(a.dtype)
        if t is None:
            if a.dtype == np.float16:
                return [a.view(np.int16), self.MPI.INT16_T]
            raise TypeError(f"numtorch.distributed (mpi): unsupported dtype {a.dtype}")
        return [a, t]

    def _op(self, op: ReduceOp, a, name: str):
        """The MPI op for ``op`` on ``a``'s dtype, and the follow-up AVG needs (divide by size)."""
        plan = self._plans.get((a.dtype, op))
        if plan is None:
            plan = self._plan(a.dtype, op, name)
        mop, average = plan
        if average:
            n = self.size_
            return mop, (lambda: np.divide(a, n, out=a))
        return mop, None

    def _plan(self, dtype, op: ReduceOp, name: str) -> tuple:
        """(MPI op, divide by size after?) for ``op`` on ``dtype``, checked once and cached."""
        kind = dtype.kind
        if kind == "b":
            plan = (self._ops[("b", op)], False)
        elif op is ReduceOp.AVG:
            if kind not in "fc":
                raise RuntimeError(f"{name}: ReduceOp.AVG needs a floating-point tensor, got {dtype}")
            plan = (self.MPI.SUM, True)
        elif op in (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR) and kind not in "iu":
            raise RuntimeError(f"{name}: {op} needs an integer or bool tensor, got {dtype}")
        else:
            plan = (self._ops[op], False)
        self._plans[(dtype, op)] = plan
        return plan

    def _reduce_in_f32(self, a, run, name, async_op):
        """float16 reductions run on a float32 copy (MPI has no half type) and are cast back."""
        tmp = a.astype(np.float32)
        return run(tmp, lambda: np.copyto(a, tmp, casting="unsafe"), async_op)

    def _go(self, name: str, blocking, nonblocking, finish, async_op: bool):
        if async_op:
            return Work(self, name, [nonblocking()], finish)
        wd = self.watchdog
        if wd is not None:
            wd.arm(name, None, self.ranks)
        blocking()
        if wd is not None:
            wd.disarm()
        if finish is not None:
            finish()
        return None

    def _test(self, requests, status=None) -> bool:
        if status is not None:
            return requests[0].Test(status)
        return self.MPI.Request.Testall(requests) if requests else True

    def _wait(self, requests, name: str, status=None) -> None:
        if requests:
            wd = self.watchdog
            if wd is not None:
                wd.arm(name, None, self.ranks)
            if status is not None:
                requests[0].Wait(status)
            else:
                self.MPI.Request.Waitall(requests)
            if wd is not None:
                wd.disarm()

    # ---- primitives (group ranks) --------------------------------------------------------
    def allreduce(self, a, op=ReduceOp.SUM, async_op=False, then=None):
        mtype = self._types.get(a.dtype)
        if mtype is None:
            if a.dtype != np.float16:
                raise TypeError(f"all_reduce (mpi): unsupported dtype {a.dtype}")
            return self._reduce_in_f32(a, lambda t, f, asy: self.allreduce(t, op, asy, _chain(f, then)),
                                       "all_reduce", async_op)
        mop, fin = self._op(op, a, "all_reduce")
        if then is not None:
            fin = _chain(fin, then)
        buf, comm = [a, mtype], self.comm
        if async_op:
            return Work(self, "all_reduce", [comm.Iallreduce(self.MPI.IN_PLACE, buf, mop)], fin)
        wd = self.watchdog  # the hot path, written out: arm, reduce in place, disarm
        if wd is not None:
            wd.arm("all_reduce", None, self.ranks)
        comm.Allreduce(self.MPI.IN_PLACE, buf, mop)
        if wd is not None:
            wd.disarm()
        if fin is not None:
            fin()
        return None

    def broadcast(self, a, root: int, async_op=False, then=None):
        buf, comm = self._buf(a), self.comm
        return self._go("broadcast", lambda: comm.Bcast(buf, root), lambda: comm.Ibcast(buf, root),
                        then, async_op)

    def reduce(self, a, root: int, op=ReduceOp.SUM, async_op=False, then=None):
        if a.dtype == np.float16:
            return self._reduce_in_f32(a, lambda t, f, asy: self.reduce(t, root, op, asy, _chain(f, then)),
                                       "reduce", async_op)
        mop, fin = self._op(op, a, "reduce")
        buf, comm = [a, self._types[a.dtype]], self.comm
        if self.rank_ == root:
            snd, rcv = self.MPI.IN_PLACE, buf
        else:
            snd, rcv, fin = buf, None, None
        return self._go("reduce", lambda: comm.Reduce(snd, rcv, mop, root),
                        lambda: comm.Ireduce(snd, rcv, mop, root), _chain(fin, then), async_op)

    def allgather(self, out, a, async_op=False, then=None):
        """``out`` (contiguous, ``size * a.size`` elements) receives every rank's ``a`` in rank order."""
        s, r, comm = self._buf(a), self._buf(out), self.comm
        return self._go("all_gather", lambda: comm.Allgather(s, r), lambda: comm.Iallgather(s, r),
                        then, async_op)

    def reduce_scatter(self, out, a, op=ReduceOp.SUM, async_op=False, then=None):
        """Reduces ``a`` (``size * out.size`` elements) over ranks; rank i keeps block i in ``out``."""
        if a.dtype == np.float16:
            o32 = out.astype(np.float32)
            return self.reduce_scatter(o32, a.astype(np.float32), op, async_op,
                                       _chain(lambda: np.copyto(out, o32, casting="unsafe"), then))
        mop, _ = self._op(op, a, "reduce_scatter")
        fin = (lambda: np.divide(out, self.size_, out=out)) if op is ReduceOp.AVG else None
        s, r, comm = [a, self._types[a.dtype]], [out, self._types[out.dtype]], self.comm
        return self._go("reduce_scatter", lambda: comm.Reduce_scatter_block(s, r, mop),
                        lambda: comm.Ireduce_scatter_block(s, r, mop), _chain(fin, then), async_op)

    def gather(self, out, a, root: int, async_op=False, then=None):
        s, comm = self._buf(a), self.comm
        r = self._buf(out) if self.rank_ == root else None
        return self._go("gather", lambda: comm.Gather(s, r, root), lambda: comm.Igather(s, r, root),
                        then, async_op)

    def scatter(self, out, src, root: int, async_op=False, then=None):
        r, comm = self._buf(out), self.comm
        s = self._buf(src) if self.rank_ == root else None
        return self._go("scatter", lambda: comm.Scatter(s, r, root), lambda: comm.Iscatter(s, r, root),
                        then, async_op)

    def alltoall(self, out, a, async_op=False, then=None):
        s, r, comm = self._buf(a), self._buf(out), self.comm
        return self._go("all_to_all", lambda: comm.Alltoall(s, r), lambda: comm.Ialltoall(s, r),
                        then, async_op)

    def barrier(self, async_op=False):
        comm = self.comm
        return self._go("barrier", comm.Barrier, comm.Ibarrier, None, async_op)

    def send(self, a, dst: int, tag=0, async_op=False):
        buf, comm = self._buf(a), self.comm
        return self._go("send", lambda: comm.Send(buf, dst, tag), lambda: comm.Isend(buf, dst, tag),
                        None, async_op)

    def recv(self, a, src: int | None, tag=0, async_op=False):
        """Receives into ``a`` from group rank ``src`` (None: any); returns the sender's group rank
        (or, with ``async_op``, a Work whose ``_source_rank()`` gives the sender's global rank)."""
        MPI, buf, comm = self.MPI, self._buf(a), self.comm
        source = MPI.ANY_SOURCE if src is None else src
        status = MPI.Status()
        if async_op:
            return Work(self, "recv", [comm.Irecv(buf, source, tag)], status=status)
        if self.watchdog is not None:
            self.watchdog.arm("recv", None, self.ranks)
        comm.Recv(buf, source, tag, status)
        if self.watchdog is not None:
            self.watchdog.disarm()
        return status.Get_source()

    def destroy(self) -> None:
        MPI = self.MPI
        if self.comm not in (MPI.COMM_WORLD, MPI.COMM_SELF, MPI.COMM_NULL) and not MPI.Is_finalized():
            self.comm.Free()


def _mpi_types(MPI) -> dict:
    return {np.dtype(np.float32): MPI.FLOAT, np.dtype(np.float64): MPI.DOUBLE,
            np.dtype(np.int64): MPI.INT64_T, np.dtype(np.int32): MPI.INT32_T, np.dtype(np.int16): MPI.INT16_T,
            np.dtype(np.int8): MPI.INT8_T, np.dtype(np.uint8): MPI.UINT8_T, np.dtype(np.bool_): MPI.C_BOOL,
            np.dtype(np.complex64): MPI.C_FLOAT_COMPLEX, np.dtype(np.complex128): MPI.C_DOUBLE_COMPLEX}


def _mpi_ops(MPI) -> dict:
    R = ReduceOp
    ops = {R.SUM: MPI.SUM, R.PRODUCT: MPI.PROD, R.MIN: MPI.MIN, R.MAX: MPI.MAX,
           R.BAND: MPI.BAND, R.BOR: MPI.BOR, R.BXOR: MPI.BXOR}
    # bool tensors: sum and max are "any", product and min are "all" (as PyTorch computes them)
    ops.update({("b", R.SUM): MPI.LOR, ("b", R.MAX): MPI.LOR, ("b", R.BOR): MPI.LOR,
                ("b", R.PRODUCT): MPI.LAND, ("b", R.MIN): MPI.LAND, ("b", R.BAND): MPI.LAND,
                ("b", R.BXOR): MPI.LXOR, ("b", R.AVG): MPI.LOR})
    return ops
