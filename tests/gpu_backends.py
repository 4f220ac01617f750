"""The ``backend`` fixture of the GPU tests: a test module that imports it runs every test twice.

* ``[cupy]``: a real GPU through CuPy; marked ``gpu``, skipped where ``cupy.cuda.is_available()``
  is False;
* ``[emulated]``: ``fake_cupy`` plays CuPy (NumPy arithmetic under CuPy's rules), on any machine.

Use: ``from gpu_backends import backend  # noqa: F401`` at the top of a test module.
"""
import pytest

import fake_cupy
import numtorch

_REAL_GPU = numtorch.cuda.is_available()


@pytest.fixture(scope="module", autouse=True, params=[
    pytest.param("cupy", marks=[pytest.mark.gpu, pytest.mark.skipif(not _REAL_GPU,
                                                                    reason="CUDA (CuPy with a GPU) not available")]),
    "emulated"])
def backend(request):
    """The array module behind "cuda": real CuPy, or the NumPy-backed stand-in."""
    if request.param == "cupy":
        yield None
    else:
        with fake_cupy.installed() as fake:
            yield fake
