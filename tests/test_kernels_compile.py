"""The fused CUDA kernels (numtorch._kernels) compile, without a GPU.

NVRTC, CUDA's runtime compiler, runs on any machine where its library is installed (the
``nvidia-cuda-nvrtc-cu12`` wheel, loaded through CuPy's bindings).  Each kernel body is placed in a
CUDA function shaped as CuPy's ElementwiseKernel shapes it -- inputs as ``const`` element values,
outputs as references, ``T`` the element type -- and compiled for float32 and float64.  Whether the
kernels compute the right thing is checked elsewhere: under the emulator (tests/test_gpu.py, which
runs the bodies as NumPy) and on a real GPU (the same tests, ``[cupy]``).  Skips where NVRTC is absent.
"""
import pytest

from numtorch import _kernels

_KERNELS = [k for k in vars(_kernels).values() if isinstance(k, _kernels.Kernel)]


def _nvrtc():
    try:
        from cupy_backends.cuda.libs import nvrtc
        nvrtc.getVersion()
    except Exception as e:  # CuPy missing, or its NVRTC library not installed
        pytest.skip(f"NVRTC not available: {type(e).__name__}")
    return nvrtc


def _params(spec: str) -> list:
    return [tuple(p.split()) for p in spec.split(",") if p.strip()]


def _source(k: _kernels.Kernel, ctype: str) -> str:
    ins, outs = _params(k.inputs), _params(k.outputs)
    c = {"T": "T", "int32": "int", "int64": "long long", "float32": "float", "float64": "double", "bool": "bool"}
    args = [f"const {c[t]}* _raw_{n}" for t, n in ins] + [f"{c[t]}* _raw_{n}" for t, n in outs]
    setup = [f"const {c[t]} {n} = _raw_{n}[i];" for t, n in ins] + [f"{c[t]} &{n} = _raw_{n}[i];" for t, n in outs]
    return "\n".join([
        f"typedef {ctype} T;",
        f'extern "C" __global__ void numtorch_{k.name}({", ".join(args)}, int n) {{',
        "  int i = blockIdx.x * blockDim.x + threadIdx.x;",
        "  if (i >= n) return;",
        *("  " + s for s in setup),
        k.body,
        "}"])


def test_there_are_kernels():
    assert {"gelu_forward", "gelu_backward", "sgd", "sgd_momentum", "adam"} <= {k.name for k in _KERNELS}


@pytest.mark.parametrize("ctype", ["float", "double"])
@pytest.mark.parametrize("kernel", _KERNELS, ids=lambda k: k.name)
def test_kernel_compiles(kernel, ctype):
    nvrtc = _nvrtc()
    prog = nvrtc.createProgram(_source(kernel, ctype), f"{kernel.name}.cu", [], [])
    try:
        nvrtc.compileProgram(prog, ["-arch=compute_75", "-default-device"])
    except Exception:
        pytest.fail(f"{kernel.name} ({ctype}) does not compile:\n{nvrtc.getProgramLog(prog)}")
    assert f"numtorch_{kernel.name}" in nvrtc.getPTX(prog).decode()
