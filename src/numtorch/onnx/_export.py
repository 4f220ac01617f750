"""The exporter: record one forward pass (two with dynamic axes), convert the tape, check, write.

    tape = record_forward(model, args)            # every op the forward ran, with its module
    for op in tape: CONVERTERS[op.cls](g, op)     # ONNX nodes, one small function per op
    onnx.checker.check_model(model); write f      # a temporary file renamed into place
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

from numtorch.onnx._tape import record_forward
from numtorch.onnx.errors import OnnxExporterError, UnsupportedOperatorError
from numtorch.tensor import Tensor
from numtorch.autograd.grad_mode import no_grad
from numtorch.creation import from_numpy
from numtorch.version import __version__

DEFAULT_OPSET = 18


def _require_onnx():
    try:
        import onnx  # noqa: F401
    except ImportError as e:
        raise ImportError("numtorch.onnx.export needs the onnx package: pip install numtorch[onnx]") from e
    return onnx


def export_model(model, args, f, *, kwargs=None, input_names=None, output_names=None, dynamic_axes=None,
                 opset_version=None, export_params=True, verbose=False):
    """Builds, checks and writes the ONNX model; returns the ``onnx.ModelProto``."""
    onnx = _require_onnx()
    from numtorch.nn.modules.module import Module
    if not isinstance(model, Module):
        raise TypeError(f"numtorch.onnx.export: expected a numtorch.nn.Module, got {type(model).__name__}")
    if f is None:
        raise TypeError("numtorch.onnx.export: f (a file path or a binary file object) is required")
    opset = DEFAULT_OPSET if opset_version is None else int(opset_version)
    if opset < 17:
        raise ValueError(f"numtorch.onnx.export: opset_version {opset} is not supported (17 or newer: "
                         f"LayerNormalization)")
    args = (args,) if isinstance(args, Tensor) else tuple(args)
    kwargs = dict(kwargs or {})
    inputs = [a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)]  # the graph's inputs, in order
    input_names = list(input_names or [])
    input_names += [f"input_{i}" for i in range(len(input_names), len(inputs))]
    if len(input_names) > len(inputs):
        raise ValueError(f"numtorch.onnx.export: {len(input_names)} input_names "
                         f"for {len(inputs)} tensor inputs")
    dynamic = _normalise_dynamic_axes(dynamic_axes or {})
    _check_on_cpu(model, inputs)

    was_training = model.training
    model.eval()
    try:
        with no_grad():
            tape, out = record_forward(model, args, kwargs)
            alt = _resized_inputs(args, kwargs, inputs, input_names, dynamic)
            if alt is None:
                alt_tape, alt_out, alt_inputs = tape, out, inputs
            else:
                alt_tape, alt_out = _record_resized(model, *alt)
                alt_inputs = [a for a in (*alt[0], *alt[1].values()) if isinstance(a, Tensor)]
    finally:
        model.train(was_training)

    proto = _build(model, tape, alt_tape, out, alt_out, inputs, alt_inputs, input_names, output_names,
                   dynamic, opset, export_params)
    onnx.checker.check_model(proto)
    if verbose:
        print(onnx.helper.printable_graph(proto.graph))
    _write(proto, f)
    return proto


def _check_on_cpu(model, inputs) -> None:
    """The exporter reads values on the host: a model or input on a GPU is refused with the fix."""
    for t in [*inputs, *model.parameters(), *model.buffers()]:
        if t._data.__class__ is not np.ndarray:
            raise RuntimeError("numtorch.onnx.export: the model and its inputs must be on the CPU "
                               f"(found a tensor on {t.device}); export model.cpu() with CPU inputs -- "
                               "the file runs anywhere")


def _normalise_dynamic_axes(dynamic_axes: dict) -> dict:
    """{name: {axis: label}} from torch's two spellings ({name: {0: "batch"}} or {name: [0]})."""
    out = {}
    for name, axes in dynamic_axes.items():
        if isinstance(axes, dict):
            out[name] = {int(a): str(label) for a, label in axes.items()}
        else:
            out[name] = {int(a): f"{name}_dynamic_axes_{i + 1}" for i, a in enumerate(axes)}
    return out


def _resized_inputs(args, kwargs, inputs, input_names, dynamic):
    """(args, kwargs) with every dynamic axis of the tensor inputs grown (distinct new sizes per label), or
    None."""
    sizes = {}
    for t, name in zip(inputs, input_names):
        for axis, label in dynamic.get(name, {}).items():
            if axis >= t.ndim:
                raise ValueError(f"numtorch.onnx.export: dynamic axis {axis} of input '{name}' but it has "
                                 f"{t.ndim} dims")
            sizes.setdefault(label, t.shape[axis])
    if not sizes:
        return None
    taken, new = set(), {}
    for label, n in sizes.items():
        m = n + 1
        while m in taken or m in sizes.values():
            m += 1
        taken.add(m)
        new[label] = m
    names = {id(t): name for t, name in zip(inputs, input_names)}

    def resized(a):
        if not isinstance(a, Tensor):
            return a
        data = a._data
        for axis, label in dynamic.get(names.get(id(a)), {}).items():
            idx = np.arange(new[label]) % data.shape[axis]  # repeats existing values (valid token ids)
            data = np.take(data, idx, axis=axis)
        return from_numpy(np.ascontiguousarray(data))

    return tuple(resized(a) for a in args), {k: resized(v) for k, v in kwargs.items()}


