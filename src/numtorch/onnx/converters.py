"""One small function per numtorch op: the ONNX nodes that compute it.

``CONVERTERS[op class](g, op)`` writes the nodes of one recorded ``Op`` into the ``Graph`` ``g`` and
returns the name of its output (a tuple of names for several outputs).  ``arg(g, op, i)`` is the
value name of the op's i-th argument; ``op.alt`` is the same op in the exporter's second run (the
one with resized dynamic axes), so a converter sees which of its sizes depend on them.
Fused fast paths (``CausalAttention``) are decomposed into plain ONNX ops.
"""
from __future__ import annotations

import math

import numpy as np

from numtorch.onnx._graph import onnx_dtype
from numtorch.onnx.errors import OnnxExporterError
from numtorch.tensor import Tensor
from numtorch.ops import (activation as A, attention as At, conv as Cv, convert as Cn, elementwise as E,
                          embedding as Em, index as I, linalg as La, normalization as N, pool as P,
                          reduce as R, rnn as Rn, shape as S)

CONVERTERS: dict = {}


def converts(*classes):
    """Registers the decorated function as the converter of ``classes``."""
    def register(fn):
        for c in classes:
            CONVERTERS[c] = fn
        return fn
    return register


def arg(g, op, i: int) -> str:
    """The value name of argument ``i`` (a tensor, an array or a constant)."""
    return g.value(op.args[i], op.alt.args[i])


def out_dtype(op):
    return op.outputs[0]._data.dtype


def _shape(op, i: int) -> tuple:
    a = op.args[i]
    return tuple((a._data if isinstance(a, Tensor) else np.asarray(a)).shape)


def _alt_shape(op, i: int) -> tuple:
    a = op.alt.args[i]
    return tuple((a._data if isinstance(a, Tensor) else np.asarray(a)).shape)


def _operand(g, op, i: int, dtype) -> str:
    """Argument ``i`` as a value of ``dtype``: a Python number becomes a constant, another dtype is cast."""
    a = op.args[i]
    if not isinstance(a, (Tensor, np.ndarray)):
        return g.scalar(a, dtype)
    name = arg(g, op, i)
    if g.dtypes.get(name, dtype) != dtype:
        name = g.node("Cast", [name], to=onnx_dtype(dtype))
    return name


def _axis(d: int, ndim: int) -> int:
    return d + ndim if d < 0 else d


# ---- elementwise ----

_BINARY = {E.Add: "Add", E.Sub: "Sub", E.Mul: "Mul", E.Div: "Div", E.Maximum: "Max", E.Minimum: "Min"}


@converts(*_BINARY)
def _binary(g, op):
    dt = out_dtype(op)
    a, b = _operand(g, op, 0, dt), _operand(g, op, 1, dt)
    return g.node(_BINARY[op.cls], [a, b])


@converts(E.Pow)
def _pow(g, op):
    dt = out_dtype(op)
    return g.node("Pow", [_operand(g, op, 0, dt), _operand(g, op, 1, dt)])


_UNARY = {E.Neg: "Neg", E.Abs: "Abs", E.Sqrt: "Sqrt", E.Exp: "Exp", E.Log: "Log", E.Reciprocal: "Reciprocal",
          E.Sin: "Sin", E.Cos: "Cos", E.Tan: "Tan", E.Tanh: "Tanh", E.Sigmoid: "Sigmoid", E.Relu: "Relu",
          E.Erf: "Erf"}


@converts(*_UNARY)
def _unary(g, op):
    return g.node(_UNARY[op.cls], [arg(g, op, 0)])


@converts(E.Rsqrt)
def _rsqrt(g, op):  # 1 / sqrt(x)
    return g.node("Reciprocal", [g.node("Sqrt", [arg(g, op, 0)])])


@converts(E.Square)
def _square(g, op):
    x = arg(g, op, 0)
    return g.node("Mul", [x, x])


@converts(E.Log1p)
def _log1p(g, op):
    x = arg(g, op, 0)
    return g.node("Log", [g.node("Add", [x, g.scalar(1, out_dtype(op))])])


@converts(E.Expm1)
def _expm1(g, op):
    return g.node("Sub", [g.node("Exp", [arg(g, op, 0)]), g.scalar(1, out_dtype(op))])


