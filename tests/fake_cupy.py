"""A strict NumPy-backed stand-in for CuPy, so the GPU code path runs (and fails) on a CPU.

numtorch computes a "cuda" tensor with whatever module ``_backend.cupy_module()`` returns.
On a machine without a GPU the tests install this module instead of CuPy.  It computes with
NumPy, but keeps CuPy's rules, so code that would break on a real GPU breaks here too:

* its arrays are not NumPy arrays: ``np.asarray(a)`` raises ``TypeError`` (implicit conversion
  to the host is forbidden, as in CuPy) and ``a.get()`` is the explicit copy;
* an operation mixing one of its arrays with a NumPy array raises ``TypeError``, as CuPy does;
* reductions return 0-d device arrays, never host scalars;
* every transfer to the host (``get``, ``float(a)``, ``int(a)``, ``bool(a)``, ``item``,
  ``tolist``, ``asnumpy``) is counted in ``stats.syncs``: a test can assert that a training
  step never waits for the device.

Its ``ElementwiseKernel`` runs a kernel's CUDA C body by translating the small C subset numtorch's
kernels use (declarations, ``=``/``+=``/``-=``/``*=``, ``(T)`` casts, ``c ? a : b``, erf/exp/sqrt/tanh)
into NumPy, element type ``T`` kept: so the kernels' formulas and argument order are checked
against the CPU path here.  What it cannot check: that CUDA compiles them, and speed.  Those need a
real GPU: ``bash bench/gpu_check.sh``.
"""
from __future__ import annotations

import contextlib
import re
import types
import weakref

import numpy as np

_NP = np.ndarray

try:  # the real CuPy (it imports without a GPU): the stand-in offers only what CuPy offers
    import cupy as _real_cupy
    import cupyx.scipy.special as _real_special
except Exception:  # noqa: BLE001 -- CuPy absent or broken: no API check
    _real_cupy = _real_special = None


class _Stats:
    """Counters a test can read and reset."""

    syncs = 0        # device -> host transfers that block (get, float, item, ...)
    uploads = 0        # host -> device copies that wait (asarray of host data; set from pageable memory)
    async_uploads = 0  # host -> device copies that do not (set from page-locked memory on a stream)

    @classmethod
    def reset(cls) -> None:
        cls.syncs = 0
        cls.uploads = 0
        cls.async_uploads = 0


stats = _Stats


def _mixing_error(x) -> TypeError:
    return TypeError(f"Unsupported type {type(x)} (fake CuPy: a NumPy array cannot meet a device array; "
                     "copy it to the device first)")


def _unwrap(x):
    """Device arrays -> their NumPy data; host arrays are refused; containers recursed."""
    if x.__class__ is ndarray:
        _check_device(x)
        return x._a
    if isinstance(x, _NP):
        raise _mixing_error(x)
    if x.__class__ in (list, tuple):
        return x.__class__(_unwrap(v) for v in x)
    if x.__class__ is slice:
        return slice(_unwrap(x.start), _unwrap(x.stop), _unwrap(x.step))
    return x


def _wrap(r):
    """NumPy results -> device arrays (scalars too: CuPy reductions return 0-d arrays)."""
    if isinstance(r, _NP):
        return ndarray(r)
    if isinstance(r, np.generic) and not isinstance(r, (np.str_, np.bytes_)):
        return ndarray(np.asarray(r))
    if r.__class__ in (list, tuple):
        return r.__class__(_wrap(v) for v in r)
    if isinstance(r, tuple):  # NumPy 2's named results (slogdet, qr, eigh, svd, ...)
        return r.__class__(*(_wrap(v) for v in r))
    return r


_VIEWS = frozenset({"view", "reshape", "transpose", "swapaxes", "squeeze", "ravel", "diagonal"})


def _wrap_view(r, dev: int):
    """A basic-indexing result: a view on ``dev``, or (a scalar) a 0-d array there."""
    return ndarray(r if isinstance(r, _NP) else np.asarray(r), dev)


def _call(f, args, kwargs):
    return _wrap(f(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))


