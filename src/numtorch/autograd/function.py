"""The op contract: ``Function`` (forward on arrays, backward on Tensors) and ``Node`` (its ctx).

An op is a subclass of ``Function``::

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):            # x: an ndarray (NumPy or CuPy)
            y = xp_of(x).exp(x)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, gy):          # gy: a Tensor
            y, = ctx.saved_tensors
            return gy * y               # d/dx exp(x) = exp(x)

``Function.apply`` unwraps tensors, runs forward and wraps the result.  When grad mode is off or
no input requires grad it records nothing (the fast path).  Otherwise it makes a ``Node`` -- the
``ctx`` and the output's ``grad_fn`` -- that remembers where each input's gradient goes.
Backward is written with numtorch ops on Tensors, so the engine can run it with grad mode on
(``create_graph=True``) to get differentiable gradients for second-order methods.
"""
from __future__ import annotations

import numpy as np

from numtorch.autograd.grad_mode import GradMode
from numtorch.tensor import Tensor, make_tensor
from numtorch._backend import CPU, device_of, elsewhere

_ndarray = np.ndarray
_new = object.__new__


class _NoGradCtx:
    """The ctx of an unrecorded call: saving is a no-op, attributes are overwritten each call."""

    needs_input_grad = ()

    def save_for_backward(self, *arrays) -> None:
        pass

    def mark_non_differentiable(self, *arrays) -> None:
        pass


_NO_GRAD_CTX = _NoGradCtx()
UNRECORDED = _NO_GRAD_CTX  # the ctx to pass when a backward_arrays calls another op's forward

# kinds of saved entries
_INPUT, _OUTPUT, _CONST = 0, 1, 2


class Node:
    """A recorded op: ``ctx`` in forward/backward and ``grad_fn`` of its outputs.

    ``next[i]`` is where the gradient of input ``i`` goes: ``(node, output_nr)`` for a tensor made
    by another op, ``(leaf, 0)`` for a leaf tensor that requires grad, ``None`` otherwise.
    Rarely used fields (``hooks``, ``out_meta``, ...) are class defaults until an instance sets them,
    which keeps recording an op cheap.
    """

    __slots__ = ("fn", "next", "needs_input_grad", "saved", "__dict__", "__weakref__")

    hooks = None  # {output_nr: [hook, ...]} for tensor hooks on this node's outputs
    out_meta = None  # ((shape, dtype, device), ...) for multi-output nodes
    non_differentiable = None
    post_hooks = None  # [hook(grad_inputs, grad_outputs), ...] run after this node's backward

    def __init__(self, fn, needs_input_grad, next=()) -> None:
        # (Function.apply's recorded path sets these four fields itself, without this call)
        self.fn = fn
        self.needs_input_grad = needs_input_grad
        self.next = next
        self.saved = ()

    # ---- used inside forward ----
    def save_for_backward(self, *arrays) -> None:
        """Keeps inputs, outputs or other arrays for backward (read back as ``saved_tensors``)."""
        self.saved = arrays

    def mark_non_differentiable(self, *arrays) -> None:
        self.non_differentiable = arrays

    # ---- used inside backward ----
    @property
    def freed(self) -> bool:
        """True once backward has released the saved tensors (``saved`` is then None)."""
        return self.saved is None

    @property
    def saved_tensors(self) -> tuple:
        if self.saved is None:
            raise _freed_error()
        tensors = []
        for s in self.saved:
            tensors.append(self._unpack(s))
        return tuple(tensors)

    @property
    def saved_arrays(self) -> tuple:
        """The saved values as raw arrays, for the first-order branches of backward (which compute
        on arrays): the same checks as ``saved_tensors`` without wrapping each one in a Tensor."""
        if self.saved is None:
            raise _freed_error()
        arrays = []
        for entry in self.saved:  # (_unpack's checks written out: this runs in every backward)
            kind, obj, extra = entry
            if kind == _INPUT:
                vc = obj._vc
                if (0 if vc is None else vc[0]) != extra:
                    raise _modified_error(self, obj, extra)
                arrays.append(obj._data)
            elif kind == _OUTPUT and extra[1][0] != extra[2]:
                self._unpack(entry)  # raises: the output was modified in place
            else:
                arrays.append(obj)
        return tuple(arrays)

    def _unpack(self, entry, as_array=False):
        kind, obj, extra = entry
        if kind == _CONST:
            return obj if as_array or (obj.__class__ is not _ndarray
                                       and not hasattr(obj, "__cuda_array_interface__")) else make_tensor(obj)
        if kind == _INPUT:
            tensor, version = obj, extra
            if tensor._version != version:
                raise _modified_error(self, tensor, version)
            return tensor._data if as_array else tensor
        array, (nr, box, version) = obj, extra
        if box[0] != version:
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an inplace "
                f"operation: output {nr} of {self.name()} is at version {box[0]}; expected version "
                f"{version} instead.")
        return array if as_array else make_tensor(array, True, self, nr)

    # ---- introspection, as PyTorch's grad_fn offers ----
    def name(self) -> str:
        return self.fn.__name__ + "Backward0"

    @property
    def next_functions(self) -> tuple:
        return tuple((None, 0) if e is None else
                     ((_AccumulateGrad(e[0]), 0) if e[0].__class__ is not Node else e) for e in self.next)

    def register_hook(self, hook) -> None:
        if self.post_hooks is None:
            self.post_hooks = []
        self.post_hooks.append(hook)

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"


