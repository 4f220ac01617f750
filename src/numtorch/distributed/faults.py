"""Failing fast: one rank's error ends the whole job, and a stuck collective ends it too.

Data-parallel ranks meet in every collective.  If one rank raises and quietly exits, the others
wait in their next ``all_reduce`` for ever.  Two guards turn that hang into a prompt, named failure:

* ``install_excepthook`` -- an uncaught exception on any rank prints its traceback and
  ``numtorch.distributed: rank R failed: ...``, then aborts the job (``MPI_Abort`` makes mpiexec
  kill every rank, so all of them exit non-zero within a second or two).
* ``Watchdog`` -- every collective arms a deadline (``init_process_group(timeout=...)``); a
  background thread aborts the job, naming the rank and the collective, if a call outlives it
  (a peer died without raising, or the ranks called different collectives).
* ``ExitGuard`` -- a rank that leaves while the group is live (``sys.exit(1)``, the end of the
  script without ``destroy_process_group()``) would leave its peers waiting in their next
  collective until the watchdog's timeout (30 minutes by default).  At interpreter exit the guard
  ends the job at once when the exit status is non-zero; otherwise it tells every peer "rank R
  left" (``LeaveNotices``, a message on a communicator of its own), and a peer's watchdog aborts
  the job as soon as that peer waits in a collective with the rank that left.

Arming costs one clock read and two attribute writes per collective; the thread wakes a few
times a second, so it costs nothing measurable.
"""
from __future__ import annotations

import atexit
import os
import sys
import threading
import time

import numpy as np

# a peer that left is only blamed when the collective is still running this long after its notice
# came: the peer may have left just after its last collective, which the other ranks are finishing
GRACE_S = 1.0


class Watchdog:
    """Aborts the job when a collective has been running for longer than ``timeout_s`` seconds, or
    (with ``notices``) when a rank of the running collective's group has left the job."""

    def __init__(self, rank: int, timeout_s: float, abort, notices=None) -> None:
        self.rank = rank
        self.timeout_s = float(timeout_s)
        self.abort = abort
        self.notices = notices  # LeaveNotices, or None (no way to hear that a peer left)
        self.deadline = None  # monotonic time by which the current collective must finish
        self.what = ""
        self.ranks = None  # global ranks of the running collective's group (None: every rank)
        self.gone = {}  # global rank -> exit status (None: not known) of the ranks that left
        self._suspect = None  # (deadline of the collective, time a gone peer was first seen in it)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="numtorch-dist-watchdog", daemon=True)
        self._thread.start()

    def arm(self, what: str, timeout_s: float | None = None, ranks=None) -> None:
        self.what = what
        self.ranks = ranks
        self.deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)

    def disarm(self) -> None:
        self.deadline = None

    def stop(self) -> None:
        """Ends the thread and waits for it (it may be inside MPI, which is about to be torn down)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def _run(self) -> None:
        poll = min(0.25, self.timeout_s / 4)
        while not self._stop.wait(poll):
            d = self.deadline
            if d is not None and time.monotonic() > d:
                report(f"numtorch.distributed: rank {self.rank}: {self.what} did not complete within "
                       f"{self.timeout_s:g} s (a peer rank may have failed or called a different "
                       "collective); aborting the job")
                self.abort(1)
                return
            if self.notices is not None and self._peer_left(d):
                return

    def _peer_left(self, deadline) -> bool:
        """Reads leave notices; aborts (True) when a rank that left is awaited by this collective."""
        self.gone.update(self.notices.poll())
        ranks = self.ranks
        left = [r for r in self.gone if ranks is None or r in ranks]
        if deadline is None or not left:
            self._suspect = None
            return False
        now = time.monotonic()
        if self._suspect is None or self._suspect[0] != deadline:
            self._suspect = (deadline, now)  # the same collective must still run after GRACE_S
            return False
        if now - self._suspect[1] < GRACE_S:
            return False
        r = left[0]
        report(f"numtorch.distributed: rank {r} exited{_code_text(self.gone[r])} while the process group "
               f"was active; aborting the job (rank {self.rank} was waiting in {self.what})")
        self.abort(1)
        return True


class LeaveNotices:
    """"Rank R left with status S", sent to every peer on a communicator used for nothing else."""

    TAG = 7

    def __init__(self, world_comm, MPI) -> None:
        self.MPI = MPI
        self.comm = world_comm.Dup()  # collective: every rank makes it in init_process_group
        self._buf = np.zeros(1, dtype=np.int64)

    def announce(self, code: int | None, wait_s: float = 1.0) -> None:
        """Sends this rank's exit status (-1: not known) to every other rank, waiting at most
        ``wait_s`` for the sends to complete (a small message leaves at once)."""
        comm, me = self.comm, self.comm.Get_rank()
        msg = np.array([-1 if code is None else int(code)], dtype=np.int64)
        reqs = [comm.Isend([msg, self.MPI.INT64_T], r, self.TAG) for r in range(comm.Get_size()) if r != me]
        limit = time.monotonic() + wait_s
        while not self.MPI.Request.Testall(reqs) and time.monotonic() < limit:
            time.sleep(1e-3)

    def poll(self) -> dict:
        """{rank: exit status or None} of the notices that arrived since the last call; never blocks."""
        got, status = {}, self.MPI.Status()
        while self.comm.Iprobe(self.MPI.ANY_SOURCE, self.TAG, status):
            self.comm.Recv([self._buf, self.MPI.INT64_T], status.Get_source(), self.TAG)
            code = int(self._buf[0])
            got[status.Get_source()] = None if code < 0 else code
        return got

    def free(self) -> None:
        if not self.MPI.Is_finalized():
            self.comm.Free()


class ExitGuard:
    """Registered with ``atexit`` while a process group is live (``destroy_process_group`` removes
    it): a rank leaving with a non-zero status aborts the job at once; one leaving with status 0 (or
    an unknown one) announces it, so that its peers' watchdogs abort instead of waiting.

    The status is known when the script leaves through ``sys.exit(code)`` (which the guard wraps to
    read the code) and not known for ``raise SystemExit(code)`` or the script's end."""

    def __init__(self, rank: int, world_size: int, abort, before_exit=None, notices=None) -> None:
        self.rank, self.world_size, self.abort = rank, world_size, abort
        self.before_exit = before_exit  # stops the watchdog before MPI is finalized
        self.notices = notices
        self.code = None  # the status given to sys.exit on the main thread, if it was called
        self.previous_exit = sys.exit

    def _exit(self, status=None):
        if threading.current_thread() is threading.main_thread():
            self.code = _status(status)
        self.previous_exit(status)

    def __call__(self) -> None:
        if self.before_exit is not None:
            self.before_exit()
        if self.code:
            report(f"numtorch.distributed: rank {self.rank} exited (code {self.code}) while the process "
                   "group was active; aborting the job")
            self.abort(self.code)
        elif self.notices is not None:
            self.notices.announce(self.code)

    def install(self) -> "ExitGuard":
        atexit.register(self)
        sys.exit = self._exit
        return self

    def uninstall(self) -> None:
        atexit.unregister(self)
        if sys.exit == self._exit:
            sys.exit = self.previous_exit