class _Flags:
    """CuPy's array flags: contiguity and ownership only (no "writeable": device arrays always are)."""

    __slots__ = ("c_contiguous", "f_contiguous", "owndata")

    def __init__(self, f) -> None:
        self.c_contiguous, self.f_contiguous, self.owndata = f.c_contiguous, f.f_contiguous, f.owndata

    def __getitem__(self, name: str) -> bool:
        return {"C_CONTIGUOUS": self.c_contiguous, "F_CONTIGUOUS": self.f_contiguous,
                "OWNDATA": self.owndata}[name]


N_DEVICES = 2  # the stand-in has two GPUs, so moves between them and device guards are exercised


class _Current:
    id = 0  # the current device (CUDA's per-thread state)


class Device:
    """``cupy.cuda.Device``: a context that makes a GPU current."""

    def __init__(self, device=None) -> None:
        self.id = _Current.id if device is None else int(device)
        if not 0 <= self.id < N_DEVICES:
            raise RuntimeError(f"fake CuPy: invalid device ordinal {self.id} ({N_DEVICES} devices)")
        self._outer = []

    def __enter__(self):
        self._outer.append(_Current.id)
        _Current.id = self.id
        return self

    def __exit__(self, *exc):
        _Current.id = self._outer.pop()
        return False

    def use(self) -> None:
        _Current.id = self.id

    def synchronize(self) -> None:
        pass

    def __eq__(self, other) -> bool:
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self) -> int:
        return self.id

    def __repr__(self) -> str:
        return f"<CUDA Device {self.id}>"


def _check_device(x) -> None:
    """CuPy launches a kernel on the current device and refuses arrays that live on another."""
    if x._dev != _Current.id:
        raise ValueError(f"Array device must be same as the current device: array device = {x._dev} "
                         f"while current = {_Current.id}")


class _Bytes:
    """Bytes held by live device arrays that own their memory (the memory pool's count)."""

    used = 0


def _release(n: int) -> None:
    _Bytes.used -= n