class _AccumulateGrad:
    """What ``next_functions`` shows for a leaf: the gradient accumulates into ``variable.grad``."""

    def __init__(self, variable) -> None:
        self.variable = variable

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"


def _freed_error() -> RuntimeError:
    return RuntimeError(
        "Trying to backward through the graph a second time (or directly access saved tensors "
        "after they have already been freed). Saved intermediate values of the graph are freed "
        "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
        "backward through the graph a second time or if you need to access saved tensors after "
        "calling backward.")


def _modified_error(node, tensor, version) -> RuntimeError:
    return RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [{tensor.dtype} {list(tensor.shape)}] is at version {tensor._version}; expected "
        f"version {version} instead (saved by {node.name()}). Hint: clone the tensor before changing "
        f"it in place.")


_tape = None  # set by numtorch.onnx's ``recording`` while it exports: called as _tape(cls, args, kwargs)


class Function:
    """Base of every differentiable op; subclass it with ``forward`` and ``backward``."""

    is_view = False  # True when the output shares memory with input 0 (and so its version counter)

    # Optional: ``backward_arrays(ctx, *grad_arrays) -> one array (or None) per input``, the first-order
    # backward on raw arrays, for ops where skipping the Tensor wrappers pays. The engine calls it in
    # place of ``backward`` when the backward pass records no graph (no ``create_graph``); it must not
    # write into its gradient inputs or saved arrays. ``backward`` stays the reference.
    backward_arrays = None

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError

    @classmethod
    def backward_on_tensors(cls, ctx, *grad_arrays) -> tuple:
        """``backward`` on Tensors wrapping ``grad_arrays``, its gradients returned as arrays: what the
        engine runs for an op without ``backward_arrays``, and the fallback of one that handles only the
        common cases on arrays."""
        return backward_on_tensors(cls, ctx, grad_arrays)

    @classmethod
    def apply(cls, *args, **kwargs):
        if _tape is not None:  # numtorch.onnx records the ops (see onnx/_tape.py)
            return _tape(cls, args, kwargs)
        arrays = []  # the inputs' arrays (other arguments as they are)
        edges = []   # where each input's gradient goes: (grad_fn, output_nr), (leaf, 0) or None
        record = False
        gpu = None
        for a in args:  # (a plain loop: cheaper than comprehensions for a few items)
            if a.__class__ is Tensor or isinstance(a, Tensor):  # (the first test: no call)
                d = a._data
                arrays.append(d)
                if d.__class__ is not _ndarray:
                    gpu = d
                if a.requires_grad:
                    record = True
                    fn = a.grad_fn
                    edges.append((a, 0) if fn is None else (fn, a._output_nr))
                    continue
            else:
                arrays.append(a)
            edges.append(None)
        if gpu is not None:
            on_its_gpu = elsewhere(gpu)
            if on_its_gpu is not None:  # the inputs live on a GPU that is not current: run there
                with on_its_gpu:
                    return cls.apply(*args, **kwargs)
        try:
            if record and GradMode.enabled:
                return _recorded(cls, args, arrays, tuple(edges), kwargs)
            out = cls.forward(_NO_GRAD_CTX, *arrays, **kwargs)
        except (ValueError, TypeError) as e:
            moved = _cpu_scalars_moved(args)
            if moved is not None:  # PyTorch lets a 0-d CPU tensor join a GPU op, as a number would
                return cls.apply(*moved, **kwargs)
            raise _explain(cls, args, e) from e
        if out.__class__ is tuple:
            outs = tuple([make_tensor(o) for o in out])
            if cls.is_view:
                outs[0]._vc = args[0]._version_counter()
            return outs
        out = make_tensor(out)
        if cls.is_view:
            out._vc = args[0]._version_counter()
        return out


def backward_on_tensors(fn, ctx, grad_arrays) -> tuple:
    """``fn.backward(ctx, ...)`` on Tensors wrapping ``grad_arrays``; the gradients as arrays (or None)."""
    gx = fn.backward(ctx, *[make_tensor(g) for g in grad_arrays])
    if gx.__class__ is not tuple:
        gx = (gx,)
    return tuple([g._data if isinstance(g, Tensor) else g for g in gx])


_ALL_NEEDED = tuple((True,) * n for n in range(9))  # needs_input_grad when every input needs it


