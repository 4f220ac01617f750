"""Matrix products: matmul (``@``), mm, bmm, mv, dot, outer, einsum; BLAS does the work.

For C = A @ B the gradients are dA = dC @ B^T and dB = A^T @ dC (batch dims summed back
where they were broadcast).
"""
from __future__ import annotations

from numtorch import _dtypes
from numtorch._backend import xp_of
from numtorch.ops import _autocast
from numtorch.autograd.function import Function
from numtorch.ops._util import in_float32_for_bfloat16, reduce_to, sum_to, write_out
from numtorch.ops.shape import Permute
from numtorch.ops.sparse import SparseCOOTensor as _Sparse, sparse_matmul, sparse_mm
from numtorch.tensor import Tensor

__all__ = ["matmul", "mm", "bmm", "mv", "dot", "vdot", "inner", "outer", "ger", "einsum", "addmm",
           "baddbmm", "addmv", "tensordot", "kron", "cross"]


class Matmul(Function):
    @staticmethod
    def forward(ctx, a, b):
        needs = ctx.needs_input_grad
        if needs:  # dA needs B and dB needs A: save only those (an in-place change of the other is fine)
            ctx.save_for_backward(a if needs[1] else None, b if needs[0] else None)
            ctx.shapes = (a.shape, b.shape)
        if a.dtype is _BF16 or b.dtype is _BF16:
            return _dtypes.matmul(a, b)  # a float32 product, rounded
        return a @ b

    @staticmethod
    def backward_arrays(ctx, gy):
        sa, sb = ctx.shapes
        if len(sa) > 1 and len(sb) > 1:  # the two GEMMs on the arrays
            A, B = ctx.saved_arrays
            return _matmul_backward_arrays(A, B, gy, ctx.needs_input_grad, sa, sb)
        return Matmul.backward_on_tensors(ctx, gy)  # (a vector operand)

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.saved_tensors  # (None where that gradient is not needed)
        (sa, sb), (need_a, need_b) = ctx.shapes, ctx.needs_input_grad
        ga = gb = None
        na, nb = len(sa), len(sb)
        if na == 1 and nb == 1:  # dot product
            return (gy * b if need_a else None), (gy * a if need_b else None)
        if need_a:
            bT = Permute.apply(b, _swap_last(nb)) if nb > 1 else b
            if nb == 1:  # (..., m, k) @ (k,) -> (..., m)
                ga = gy.unsqueeze(-1) * b
            elif na == 1:  # (k,) @ (..., k, n) -> (..., n)
                ga = sum_to(Matmul.apply(gy.unsqueeze(-2), bT).squeeze(-2), sa)
            else:
                ga = sum_to(Matmul.apply(gy, bT), sa)
        if need_b:
            aT = Permute.apply(a, _swap_last(na)) if na > 1 else a
            if na == 1:
                gb = sum_to(a.unsqueeze(-1) * gy.unsqueeze(-2), sb)
            elif nb == 1:
                gb = sum_to(Matmul.apply(aT, gy.unsqueeze(-1)).squeeze(-1), sb)
            else:
                gb = sum_to(Matmul.apply(aT, gy), sb)
        return ga, gb


def _matmul_backward_arrays(A, B, G, need, sa, sb):
    """dA = G B^T, dB = A^T G on arrays (batch dims summed back where they were broadcast)."""
    ga = gb = None
    if need[0]:
        ga = reduce_to(_dtypes.matmul(G, B.swapaxes(-1, -2)), sa)
    if need[1]:
        gb = reduce_to(_dtypes.matmul(A.swapaxes(-1, -2), G), sb)
    return ga, gb


_BF16 = _dtypes.bfloat16.np


def _swap_last(nd: int) -> tuple:
    """The permutation that swaps the last two dims (the matrix transpose of a batch)."""
    return tuple(range(nd - 2)) + (nd - 1, nd - 2)


def _check_matmul(op, a, b):
    sa, sb = a._data.shape, b._data.shape
    if len(sa) == 0 or len(sb) == 0:
        raise RuntimeError(f"{op}: both arguments to matmul need to be at least 1D, but they are "
                           f"{len(sa)}D and {len(sb)}D")
    ka = sa[-1]
    kb = sb[-2] if len(sb) >= 2 else sb[0]
    if ka != kb:
        if len(sa) <= 2 and len(sb) <= 2:
            ra = sa if len(sa) == 2 else (1,) + sa
            raise RuntimeError(f"{op}: mat1 and mat2 shapes cannot be multiplied ({ra[0]}x{ra[1]} and "
                               f"{sb[0]}x{sb[1] if len(sb) == 2 else 1}): shapes {tuple(sa)} and {tuple(sb)} "
                               f"({ka} != {kb})")
        raise RuntimeError(f"{op}: shapes {tuple(sa)} and {tuple(sb)} cannot be multiplied ({ka} != {kb})")