class ndarray:
    """A device array: NumPy data behind CuPy's rules."""

    __slots__ = ("_a", "_dev", "__weakref__")
    __array_priority__ = 100

    def __init__(self, a: np.ndarray, dev: int | None = None) -> None:
        self._a = a
        self._dev = _Current.id if dev is None else dev  # made on the current device
        if a.base is None and a.nbytes:
            _Bytes.used += a.nbytes
            weakref.finalize(self, _release, a.nbytes)

    # -- what an array is ----------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: _Flags(self._a.flags))
    T = property(lambda self: ndarray(self._a.T, self._dev))
    mT = property(lambda self: ndarray(self._a.mT, self._dev))
    device = property(lambda self: Device(self._dev))

    @property
    def __cuda_array_interface__(self) -> dict:
        i = self._a.__array_interface__
        return {"shape": i["shape"], "typestr": i["typestr"], "data": i["data"], "strides": i["strides"],
                "version": 3}

    @property
    def base(self):
        return None if self._a.base is None else ndarray(self._a.base, self._dev)

    @property
    def real(self):
        return ndarray(self._a.real, self._dev)

    @property
    def imag(self):
        return ndarray(self._a.imag, self._dev)

    def __repr__(self) -> str:
        return "fake_cupy." + repr(self._a)

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self):
        return (ndarray(np.asarray(v)) for v in self._a)

    # -- the host boundary ---------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def get(self, stream=None, order="C", out=None):
        stats.syncs += 1
        return self._a.copy()

    def item(self):
        stats.syncs += 1
        return self._a.item()

    def tolist(self):
        stats.syncs += 1
        return self._a.tolist()

    def __float__(self) -> float:
        stats.syncs += 1
        return float(self._a)

    def __int__(self) -> int:
        stats.syncs += 1
        return int(self._a)

    def __complex__(self) -> complex:
        stats.syncs += 1
        return complex(self._a)

    def __bool__(self) -> bool:
        stats.syncs += 1
        return bool(self._a)

    def __index__(self) -> int:
        # CuPy refuses this: an index computed on the device must be fetched explicitly.
        raise TypeError("fake CuPy: a device array cannot be used as a Python index; use int(a)")

    # -- NumPy's protocols: what CuPy's arrays accept from numpy.* calls --------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _call(getattr(ufunc, method), inputs, kwargs)

    def __array_function__(self, func, types_, args, kwargs):
        if _real_cupy is not None:  # CuPy answers numpy.f(device array) only where it has its own f
            mod = _real_cupy
            for part in func.__module__.split(".")[1:]:
                if not part.startswith("_"):
                    mod = getattr(mod, part, None)
            if mod is None or not hasattr(mod, func.__name__):
                raise TypeError(f"fake CuPy: no implementation found for numpy.{func.__name__} on device arrays")
        return _call(func, args, kwargs)

    # -- everything else: NumPy's methods, with device arrays in and out ----------------
    def __getattr__(self, name):
        if name.startswith("__array_") or name == "__dlpack__":  # NumPy's host-side protocols: not on
            raise AttributeError(name)                            # a device array (no silent conversion)
        if _real_cupy is not None and not hasattr(_real_cupy.ndarray, name):
            raise AttributeError(f"fake CuPy: cupy.ndarray has no attribute {name!r}")
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr)
        if name == "copy":  # a copy is made on the current device, from any device (as in CuPy)
            return lambda *args, **kwargs: ndarray(attr(*args, **kwargs))
        if name in _VIEWS:  # no kernel: a view stays where its array is
            return lambda *args, **kwargs: ndarray(attr(*args, **kwargs), self._dev)
        _check_device(self)
        return lambda *args, **kwargs: _call(attr, args, kwargs)

    def __getitem__(self, key):
        k = _unwrap(key)  # (index arrays must be on the current device)
        if k is key or not isinstance(key, (ndarray, tuple, list)):
            return _wrap_view(self._a[k], self._dev)  # basic indexing: a view, no kernel
        _check_device(self)
        return _wrap(self._a[k])

    def __setitem__(self, key, value) -> None:
        _check_device(self)
        self._a[_unwrap(key)] = _unwrap(value)

    def set(self, arr, stream=None) -> None:
        """The explicit host -> device copy into this array (asynchronous on a real GPU)."""
        if not isinstance(arr, _NP) or arr.shape != self._a.shape or arr.dtype != self._a.dtype:
            raise ValueError("fake CuPy: set() needs a NumPy array of the same shape and dtype")
        base = arr
        while isinstance(base, _NP):
            base = base.base
        if stream is not None and isinstance(base, PinnedMemoryPointer):
            stats.async_uploads += 1   # from page-locked memory on a stream: the host goes on
        else:
            stats.uploads += 1         # from pageable memory: the copy waits for the stream
        self._a[...] = arr

    def __copy__(self):
        return ndarray(self._a.copy())

    def __deepcopy__(self, memo):
        return ndarray(self._a.copy())

    def __reduce__(self):
        raise TypeError("fake CuPy: device arrays are not pickled here")


def _binary(name):
    op = getattr(_NP, name)
    return lambda self, other: _wrap(op(_unwrap(self), _unwrap(other)))


def _unary(name):
    op = getattr(_NP, name)
    return lambda self: _wrap(op(_unwrap(self)))


for _n in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
           "lshift", "rshift", "lt", "le", "gt", "ge", "eq", "ne"):
    for _p in ("__%s__", "__r%s__", "__i%s__"):
        _dunder = _p % _n
        if hasattr(_NP, _dunder):
            setattr(ndarray, _dunder, _binary(_dunder))
for _n in ("__neg__", "__pos__", "__abs__", "__invert__"):
    setattr(ndarray, _n, _unary(_n))
ndarray.__hash__ = None


def _inplace(name):
    op = getattr(_NP, name)

    def f(self, other):
        op(_unwrap(self), _unwrap(other))
        return self
    return f


for _n in ("__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__", "__imod__", "__ipow__",
           "__iand__", "__ior__", "__ixor__", "__imatmul__"):
    setattr(ndarray, _n, _inplace(_n))


