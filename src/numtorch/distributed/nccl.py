"""The NCCL backend: collectives on CuPy arrays, GPU to GPU, through ``cupy.cuda.nccl``.

One process per GPU.  NCCL needs every rank to start from the same 128-byte *unique id* made by
rank 0; it travels

* over MPI when the job was started by mpiexec/srun (``mpiexec -n 4 python train.py``), or
* through a file every rank can read (``init_method="file:///shared/fs/nccl-id"`` or the
  ``NUMTORCH_NCCL_ID_FILE`` variable; the file must not exist when the job starts), or
* over TCP from rank 0 (``init_method="tcp://host:port"`` or ``"env://"`` with ``MASTER_ADDR`` and
  ``MASTER_PORT``), with ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` from the launcher.

Collectives are enqueued on the current CUDA stream and return at once, as PyTorch's NCCL
collectives do: later work on that stream sees the result.  ``async_op=True`` returns a Work whose
``wait()`` blocks the host on a CUDA event.  Set ``NUMTORCH_NCCL_BLOCKING_WAIT=1`` to make every
collective wait on the host too, under the watchdog (slower; turns a dead peer into an error).
"""
from __future__ import annotations

import json
import os
import socket
import time

import numpy as np

from numtorch import _backend
from numtorch.distributed import faults
from numtorch.distributed._mpi import mpi, mpi_available, launched_by_mpiexec
from numtorch.distributed.process_group import ProcessGroup, ReduceOp, Work, _chain


def _nccl():
    import cupy
    if not cupy.cuda.is_available():
        raise RuntimeError("init_process_group('nccl'): no CUDA GPU is available; use backend 'mpi' on CPUs")
    try:
        from cupy.cuda import nccl
    except ImportError as e:
        raise RuntimeError(f"init_process_group('nccl'): CuPy was built without NCCL ({e}): "
                           "pip install numtorch[gpu] nvidia-nccl-cu12") from None
    return cupy, nccl


def _local_rank(rank: int, n_gpus: int) -> int:
    for k in ("LOCAL_RANK", "MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"):
        if k in os.environ:
            return int(os.environ[k])
    return rank % n_gpus


def init_nccl_world(init_method, world_size: int, rank: int, timeout_s: float, state):
    """Makes the world's NCCL communicator; returns (group, abort function). The watchdog goes into
    ``state`` (the world's ``_State``, handed in by ``world``) before the communicator is made."""
    cupy, nccl = _nccl()
    use_mpi = launched_by_mpiexec() and mpi_available()
    if use_mpi:
        comm = mpi().COMM_WORLD
        rank, world_size = comm.Get_rank(), comm.Get_size()
    else:
        rank = rank if rank >= 0 else int(os.environ.get("RANK", "0"))
        world_size = world_size if world_size > 0 else int(os.environ.get("WORLD_SIZE", "1"))
    gpu = _local_rank(rank, cupy.cuda.runtime.getDeviceCount())
    cupy.cuda.Device(gpu).use()
    _backend._Cuda.current = gpu
    uid = nccl.get_unique_id() if rank == 0 else None
    if world_size > 1:
        uid = _share_id(uid, rank, world_size, init_method, use_mpi, timeout_s)

    if use_mpi:
        def abort(code: int = 1) -> None:
            faults.unlink_mpi_shared_memory()
            mpi().COMM_WORLD.Abort(code)
    else:
        abort = faults.exit_abort
    watchdog = faults.Watchdog(rank, timeout_s, abort) if world_size > 1 else None
    state.watchdog = watchdog
    nc = nccl.NcclCommunicator(world_size, uid, rank)
    return ProcessGroupNCCL(nc, list(range(world_size)), rank, watchdog, gpu), abort