def matmul(input, other, *, out=None) -> Tensor:
    """Matrix product with NumPy/PyTorch broadcasting of batch dims; 1-D operands are vectors."""
    if out is not None:
        return write_out(matmul(input, other), out, "matmul")
    if _autocast.active:
        input, other = _autocast.cast("matmul", input, other)
    a, b = input, other
    if a.__class__ is _Sparse or b.__class__ is _Sparse:  # a sparse COO operand: numtorch.ops.sparse
        return sparse_matmul(a, b)
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("matmul: both operands must be tensors (got a Python number)")
    if a._data.dtype != b._data.dtype:  # PyTorch never promotes in a matrix product
        raise RuntimeError(f"matmul: expected both tensors to have the same dtype, but got {a.dtype} and "
                           f"{b.dtype} (shapes {tuple(a.shape)} and {tuple(b.shape)}); convert one with "
                           ".to()")
    try:
        return Matmul.apply(a, b)
    except ValueError:  # NumPy refused the shapes: check them only now, to raise PyTorch's message
        _check_matmul("matmul", a, b)
        raise


def mm(input, mat2, *, out=None) -> Tensor:
    """(n x k) @ (k x m): ``x.mm(y)`` is NumPy's ``x.dot(y)`` for matrices."""
    if out is not None:
        return write_out(mm(input, mat2), out, "mm")
    if _autocast.active:
        input, mat2 = _autocast.cast("mm", input, mat2)
    if input.__class__ is _Sparse or mat2.__class__ is _Sparse:  # a sparse COO operand: numtorch.ops.sparse
        return sparse_mm(input, mat2)
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"mm: expected 2D tensors, got {input.ndim}D and {mat2.ndim}D "
                           f"(shapes {tuple(input.shape)} and {tuple(mat2.shape)})")
    _dtype_match("mm", input, mat2)
    _check_matmul("mm", input, mat2)
    return Matmul.apply(input, mat2)


def bmm(input, mat2, *, out=None) -> Tensor:
    """Batched (b, n, k) @ (b, k, m)."""
    if out is not None:
        return write_out(bmm(input, mat2), out, "bmm")
    if _autocast.active:
        input, mat2 = _autocast.cast("bmm", input, mat2)
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError(f"bmm: expected 3D tensors, got {input.ndim}D and {mat2.ndim}D")
    if input.shape[0] != mat2.shape[0]:
        raise RuntimeError(f"bmm: batch sizes differ: {tuple(input.shape)} and {tuple(mat2.shape)}")
    _dtype_match("bmm", input, mat2)
    _check_matmul("bmm", input, mat2)
    return Matmul.apply(input, mat2)


def mv(input, vec) -> Tensor:
    if _autocast.active:
        input, vec = _autocast.cast("mv", input, vec)
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"mv: expected a matrix and a vector, got {input.ndim}D and {vec.ndim}D")
    _dtype_match("mv", input, vec)
    _check_matmul("mv", input, vec)
    return Matmul.apply(input, vec)


def dot(input, other) -> Tensor:
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    if input.shape[0] != other.shape[0]:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{input.shape[0]}] and src "
                           f"[{other.shape[0]}] to have the same number of elements, but got "
                           f"{input.shape[0]} and {other.shape[0]} elements respectively")
    _dtype_match("dot", input, other)
    return Matmul.apply(input, other)


vdot = dot


def _dtype_match(op, a, b):
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(f"{op}: expected both tensors to have the same dtype, but got {a.dtype} and "
                           f"{b.dtype}")


def inner(input, other) -> Tensor:
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    return matmul(input, other.unsqueeze(-1).transpose(-1, -2).squeeze(-2).mT if other.ndim > 1 else other)


def outer(input, vec2) -> Tensor:
    return input.unsqueeze(1) * vec2.unsqueeze(0)


ger = outer


