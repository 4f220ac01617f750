"""Run under ``mpiexec -n 2``; a rank leaving while the process group is live (tests/test_distributed_exit.py).

``leave.py exit CODE``     rank 1 calls ``sys.exit(CODE)`` after one all_reduce; rank 0 waits in the next.
``leave.py raise-exit``    rank 1 leaves by ``raise SystemExit(0)`` (status not known to numtorch).
``leave.py end``           rank 1's script ends (no destroy_process_group) while rank 0 waits in a barrier.
``leave.py clean``         both ranks destroy the group and exit 0: the job must exit 0.
``leave.py undestroyed``   both ranks finish their collectives and exit without destroying: exit 0.
"""
import os
import sys

import numtorch
import numtorch.distributed as dist


def main():
    mode = sys.argv[1]
    dist.init_process_group("mpi", timeout=120)
    r = dist.get_rank()
    if r == 0 and os.path.exists("/proc/self/maps"):  # MPICH's shared-memory files, to check they go
        with open("/proc/self/maps") as f:
            names = sorted({line.split()[-1] for line in f if "/dev/shm/mpich_shm_" in line})
        print("shm", *names, flush=True)
    t = numtorch.ones(3)
    dist.all_reduce(t)
    if mode in ("clean", "undestroyed"):
        dist.barrier()
        print(f"ok rank {r}", flush=True)
        if mode == "clean":
            dist.destroy_process_group()
        sys.exit(0)
    if r == 1:
        if mode == "exit":
            sys.exit(int(sys.argv[2]))
        if mode == "raise-exit":
            raise SystemExit(0)
        return  # "end"
    dist.barrier() if mode == "end" else dist.all_reduce(t)
    print("not reached", flush=True)


if __name__ == "__main__":
    main()