# ---- sharing rank 0's unique id ------------------------------------------------------------
def _share_id(uid, rank: int, size: int, init_method, use_mpi: bool, timeout_s: float):
    if use_mpi:
        MPI = mpi()
        buf = np.zeros(128, np.int8) if uid is None else np.array(uid, np.int8)
        MPI.COMM_WORLD.Bcast([buf, MPI.INT8_T], root=0)
        return tuple(int(v) for v in buf)
    method = init_method or ("file://" + os.environ["NUMTORCH_NCCL_ID_FILE"]
                             if "NUMTORCH_NCCL_ID_FILE" in os.environ else "env://")
    if method.startswith("file://"):
        return _share_by_file(uid, rank, method[len("file://"):], timeout_s)
    if method.startswith("tcp://"):
        host, _, port = method[len("tcp://"):].rpartition(":")
    elif method == "env://":
        host, port = os.environ.get("MASTER_ADDR", "127.0.0.1"), os.environ.get("MASTER_PORT", "29500")
    else:
        raise ValueError(f"init_process_group('nccl'): init_method {method!r}: use 'file://path', "
                         "'tcp://host:port' or 'env://'")
    return _share_by_tcp(uid, rank, size, host, int(port), timeout_s)


def _share_by_file(uid, rank: int, path: str, timeout_s: float):
    """Rank 0 writes the id (to a temporary file renamed into place: never half-written)."""
    if rank == 0:
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(list(uid), f)
        os.replace(tmp, path)
        return uid
    limit = time.monotonic() + timeout_s
    while not os.path.exists(path):
        if time.monotonic() > limit:
            raise RuntimeError(f"init_process_group('nccl'): rank {rank} waited {timeout_s:g} s for rank 0 "
                               f"to write {path}")
        time.sleep(0.05)
    with open(path) as f:
        return tuple(json.load(f))


def _share_by_tcp(uid, rank: int, size: int, host: str, port: int, timeout_s: float):
    """Rank 0 listens on host:port and hands the 128 id bytes to each of the other ranks."""
    if rank == 0:
        payload = np.array(uid, np.int8).tobytes()
        with socket.create_server(("", port)) as srv:
            srv.settimeout(timeout_s)
            for _ in range(size - 1):
                conn, _ = srv.accept()
                with conn:
                    conn.sendall(payload)
        return uid
    limit = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=timeout_s) as s:
                data = b""
                while len(data) < 128:
                    chunk = s.recv(128 - len(data))
                    if not chunk:
                        break
                    data += chunk
            if len(data) == 128:
                return tuple(int(v) for v in np.frombuffer(data, np.int8))
        except OSError:
            pass
        if time.monotonic() > limit:
            raise RuntimeError(f"init_process_group('nccl'): rank {rank} could not reach rank 0 at "
                               f"{host}:{port} within {timeout_s:g} s")
        time.sleep(0.1)