@converts(E.Clamp)
def _clamp(g, op):
    """min(max(x, lo), hi): Max and Min broadcast, so the bounds may be numbers or tensors."""
    dt, y = out_dtype(op), arg(g, op, 0)
    for i, onnx_op in ((1, "Max"), (2, "Min")):
        if op.args[i] is not None:
            y = g.node(onnx_op, [y, _operand(g, op, i, dt)])
    return y if y != arg(g, op, 0) else g.node("Identity", [y])


@converts(E.Where)
def _where(g, op):
    dt = out_dtype(op)
    cond = arg(g, op, 0)
    if g.dtypes.get(cond) != np.bool_:
        cond = g.node("Cast", [cond], to=onnx_dtype(np.bool_))
    return g.node("Where", [cond, _operand(g, op, 1, dt), _operand(g, op, 2, dt)])


# ---- activations ----

def _gelu(g, x: str, dtype) -> str:
    """GELU(x) = x/2 (1 + erf(x / sqrt 2))."""
    e = g.node("Erf", [g.node("Mul", [x, g.scalar(1 / math.sqrt(2), dtype)])])
    return g.node("Mul", [g.node("Mul", [x, g.scalar(0.5, dtype)]), g.node("Add", [e, g.scalar(1, dtype)])])


@converts(A.Gelu)
def _gelu_op(g, op):
    return _gelu(g, arg(g, op, 0), out_dtype(op))


@converts(A.GeluTanh)
def _gelu_tanh(g, op):  # x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    x, dt = arg(g, op, 0), out_dtype(op)
    x3 = g.node("Mul", [g.node("Mul", [x, x]), x])
    inner = g.node("Mul", [g.node("Add", [x, g.node("Mul", [x3, g.scalar(0.044715, dt)])]),
                           g.scalar(math.sqrt(2 / math.pi), dt)])
    return g.node("Mul", [g.node("Mul", [x, g.scalar(0.5, dt)]),
                          g.node("Add", [g.node("Tanh", [inner]), g.scalar(1, dt)])])


@converts(A.Silu)
def _silu(g, op):  # x sigmoid(x)
    x = arg(g, op, 0)
    return g.node("Mul", [x, g.node("Sigmoid", [x])])


@converts(A.Mish)
def _mish(g, op):  # x tanh(softplus(x))
    x = arg(g, op, 0)
    return g.node("Mul", [x, g.node("Tanh", [g.node("Softplus", [x])])])


@converts(A.LeakyRelu)
def _leaky_relu(g, op):
    slope = op.kwargs.get("slope", op.args[1] if len(op.args) > 1 else 0.01)
    return g.node("LeakyRelu", [arg(g, op, 0)], alpha=float(slope))


@converts(A.Elu)
def _elu(g, op):
    alpha = op.kwargs.get("alpha", op.args[1] if len(op.args) > 1 else 1.0)
    return g.node("Elu", [arg(g, op, 0)], alpha=float(alpha))


@converts(A.Hardtanh)
def _hardtanh(g, op):
    dt = out_dtype(op)
    lo = op.kwargs.get("lo", op.args[1] if len(op.args) > 1 else -1.0)
    hi = op.kwargs.get("hi", op.args[2] if len(op.args) > 2 else 1.0)
    return g.node("Clip", [arg(g, op, 0), g.scalar(lo, dt), g.scalar(hi, dt)])


@converts(A.Hardsigmoid)
def _hardsigmoid(g, op):  # relu6(x + 3) / 6
    return g.node("HardSigmoid", [arg(g, op, 0)], alpha=1 / 6, beta=0.5)


@converts(A.Hardswish)
def _hardswish(g, op):
    return g.node("HardSwish", [arg(g, op, 0)])


@converts(A.LogSigmoid)
def _logsigmoid(g, op):  # log sigmoid(x) = -softplus(-x)
    return g.node("Neg", [g.node("Softplus", [g.node("Neg", [arg(g, op, 0)])])])


