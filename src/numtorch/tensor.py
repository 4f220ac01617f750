"""``Tensor``: an ndarray plus what autograd needs (``requires_grad``, ``grad``, ``grad_fn``).

The methods and operators are thin calls into ``numtorch.ops``, where each op is a ``Function``
with its forward and backward side by side (``x + y`` is ``ops.add(x, y)``).  This module sits below
the ops, the engine and the creation functions (they all import ``Tensor``), so it cannot import them:
``numtorch/ops/__init__.py`` hands the three modules in as ``ops``, ``creation`` and ``engine`` below.
``make_tensor`` is the one cheap constructor every op uses; ``numtorch.tensor(...)`` (in ``creation``)
is the public one.
"""
from __future__ import annotations


import numpy as np

from numtorch import _backend, _dtypes, _elide
from numtorch._backend import device_of, to_device, as_device, is_pinned, pinned_empty, CPU

_ndarray = np.ndarray
_generic = np.generic
_TEMP, _TEMP_R, _TEMP_METHOD = _elide.TEMP_REFS, _elide.TEMP_REFS_REFLECTED, _elide.TEMP_REFS_METHOD

# The layers above, set once by numtorch/ops/__init__.py as the op library loads: numtorch.ops,
# numtorch.creation and numtorch.autograd.engine (all built on Tensor, so not importable here).
# ``ops.add`` is one global and one attribute lookup, as for any imported module.
ops = creation = engine = None


