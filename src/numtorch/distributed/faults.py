"""Failing fast: one rank's error ends the whole job, and a stuck collective ends it too.

Data-parallel ranks meet in every collective.  If one rank raises and quietly exits, the others
wait in their next ``all_reduce`` for ever.  Two guards turn that hang into a prompt, named failure:

* ``install_excepthook`` -- an uncaught exception on any rank prints its traceback and
  ``numtorch.distributed: rank R failed: ...``, then aborts the job (``MPI_Abort`` makes mpiexec
  kill every rank, so all of them exit non-zero within a second or two).
* ``Watchdog`` -- every collective arms a deadline (``init_process_group(timeout=...)``); a
  background thread aborts the job, naming the rank and the collective, if a call outlives it
  (a peer died without raising, or the ranks called different collectives).

Arming costs one clock read and two attribute writes per collective; the thread wakes a few
times a second, so it costs nothing measurable.
"""
from __future__ import annotations

import os
import sys
import threading
import time


class Watchdog:
    """Aborts the job when a collective has been running for longer than ``timeout_s`` seconds."""

    def __init__(self, rank: int, timeout_s: float, abort) -> None:
        self.rank = rank
        self.timeout_s = float(timeout_s)
        self.abort = abort
        self.deadline = None  # monotonic time by which the current collective must finish
        self.what = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="numtorch-dist-watchdog", daemon=True)
        self._thread.start()

    def arm(self, what: str, timeout_s: float | None = None) -> None:
        self.what = what
        self.deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)

    def disarm(self) -> None:
        self.deadline = None

    def stop(self) -> None:
        self._stop.set()

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


def exit_abort(code: int = 1) -> None:
    """Abort for jobs without MPI (NCCL started by another launcher): leave at once, skipping
    clean-up that could block on a dead peer; the launcher then stops the other ranks."""
    sys.stderr.flush()
    os._exit(code)