@converts(A.Softplus)
def _softplus(g, op):  # log(1 + exp(beta x)) / beta, linear above threshold
    beta = op.kwargs.get("beta", op.args[1] if len(op.args) > 1 else 1.0)
    threshold = op.kwargs.get("threshold", op.args[2] if len(op.args) > 2 else 20.0)
    x, dt = arg(g, op, 0), out_dtype(op)
    bx = g.node("Mul", [x, g.scalar(beta, dt)])
    soft = g.node("Div", [g.node("Softplus", [bx]), g.scalar(beta, dt)])
    return g.node("Where", [g.node("Greater", [bx, g.scalar(threshold, dt)]), x, soft])


@converts(A.Softmax)
def _softmax(g, op):
    return g.node("Softmax", [arg(g, op, 0)], axis=int(op.args[1] if len(op.args) > 1 else op.kwargs["dim"]))


@converts(A.LogSoftmax)
def _log_softmax(g, op):
    return g.node("LogSoftmax", [arg(g, op, 0)],
                  axis=int(op.args[1] if len(op.args) > 1 else op.kwargs["dim"]))


# ---- linear algebra ----

def _linear(g, x: str, W: str, b) -> str:
    """y = x W^T + b."""
    y = g.node("MatMul", [x, g.node("Transpose", [W], perm=[1, 0])])
    return y if b is None else g.node("Add", [y, b])


@converts(A.Linear)
def _linear_op(g, op):
    return _linear(g, arg(g, op, 0), arg(g, op, 1), None if op.args[2] is None else arg(g, op, 2))


@converts(La.Matmul)
def _matmul(g, op):
    return g.node("MatMul", [arg(g, op, 0), arg(g, op, 1)])


@converts(La.Einsum)
def _einsum(g, op):
    return g.node("Einsum", [arg(g, op, i) for i in range(len(op.args))], equation=op.kwargs["spec"])


# ---- convolution and pooling ----

@converts(Cv.Conv2d)
def _conv(g, op):
    geo = op.args[3]
    (pt, pb), (pl, pr) = geo.pads
    ins = [arg(g, op, 0), arg(g, op, 1)] + ([] if op.args[2] is None else [arg(g, op, 2)])
    return g.node("Conv", ins, kernel_shape=[geo.kh, geo.kw], strides=list(geo.stride), pads=[pt, pl, pb, pr],
                  dilations=list(geo.dil), group=geo.g)


@converts(Cv.ConvTranspose2d)
def _conv_transpose(g, op):
    geo = op.args[3]
    (pt, pb), (pl, pr) = geo.pads
    h, w = _shape(op, 0)[2:]
    s, d = geo.stride, geo.dil
    # output size = (h - 1) s - 2p + d (k - 1) + output_padding + 1; geo.h, geo.w hold the output size
    oph = geo.h - ((h - 1) * s[0] - pt - pb + d[0] * (geo.kh - 1) + 1)
    opw = geo.w - ((w - 1) * s[1] - pl - pr + d[1] * (geo.kw - 1) + 1)
    ins = [arg(g, op, 0), arg(g, op, 1)] + ([] if op.args[2] is None else [arg(g, op, 2)])
    return g.node("ConvTranspose", ins, kernel_shape=[geo.kh, geo.kw], strides=list(s), pads=[pt, pl, pb, pr],
                  dilations=list(d), group=geo.g, output_padding=[oph, opw])


@converts(P.MaxPool2d)
def _max_pool(g, op):
    geo = op.args[1]
    (pt, pb), (pl, pr) = geo.pads
    return g.node("MaxPool", [arg(g, op, 0)], kernel_shape=list(geo.k), strides=list(geo.s),
                  pads=[pt, pl, pb, pr], dilations=list(geo.d))


@converts(P.AvgPool2d)
def _avg_pool(g, op):
    geo, div = op.args[1], op.args[2]
    (pt, pb), (pl, pr) = geo.pads
    x = arg(g, op, 0)
    if pt or pb or pl or pr:  # numtorch's windows include the zero padding; the divisor says how much counts
        x = g.node("Pad", [x, g.i64([0, 0, pt, pl, 0, 0, pb, pr])])
    k = list(geo.k)
    total = g.node("Mul", [g.node("AveragePool", [x], kernel_shape=k, strides=list(geo.s)),
                           g.scalar(k[0] * k[1], out_dtype(op))])
    return g.node("Div", [total, g.const(np.asarray(div, dtype=out_dtype(op)))])