class Size(tuple):
    """A tensor's shape: a tuple that prints as ``numtorch.Size([2, 3])``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"numtorch.Size({list(self)})"

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n


def make_tensor(data, requires_grad=False, grad_fn=None, output_nr=0) -> "Tensor":
    """Wraps an ndarray without copying (a NumPy scalar becomes a 0-d array)."""
    if data.__class__ is not _ndarray and isinstance(data, _generic):
        data = np.asarray(data)
    t = _new(Tensor)
    t._data = data
    t.requires_grad = requires_grad
    t.grad = None
    t.grad_fn = grad_fn
    t._output_nr = output_nr
    t._vc = None
    t._hooks = None
    return t


class Tensor:
    """A multi-dimensional array that can record how it was computed, for backpropagation.

    >>> import numtorch as torch
    >>> x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4., 6.])
    """

    __slots__ = ("_data", "requires_grad", "grad", "grad_fn", "_output_nr", "_vc", "_hooks",
                 "__weakref__", "__dict__")
    __array_priority__ = 1000
    __array_ufunc__ = None  # NumPy defers to our reflected operators (ndarray + Tensor -> Tensor)
    _post_accumulate_grad_hooks = None  # [hook(tensor)] run after .grad is accumulated (leaves only)

    def __new__(cls, *args, **kwargs):
        return _new(cls)

    def __init__(self, *args, dtype=None, device=None, requires_grad=False) -> None:
        # Tensor(data) copies data (as torch.Tensor([...]) does, in the default float dtype);
        # Tensor(2, 3) makes an uninitialised 2x3 float tensor.
        if len(args) == 1 and not isinstance(args[0], int):
            src = creation.tensor(args[0], dtype=dtype or _dtypes.get_default_dtype(), device=device)
        else:
            src = creation.empty(*args, dtype=dtype, device=device)
        self._data = src._data
        self.requires_grad = False
        self.grad = None
        self.grad_fn = None
        self._output_nr = 0
        self._vc = None
        self._hooks = None
        if requires_grad:
            self.requires_grad_(True)

    # ---- attributes ------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def dtype(self) -> _dtypes.dtype:
        return _dtypes.from_numpy_dtype(self._data.dtype)

    @property
    def device(self):
        return device_of(self._data)

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def is_cpu(self) -> bool:
        return self.device.type == "cpu"

    # devices and layouts numtorch does not have: never true (PyTorch programs test them)
    is_xpu = is_mps = is_meta = is_sparse = is_quantized = is_mkldnn = is_nested = property(lambda self: False)

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def data(self) -> "Tensor":
        return self.detach()

    @data.setter
    def data(self, value: "Tensor") -> None:
        self._data = value._data

    @property
    def T(self) -> "Tensor":
        return ops.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self) -> "Tensor":
        return ops.transpose(self, -2, -1)

    @property
    def H(self) -> "Tensor":
        return self.T

    @property
    def _version(self) -> int:
        return 0 if self._vc is None else self._vc[0]

    def _version_counter(self) -> list:
        if self._vc is None:
            self._vc = [0]
        return self._vc

    def _bump_version(self) -> None:
        vc = self._vc
        if vc is None:
            self._vc = [1]
        else:
            vc[0] += 1

    def is_floating_point(self) -> bool:
        return _dtypes.kind(self._data.dtype) == "f"

    def is_complex(self) -> bool:
        return self._data.dtype.kind == "c"

    def size(self, dim: int | None = None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[ops.wrap_dim(dim, self.ndim, "size")]

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    nelement = numel

    def element_size(self) -> int:
        return self._data.itemsize

    def stride(self, dim: int | None = None):
        st = tuple(s // self._data.itemsize for s in self._data.strides)
        return st if dim is None else st[dim]

    def is_contiguous(self, memory_format=None) -> bool:
        return bool(self._data.flags.c_contiguous)

    def data_ptr(self) -> int:
        return self._data.__array_interface__["data"][0] if self.device.type == "cpu" else self._data.data.ptr

    def get_device(self) -> int:
        return -1 if self.device.type == "cpu" else self.device.index

    # ---- autograd --------------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and _dtypes.kind(self._data.dtype) not in "fc":
            raise RuntimeError("only Tensors of floating point and complex dtype can require gradients "
                               f"(got {self.dtype})")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If you want "
                               "to use a computed variable in a subgraph that doesn't require "
                               "differentiation use var_no_grad = var.detach().")
        self.requires_grad = bool(requires_grad)
        return self

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None) -> None:
        """Accumulates the gradient of this tensor w.r.t. every leaf into ``leaf.grad``."""
        engine.backward(self, gradient, retain_graph, create_graph, inputs)

    def detach(self) -> "Tensor":
        t = make_tensor(self._data)
        t._vc = self._version_counter()
        return t

    def detach_(self) -> "Tensor":
        self.grad_fn = None
        self.requires_grad = False
        return self

    def register_hook(self, hook):
        """Calls ``hook(grad)`` when this tensor's gradient is computed; it may return a new one."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            node = self.grad_fn
            if node.hooks is None:
                node.hooks = {}
            hooks = node.hooks.setdefault(self._output_nr, [])
        hooks.append(hook)
        return _RemovableHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Calls ``hook(self)`` after backward has accumulated this leaf's gradient into ``.grad``."""
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        hooks = self.__dict__.setdefault("_post_accumulate_grad_hooks", [])
        hooks.append(hook)
        return _RemovableHandle(hooks, hook)

    def retain_grad(self) -> None:
        """Keeps ``.grad`` for a non-leaf tensor too."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is not None and not self.retains_grad:
            self.register_hook(engine.retain_grad_hook(self))

    @property
    def retains_grad(self) -> bool:
        node = self.grad_fn
        if node is None or not node.hooks:
            return False
        return any(getattr(h, "retains_grad", False) for h in node.hooks.get(self._output_nr, ()))

    # ---- conversion --------------------------------------------------------------------
    def numpy(self, *, force: bool = False) -> np.ndarray:
        if self.requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        if self.device.type != "cpu":
            if not force:
                raise TypeError(f"can't convert {self.device} device type tensor to numpy. "
                                "Use Tensor.cpu() to copy the tensor to host memory first.")
            return to_device(self._data, CPU)
        return self._data

    def __array__(self, dtype=None, copy=None):
        a = self._data
        if a.__class__ is not _ndarray and not isinstance(a, _ndarray):  # as PyTorch: no silent copy
            raise TypeError(f"can't convert {self.device} device type tensor to numpy. "
                            "Use Tensor.cpu() to copy the tensor to host memory first.")
        return a if dtype is None else a.astype(dtype, copy=False)

    def tolist(self):
        return to_device(self._data, CPU).tolist()

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return to_device(self._data, CPU).reshape(()).item()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __complex__(self) -> complex:
        return complex(self.item())

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(ops.unbind(self, 0))

    __hash__ = object.__hash__  # by identity (== is elementwise), at C speed for the engine's dicts

    def __reduce_ex__(self, protocol):
        raise TypeError("numtorch tensors are not pickled; use numtorch.save (safetensors + JSON)")

    def __deepcopy__(self, memo: dict) -> "Tensor":
        """``copy.deepcopy``: a leaf with its own copy of the data (and of ``grad``), as in PyTorch."""
        if self.grad_fn is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                               "protocol at the moment.")
        if id(self) not in memo:
            t = make_tensor(self._data.copy(), self.requires_grad)
            if self.grad is not None:
                t.grad = self.grad.__deepcopy__(memo)
            memo[id(self)] = t
        return memo[id(self)]

    def __repr__(self) -> str:
        return ops.tensor_repr(self)

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0:
            return format(self.item(), spec)
        return repr(self)

    def to(self, *args, **kwargs) -> "Tensor":
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)``; differentiable.

        ``non_blocking=True`` copies a pinned CPU tensor (``pin_memory()``) to a GPU asynchronously."""
        dtype, device, copy, non_blocking = _parse_to(self, args, kwargs)
        return ops.to_copy(self, dtype, device, copy, non_blocking)

    def type(self, dtype=None):
        if dtype is None:
            return "numtorch." + _TYPE_NAMES[self.dtype]
        return self.to(dtype)

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def pin_memory(self, device=None) -> "Tensor":
        """A copy in page-locked host memory, which ``.to("cuda", non_blocking=True)`` sends to the GPU
        asynchronously.  Without CUDA there is nothing to pin for, and ``self`` is returned."""
        if self._data.__class__ is not _ndarray:
            raise RuntimeError(f"cannot pin '{self.device}' memory: only CPU tensors can be pinned")
        if is_pinned(self._data) or not _backend.cuda_is_available():
            return self
        buf = pinned_empty(self._data.shape, self._data.dtype)
        buf[...] = self._data
        return make_tensor(buf)

    def is_pinned(self, device=None) -> bool:
        return is_pinned(self._data)

    def share_memory_(self) -> "Tensor":
        """Moves the data to shared memory, in place, so that processes started afterwards (fork or
        spawn, see ``numtorch.multiprocessing``) read and write the same values. A GPU tensor is left
        as it is (as in PyTorch)."""
        from numtorch._shared_memory import is_shared_array, share_array
        if self._data.__class__ is _ndarray and not is_shared_array(self._data):
            self._data = share_array(self._data)
        return self

    def is_shared(self) -> bool:
        from numtorch._shared_memory import is_shared_array
        return is_shared_array(self._data)

    def cuda(self, device=None, non_blocking: bool = False) -> "Tensor":
        device = "cuda" if device is None else (device if not isinstance(device, int) else f"cuda:{device}")
        return self.to(device, non_blocking=non_blocking)

    def float(self) -> "Tensor":
        return self.to(_dtypes.float32)

    def double(self) -> "Tensor":
        return self.to(_dtypes.float64)

    def half(self) -> "Tensor":
        return self.to(_dtypes.float16)

    def bfloat16(self) -> "Tensor":
        return self.to(_dtypes.bfloat16)

    def long(self) -> "Tensor":
        return self.to(_dtypes.int64)

    def int(self) -> "Tensor":
        return self.to(_dtypes.int32)

    def short(self) -> "Tensor":
        return self.to(_dtypes.int16)

    def char(self) -> "Tensor":
        return self.to(_dtypes.int8)

    def byte(self) -> "Tensor":
        return self.to(_dtypes.uint8)

    def bool(self) -> "Tensor":
        return self.to(_dtypes.bool_)

    def type_as(self, other: "Tensor") -> "Tensor":
        return self.to(other.dtype)

    def clone(self, *, memory_format=None) -> "Tensor":
        return ops.clone(self)

    def contiguous(self, memory_format=None) -> "Tensor":
        return self if self._data.flags.c_contiguous else ops.clone(self)

    def copy(self) -> "Tensor":  # the NumPy spelling, kept for learners coming from NumPy
        return ops.clone(self)

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False) -> "Tensor":
        return creation.tensor(data, dtype=dtype or self.dtype, device=device or self.device,
                                requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False) -> "Tensor":
        return creation.zeros(*size, dtype=dtype or self.dtype, device=device or self.device,
                               requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False) -> "Tensor":
        return creation.ones(*size, dtype=dtype or self.dtype, device=device or self.device,
                              requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False) -> "Tensor":
        return creation.full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                              requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False) -> "Tensor":
        return creation.empty(*size, dtype=dtype or self.dtype, device=device or self.device,
                               requires_grad=requires_grad)

    # ---- operators ---------------------------------------------------------------------
    # (a temporary left operand lends its memory to the result: see numtorch/_elide.py)
    def __add__(self, other):
        r = _elide.binary(self, other, np.add, _TEMP)
        return ops.add(self, other) if r is None else r

    def __radd__(self, other):
        r = _elide.binary(self, other, np.add, _TEMP_R)
        return ops.add(other, self) if r is None else r

    def __sub__(self, other):
        r = _elide.binary(self, other, np.subtract, _TEMP)
        return ops.sub(self, other) if r is None else r

    def __rsub__(self, other):
        r = _elide.binary_reflected(self, other, np.subtract, _TEMP_R)
        return ops.sub(other, self) if r is None else r

    def __mul__(self, other):
        r = _elide.binary(self, other, np.multiply, _TEMP)
        return ops.mul(self, other) if r is None else r

    def __rmul__(self, other):
        r = _elide.binary(self, other, np.multiply, _TEMP_R)
        return ops.mul(other, self) if r is None else r

    def __truediv__(self, other):
        r = _elide.binary(self, other, np.true_divide, _TEMP, True)
        return ops.div(self, other) if r is None else r

    def __rtruediv__(self, other):
        r = _elide.binary_reflected(self, other, np.true_divide, _TEMP_R)
        return ops.div(other, self) if r is None else r

    def __floordiv__(self, other): return ops.floor_divide(self, other)
    def __rfloordiv__(self, other): return ops.floor_divide(other, self)
    def __mod__(self, other): return ops.remainder(self, other)
    def __rmod__(self, other): return ops.remainder(other, self)
    def __pow__(self, other): return ops.pow(self, other)
    def __rpow__(self, other): return ops.pow(other, self)
    def __matmul__(self, other): return ops.matmul(self, other)
    def __rmatmul__(self, other): return ops.matmul(other, self)
    def __neg__(self): return ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return ops.abs(self)
    def __invert__(self): return ops.bitwise_not(self)
    def __and__(self, other): return ops.bitwise_and(self, other)
    def __rand__(self, other): return ops.bitwise_and(other, self)
    def __or__(self, other): return ops.bitwise_or(self, other)
    def __ror__(self, other): return ops.bitwise_or(other, self)
    def __xor__(self, other): return ops.bitwise_xor(self, other)
    def __rxor__(self, other): return ops.bitwise_xor(other, self)
    def __eq__(self, other): return ops.eq(self, other)
    def __ne__(self, other): return ops.ne(self, other)
    def __lt__(self, other): return ops.lt(self, other)
    def __le__(self, other): return ops.le(self, other)
    def __gt__(self, other): return ops.gt(self, other)
    def __ge__(self, other): return ops.ge(self, other)
    def __getitem__(self, index): return ops.getitem(self, index)
    def __setitem__(self, index, value): ops.setitem(self, index, value)

    def __iadd__(self, other): return self.add_(other)
    def __isub__(self, other): return self.sub_(other)
    def __imul__(self, other): return self.mul_(other)
    def __itruediv__(self, other): return self.div_(other)

    # ---- in-place ops: out-of-place op, then written back into this tensor's memory ---------
    def _inplace(self, fn, *args, **kwargs) -> "Tensor":
        return ops.apply_inplace(self, fn, *args, **kwargs)

    def add_(self, other, *, alpha=1): return self._inplace(ops.add, other, alpha=alpha)
    def sub_(self, other, *, alpha=1): return self._inplace(ops.sub, other, alpha=alpha)
    def mul_(self, other): return self._inplace(ops.mul, other)
    def div_(self, other, *, rounding_mode=None):
        return self._inplace(ops.div, other, rounding_mode=rounding_mode)
    def pow_(self, exponent): return self._inplace(ops.pow, exponent)
    def neg_(self): return self._inplace(ops.neg)
    def abs_(self): return self._inplace(ops.abs)
    def sqrt_(self): return self._inplace(ops.sqrt)
    def exp_(self): return self._inplace(ops.exp)
    def log_(self): return self._inplace(ops.log)
    def tanh_(self): return self._inplace(ops.tanh)
    def sigmoid_(self): return self._inplace(ops.sigmoid)
    def relu_(self): return self._inplace(ops.relu)
    def floor_(self): return self._inplace(ops.floor)
    def round_(self, decimals=0): return self._inplace(ops.round, decimals=decimals)
    def reciprocal_(self): return self._inplace(ops.reciprocal)
    def clamp_(self, min=None, max=None): return self._inplace(ops.clamp, min, max)
    clip_ = clamp_
    def clamp_min_(self, min): return self._inplace(ops.clamp, min, None)
    def clamp_max_(self, max): return self._inplace(ops.clamp, None, max)
    def masked_fill_(self, mask, value): return self._inplace(ops.masked_fill, mask, value)
    def lerp_(self, end, weight): return self._inplace(ops.lerp, end, weight)
    def addcmul_(self, t1, t2, *, value=1): return self._inplace(ops.addcmul, t1, t2, value=value)
    def addcdiv_(self, t1, t2, *, value=1): return self._inplace(ops.addcdiv, t1, t2, value=value)
    def scatter_(self, dim, index, src=None, *, value=None, reduce=None):
        return self._inplace(ops.scatter, dim, index, src, value=value, reduce=reduce)
    def scatter_add_(self, dim, index, src): return self._inplace(ops.scatter_add, dim, index, src)
    def index_add_(self, dim, index, source, *, alpha=1):
        return self._inplace(ops.index_add, dim, index, source, alpha=alpha)
    def index_fill_(self, dim, index, value): return self._inplace(ops.index_fill, dim, index, value)
    def index_put_(self, indices, values, accumulate=False):
        return self._inplace(ops.index_put, indices, values, accumulate)
    def copy_(self, src, non_blocking=False): return self._inplace(ops.copy_from, src)
    def zero_(self): return ops.fill_inplace(self, 0)
    def fill_(self, value): return ops.fill_inplace(self, value)
    def uniform_(self, a=0.0, b=1.0, *, generator=None):
        return ops.fill_random(self, "uniform", a, b, generator)
    def normal_(self, mean=0.0, std=1.0, *, generator=None):
        return ops.fill_random(self, "normal", mean, std, generator)
    def bernoulli_(self, p=0.5, *, generator=None):
        return ops.fill_random(self, "bernoulli", p, None, generator)
    def exponential_(self, lambd=1.0, *, generator=None):
        return ops.fill_random(self, "exponential", lambd, None, generator)
    def random_(self, low=0, high=None, *, generator=None):
        return ops.fill_random(self, "integers", low, high, generator)

    # ---- the most used methods, written out (the rest come from add_op_methods) --------
    def sum(self, dim=None, keepdim=False, *, dtype=None): return ops.sum(self, dim, keepdim, dtype=dtype)
    def mean(self, dim=None, keepdim=False, *, dtype=None): return ops.mean(self, dim, keepdim, dtype=dtype)
    def relu(self): return ops.relu(self)
    def sigmoid(self): return ops.sigmoid(self)
    def tanh(self): return ops.tanh(self)
    def exp(self):
        r = _elide.unary(self, np.exp, _TEMP_METHOD)
        return ops.exp(self) if r is None else r

    def log(self): return ops.log(self)
    def sqrt(self): return ops.sqrt(self)
    def abs(self): return ops.abs(self)
    def pow(self, exponent): return ops.pow(self, exponent)
    def clamp(self, min=None, max=None): return ops.clamp(self, min, max)
    def matmul(self, other): return ops.matmul(self, other)
    def mm(self, mat2): return ops.mm(self, mat2)
    def reshape(self, *shape): return ops.reshape(self, *shape)
    def view(self, *shape): return ops.view(self, *shape)
    def t(self): return ops.t(self)
    def transpose(self, dim0, dim1): return ops.transpose(self, dim0, dim1)
    def permute(self, *dims): return ops.permute(self, *dims)
    def unsqueeze(self, dim): return ops.unsqueeze(self, dim)
    def squeeze(self, dim=None): return ops.squeeze(self, dim)
    def flatten(self, start_dim=0, end_dim=-1): return ops.flatten(self, start_dim, end_dim)
    def expand(self, *sizes): return ops.expand(self, *sizes)
    def max(self, dim=None, keepdim=False): return ops.max(self, dim, keepdim)
    def min(self, dim=None, keepdim=False): return ops.min(self, dim, keepdim)
    def argmax(self, dim=None, keepdim=False): return ops.argmax(self, dim, keepdim)