def _recorded(cls, args, arrays, edges, kwargs):
    """A recorded call: a ``Node`` as forward's ctx, the outputs wrapped with that node as their
    ``grad_fn``, and forward's saved arrays resolved into saved tensors."""
    ctx = _new(Node)  # Node(cls, needs_input_grad, edges), without the call of __init__
    ctx.fn = cls
    ctx.next = edges
    ctx.saved = ()
    n = len(edges)  # (an edge is a 2-tuple, so True; None is False)
    ctx.needs_input_grad = _ALL_NEEDED[n] if n < 9 and None not in edges else tuple(map(bool, edges))
    out = cls.forward(ctx, *arrays, **kwargs) if kwargs else cls.forward(ctx, *arrays)
    if out.__class__ is tuple:
        return _record_outputs(cls, ctx, args, arrays, out)
    # the common case: one output
    if out.__class__ is not _ndarray and isinstance(out, np.generic):
        scalar, out = out, np.asarray(out)  # a NumPy scalar (a full reduction) becomes a 0-d array
        if ctx.saved:  # ... and so does forward's saved reference to it (it is the output)
            ctx.saved = tuple([out if s is scalar else s for s in ctx.saved])
    nd = ctx.non_differentiable
    if out.dtype.kind in "fcV" and not (nd and any(out is x for x in nd)):  # V: bfloat16
        t = make_tensor(out, True, ctx, 0)
    else:
        t = make_tensor(out)
    if cls.is_view:
        t._vc = args[0]._version_counter()
    if ctx.saved:
        entries = []
        for s in ctx.saved:  # _resolve_saved, written out for the one-output case
            for a, arr in zip(args, arrays):
                if s is arr and arr is not a:  # an input tensor's array (a is the Tensor)
                    vc = a._vc
                    entries.append((_INPUT, a, 0 if vc is None else vc[0]))
                    break
            else:
                if s is out:
                    box = t._vc
                    if box is None:
                        t._vc = box = [0]
                    entries.append((_OUTPUT, out, (0, box, box[0])))
                else:
                    entries.append((_CONST, s, None))
        ctx.saved = tuple(entries)
    return t


def _record_outputs(cls, ctx: Node, args, arrays, out):
    """Wraps a tuple of forward's outputs as tensors whose ``grad_fn`` is ``ctx``."""
    nd = ctx.non_differentiable
    tensors = []
    for i, o in enumerate(out):
        if o.__class__ is not _ndarray:
            o = o if hasattr(o, "__cuda_array_interface__") else np.asarray(o)
        diff = o.dtype.kind in "fcV" and not (nd and any(o is x for x in nd))  # V: bfloat16
        tensors.append(make_tensor(o, True, ctx, i) if diff else make_tensor(o))
    if cls.is_view:
        tensors[0]._vc = args[0]._version_counter()
    ctx.out_meta = tuple((t.shape, t.dtype, t.device) for t in tensors)
    if ctx.saved:
        ctx.saved = tuple([_resolve_saved(s, args, arrays, out, tensors) for s in ctx.saved])
    return tuple(tensors)


def _resolve_saved(s, args, arrays, outs, tensors):
    """Turns a saved array into an entry that knows whether it is an input, an output or neither."""
    if s is None:
        return (_CONST, None, None)
    for a, arr in zip(args, arrays):
        if s is arr and isinstance(a, Tensor):
            return (_INPUT, a, a._version)
    for i, o in enumerate(outs):
        if s is o:
            t = tensors[i]
            box = t._version_counter()
            return (_OUTPUT, t._data, (i, box, box[0]))
    return (_CONST, s, None)


def _cpu_scalars_moved(args):
    """``args`` with their 0-d CPU tensors moved to the one other device in use, or None when the
    inputs are not GPU tensors plus 0-d CPU tensors."""
    devices = {device_of(a._data) for a in args if isinstance(a, Tensor)}
    if len(devices) != 2 or CPU not in devices:
        return None
    other = next(d for d in devices if d != CPU)
    if any(isinstance(a, Tensor) and a._data.ndim and device_of(a._data) == CPU for a in args):
        return None
    return tuple(a.to(other) if isinstance(a, Tensor) and device_of(a._data) == CPU else a for a in args)


def _explain(cls, args, e: Exception) -> Exception:
    """Turns NumPy's (or CuPy's) complaint into PyTorch's exception naming the op and operands."""
    name = cls.__name__.lower()
    tensors = [a for a in args if isinstance(a, Tensor)]
    devices = {str(device_of(t._data)) for t in tensors}
    if len(devices) > 1:
        return RuntimeError(
            f"{name}: expected all tensors to be on the same device, but found at least two devices, "
            f"{' and '.join(sorted(devices))}! Move them first, e.g. with .to(\"{sorted(devices)[-1]}\")")
    if isinstance(e, ValueError) and "broadcast" in str(e):
        shapes = " and ".join(str(tuple(t.shape)) for t in tensors)
        return RuntimeError(f"{name}: the shapes {shapes} cannot be broadcast together")
    return e