def _record_resized(model, alt_args, alt_kwargs):
    """The second recording, on inputs with grown dynamic axes."""
    try:
        return record_forward(model, alt_args, alt_kwargs)
    except Exception as first:  # noqa: BLE001 - e.g. a sequence longer than a GPT's block size
        raise OnnxExporterError(f"numtorch.onnx.export: the model failed on inputs with resized dynamic "
                                f"axes ({first}); export without dynamic_axes or with a shorter example") \
            from first


def _params(model) -> dict:
    """id(tensor) and id(array) -> (state_dict key, tensor) for every parameter and buffer."""
    params = {}
    for key, t in model.state_dict(keep_vars=True).items():
        if isinstance(t, Tensor):
            params.setdefault(id(t), (key, t))
            params.setdefault(id(t._data), (key, t))
    return params


def _build(model, tape, alt_tape, out, alt_out, inputs, alt_inputs, input_names, output_names, dynamic, opset,
           export_params):
    from onnx import helper
    from numtorch.onnx._graph import Graph, onnx_dtype
    from numtorch.onnx.converters import CONVERTERS
    g = Graph(_params(model), opset, export_params)
    for t, alt, name in zip(inputs, alt_inputs, input_names):
        g.bind(t, name, alt)
        g.graph_inputs.append(name)
    if len(alt_tape.ops) != len(tape.ops) or any(a.cls is not b.cls for a, b in zip(tape.ops, alt_tape.ops)):
        raise OnnxExporterError("numtorch.onnx.export: the model runs different ops for different sizes of "
                                "the dynamic axes; export without dynamic_axes")
    for op, alt in zip(tape.ops, alt_tape.ops):
        op.alt = alt
        tensors = [a for a in op.args if isinstance(a, (Tensor, np.ndarray))]
        if tensors and not any(g.is_traced(a) for a in tensors) and _same_outputs(op, alt):
            continue  # all inputs are constants and so is the output (folded)
        convert = CONVERTERS.get(op.cls)
        if convert is None:
            raise UnsupportedOperatorError(_unsupported(model, op))
        names = convert(g, op)
        names = names if isinstance(names, tuple) else (names,)
        for t, t2, name in zip(op.outputs, alt.outputs, names):
            g.bind(t, name, t2)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    alt_outs = alt_out if isinstance(alt_out, (tuple, list)) else (alt_out,)
    pairs = [(o, a) for o, a in zip(outs, alt_outs) if isinstance(o, Tensor)]
    output_names = list(output_names or [])
    output_names += [f"output_{i}" for i in range(len(output_names), len(pairs))]
    for (o, _), name in zip(pairs, output_names):
        src = g.value(o)
        g.nodes.append(helper.make_node("Identity", [src], [name], name=g.fresh("n_output")))
    # a size given in dynamic_axes, or one that differed between the runs, is symbolic
    def value_info(name, t, alt):
        dims = [dynamic.get(name, {}).get(i, d if d == d2 else f"{name}_dim_{i}")
                for i, (d, d2) in enumerate(zip(t.shape, alt.shape))]
        return helper.make_tensor_value_info(name, onnx_dtype(t._data.dtype), dims)
    graph = helper.make_graph(g.nodes, type(model).__name__,
                              [value_info(n, t, a) for n, t, a in zip(input_names, inputs, alt_inputs)]
                              + [value_info(k, t, t) for k, t in g.param_inputs],
                              [value_info(n, o, a) for (o, a), n in zip(pairs, output_names)],
                              initializer=list(g.initializers.values()))
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="numtorch", producer_version=__version__)
    proto.ir_version = min(proto.ir_version, 10)  # readable by onnxruntime releases of the last years
    return proto


def _same_outputs(op, alt) -> bool:
    """The op gave the same values in both recordings (its output does not depend on the dynamic axes)."""
    for a, b in zip(op.outputs, alt.outputs):
        if a is not b and (a.shape != b.shape or not np.array_equal(a._data, b._data, equal_nan=True)):
            return False
    return True


def _unsupported(model, op) -> str:
    path = op.path or "(the model itself)"
    module = dict(model.named_modules()).get(op.path)
    where = f"module '{path}' ({type(module).__name__})" if module is not None else f"module '{path}'"
    return (f"ONNX export: no converter for op {op.cls.__name__} ({op.cls.__module__}), used in {where}; "
            f"numtorch.onnx.converters.CONVERTERS lists the ops that export")


def _write(proto, f) -> None:
    """Writes to ``f``: a path (through a temporary file renamed into place) or a binary file object."""
    data = proto.SerializeToString()
    if hasattr(f, "write"):
        f.write(data)
        return
    path = os.fspath(f)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".onnx-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


