"""numtorch: PyTorch's API, computed by NumPy on the CPU and CuPy on NVIDIA GPUs.

>>> import numtorch as torch
>>> x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> y = (x @ x.T).relu().sum()
>>> y.backward()
>>> x.grad
tensor([[ 8., 12.],
        [ 8., 12.]])
"""
from numtorch import _host_memory  # noqa: F401  (opt-in malloc tuning: numtorch.backends.cpu.tune_allocator())

# The op library is imported first: ops, Tensor, Function and the engine refer to each other
# by module (``import numtorch.ops as _ops``), and this order lets each module finish loading
# before another uses its names.
from numtorch import ops  # noqa: F401  (first: see above)
from numtorch.ops import *  # noqa: F401,F403
from numtorch.ops.elementwise import sigmoid, tanh, relu  # noqa: F401
from numtorch.ops.activation import softmax, log_softmax, selu, celu, prelu, rrelu, threshold, hardshrink  # noqa: F401,E501
from numtorch.tensor import Tensor, Size  # noqa: F401
from numtorch._backend import device  # noqa: F401
from numtorch._dtypes import (  # noqa: F401
    dtype, float16, float32, float64, complex64, complex128, uint8, int8, int16, int32, int64, bool_,
    finfo, iinfo, get_default_dtype, set_default_dtype, promote_types as _promote_types)
from numtorch.creation import (  # noqa: F401
    tensor, as_tensor, asarray, from_numpy, zeros, ones, empty, full, zeros_like, ones_like, empty_like,
    full_like, arange, linspace, logspace, eye, rand, randn, randint, randperm, rand_like, randn_like,
    randint_like, bernoulli, multinomial, normal)
from numtorch.random import Generator, manual_seed, seed, initial_seed, get_rng_state, set_rng_state  # noqa: F401
from numtorch.autograd import no_grad, enable_grad, set_grad_enabled, inference_mode, is_grad_enabled  # noqa: F401
from numtorch import autograd, cuda  # noqa: F401
from numtorch import nn, optim, utils, distributed  # noqa: F401
import numtorch.nn.parallel  # noqa: E402,F401  (DDP sits above distributed, so nn does not import it)
import numtorch.utils.data.distributed  # noqa: E402,F401  (DistributedSampler, for launch_context)
import numtorch.autograd.functional  # noqa: E402,F401  (jacobian, hessian: written with ops, above autograd)
from numtorch.serialization import *  # noqa: F401,F403
from numtorch.ops.extra import *  # noqa: F401,F403
import numtorch.linalg as linalg  # noqa: E402,F401  (import, not from-import: ops.linalg was star-imported above)
from numtorch import backends, testing, special  # noqa: F401
from numtorch.linalg import inverse, det, logdet, slogdet  # noqa: F401
from numtorch.legacy_types import *  # noqa: F401,F403
from numtorch import onnx  # noqa: F401  (torch.onnx: the onnx package itself loads only on export)
from math import e, inf, nan, pi  # noqa: F401  (torch.pi, torch.inf, ...)

from numtorch.version import __version__  # noqa: E402,F401

# PyTorch's dtype aliases
half = float16
float = float32  # noqa: A001
double = float64
cfloat = complex64
cdouble = complex128
short = int16
int = int32  # noqa: A001
long = int64
bool = bool_  # noqa: A001
uint8 = uint8
from numtorch._dtypes import bfloat16  # noqa: E402,F401

from numtorch.ops.sparse import layout, strided, sparse_coo, sparse_coo_tensor, spmm  # noqa: E402,F401
import numtorch.sparse as sparse  # noqa: E402,F401  (torch.sparse.mm; import, not from-import: see linalg)
contiguous_format = preserve_format = channels_last = "contiguous_format"


def result_type(tensor1, tensor2):
    from numtorch._dtypes import from_numpy_dtype, promote_types
    ops_ = [(t._data.dtype, t.ndim) if isinstance(t, Tensor) else t for t in (tensor1, tensor2)]
    return from_numpy_dtype(promote_types(*ops_))


def can_cast(from_, to) -> bool:
    import numpy as _np
    return _np.can_cast(from_.np, to.np, casting="same_kind")


def set_printoptions(precision=None,
                     threshold=None,  # noqa: F811 (PyTorch's parameter name shadows F.threshold)
                     edgeitems=None, linewidth=None, profile=None, sci_mode=None) -> None:
    """Accepted for compatibility; numtorch prints with PyTorch's default options."""


def set_num_threads(n: int) -> None:
    """BLAS threads are set by OMP_NUM_THREADS / OPENBLAS_NUM_THREADS before start-up; this uses
    threadpoolctl when it is installed."""
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(n)
    except ImportError:
        pass


def get_num_threads() -> int:
    import os
    return (__builtins__["int"](os.environ.get("OMP_NUM_THREADS", "1")) if isinstance(__builtins__, dict)
            else 1)


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Accepted for compatibility: numtorch's CPU ops are already deterministic."""


def set_float32_matmul_precision(precision: str) -> None:
    """Accepted for compatibility: float32 matmuls always run in full float32 here."""


def compile(model=None, **kwargs):
    """No compiler here: returns the model (or a decorator) unchanged, so scripts that call it run."""
    if model is None:
        return lambda m: m
    return model


# mixed precision: numtorch.amp, numtorch.autocast, numtorch.cuda.amp, numtorch.cpu.amp
from numtorch import amp, cpu  # noqa: E402,F401
from numtorch.amp.autocast_mode import (  # noqa: E402,F401
    autocast, is_autocast_enabled, set_autocast_enabled, get_autocast_dtype, set_autocast_dtype,
    is_autocast_cpu_enabled, get_autocast_cpu_dtype, get_autocast_gpu_dtype, is_autocast_cache_enabled,
    set_autocast_cache_enabled, clear_autocast_cache)
import numtorch.cuda.amp  # noqa: E402,F401
import numtorch.cpu.amp  # noqa: E402,F401
from numtorch import accelerator, multiprocessing  # noqa: E402,F401  (torch.accelerator, torch.multiprocessing)
from numtorch import distributions  # noqa: E402,F401  (torch.distributions)