def addmm(input, mat1, mat2, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * (mat1 @ mat2)."""
    if _autocast.active:
        input, mat1, mat2 = _autocast.cast("addmm", input, mat1, mat2)
    p = mm(mat1, mat2)
    return (input if beta == 1 else input * beta) + (p if alpha == 1 else p * alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1) -> Tensor:
    if _autocast.active:
        input, batch1, batch2 = _autocast.cast("baddbmm", input, batch1, batch2)
    p = bmm(batch1, batch2)
    return (input if beta == 1 else input * beta) + (p if alpha == 1 else p * alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1) -> Tensor:
    if _autocast.active:
        input, mat, vec = _autocast.cast("addmv", input, mat, vec)
    p = mv(mat, vec)
    return (input if beta == 1 else input * beta) + (p if alpha == 1 else p * alpha)


@in_float32_for_bfloat16  # (NumPy's einsum has no bfloat16 loop)
class Einsum(Function):
    @staticmethod
    def forward(ctx, *ops, spec):
        ctx.spec = spec
        ctx.save_for_backward(*ops)
        return xp_of(ops[0]).einsum(spec, *ops, optimize=len(ops) > 2)

    @staticmethod
    def backward(ctx, gy):
        # d/d op_i: contract the output gradient with every other operand back to op_i's indices
        ins, out = ctx.spec.split("->")
        subs = ins.split(",")
        ops = ctx.saved_tensors
        grads = []
        for i, s in enumerate(subs):
            if not ctx.needs_input_grad[i]:
                grads.append(None)
                continue
            others = [o for j, o in enumerate(ops) if j != i]
            other_subs = [x for j, x in enumerate(subs) if j != i]
            avail = set(out).union(*other_subs) if other_subs else set(out)
            sizes = dict(zip(s, ops[i].shape))
            uniq = "".join(dict.fromkeys(s))  # op_i's distinct indices ("ii" -> "i")
            target = "".join(c for c in uniq if c in avail)
            g = einsum(",".join([out] + other_subs) + "->" + target, gy, *others)
            if target != uniq:  # an index summed only in op_i: its gradient is broadcast
                g = g.reshape(tuple(sizes[c] if c in target else 1 for c in uniq))
                g = g.expand(tuple(sizes[c] for c in uniq))
            if uniq != s:  # a repeated index ("ii"): the gradient lives on that diagonal
                g = _onto_diagonals(g, uniq, s, sizes, gy)
            grads.append(g)
        return tuple(grads)


def _onto_diagonals(g: Tensor, uniq: str, s: str, sizes: dict, like: Tensor) -> Tensor:
    """g with indices ``uniq`` spread to indices ``s`` (with repeats) by identity matrices:
    einsum("i,ij->ij", g, eye) puts g on the diagonal of an "ii" operand."""
    from numtorch.creation import eye
    free = iter(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in s)
    seen, new_s, eyes, eye_subs = set(), [], [], []
    for c in s:
        if c in seen:
            n = next(free)
            new_s.append(n)
            eyes.append(eye(sizes[c], dtype=like.dtype, device=like.device))
            eye_subs.append(c + n)
        else:
            seen.add(c)
            new_s.append(c)
    return einsum(",".join([uniq] + eye_subs) + "->" + "".join(new_s), g, *eyes)


def _normalize_spec(spec: str, operands) -> str:
    spec = spec.replace(" ", "")
    if "..." in spec:
        ins = spec.split("->")[0].split(",")
        free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in spec]
        nd = max(o.ndim - (len(s) - 3) for s, o in zip(ins, operands) if "..." in s)
        ell = "".join(free[:nd])
        new_ins = []
        for s, o in zip(ins, operands):
            if "..." in s:
                k = o.ndim - (len(s) - 3)
                s = s.replace("...", ell[nd - k:])
            new_ins.append(s)
        out = spec.split("->")[1].replace("...", ell) if "->" in spec else None
        spec = ",".join(new_ins) + ("->" + out if out is not None else "")
    if "->" not in spec:
        ins = spec.split(",")
        counts = {}
        for s in ins:
            for c in s:
                counts[c] = counts.get(c, 0) + 1
        out = "".join(sorted(c for c, n in counts.items() if n == 1))
        spec = spec + "->" + out
    return spec


def einsum(equation: str, *operands) -> Tensor:
    """Einstein summation, e.g. ``einsum("bij,bjk->bik", a, b)``."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if _autocast.active:
        operands = _autocast.cast("einsum", *operands)
    spec = _normalize_spec(equation, operands)
    return Einsum.apply(*operands, spec=spec)


def tensordot(a, b, dims=2) -> Tensor:
    if isinstance(dims, int):
        da = list(range(a.ndim - dims, a.ndim))
        db = list(range(dims))
    else:
        da, db = [list(d) if isinstance(d, (list, tuple)) else [d] for d in dims]
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    sa = [next(letters) for _ in range(a.ndim)]
    sb = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(da, db):
        sb[j] = sa[i]
    out = [c for k, c in enumerate(sa) if k not in da] + [c for k, c in enumerate(sb) if k not in db]
    return einsum("".join(sa) + "," + "".join(sb) + "->" + "".join(out), a, b)


def kron(input, other) -> Tensor:
    a = input.reshape(tuple(v for s in input.shape for v in (s, 1)))
    b = other.reshape(tuple(v for s in other.shape for v in (1, s)))
    return (a * b).reshape(tuple(x * y for x, y in zip(input.shape, other.shape)))


def cross(input, other, dim=-1) -> Tensor:
    a0, a1, a2 = input.unbind(dim)
    b0, b1, b2 = other.unbind(dim)
    from numtorch.ops.shape import stack
    return stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], dim)