def _status(code) -> int:
    """The process exit status ``sys.exit(code)`` gives: None is 0, an int itself, anything else 1."""
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def _code_text(code) -> str:
    return "" if code is None else f" (code {code})"


class ExceptHook:
    """An ``sys.excepthook`` that names the failed rank and aborts every rank of the job."""

    def __init__(self, rank: int, world_size: int, abort) -> None:
        self.rank, self.world_size, self.abort = rank, world_size, abort
        self.previous = sys.excepthook

    def __call__(self, exc_type, exc, tb) -> None:
        try:
            self.previous(exc_type, exc, tb)
            report(f"numtorch.distributed: rank {self.rank} failed: {exc_type.__name__}: {exc}; "
                   f"aborting all {self.world_size} ranks")
        finally:
            self.abort(1)

    def install(self) -> "ExceptHook":
        sys.excepthook = self
        return self

    def uninstall(self) -> None:
        if sys.excepthook is self:
            sys.excepthook = self.previous


def report(message: str) -> None:
    """Writes ``message`` to stderr and gives the launcher a moment to forward it: mpiexec kills
    every process as soon as one aborts, and output still in its pipes would be lost."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    sys.stdout.flush()
    time.sleep(0.5)


def unlink_mpi_shared_memory() -> None:
    """Removes the names of the shared-memory files MPI mapped into this process (``/dev/shm``).

    MPICH unlinks them in ``MPI_Finalize``, not in ``MPI_Abort``: without this every aborted job
    leaves a few MB in ``/dev/shm`` for good.  Called just before aborting; the ranks being stopped
    keep their mappings (a file's memory is freed when its last mapping goes)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split(None, 5)[5].strip() for line in f
                     if line.count(" ") >= 5 and "/dev/shm/" in line}
    except (OSError, IndexError):
        return
    for path in paths:
        if os.path.basename(path).startswith("mpich_shm_"):
            try:
                os.unlink(path)
            except OSError:
                pass


def exit_abort(code: int = 1) -> None:
    """Abort for jobs without MPI (NCCL started by another launcher): leave at once, skipping
    clean-up that could block on a dead peer; the launcher then stops the other ranks."""
    sys.stderr.flush()
    os._exit(code)
