"""numtorch/_host_memory.py: the malloc tuning is an opt-in; importing numtorch leaves malloc alone.

Each probe runs in its own process (the settings hold for a whole process) and reads its resident
set from /proc/self/statm.
"""
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="malloc settings exist in glibc only")

_MB = 1 << 20

# 50 arrays of 4 MB (200 MB) made and touched, then freed: how far above its start the RSS stays
_RSS_PROBE = """
import os, sys, numpy as np, numtorch
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
if sys.argv[1] == "call":
    tuned = numtorch.backends.cpu.tune_allocator()
else:
    tuned = numtorch.backends.cpu.is_allocator_tuned()
base = rss()
for _ in range(2):
    arrays = [np.ones(500_000) for _ in range(50)]
    peak = rss()
    del arrays
print(tuned, peak - base, rss() - base)
"""

# a "step": eight 4 MB arrays made, then all freed (as a step's activations are)
_FAULT_PROBE = """
import resource, numpy as np, numtorch
numtorch.backends.cpu.tune_allocator()
def step():
    arrays = [np.ones(500_000) for _ in range(8)]
    del arrays
for _ in range(3):
    step()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(numtorch.backends.cpu.is_allocator_tuned(), (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 10)
"""


def _run(code: str, arg: str = "", env_value=None):
    env = dict(os.environ)
    env.pop("NUMTORCH_TUNE_MALLOC", None)
    if env_value is not None:
        env["NUMTORCH_TUNE_MALLOC"] = env_value
    out = subprocess.run([sys.executable, "-c", code, arg], env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()


def _rss(arg: str, env_value=None):
    tuned, peak, after = _run(_RSS_PROBE, arg, env_value)
    return tuned == "True", int(peak) / _MB, int(after) / _MB


def test_importing_numtorch_leaves_freed_memory_to_the_system():
    tuned, peak, after = _rss("import")
    assert not tuned and peak > 150, peak       # the arrays were resident ...
    assert after < 30, after                    # ... and freeing them gave the memory back


def test_tune_allocator_keeps_freed_memory():
    tuned, peak, after = _rss("call")
    assert tuned and peak > 150, peak
    assert after > 150, after                   # kept in the heap for the next step's arrays


def test_the_environment_variable_opts_in_at_import_and_out_of_explicit_calls():
    tuned, _, after = _rss("import", env_value="1")
    assert tuned and after > 150, after
    tuned, _, after = _rss("call", env_value="0")
    assert not tuned and after < 30, after


def test_tuned_steps_reuse_memory_without_page_faults():
    kept, faults = _run(_FAULT_PROBE)
    assert kept == "True" and float(faults) < 100, faults   # 32 MB = 7,800 pages when they are fresh


def test_the_numtorch_command_opts_in():
    code = ("import numtorch, numtorch.cli.main as m\n"
            "before = numtorch.backends.cpu.is_allocator_tuned()\n"
            "m.main(['--version'])\n"
            "print(before, numtorch.backends.cpu.is_allocator_tuned())")
    out = _run(code)
    assert out[-2:] == ["False", "True"], out
