"""The device seam: which array module computes a tensor's data.

A tensor's data is an ndarray of its device's array module: NumPy on "cpu", CuPy on
"cuda:N".  Ops ask ``xp_of(array)`` for the module instead of naming NumPy, so a new
device is a new array module, not a rewrite.  CuPy is imported lazily, only when a CUDA
device is used.
"""
from __future__ import annotations

import numpy as np

_ndarray = np.ndarray


class device:
    """Where a tensor lives: ``device("cpu")``, ``device("cuda:1")``, ``device("cuda", 0)``."""

    __slots__ = ("type", "index")

    def __init__(self, type, index: int | None = None) -> None:
        if isinstance(type, device):
            type, index = type.type, type.index
        elif isinstance(type, int) and not isinstance(type, bool):
            type, index = "cuda", type
        elif isinstance(type, str):
            if ":" in type:
                if index is not None:
                    raise ValueError(f"device(): type {type!r} already names an index; got index={index}")
                type, _, idx = type.partition(":")
                if not idx.isdigit():
                    raise RuntimeError(f"Invalid device string: '{type}:{idx}'")
                index = int(idx)
        else:
            raise TypeError(f"device(): expected a string or int, got {type!r}")
        if type not in ("cpu", "cuda"):
            raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {type}")
        if type == "cpu" and index not in (None, 0):
            raise RuntimeError(f"CPU device index must be -1 or zero, got {index}")
        self.type = type
        self.index = None if type == "cpu" else index

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"


CPU = device("cpu")


def as_device(d) -> device:
    """Normalises "cuda" to "cuda:<current>" so two spellings of one GPU compare equal."""
    if d is None:
        return CPU
    d = d if isinstance(d, device) else device(d)
    if d.type == "cuda" and d.index is None:
        return device("cuda", cuda_current_device())
    return d


# ---- CuPy, lazily ------------------------------------------------------------

class _Cuda:
    """Holds the CuPy module once it has been imported (None until first use)."""

    cupy = None
    cupyx = None
    current = 0


def cupy_module():
    """Imports CuPy, or says clearly why CUDA cannot be used here."""
    if _Cuda.cupy is None:
        try:
            import cupy
        except ImportError:
            raise RuntimeError(
                "numtorch: CUDA needs CuPy, which is not installed: pip install numtorch[gpu]") from None
        if not cupy.cuda.is_available():
            raise RuntimeError("numtorch: CUDA is not available on this machine (CuPy finds no GPU); "
                               "use device='cpu'")
        _Cuda.cupy = cupy
    return _Cuda.cupy


def cupyx_module():
    """CuPy's companion package (``cupyx.scatter_add``, ``cupyx.scipy.special``), imported with CuPy."""
    if _Cuda.cupyx is None:
        cupy_module()
        import cupyx
        import cupyx.scipy.special  # noqa: F401
        _Cuda.cupyx = cupyx
    return _Cuda.cupyx


def cuda_is_available() -> bool:
    try:
        import cupy
        return bool(cupy.cuda.is_available())
    except Exception:
        return False


def cuda_current_device() -> int:
    return _Cuda.current


def xp_of(a):
    """The array module that computes on array ``a`` (NumPy or CuPy)."""
    if a.__class__ is _ndarray or isinstance(a, (np.ndarray, np.generic)):
        return np
    return cupy_module()


def xp_for(dev: device):
    """The array module of a device."""
    return np if dev.type == "cpu" else cupy_module()


def device_of(a) -> device:
    if a.__class__ is _ndarray or isinstance(a, (np.ndarray, np.generic)):
        return CPU
    return device("cuda", a.device.id)


def to_device(a, dev: device, non_blocking: bool = False):
    """Copies array ``a`` to device ``dev`` (returns ``a`` itself if it is there already).

    A host array in page-locked memory (``pinned_empty``) goes to a GPU asynchronously when
    ``non_blocking``: the copy is queued on the current stream and the host goes on at once.
    """
    src = device_of(a)
    if src == dev:
        return a
    if dev.type == "cpu":
        return a.get()
    if a.dtype.kind == "V":  # bfloat16 (ml_dtypes): CuPy has no such dtype
        raise TypeError(f"bfloat16 tensors live on the CPU (CuPy has no bfloat16): convert to float16 or "
                        f"float32 before moving to {dev}, e.g. x.half().to('{dev}')")
    cp = cupy_module()
    with cp.cuda.Device(dev.index):
        if src.type == "cuda":  # GPU to GPU: copy() makes the copy on the current device
            return a.copy()
        if non_blocking and is_pinned(a) and a.flags.c_contiguous:
            out = cp.empty(a.shape, dtype=a.dtype)
            stream = cp.cuda.get_current_stream()
            out.set(a, stream=stream)
            _InFlight.keep(a, stream)
            return out
        return cp.asarray(a)


def pinned_empty(shape, dtype):
    """An uninitialised host array in page-locked memory, which a GPU copies from asynchronously."""
    return cupyx_module().empty_pinned(shape, dtype=dtype)


def is_pinned(a) -> bool:
    """Whether host array ``a`` (or the array it views) lives in page-locked memory."""
    if _Cuda.cupy is None or not isinstance(a, np.ndarray):
        return False
    pinned = _Cuda.cupy.cuda.PinnedMemoryPointer
    while isinstance(a, np.ndarray):
        a = a.base
    return isinstance(a, pinned)


class _InFlight:
    """Host arrays whose asynchronous copy to a GPU may still run: kept alive until it is done."""

    pending: list = []

    @classmethod
    def keep(cls, a, stream) -> None:
        cls.pending = [(ev, arr) for ev, arr in cls.pending if not ev.done]
        ev = _Cuda.cupy.cuda.Event(block=False, disable_timing=True)
        ev.record(stream)
        cls.pending.append((ev, a))


def device_context(dev: device):
    """A context that makes ``dev`` the current device (a no-op on the CPU)."""
    if dev.type == "cpu":
        return _NULL_CONTEXT
    return _OnGpu(dev.index)


class _OnGpu:
    """Makes GPU ``index`` current, for CuPy (where its kernels run) and for numtorch, then restores."""

    __slots__ = ("index", "outer", "cupy_device")

    def __init__(self, index: int) -> None:
        self.index = index

    def __enter__(self):
        self.outer = _Cuda.current
        self.cupy_device = cupy_module().cuda.Device(self.index)
        self.cupy_device.__enter__()
        _Cuda.current = self.index
        return self

    def __exit__(self, *exc):
        _Cuda.current = self.outer
        return self.cupy_device.__exit__(*exc)


def elsewhere(a):
    """A context that makes the GPU holding array ``a`` current, or None when ``a`` is a NumPy array or
    already on the current GPU (the common case, checked without a call into CUDA).

    CuPy runs a kernel on the current GPU and refuses arrays of another, so work on a tensor living
    on a GPU that is not current (``model.to("cuda:1")``) happens inside this context."""
    if a.__class__ is _ndarray or isinstance(a, (np.ndarray, np.generic)):
        return None
    i = a.device.id
    return None if i == _Cuda.current else _OnGpu(i)


class _NullContext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_NULL_CONTEXT = _NullContext()