# ---- the module: numpy's functions with device arrays in and out ------------------

class _Ufunc:
    """A NumPy ufunc that takes and returns device arrays (and refuses host arrays)."""

    def __init__(self, uf) -> None:
        self._uf = uf
        self.__name__ = uf.__name__
        self.nin, self.nout = uf.nin, uf.nout

    def __call__(self, *args, **kwargs):
        return _call(self._uf, args, kwargs)

    # CuPy offers these methods "only for selected ufuncs"; the stand-in allows the ones known to work
    _METHODS = {"reduce": ("add", "multiply"), "accumulate": ("add", "multiply"),
                "reduceat": ("add",), "at": ("add",)}

    def __getattr__(self, name):
        allowed = self._METHODS.get(name)
        if allowed is not None and self.__name__ not in allowed:
            raise NotImplementedError(f"fake CuPy: {self.__name__}.{name} is not supported by CuPy "
                                      f"(only {', '.join(allowed)}); use a reduction function or cupyx.scatter_add")
        attr = getattr(self._uf, name)
        return (lambda *a, **k: _call(attr, a, k)) if callable(attr) else attr


_MISSING = object()


class _Namespace(types.ModuleType):
    """A NumPy (sub)module seen through CuPy's eyes: where the real CuPy is installed, only the names
    it has, called with arguments its signatures accept."""

    def __init__(self, name, np_module, real=None) -> None:
        super().__init__(name)
        self._np = np_module
        self._real = real

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        real = _MISSING if self._real is None else getattr(self._real, name, _MISSING)
        if self._real is not None and real is _MISSING:
            raise AttributeError(f"fake CuPy: {self.__name__}.{name} does not exist in CuPy")
        attr = getattr(self._np, name)
        if isinstance(attr, np.ufunc):
            out = _Ufunc(attr)
        elif isinstance(attr, types.ModuleType):
            out = _Namespace(f"{self.__name__}.{name}", attr, None if real is _MISSING else real)
        elif isinstance(attr, type) or not callable(attr):
            out = attr
        else:
            out = _function(attr, None if real is _MISSING else real, f"{self.__name__}.{name}")
        setattr(self, name, out)   # cache: the next lookup is a plain attribute
        return out


def _signature(f):
    import inspect
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return None  # **kwargs: anything goes through to CuPy's own checks
    return sig


def _function(f, real=None, qualname=None):
    sig = None if real is None else _signature(real)

    def g(*args, **kwargs):
        if sig is not None:
            try:
                sig.bind(*args, **kwargs)
            except TypeError as e:
                raise TypeError(f"fake CuPy: {qualname}() as CuPy defines it refuses these arguments: {e}") from None
        return _call(f, args, kwargs)
    g.__name__ = getattr(f, "__name__", "function")
    return g


def asarray(x, dtype=None, order=None, **_):
    """cupy.asarray: device arrays pass through (cast if asked); host data is copied to the device."""
    if x.__class__ is ndarray:
        return x if dtype is None else ndarray(x._a.astype(dtype, copy=False))
    stats.uploads += 1
    return ndarray(np.array(x, dtype=dtype, order=order or "K", copy=True))


def array(x, dtype=None, copy=True, order=None, **_):
    """cupy.array: a copy (on the device) of device or host data."""
    if x.__class__ is ndarray:
        return ndarray(np.array(x._a, dtype=dtype, copy=copy, order=order or "K"))
    return asarray(x, dtype=dtype, order=order)


def ascontiguousarray(x, dtype=None):
    if x.__class__ is ndarray:
        return ndarray(np.ascontiguousarray(x._a, dtype=dtype))
    return asarray(x, dtype=dtype, order="C")


def asnumpy(a, stream=None, order="C", out=None):
    if a.__class__ is ndarray:
        return a.get()
    return np.asarray(a)


class _MemoryPool:
    def used_bytes(self) -> int:
        return _Bytes.used

    def total_bytes(self) -> int:
        return self.used_bytes()

    def free_all_blocks(self) -> None:
        pass


