"""``numtorch.autograd.Function``: PyTorch's API for a user-defined op.

Unlike numtorch's own ops (whose forward works on raw arrays), a user's ``forward`` receives
and returns Tensors, computed with grad recording off, exactly as in PyTorch::

    class MyReLU(numtorch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.clamp(min=0)

        @staticmethod
        def backward(ctx, gy):
            x, = ctx.saved_tensors
            return gy * (x > 0)

    y = MyReLU.apply(x)
"""
from __future__ import annotations

from numtorch.autograd.function import Node, _INPUT, _OUTPUT, _CONST
from numtorch.autograd.grad_mode import GradMode, no_grad
from numtorch.tensor import Tensor, make_tensor

FunctionCtx = Node


class Function:
    """Subclass with static ``forward(ctx, *args)`` and ``backward(ctx, *grads)``; call ``apply``."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    vjp = backward
    backward_arrays = None  # (the engine's first-order hook; a user's Function defines backward only)

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        record = GradMode.enabled and any(isinstance(a, Tensor) and a.requires_grad for a in args)
        ctx = Node(cls, tuple(isinstance(a, Tensor) and a.requires_grad for a in args))
        with no_grad():
            if cls.setup_context is not Function.setup_context:
                out = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, out)
            else:
                out = cls.forward(ctx, *args, **kwargs)
        multi = isinstance(out, tuple)
        outs = out if multi else (out,)
        if not record:
            return out
        ctx.next = tuple(((a.grad_fn, a._output_nr) if a.grad_fn is not None else (a, 0)) if needs else None
                         for a, needs in zip(args, ctx.needs_input_grad))
        nd = ctx.non_differentiable or ()
        wrapped = []
        for i, o in enumerate(outs):
            if isinstance(o, Tensor) and o._data.dtype.kind in "fcV" and not any(o is x for x in nd):
                wrapped.append(make_tensor(o._data, True, ctx, i))
            else:
                wrapped.append(o)
        if multi:
            ctx.out_meta = tuple((w.shape, w.dtype, w.device) if isinstance(w, Tensor) else ((), None, None)
                                 for w in wrapped)
        ctx.saved = tuple(_resolve(s, args, outs, wrapped) for s in ctx.saved)
        return tuple(wrapped) if multi else wrapped[0]


def _resolve(s, args, outs, wrapped):
    if s is None:
        return (_CONST, None, None)
    for a in args:
        if s is a:
            return (_INPUT, a, a._version)
    for i, o in enumerate(outs):
        if s is o:
            box = wrapped[i]._version_counter()
            return (_OUTPUT, wrapped[i]._data, (i, box, box[0]))
    if isinstance(s, Tensor):
        return (_INPUT, s, s._version)
    return (_CONST, s, None)