@converts(P.AdaptiveMaxPool2d)
def _adaptive_max_pool(g, op):  # bin i of n covers rows floor(i h / n) .. ceil((i + 1) h / n)
    x, (h, w), oh, ow = arg(g, op, 0), _shape(op, 0)[2:], op.args[1], op.args[2]
    rows = []
    for i in range(oh):
        cols = []
        for j in range(ow):
            r0, r1 = (i * h) // oh, -((-(i + 1) * h) // oh)
            c0, c1 = (j * w) // ow, -((-(j + 1) * w) // ow)
            win = g.node("Slice", [x, g.i64([r0, c0]), g.i64([r1, c1]), g.i64([2, 3])])
            cols.append(g.node("ReduceMax", [win, g.i64([2, 3])], keepdims=1))
        rows.append(g.node("Concat", cols, axis=3) if len(cols) > 1 else cols[0])
    return g.node("Concat", rows, axis=2) if len(rows) > 1 else rows[0]


# ---- normalisation, embedding, attention ----

@converts(N.LayerNormFunction)
def _layer_norm(g, op):
    x, w, b, k, eps = op.args
    shape = _shape(op, 0)[-k:]
    dt = out_dtype(op)
    scale = arg(g, op, 1) if w is not None else g.const(np.ones(shape, dt))
    ins = [arg(g, op, 0), scale] + ([arg(g, op, 2)] if b is not None else [])
    return g.node("LayerNormalization", ins, axis=-k, epsilon=float(eps))


@converts(Em.EmbeddingFunction)
def _embedding(g, op):
    idx = arg(g, op, 1)
    if g.dtypes.get(idx) not in (np.dtype(np.int64), np.dtype(np.int32)):
        idx = g.node("Cast", [idx], to=onnx_dtype(np.int64))
    return g.node("Gather", [arg(g, op, 0), idx], axis=0)


@converts(At.ScaledMaskedSoftmax)
def _scaled_masked_softmax(g, op):  # softmax(x scale + mask)
    dt = out_dtype(op)
    scale = op.kwargs.get("scale", op.args[2] if len(op.args) > 2 else 1.0)
    dim = op.kwargs.get("dim", op.args[3] if len(op.args) > 3 else -1)
    z = arg(g, op, 0)
    if scale != 1.0:
        z = g.node("Mul", [z, g.scalar(scale, dt)])
    if op.args[1] is not None:
        z = g.node("Add", [z, _operand(g, op, 1, dt)])
    return g.node("Softmax", [z], axis=int(dim))


def causal_mask(g, T: str, dtype) -> str:
    """(T, T): 0 where key j <= query i, -inf above the diagonal (``T`` a 1-D int64 value)."""
    from numtorch.onnx._graph import _tensor
    full = g.node("ConstantOfShape", [g.node("Concat", [T, T], axis=0)],
                  value=_tensor(np.array([-np.inf], dtype)))
    return g.node("Trilu", [full, g.i64([1])], upper=1)


@converts(At.CausalAttention)
def _causal_attention(g, op):
    """q, k, v (B, H, T, D) -> softmax(q k^T scale + causal mask) v."""
    q, k, v, scale = arg(g, op, 0), arg(g, op, 1), arg(g, op, 2), op.args[3]
    dt = out_dtype(op)
    s = g.node("Mul", [g.node("MatMul", [q, g.node("Transpose", [k], perm=[0, 1, 3, 2])]),
                       g.scalar(scale, dt)])
    T = g.node("Shape", [q], start=2, end=3)
    p = g.node("Softmax", [g.node("Add", [s, causal_mask(g, T, dt)])], axis=-1)
    return g.node("MatMul", [p, v])


# ---- shapes ----

def reshape_target(g, op, x: str, s1, s2) -> str:
    """The ONNX Reshape target for a size ``s1`` (run 1) / ``s2`` (run 2) of input ``x``.

    Sizes equal in both runs are constants; a shape-dependent one that equals the input's size at
    the same position is 0 (copy), one other becomes -1, any further ones a ``Shape`` of the input.
    """
    if tuple(s1) == tuple(s2):
        return g.i64(list(s1))
    in1, in2 = g.shapes[x]
    target, used_minus_one = [], False
    for i, (a, b) in enumerate(zip(s1, s2)):
        if a == b:
            target.append(a)
        elif i < len(in1) and in1[i] == a and in2[i] == b:
            target.append(0)
        elif not used_minus_one:
            target.append(-1)
            used_minus_one = True
        else:
            target.append(None)
    if None not in target:
        return g.i64(target)
    parts = [g.i64([t]) if t is not None else g.dim(a, b, [x]) for t, a, b in zip(target, s1, s2)]
    return g.node("Concat", parts, axis=0)