_POOL = _MemoryPool()


class _Stream:
    """cupy.cuda.Stream: work is done at once here, so a stream is always done."""

    null = None
    ptr = 0
    done = True
    current = None

    def __init__(self, *a, **k) -> None:
        pass

    def synchronize(self) -> None:
        pass

    def use(self) -> "_Stream":
        _Stream.current = self
        return self

    def wait_event(self, event) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_Stream.current = _Stream()


class _Event:
    """cupy.cuda.Event; timed events read a host clock (the emulator's 'GPU time')."""

    done = True

    def __init__(self, block=False, disable_timing=False, interprocess=False) -> None:
        self.timing = not disable_timing
        self.at = None

    def record(self, stream=None) -> None:
        import time
        self.at = time.perf_counter()

    def synchronize(self) -> None:
        pass


def _elapsed_time(start: _Event, end: _Event) -> float:
    if not (start.timing and end.timing) or start.at is None or end.at is None:
        raise RuntimeError("fake CuPy: both events must be recorded with timing enabled")
    return (end.at - start.at) * 1e3


def _cuda_namespace():
    cuda = types.SimpleNamespace()
    cuda.is_available = lambda: True
    cuda.Device = Device
    cuda.Stream = _Stream
    cuda.Event = _Event
    cuda.get_current_stream = lambda: _Stream.current
    cuda.get_elapsed_time = _elapsed_time
    cuda.runtime = types.SimpleNamespace(
        getDeviceCount=lambda: N_DEVICES,
        getDeviceProperties=lambda i: {"name": b"fake CuPy device (NumPy)", "totalGlobalMem": 2 ** 34,
                                       "major": 9, "minor": 0, "multiProcessorCount": 132},
        memGetInfo=lambda: (2 ** 33, 2 ** 34))
    cuda.PinnedMemoryPointer = PinnedMemoryPointer
    cuda.alloc_pinned_memory = PinnedMemoryPointer
    return cuda


class PinnedMemoryPointer(bytearray):
    """Page-locked host memory (here: ordinary memory with the type that marks it)."""


def _empty_pinned(shape, dtype=float, order="C"):
    """cupyx.empty_pinned: a NumPy array over page-locked memory."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    dtype = np.dtype(dtype)
    mem = PinnedMemoryPointer(max(1, int(np.prod(shape)) * dtype.itemsize))
    return np.ndarray(shape, dtype=dtype, buffer=mem, order=order)


_TERNARY = re.compile(r"\(\s*([^?()]+?)\s*\?\s*([^:()]+?)\s*:\s*([^()]+?)\s*\)")
_CAST = re.compile(r"\(T\)\s*(-?[\w.]+)")
_TERNARY_RHS = re.compile(r"^(\w+)\s*=(?!=)\s*([^?]+?)\s*\?\s*([^:]+?)\s*:\s*(.+)$")
_COMPOUND = re.compile(r"^(\w+)\s*([-+*/])=\s*(.+)$")
_DECL = re.compile(r"^(?:T|float|double|int|int32|bool)\s+(\w+\s*=.+)$")


def _c_to_python(body: str) -> str:
    """The C subset of numtorch's elementwise kernels as Python statements over NumPy arrays."""
    lines = []
    for stmt in body.split(";"):
        stmt = " ".join(stmt.split())
        if not stmt:
            continue
        stmt = _CAST.sub(r"_T(\1)", stmt)           # a cast to the element type
        stmt = _TERNARY.sub(r"where(\1, \2, \3)", stmt)
        stmt = _TERNARY_RHS.sub(r"\1 = where(\2, \3, \4)", stmt)
        stmt = _DECL.sub(r"\1", stmt)
        m = _COMPOUND.match(stmt)
        if m:
            stmt = f"{m.group(1)} = {m.group(1)} {m.group(2)} ({m.group(3)})"
        lines.append(stmt)
    return "\n".join(lines)


