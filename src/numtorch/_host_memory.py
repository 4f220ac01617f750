"""An opt-in malloc tuning that keeps freed host memory for reuse, so a training step does not pay
page faults for its arrays.

A training step allocates the same large arrays every step (activations, their gradients, im2col
buffers) and frees them at the end. glibc's malloc serves such sizes with fresh ``mmap``s and, on
free, gives the memory back to the operating system -- so the next step touches new pages, and
every 4 KiB page costs a page fault and zeroing. PyTorch keeps its CPU memory in its own allocator;
NumPy asks malloc each time. Two malloc settings make glibc keep the memory instead:

* ``M_MMAP_THRESHOLD`` = 32 MiB (glibc's largest): arrays below it come from the heap, not ``mmap``;
* ``M_TRIM_THRESHOLD`` = 1 GiB: free memory at the top of the heap is kept up to that size.

Measured on a ResNet-20 step (batch 32, one thread): about 23,000 page faults per step before,
2 after. The settings hold for the whole process -- every library in it, not only numtorch -- and
memory freed by anyone stays resident (up to 1 GiB), so importing numtorch does not apply them: a
program opts in with ``numtorch.backends.cpu.tune_allocator()`` (the ``numtorch`` command and the
benchmarks do), or with ``NUMTORCH_TUNE_MALLOC=1`` in the environment (applied when numtorch is
imported). ``NUMTORCH_TUNE_MALLOC=0`` makes ``tune_allocator()`` do nothing, which turns the tuning
off for the command and the benchmarks too. Only glibc (Linux) has these settings; elsewhere nothing
is done.
"""
from __future__ import annotations

import ctypes
import os
import platform

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
ENV = "NUMTORCH_TUNE_MALLOC"

KEPT = False  # True once the settings took effect in this process


def tune_allocator() -> bool:
    """Applies the two malloc settings to this process; True when they took effect (now or before).

    False on a C library other than glibc, or when ``NUMTORCH_TUNE_MALLOC=0`` is set."""
    global KEPT
    if KEPT:
        return True
    if os.environ.get(ENV) == "0" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    ok = libc.mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024) == 1
    KEPT = libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30) == 1 and ok
    return KEPT


def is_allocator_tuned() -> bool:
    """True when ``tune_allocator()`` took effect in this process."""
    return KEPT


if os.environ.get(ENV) == "1":
    tune_allocator()
