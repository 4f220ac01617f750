"""``numtorch.backends``: the switches that PyTorch scripts set (``torch.backends.cudnn.benchmark = True``).

numtorch computes with NumPy (and CuPy later), not cuDNN, TF32, MPS or oneDNN: the flags are plain
attributes that scripts may read and set, and they change nothing; every ``is_available()`` is False.
``numtorch.backends.cpu.tune_allocator()`` is numtorch's own: the opt-in malloc tuning of
``numtorch/_host_memory.py``.
"""
from __future__ import annotations

from types import SimpleNamespace

__all__ = ["cudnn", "cuda", "mps", "mkldnn", "openmp", "mkl", "cpu"]


class _CudnnBackend:
    """``torch.backends.cudnn``: ``benchmark``, ``deterministic``, ``enabled``, ``allow_tf32``."""

    def __init__(self) -> None:
        self.enabled = True
        self.benchmark = False
        self.benchmark_limit = 10
        self.deterministic = False
        self.allow_tf32 = True

    @staticmethod
    def is_available() -> bool:
        return False

    @staticmethod
    def version():
        """None: numtorch is not linked against cuDNN."""
        return None


class _CudaBackend:
    """``torch.backends.cuda``: ``matmul.allow_tf32`` and friends."""

    def __init__(self) -> None:
        self.matmul = SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True,
                                      allow_bf16_reduced_precision_reduction=True)

    @staticmethod
    def is_built() -> bool:
        return False

    @staticmethod
    def flash_sdp_enabled() -> bool:
        return False

    @staticmethod
    def enable_flash_sdp(enabled: bool) -> None:
        """Accepted; numtorch's attention has one implementation."""

    @staticmethod
    def enable_mem_efficient_sdp(enabled: bool) -> None:
        """Accepted; numtorch's attention has one implementation."""

    @staticmethod
    def enable_math_sdp(enabled: bool) -> None:
        """Accepted; numtorch's attention has one implementation."""


class _CpuBackend:
    """``numtorch.backends.cpu``: ``tune_allocator()`` keeps freed host memory in the process's heap
    (glibc malloc settings; see ``numtorch/_host_memory.py``) -- faster steps, and memory stays
    resident after it is freed. An opt-in for training programs: importing numtorch changes nothing."""

    @staticmethod
    def tune_allocator() -> bool:
        """Applies the malloc settings to the whole process; True when they took effect."""
        from numtorch import _host_memory
        return _host_memory.tune_allocator()

    @staticmethod
    def is_allocator_tuned() -> bool:
        from numtorch import _host_memory
        return _host_memory.is_allocator_tuned()


class _Unavailable:
    """A backend numtorch does not have (MPS, oneDNN, OpenMP, MKL): ``is_available()`` is False."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.enabled = False

    @staticmethod
    def is_available() -> bool:
        return False

    @staticmethod
    def is_built() -> bool:
        return False

    def __repr__(self) -> str:
        return f"<numtorch.backends.{self.name}: not available>"


cudnn = _CudnnBackend()
cuda = _CudaBackend()
mps = _Unavailable("mps")
mkldnn = _Unavailable("mkldnn")
openmp = _Unavailable("openmp")
mkl = _Unavailable("mkl")
cpu = _CpuBackend()