@converts(S.Reshape, S.View)
def _reshape(g, op):
    x = arg(g, op, 0)
    return g.node("Reshape", [x, reshape_target(g, op, x, op.outputs[0].shape, op.alt.outputs[0].shape)])


@converts(S.Permute)
def _permute(g, op):
    nd = len(_shape(op, 0))
    return g.node("Transpose", [arg(g, op, 0)], perm=[_axis(d, nd) for d in op.args[1]])


@converts(S.BroadcastTo)
def _expand(g, op):
    x = arg(g, op, 0)
    return g.node("Expand", [x, g.sizes(op.outputs[0].shape, op.alt.outputs[0].shape, [x])])


@converts(S.Cat)
def _cat(g, op):
    return g.node("Concat", [arg(g, op, i) for i in range(len(op.args))],
                  axis=_axis(op.kwargs["dim"], len(_shape(op, 0))))


@converts(S.Stack)
def _stack(g, op):
    d = _axis(op.kwargs["dim"], len(_shape(op, 0)) + 1)
    return g.node("Concat", [g.node("Unsqueeze", [arg(g, op, i), g.i64([d])]) for i in range(len(op.args))],
                  axis=d)


@converts(S.ConstantPad)
def _pad(g, op):
    widths, value = op.args[1], op.args[2]
    pads = [w[0] for w in widths] + [w[1] for w in widths]
    return g.node("Pad", [arg(g, op, 0), g.i64(pads), g.scalar(value, out_dtype(op))])


@converts(S._Tri)
def _tri(g, op):
    return g.node("Trilu", [arg(g, op, 0), g.i64([op.args[1]])], upper=int(bool(op.args[2])))


@converts(S.Flip)
def _flip(g, op):
    dims = [_axis(d, len(_shape(op, 0))) for d in op.args[1]]
    n = len(dims)
    big = np.iinfo(np.int64)
    return g.node("Slice", [arg(g, op, 0), g.i64([-1] * n), g.i64([big.min] * n), g.i64(dims),
                            g.i64([-1] * n)])


@converts(S.Split)
def _split(g, op):
    sizes, dim = op.args[1], op.args[2]
    if tuple(op.alt.args[1]) != tuple(sizes):
        raise OnnxExporterError(f"split: the piece sizes {list(sizes)} depend on a dynamic axis "
                                f"(dim {dim}); export with that axis static")
    if len(sizes) == 1:
        return (g.node("Identity", [arg(g, op, 0)]),)
    return tuple(g.node("Split", [arg(g, op, 0), g.i64(list(sizes))], n_out=len(sizes), axis=dim))


@converts(Rn.ChunkLast)
def _chunk_last(g, op):
    n = op.args[1]
    parts = [o.shape[-1] for o in op.outputs]
    return (tuple(g.node("Split", [arg(g, op, 0), g.i64(parts)], n_out=n, axis=-1)) if n > 1
            else (arg(g, op, 0),))


@converts(Cn.Clone)
def _clone(g, op):
    return g.node("Identity", [arg(g, op, 0)])


@converts(Cn.ToCopy)
def _to_copy(g, op):
    return g.node("Cast", [arg(g, op, 0)], to=onnx_dtype(out_dtype(op)))


# ---- indexing ----

