"""numtorch/_host_memory.py: freed arrays' memory is reused, so repeated steps cause no page faults."""
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="malloc settings exist in glibc only")

# a "step": eight 4 MB arrays made, then all freed (as a step's activations are)
_PROBE = """
import resource, numpy as np, numtorch
from numtorch import _host_memory
def step():
    arrays = [np.ones(500_000) for _ in range(8)]
    del arrays
for _ in range(3):
    step()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(_host_memory.KEPT, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 10)
"""


def _faults_per_step(keep: str):
    env = dict(os.environ, NUMTORCH_KEEP_HOST_MEMORY=keep)
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
    kept, faults = out.stdout.split()
    return kept == "True", float(faults)


def test_freed_memory_is_reused_without_page_faults():
    kept, faults = _faults_per_step("1")
    assert kept and faults < 100, faults            # 32 MB = 7,800 pages when they are fresh


def test_the_setting_can_be_turned_off():
    kept, faults = _faults_per_step("0")
    assert not kept and faults > 1000, faults       # each allocation faults in fresh pages