# ---- the group ----------------------------------------------------------------------------
class ProcessGroupNCCL(ProcessGroup):
    """Collectives over an NCCL communicator, on CuPy arrays of this rank's GPU."""

    backend = "nccl"

    def __init__(self, nc, ranks, global_rank: int, watchdog, gpu: int) -> None:
        super().__init__(nc.rank_id(), nc.size(), ranks, global_rank, watchdog)
        self.cupy, self.nccl = _nccl()
        self.nc, self.gpu = nc, gpu
        self.xp = self.cupy
        self.device = _backend.device("cuda", gpu)
        self.blocking = os.environ.get("NUMTORCH_NCCL_BLOCKING_WAIT", "0") == "1"
        n = self.nccl
        self._types = {np.dtype(np.float32): n.NCCL_FLOAT32, np.dtype(np.float64): n.NCCL_FLOAT64,
                       np.dtype(np.float16): n.NCCL_FLOAT16, np.dtype(np.int32): n.NCCL_INT32,
                       np.dtype(np.int64): n.NCCL_INT64, np.dtype(np.int8): n.NCCL_INT8,
                       np.dtype(np.uint8): n.NCCL_UINT8, np.dtype(np.bool_): n.NCCL_UINT8}
        self._ops = {ReduceOp.SUM: n.NCCL_SUM, ReduceOp.PRODUCT: n.NCCL_PROD, ReduceOp.MAX: n.NCCL_MAX,
                     ReduceOp.MIN: n.NCCL_MIN}

    # ---- helpers ---------------------------------------------------------------------
    def _check(self, a, name: str) -> None:
        if not isinstance(a, self.cupy.ndarray):
            raise RuntimeError(f"{name}: backend 'nccl' works on GPU tensors, got a CPU tensor; "
                               f"move it with .to('cuda:{self.gpu}') or use backend 'mpi'")
        if a.device.id != self.gpu:
            raise RuntimeError(f"{name}: this rank's NCCL communicator is on cuda:{self.gpu}, the tensor on "
                               f"cuda:{a.device.id}")

    def _dtype(self, a, name: str):
        t = self._types.get(a.dtype)
        if t is None:
            raise TypeError(f"{name}: NCCL has no type for {a.dtype}")
        return t

    def _op(self, op: ReduceOp, a, name: str):
        """The NCCL op, and the follow-up for AVG when NCCL lacks ncclAvg."""
        if a.dtype == np.bool_:  # any / all on bytes
            op = (ReduceOp.MAX if op in (ReduceOp.SUM, ReduceOp.MAX, ReduceOp.BOR, ReduceOp.AVG)
                  else ReduceOp.MIN)
        if op is ReduceOp.AVG:
            if a.dtype.kind != "f":
                raise RuntimeError(f"{name}: ReduceOp.AVG needs a floating-point tensor, got {a.dtype}")
            avg = getattr(self.nccl, "NCCL_AVG", None)
            if avg is not None:
                return avg, None
            n = self.size_
            return self._ops[ReduceOp.SUM], (lambda: self.cupy.divide(a, n, out=a))
        if op not in self._ops:
            raise RuntimeError(f"{name}: NCCL has no {op}")
        return self._ops[op], None

    def _stream(self) -> int:
        return self.cupy.cuda.get_current_stream().ptr

    def _go(self, name: str, enqueue, finish, async_op: bool):
        """Enqueues the NCCL call on the current stream; waits on the host only when asked to."""
        enqueue()
        if finish is not None:
            finish()  # stream-ordered after the collective
        if async_op or self.blocking:
            ev = self.cupy.cuda.Event(block=True, disable_timing=True)
            ev.record()
            work = Work(self, name, [ev])
            if not async_op:
                work.wait()
                return None
            return work
        return None

    def _test(self, requests, status=None) -> bool:
        return all(ev.done for ev in requests)

    def _wait(self, requests, name: str, status=None) -> None:
        wd = self.watchdog
        if wd is not None:
            wd.arm(name)
        for ev in requests:
            ev.synchronize()
        if wd is not None:
            wd.disarm()

    # ---- primitives (group ranks) ---------------------------------------------------------
    def allreduce(self, a, op=ReduceOp.SUM, async_op=False, then=None):
        self._check(a, "all_reduce")
        dt, (nop, fin) = self._dtype(a, "all_reduce"), self._op(op, a, "all_reduce")
        p = a.data.ptr
        return self._go("all_reduce", lambda: self.nc.allReduce(p, p, a.size, dt, nop, self._stream()),
                        _chain(fin, then), async_op)

    def broadcast(self, a, root: int, async_op=False, then=None):
        self._check(a, "broadcast")
        dt = self._dtype(a, "broadcast")
        return self._go("broadcast", lambda: self.nc.bcast(a.data.ptr, a.size, dt, root, self._stream()),
                        then, async_op)

    def reduce(self, a, root: int, op=ReduceOp.SUM, async_op=False, then=None):
        self._check(a, "reduce")
        dt, (nop, fin) = self._dtype(a, "reduce"), self._op(op, a, "reduce")
        p = a.data.ptr
        fin = fin if self.rank_ == root else None
        return self._go("reduce", lambda: self.nc.reduce(p, p, a.size, dt, nop, root, self._stream()),
                        _chain(fin, then), async_op)

    def allgather(self, out, a, async_op=False, then=None):
        self._check(a, "all_gather")
        dt = self._dtype(a, "all_gather")
        return self._go("all_gather",
                        lambda: self.nc.allGather(a.data.ptr, out.data.ptr, a.size, dt, self._stream()),
                        then, async_op)

    def reduce_scatter(self, out, a, op=ReduceOp.SUM, async_op=False, then=None):
        self._check(a, "reduce_scatter")
        dt, (nop, _) = self._dtype(a, "reduce_scatter"), self._op(op, a, "reduce_scatter")
        fin = None
        if op is ReduceOp.AVG and nop == self._ops[ReduceOp.SUM]:
            fin = lambda: self.cupy.divide(out, self.size_, out=out)  # noqa: E731
        return self._go("reduce_scatter",
                        lambda: self.nc.reduceScatter(a.data.ptr, out.data.ptr, out.size, dt, nop,
                                                      self._stream()),
                        _chain(fin, then), async_op)

    def _grouped(self, calls):
        """Runs several sends/receives as one NCCL group (they proceed together, no deadlock)."""
        def run():
            self.nccl.groupStart()
            try:
                for c in calls:
                    c()
            finally:
                self.nccl.groupEnd()
        return run

    def gather(self, out, a, root: int, async_op=False, then=None):
        self._check(a, "gather")
        dt, s, n = self._dtype(a, "gather"), self._stream(), a.size
        if self.rank_ == root:
            calls = [lambda r=r: self.nc.recv(out[r].data.ptr, n, dt, r, s) for r in range(self.size_)
                     if r != root]
            out[root][...] = a
        else:
            calls = [lambda: self.nc.send(a.data.ptr, n, dt, root, s)]
        return self._go("gather", self._grouped(calls), then, async_op)

    def scatter(self, out, src, root: int, async_op=False, then=None):
        self._check(out, "scatter")
        dt, s, n = self._dtype(out, "scatter"), self._stream(), out.size
        if self.rank_ == root:
            calls = [lambda r=r: self.nc.send(src[r].data.ptr, n, dt, r, s) for r in range(self.size_)
                     if r != root]
            out[...] = src[root]
        else:
            calls = [lambda: self.nc.recv(out.data.ptr, n, dt, root, s)]
        return self._go("scatter", self._grouped(calls), then, async_op)

    def alltoall(self, out, a, async_op=False, then=None):
        self._check(a, "all_to_all")
        dt, s = self._dtype(a, "all_to_all"), self._stream()
        ab, ob = a.reshape(self.size_, -1), out.reshape(self.size_, -1)
        n = ab.shape[1]
        calls = []
        for r in range(self.size_):
            calls.append(lambda r=r: self.nc.send(ab[r].data.ptr, n, dt, r, s))
            calls.append(lambda r=r: self.nc.recv(ob[r].data.ptr, n, dt, r, s))
        return self._go("all_to_all", self._grouped(calls), then, async_op)

    def barrier(self, async_op=False):
        one = self.cupy.ones(1, self.cupy.float32)
        work = self._go("barrier", lambda: self.nc.allReduce(one.data.ptr, one.data.ptr, 1,
                                                             self.nccl.NCCL_FLOAT32, self.nccl.NCCL_SUM,
                                                             self._stream()), None, True)
        return work if async_op else work.wait() and None

    def send(self, a, dst: int, tag=0, async_op=False):
        self._check(a, "send")
        dt = self._dtype(a, "send")
        return self._go("send", lambda: self.nc.send(a.data.ptr, a.size, dt, dst, self._stream()), None,
                        async_op)

    def recv(self, a, src, tag=0, async_op=False):
        if src is None:
            raise RuntimeError("recv: the NCCL backend needs src (it cannot receive from any rank)")
        self._check(a, "recv")
        dt = self._dtype(a, "recv")
        work = self._go("recv", lambda: self.nc.recv(a.data.ptr, a.size, dt, src, self._stream()), None,
                        async_op)
        if async_op:
            work._source = self.ranks[src]
            return work
        return src

    def split(self, ranks: list[int]):
        """A group of some ranks (every rank calls it): rank ranks[0]'s new unique id goes to all."""
        uid = self.cupy.zeros(128, self.cupy.int8)
        if self.global_rank == ranks[0]:
            uid[...] = self.cupy.asarray(np.array(self.nccl.get_unique_id(), np.int8))
        self.broadcast(uid, self.ranks.index(ranks[0]))
        uid = tuple(int(v) for v in uid.get())
        if self.global_rank not in ranks:
            return None
        nc = self.nccl.NcclCommunicator(len(ranks), uid, ranks.index(self.global_rank))
        return ProcessGroupNCCL(nc, list(ranks), self.global_rank, self.watchdog, self.gpu)

    def destroy(self) -> None:
        self.nc.destroy()