@converts(I.BasicIndex)
def _basic_index(g, op):
    """x[key] for a key of ints, slices, None and Ellipsis: Slice, then Squeeze (ints), Unsqueeze (None)."""
    x = arg(g, op, 0)
    key, alt_key = _key(op.args[1]), _key(op.alt.args[1])
    s1, s2 = g.shapes[x]
    nd = len(s1)
    key, alt_key = _expand_ellipsis(key, nd), _expand_ellipsis(alt_key, nd)
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    axis, out_axis = 0, 0
    for k, k2 in zip(key, alt_key):
        if k is None:
            unsqueeze.append(out_axis)
            out_axis += 1
            continue
        if isinstance(k, slice):
            r1, r2 = k.indices(s1[axis]), k2.indices(s2[axis])
            if r1 != (0, s1[axis], 1) or r2 != (0, s2[axis], 1):
                starts.append((r1[0], r2[0]))
                ends.append((_slice_end(r1), _slice_end(r2)))
                axes.append(axis)
                steps.append(r1[2])
            out_axis += 1
        else:  # an int: a slice of one, then squeezed
            i1, i2 = int(k), int(k2)
            i1, i2 = (i1 + s1[axis] if i1 < 0 else i1), (i2 + s2[axis] if i2 < 0 else i2)
            starts.append((i1, i2))
            ends.append((i1 + 1, i2 + 1))
            axes.append(axis)
            steps.append(1)
            squeeze.append(axis)
        axis += 1
    y = x
    if axes:
        st = g.node("Concat", [g.dim(a, b, [x]) for a, b in starts], axis=0) \
            if any(a != b for a, b in starts) else g.i64([a for a, _ in starts])
        en = g.node("Concat", [g.dim(a, b, [x]) if a != b else g.i64([a]) for a, b in ends], axis=0) \
            if any(a != b for a, b in ends) else g.i64([a for a, _ in ends])
        y = g.node("Slice", [y, st, en, g.i64(axes), g.i64(steps)])
    if squeeze:
        y = g.node("Squeeze", [y, g.i64(squeeze)])
    if unsqueeze:
        y = g.node("Unsqueeze", [y, g.i64(unsqueeze)])
    return y if y is not x else g.node("Identity", [x])


def _slice_end(r) -> int:
    """The ONNX end of slice (start, stop, step); a negative step running past 0 ends at INT64_MIN."""
    start, stop, step = r
    return np.iinfo(np.int64).min if step < 0 and stop < 0 else stop


def _key(key) -> tuple:
    return key if isinstance(key, tuple) else (key,)


def _expand_ellipsis(key: tuple, nd: int) -> tuple:
    """The key with its Ellipsis (or the missing trailing dims) written as full slices."""
    used = sum(1 for k in key if k is not None and k is not Ellipsis)
    out = []
    for k in key:
        if k is Ellipsis:
            out.extend([slice(None)] * (nd - used))
            used = nd
        else:
            out.append(k)
    out.extend([slice(None)] * (nd - sum(1 for k in out if k is not None)))
    return tuple(out)


@converts(I.IndexSelect)
def _index_select(g, op):
    return g.node("Gather", [arg(g, op, 0), arg(g, op, 1)], axis=_axis(op.args[2], len(_shape(op, 0))))


@converts(I.Gather)
def _gather(g, op):
    return g.node("GatherElements", [arg(g, op, 0), arg(g, op, 1)],
                  axis=_axis(op.args[2], len(_shape(op, 0))))


# ---- reductions ----

def _reduce(g, op, onnx_op: str, dims, keepdim):
    x = arg(g, op, 0)
    nd = len(_shape(op, 0))
    dims = range(nd) if dims is None else (dims if isinstance(dims, (tuple, list)) else (dims,))
    axes = [_axis(d, nd) for d in dims]
    # before opset 18 the other reductions take axes as an attribute
    if g.opset < 18 and onnx_op != "ReduceSum":
        return g.node(onnx_op, [x], axes=axes, keepdims=int(bool(keepdim)))
    return g.node(onnx_op, [x, g.i64(axes)], keepdims=int(bool(keepdim)))


@converts(R.Sum)
def _sum(g, op):
    y = _reduce(g, op, "ReduceSum", op.args[1], op.args[2])
    return (y if g.dtypes.get(arg(g, op, 0)) == out_dtype(op)
            else g.node("Cast", [y], to=onnx_dtype(out_dtype(op))))


@converts(R.Mean)
def _mean(g, op):
    return _reduce(g, op, "ReduceMean", op.args[1], op.args[2])


@converts(R.Amax)
def _amax(g, op):
    return _reduce(g, op, "ReduceMin" if op.args[3] else "ReduceMax", op.args[1], op.args[2])


@converts(R.LogSumExp)
def _logsumexp(g, op):
    return _reduce(g, op, "ReduceLogSumExp", op.args[1], op.args[2])
