"""``Graph``: the ONNX graph under construction, with names for every value the tape saw.

A value is known by the Python id of its tensor (or of the tensor's array, for ops that received raw
arrays).  Model parameters and buffers become initializers named by their ``state_dict`` keys;
other tensors that no recorded op produced are constants (folded: an op whose inputs are all
constants is not written; its output is a constant too).

Dynamic axes: the exporter records the forward twice, the second time with every dynamic axis
resized.  Each op then has an ``alt``: the same op in the second run.  A size that differs between
the two runs is shape-dependent and is written as a ``Shape`` of a value whose dimension matched it
in both runs (``dim``); a constant that differs is recognised as ``arange(n)`` or a causal mask.
"""
from __future__ import annotations

import numpy as np

from numtorch.onnx.errors import OnnxExporterError
from numtorch.tensor import Tensor

_ONNX_DTYPES = None


def onnx_dtype(dtype) -> int:
    """The ``onnx.TensorProto`` type of a NumPy dtype."""
    from onnx import helper
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


class Graph:
    """Nodes, initializers and value names of the graph being built."""

    def __init__(self, params: dict, opset: int, export_params: bool = True) -> None:
        import onnx
        self.onnx = onnx
        self.opset = opset
        self.nodes: list = []
        self.initializers: dict = {}  # name -> TensorProto
        self.names: dict = {}  # id(tensor or array) -> value name
        self.shapes: dict = {}  # value name -> (shape in run 1, shape in run 2)
        self.dtypes: dict = {}  # value name -> numpy dtype
        self.params = params  # id(parameter tensor or its array) -> (state_dict key, tensor)
        self.graph_inputs: list = []  # value names of the graph's inputs
        self.export_params = export_params  # False: parameters are graph inputs instead of initializers
        self.param_inputs: list = []  # (state_dict key, tensor) of parameters made graph inputs
        self._count = 0
        self._const_cache: dict = {}

    # ---- names ----
    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def name_of(self, obj):
        """The value name of a tensor/array the graph has seen, or None."""
        n = self.names.get(id(obj))
        if n is None and isinstance(obj, Tensor):
            n = self.names.get(id(obj._data))
        return n

    def is_traced(self, obj) -> bool:
        """True when ``obj`` comes from the graph's inputs or is a parameter/buffer (not a constant)."""
        return self.name_of(obj) is not None or self._param(obj) is not None

    def _param(self, obj):
        p = self.params.get(id(obj))
        if p is None and isinstance(obj, Tensor):
            p = self.params.get(id(obj._data))
        return p

    def bind(self, obj, name: str, alt=None) -> None:
        """Records that tensor ``obj`` (and its ``alt`` in the second run) is the value ``name``."""
        self.names[id(obj)] = name
        data = obj._data if isinstance(obj, Tensor) else obj
        self.names[id(data)] = name
        alt_data = data if alt is None else (alt._data if isinstance(alt, Tensor) else alt)
        self.shapes[name] = (tuple(data.shape), tuple(alt_data.shape))
        self.dtypes[name] = np.dtype(data.dtype)

    # ---- values ----
    def value(self, obj, alt=None) -> str:
        """The name of a value: a traced one, a parameter's initializer or a (new) constant."""
        n = self.name_of(obj)
        if n is not None:
            return n
        p = self._param(obj)
        if p is not None:
            key, tensor = p
            if self.export_params:
                self.add_initializer(key, tensor._data)
            else:
                self.param_inputs.append((key, tensor))
            self.bind(tensor, key)
            return key
        data = obj._data if isinstance(obj, Tensor) else np.asarray(obj)
        alt_data = data if alt is None else (alt._data if isinstance(alt, Tensor) else np.asarray(alt))
        if data.shape != alt_data.shape or not np.array_equal(data, alt_data, equal_nan=True):
            return self._dynamic_constant(data, alt_data)
        return self.const(data)

    def const(self, array, hint: str = "const") -> str:
        """A constant initializer holding ``array`` (small repeated constants are shared)."""
        array = np.asarray(array)
        key = None
        if array.size <= 16:
            key = (array.dtype.str, array.shape, array.tobytes())
            if key in self._const_cache:
                return self._const_cache[key]
        name = self.fresh(hint)
        self.add_initializer(name, array)
        self.shapes[name] = (array.shape, array.shape)
        self.dtypes[name] = array.dtype
        if key is not None:
            self._const_cache[key] = name
        return name

    def i64(self, values) -> str:
        """A 1-D int64 constant."""
        return self.const(np.asarray(values, dtype=np.int64).reshape(-1), "ints")

    def scalar(self, v, dtype) -> str:
        """A 0-d constant of ``dtype`` (a Python number beside a tensor keeps the tensor's dtype)."""
        return self.const(np.asarray(v, dtype=dtype), "scalar")

    def add_initializer(self, name: str, array) -> None:
        from onnx import numpy_helper
        a = np.asarray(array)
        if not a.flags.c_contiguous:
            a = np.ascontiguousarray(a)
        self.initializers[name] = numpy_helper.from_array(a, name)

    # ---- nodes ----
    def node(self, op_type: str, inputs, n_out: int = 1, **attrs):
        """Appends a node; returns its output name (or a list of names when ``n_out > 1``)."""
        from onnx import helper
        outs = [self.fresh(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, [("" if i is None else i) for i in inputs], outs,
                                           name=self.fresh("n_" + op_type), **attrs))
        return outs[0] if n_out == 1 else outs

    # ---- shape-dependent sizes ----
    def dim(self, v1: int, v2: int, candidates=()) -> str:
        """A 1-D int64 value holding a size that was ``v1`` in run 1 and ``v2`` in run 2.

        Equal sizes are constants; a differing one is a dimension (or a product of two) of one of
        the ``candidates`` (value names, searched first) or of a graph input whose size matched in both runs.
        """
        if v1 == v2:
            return self.i64([v1])
        pool = [c for c in candidates if c in self.shapes] + self.graph_inputs
        for name in pool:
            s1, s2 = self.shapes[name]
            for j, (a, b) in enumerate(zip(s1, s2)):
                if a == v1 and b == v2:
                    return self.node("Shape", [name], start=j, end=j + 1)
        for name in pool:
            s1, s2 = self.shapes[name]
            for i in range(len(s1)):
                for j in range(i + 1, len(s1)):
                    if s1[i] * s1[j] == v1 and s2[i] * s2[j] == v2:
                        a = self.node("Shape", [name], start=i, end=i + 1)
                        b = self.node("Shape", [name], start=j, end=j + 1)
                        return self.node("Mul", [a, b])
        raise OnnxExporterError(
            f"ONNX export: a size ({v1}, then {v2} with other input sizes) depends on the dynamic axes in a "
            f"way the exporter cannot express as a dimension of a tensor; export without dynamic_axes")

    def sizes(self, s1, s2, candidates=()) -> str:
        """A 1-D int64 shape value for sizes ``s1`` (run 1) / ``s2`` (run 2)."""
        if tuple(s1) == tuple(s2):
            return self.i64(list(s1))
        return self.node("Concat", [self.dim(a, b, candidates) for a, b in zip(s1, s2)], axis=0)

    def _dynamic_constant(self, a, b) -> str:
        """A constant whose value depends on the dynamic sizes: ``arange(n)``, ``full(shape, v)`` or a causal
        mask."""
        if a.ndim == 1 and a.dtype.kind in "iu" and np.array_equal(a, np.arange(a.size)) \
                and np.array_equal(b, np.arange(b.size)):
            n = self.node("Squeeze", [self.dim(a.size, b.size), self.i64([0])])
            return self.node("Range", [self.scalar(0, a.dtype),
                                       self.node("Cast", [n], to=onnx_dtype(a.dtype)),
                                       self.scalar(1, a.dtype)])
        if a.size and b.size and a.ndim == b.ndim and np.all(a == a.flat[0]) and np.all(b == a.flat[0]):
            shape = self.sizes(a.shape, b.shape)  # full(shape, v)
            return self.node("ConstantOfShape", [shape], value=_tensor(a.reshape(-1)[:1]))
        if a.ndim >= 2 and all(d == 1 for d in a.shape[:-2]) and a.ndim == b.ndim \
                and _is_causal(a) and _is_causal(b):
            L = self.dim(a.shape[-2], b.shape[-2])
            S = self.dim(a.shape[-1], b.shape[-1])
            shape = self.node("Concat", [self.i64([1] * (a.ndim - 2)), L, S], axis=0)
            if a.dtype == np.bool_:  # True where query i may see key j <= i
                ones = self.node("ConstantOfShape", [shape], value=_tensor(np.ones(1, np.int32)))
                return self.node("Cast", [self.node("Trilu", [ones], upper=0)], to=onnx_dtype(np.bool_))
            full = self.node("ConstantOfShape", [shape], value=_tensor(np.array([-np.inf], a.dtype)))
            return self.node("Trilu", [full, self.i64([1])], upper=1)
        raise OnnxExporterError(
            f"ONNX export: a constant of shape {a.shape} (then {b.shape}) depends on the dynamic axes; only "
            f"arange(n) and causal masks are recognised -- export without dynamic_axes")


def _is_causal(m) -> bool:
    """m (..., L, S) is a causal mask: bool lower-triangular ones, or 0 on/below the diagonal and -inf
    above."""
    L, S = m.shape[-2:]
    keep = np.tril(np.ones((L, S), dtype=bool))
    m2 = m.reshape(L, S)
    if m.dtype == np.bool_:
        return np.array_equal(m2, keep)
    return m.dtype.kind == "f" and bool(np.all(m2[keep] == 0) and np.all(np.isneginf(m2[~keep])))


def _tensor(array):
    from onnx import numpy_helper
    return numpy_helper.from_array(np.asarray(array))