class ElementwiseKernel:
    """cupy.ElementwiseKernel, run as NumPy: inputs and outputs by name, outputs updated in place."""

    def __init__(self, in_params: str, out_params: str, operation: str, name: str = "kernel", **_) -> None:
        def params(spec):
            return [tuple(p.split()) for p in spec.split(",") if p.strip()]
        self.ins, self.outs = params(in_params), params(out_params)
        self.name = name
        self.code = compile(_c_to_python(operation), f"<kernel {name}>", "exec")

    def __call__(self, *args):
        if len(args) not in (len(self.ins), len(self.ins) + len(self.outs)):
            raise TypeError(f"Wrong number of arguments for {self.name!r}")
        arrays = [_unwrap(a) for a in args if a.__class__ is ndarray]
        if len(arrays) != sum(1 for a in args if isinstance(a, (ndarray, _NP))):
            raise _mixing_error(next(a for a in args if isinstance(a, _NP)))
        typed = {a.dtype for (t, _), a in zip(self.ins + self.outs, args) if t == "T" and a.__class__ is ndarray}
        if len(typed) != 1:
            raise TypeError(f"Type is mismatched. {self.name} T: {sorted(map(str, typed))}")
        T = typed.pop()
        env = {"_T": T.type, "where": np.where, "exp": np.exp, "sqrt": np.sqrt, "tanh": np.tanh,
               "erf": _erf, "erfc": _erfc}
        for (t, n), a in zip(self.ins, args):
            env[n] = a._a if a.__class__ is ndarray else np.dtype(T if t == "T" else t).type(a)
        outs = list(args[len(self.ins):])
        if not outs:
            shape = np.broadcast_shapes(*(a.shape for a in arrays))
            outs = [ndarray(np.empty(shape, dtype=T if t == "T" else t)) for t, _ in self.outs]
        for (t, n), o in zip(self.outs, outs):
            env[n] = o._a
        exec(self.code, env)
        for (t, n), o in zip(self.outs, outs):
            o._a[...] = env[n]
        return outs[0] if len(outs) == 1 else tuple(outs)


def _erf(x):
    from scipy.special import erf
    return erf(x).astype(x.dtype, copy=False)


def _erfc(x):
    from scipy.special import erfc
    return erfc(x).astype(x.dtype, copy=False)


def make_module() -> types.ModuleType:
    """A fresh module object that plays ``cupy``."""
    m = _Namespace("fake_cupy", np, _real_cupy)
    m.ndarray = ndarray
    m.asarray = asarray
    m.array = array
    m.ascontiguousarray = ascontiguousarray
    m.asnumpy = asnumpy
    m.cuda = _cuda_namespace()
    m.get_default_memory_pool = lambda: _POOL
    m.get_default_pinned_memory_pool = lambda: _POOL
    m.ElementwiseKernel = ElementwiseKernel
    m.fuse = lambda *a, **k: (a[0] if a and callable(a[0]) else (lambda f: f))
    m.stats = stats
    return m


def _scatter_add(a, slices, value) -> None:
    """cupyx.scatter_add: a[slices] += value with repeated indices accumulating."""
    np.add.at(_unwrap(a), _unwrap(slices), _unwrap(value))


def make_cupyx_module() -> types.ModuleType:
    """A module object that plays ``cupyx`` (scatter_add and scipy.special.erf)."""
    from scipy import special
    m = types.ModuleType("fake_cupyx")
    m.scatter_add = _scatter_add
    m.empty_pinned = _empty_pinned
    m.scipy = types.SimpleNamespace(special=_Namespace("fake_cupyx.scipy.special", special, _real_special))
    return m


@contextlib.contextmanager
def installed():
    """Makes numtorch's "cuda" device compute with this module for the duration."""
    from numtorch import _backend
    saved = (_backend._Cuda.cupy, _backend._Cuda.cupyx, _backend.cuda_is_available)
    _backend._Cuda.cupy, _backend._Cuda.cupyx = make_module(), make_cupyx_module()
    _backend.cuda_is_available = lambda: True
    try:
        yield _backend._Cuda.cupy
    finally:
        _backend._Cuda.cupy, _backend._Cuda.cupyx, _backend.cuda_is_available = saved