def add_op_methods(table: dict) -> None:
    """Every other method is the op of the same name with the tensor first: ``x.exp()`` is
    ``numtorch.exp(x)``, ``x.sum(dim=1)`` is ``numtorch.sum(x, dim=1)``.  ``numtorch.ops`` calls this
    with its ``TENSOR_METHODS`` table (name -> function) once the ops exist, ``numtorch.linalg`` with
    its own few.

    They become class attributes, not a ``__getattr__`` fallback: CPython specializes attribute reads
    (``t._data``, ``t.grad_fn``) only on classes without ``__getattr__``, and every op reads several."""
    for name, fn in table.items():
        if name not in Tensor.__dict__:  # the methods written out above stay
            setattr(Tensor, name, fn)


_new = object.__new__

_TYPE_NAMES = {
    _dtypes.float32: "FloatTensor", _dtypes.float64: "DoubleTensor", _dtypes.float16: "HalfTensor",
    _dtypes.bfloat16: "BFloat16Tensor",
    _dtypes.int64: "LongTensor", _dtypes.int32: "IntTensor", _dtypes.int16: "ShortTensor",
    _dtypes.int8: "CharTensor", _dtypes.uint8: "ByteTensor", _dtypes.bool_: "BoolTensor",
    _dtypes.complex64: "ComplexFloatTensor", _dtypes.complex128: "ComplexDoubleTensor",
}


class _RemovableHandle:
    def __init__(self, hooks: list, hook) -> None:
        self.hooks, self.hook = hooks, hook

    def remove(self) -> None:
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


def _parse_to(t: Tensor, args, kwargs):
    dtype = kwargs.pop("dtype", None)
    device = kwargs.pop("device", None)
    copy = kwargs.pop("copy", False)
    non_blocking = bool(kwargs.pop("non_blocking", False))
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            dtype, device = a.dtype, a.device
        elif isinstance(a, _dtypes.dtype) or a in (float, int, bool) or isinstance(a, np.dtype):
            dtype = _dtypes.to_dtype(a)
        elif isinstance(a, (str, int)) or hasattr(a, "type"):
            device = a
        elif isinstance(a, bool):
            pass
        else:
            raise TypeError(f"to() received an invalid argument {a!r}")
    return (None if dtype is None else _dtypes.to_dtype(dtype),
            None if device is None else as_device(device), copy, non_blocking)


_elide.TENSOR = Tensor  # elision applies to plain tensors only (numtorch/_elide.py)
