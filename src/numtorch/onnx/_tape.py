"""The tape: every op of one forward pass, with the module that ran it.

While ``recording(tape)`` is active, ``Function.apply`` hands each op
to ``Tape.__call__``, which runs it unrecorded and keeps an ``Op``: the op class, its arguments
(tensors, arrays and plain values as they were passed), its keyword arguments, its outputs and the
path of the module whose forward was running (``layer1.0.conv1``).  The tape holds references to
every tensor and array it saw, so no Python id is reused while the graph is built.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from numtorch.autograd import function
from numtorch.onnx.errors import OnnxExporterError
from numtorch.tensor import Tensor


class recording:
    """``with recording(tape):`` -- each op applied inside calls ``tape(cls, args, kwargs)`` instead.

    ``Function.apply`` begins with ``if _tape is not None``: inactive, the hook costs one global check.
    """

    def __init__(self, tape) -> None:
        self.tape = tape

    def __enter__(self):
        self.previous, function._tape = function._tape, self.tape
        return self.tape

    def __exit__(self, *exc) -> None:
        function._tape = self.previous


def run_unrecorded(cls, args, kwargs):
    """Applies ``cls`` with the tape paused (ops that an op applies inside are not noted again)."""
    tape, function._tape = function._tape, None
    try:
        return cls.apply(*args, **kwargs)
    finally:
        function._tape = tape


@dataclass
class Op:
    """One recorded op application."""

    cls: type
    args: tuple
    kwargs: dict
    out: object  # a Tensor, or a tuple of Tensors
    path: str  # the module that ran it ("" is the model itself)
    keep: tuple = ()  # the arrays of the tensors involved (kept alive: ids stay unique)

    @property
    def outputs(self) -> tuple:
        return self.out if isinstance(self.out, tuple) else (self.out,)


class Tape:
    """Collects ``Op``s; ``module_stack`` is kept by the forward hooks ``record_forward`` installs."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.module_stack: list[str] = [""]
        self.versions: dict = {}  # id(tensor) -> its version when the tape last saw it
        self.now: dict = {}  # id(tensor) -> the op output it equals after an in-place write

    def __call__(self, cls, args, kwargs):
        args = tuple([self.current(a) if isinstance(a, Tensor) else a for a in args])
        out = run_unrecorded(cls, args, kwargs)
        outs = out if isinstance(out, tuple) else (out,)
        for t in (*args, *outs):
            if isinstance(t, Tensor):
                self.versions[id(t)] = t._version
        keep = tuple(a._data for a in (*args, *outs) if isinstance(a, Tensor))
        self.ops.append(Op(cls, args, dict(kwargs), out, self.module_stack[-1], keep))
        return out

    def current(self, t: Tensor) -> Tensor:
        """The tensor whose value ``t`` holds now.

        An in-place op (``relu_``, ``x += y``) computes its result with a recorded op and copies it into
        ``t``'s memory, bumping ``t``'s version: a tensor seen again at a newer version equals the output of
        a recent op, found by value.
        """
        seen = self.versions.get(id(t))
        if seen is None or seen == t._version:
            return self.now.get(id(t), t)
        for op in reversed(self.ops[-64:]):
            for o in op.outputs:
                if o is not t and o.shape == t.shape and o.dtype == t.dtype \
                        and np.array_equal(o._data, t._data):
                    self.now[id(t)] = o
                    self.versions[id(t)] = t._version
                    return o
        raise OnnxExporterError(f"ONNX export: a tensor of shape {tuple(t.shape)} was changed in place (in "
                                f"module '{self.module_stack[-1]}') in a way the exporter cannot follow; use "
                                f"the out-of-place op")


def record_forward(model, args: tuple, kwargs: dict):
    """Runs ``model(*args, **kwargs)`` once with its ops recorded; returns (tape, outputs)."""
    tape = Tape()
    handles = []
    for name, module in model.named_modules():
        handles.append(module.register_forward_pre_hook(_push(tape, name)))
        handles.append(module.register_forward_hook(_pop(tape)))
    try:
        with recording(tape):
            out = model(*args, **kwargs)
        if isinstance(out, (tuple, list)):
            out = type(out)(tape.current(o) if isinstance(o, Tensor) else o for o in out)
        elif isinstance(out, Tensor):
            out = tape.current(out)
    finally:
        for h in handles:
            h.remove()
    return tape, out


def _push(tape: Tape, name: str):
    def hook(module, inputs):
        tape.module_stack.append(name)
    return hook


def _pop(tape: Tape):
    def hook(module, inputs, output):
        tape.module_stack.pop()
    return hook
