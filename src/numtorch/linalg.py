"""``numtorch.linalg``: norms, inverses, solves and decompositions (the names of ``torch.linalg``).

LAPACK (through ``xp.linalg``) does the work. Differentiable, with closed-form backwards written
with numtorch ops (so double backward works):

* ``inv``:    Y = A^-1,           gA = -Y^T gY Y^T
* ``det``:    d = det(A),         gA = g d A^-T
* ``slogdet``: l = log|det(A)|,   gA = g A^-T     (the sign has no gradient)
* ``solve``:  X = A^-1 B,         gB = A^-T gX,  gA = -gB X^T
* the norms, ``vecdot``, ``cross``, ``matmul``, ``multi_dot`` (compositions of differentiable ops).

* ``cholesky``: A = L L^T,      gA = sym(L^-T Phi(L^T gL) L^-1)
* ``eigh``:   A = V diag(w) V^T, gA = V (diag(gw) + skew(V^T gV) / (w_j - w_i)) V^T (first order)

Forward only (backward raises a ``RuntimeError`` naming the op): ``qr``, ``svd``,
``svdvals``, ``pinv``, the nuclear and spectral matrix norms;
``matrix_rank`` returns integers. Batched inputs (..., n, n) work everywhere.
"""
from __future__ import annotations

import math
from collections import namedtuple

from numtorch._backend import xp_of
from numtorch.autograd.function import Function
from numtorch.autograd.grad_mode import GradMode
from numtorch.ops import TENSOR_METHODS, reduce as _reduce
from numtorch.ops._util import sum_to
from numtorch.ops.linalg import matmul, einsum, cross as _cross  # noqa: F401  (torch.linalg.matmul, ...)
from numtorch.tensor import Tensor, add_op_methods, make_tensor

__all__ = ["norm", "vector_norm", "matrix_norm", "inv", "inv_ex", "det", "slogdet", "solve", "cholesky",
           "qr", "svd", "svdvals", "eigh", "eigvalsh", "pinv", "matrix_rank", "cross", "vecdot", "matmul",
           "multi_dot", "einsum", "inverse", "logdet"]

_slogdet = namedtuple("slogdet", ["sign", "logabsdet"])
_qr = namedtuple("qr", ["Q", "R"])
_svd = namedtuple("svd", ["U", "S", "Vh"])
_eigh = namedtuple("eigh", ["eigenvalues", "eigenvectors"])
_inv_ex = namedtuple("inv_ex", ["inverse", "info"])


def _mT(t: Tensor) -> Tensor:
    """The matrix transpose of a batch (..., m, n) -> (..., n, m)."""
    return t.transpose(-2, -1)


def _check_square(op: str, A: Tensor) -> None:
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.{op}: A must be batches of square matrices, but they are "
                           f"{tuple(A.shape)[-2:] if A.ndim >= 2 else tuple(A.shape)} matrices")
    if A._data.dtype.kind not in "fcV":
        raise RuntimeError(f"linalg.{op}: Expected a floating point or complex tensor as input. "
                           f"Got {A.dtype}")


def _lapack(op: str, fn, *arrays):
    """Runs a LAPACK routine, turning NumPy's LinAlgError into PyTorch's RuntimeError."""
    xp = xp_of(arrays[0])
    try:
        return fn(*arrays)
    except xp.linalg.LinAlgError as e:
        raise RuntimeError(f"linalg.{op}: {e} (the input is singular or not positive-definite)") from None


# ---- norms -------------------------------------------------------------------------------------

def vector_norm(x: Tensor, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The ``ord``-norm of ``x`` flattened (``dim=None``) or over ``dim`` (an int or a tuple).

    ``ord``: any real p, ``inf`` (max |x|), ``-inf`` (min |x|), 0 (count of non-zeros).
    """
    if x._data.dtype.kind not in "fcV":
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. "
                           f"Got {x.dtype}")
    return _reduce.norm(x, ord, dim, keepdim, dtype)


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None) -> Tensor:
    """The matrix norm over the two dims ``dim``: "fro", "nuc", 1, -1, 2, -2, inf, -inf.

    1 / inf are the max column / row abs sums (-1 / -inf the min); 2 / -2 the largest / smallest
    singular value and "nuc" their sum (these three are forward only).
    """
    if dtype is not None:
        A = A.to(dtype)
    if A.ndim < 2:
        raise RuntimeError(f"linalg.matrix_norm: The input tensor A must have at least 2 dimensions, "
                           f"got shape {tuple(A.shape)}")
    d0, d1 = (d % A.ndim for d in dim)
    if ord == "fro":
        return _reduce.norm(A, 2, (d0, d1), keepdim)
    if ord in (1, -1, math.inf, -math.inf):
        sum_dim, pick_dim = (d0, d1) if ord in (1, -1) else (d1, d0)
        s = _reduce.sum(A.abs(), sum_dim, keepdim=True)
        pick = _reduce.amax if ord > 0 else _reduce.amin
        out = pick(s, pick_dim, keepdim=True)
    elif ord in ("nuc", 2, -2):
        S = svdvals(A.movedim((d0, d1), (-2, -1)))
        out = S.sum(-1) if ord == "nuc" else (S[..., 0] if ord == 2 else S[..., -1])
        return out.unsqueeze(-1).unsqueeze(-1).movedim((-2, -1), (d0, d1)) if keepdim else out
    else:
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    return out if keepdim else out.squeeze((d0, d1))


def norm(A: Tensor, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """``vector_norm`` or ``matrix_norm``, as in PyTorch: a matrix norm when ``dim`` has two dims
    (or ``dim`` is None, ``ord`` is given and ``A`` is 2-D); ``ord=None`` is the 2-norm of the
    flattened input (the Frobenius norm of a matrix)."""
    if dim is not None and not isinstance(dim, int) and len(dim) == 2:
        return matrix_norm(A, "fro" if ord is None else ord, tuple(dim), keepdim, dtype=dtype)
    if dim is None and ord is not None:
        if A.ndim == 2:
            return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
        if A.ndim != 1:
            raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D "
                               f"or 2D. Got {A.ndim}D.")
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)


# ---- inverse, determinant, solve: differentiable -----------------------------------------------

class Inv(Function):
    @staticmethod
    def forward(ctx, A):
        Y = _lapack("inv", xp_of(A).linalg.inv, A)
        ctx.save_for_backward(A, Y)
        return Y

    @staticmethod
    def backward(ctx, gY):
        # dY = -Y dA Y  =>  gA = -Y^T gY Y^T
        A, Y = ctx.saved_tensors
        if GradMode.enabled:  # create_graph: Y must be differentiable in A
            Y = Inv.apply(A)
        YT = _mT(Y)
        return -(YT @ gY @ YT)


def inv(A: Tensor) -> Tensor:
    """A^-1 for square A (..., n, n); a singular matrix raises ``RuntimeError``."""
    _check_square("inv", A)
    return Inv.apply(A)


def inv_ex(A: Tensor, *, check_errors: bool = False):
    """``(inverse, info)``; info is 0 (numtorch raises on a singular matrix instead of reporting it)."""
    Y = inv(A)
    return _inv_ex(Y, make_tensor(xp_of(Y._data).zeros(tuple(A.shape)[:-2], dtype="int32")))


inverse = inv  # torch.inverse


class Det(Function):
    @staticmethod
    def forward(ctx, A):
        d = xp_of(A).linalg.det(A)
        ctx.save_for_backward(A, d)
        return d

    @staticmethod
    def backward(ctx, gd):
        # d det(A) / dA = det(A) A^-T  (Jacobi's formula; A must be invertible)
        A, d = ctx.saved_tensors
        if GradMode.enabled:
            d = Det.apply(A)
        return (gd * d).unsqueeze(-1).unsqueeze(-1) * _mT(Inv.apply(A))


def det(A: Tensor) -> Tensor:
    """det(A) of square A (..., n, n) -> (...). Its gradient needs an invertible A."""
    _check_square("det", A)
    return Det.apply(A)


class LogAbsDet(Function):
    @staticmethod
    def forward(ctx, A):
        sign, logabs = xp_of(A).linalg.slogdet(A)
        ctx.save_for_backward(A)
        return logabs

    @staticmethod
    def backward(ctx, g):
        # d log|det A| / dA = A^-T
        A, = ctx.saved_tensors
        return g.unsqueeze(-1).unsqueeze(-1) * _mT(Inv.apply(A))


def slogdet(A: Tensor):
    """``(sign, logabsdet)`` with det(A) = sign * exp(logabsdet); only logabsdet has a gradient."""
    _check_square("slogdet", A)
    sign = make_tensor(xp_of(A._data).linalg.slogdet(A._data)[0])
    return _slogdet(sign, LogAbsDet.apply(A))


def logdet(A: Tensor) -> Tensor:
    """log det(A): nan where det(A) < 0, -inf where it is 0 (as PyTorch)."""
    sign, logabs = slogdet(A)
    from numtorch.ops.elementwise import where
    return where(sign < 0, math.nan, logabs)


class Solve(Function):
    @staticmethod
    def forward(ctx, A, B):
        X = _lapack("solve", xp_of(A).linalg.solve, A, B)
        ctx.save_for_backward(A, B, X)
        return X

    @staticmethod
    def backward(ctx, gX):
        # X = A^-1 B:  gB = A^-T gX,  gA = -gB X^T  (batch dims summed back where broadcast)
        A, B, X = ctx.saved_tensors
        if GradMode.enabled:  # create_graph: X must be differentiable in A and B
            X = Solve.apply(A, B)
        gB = Solve.apply(_mT(A), gX)
        gA = -(gB @ _mT(X)) if ctx.needs_input_grad[0] else None
        return (sum_to(gA, tuple(A.shape)) if gA is not None else None), gB


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """X with A X = B (``left=False``: X A = B). A: (*, n, n); B: (*, n, k), or (*, n) as vectors.

    B is a batch of vectors when it is 1-D or has A's shape without the last dim (as PyTorch).
    """
    _check_square("solve", A)
    if not left:  # X A = B  <=>  A^T X^T = B^T
        return _mT(solve(_mT(A), _mT(B)))
    vector = B.ndim == 1 or tuple(B.shape) == tuple(A.shape)[:-1]
    B2 = B.unsqueeze(-1) if vector else B
    if B2.shape[-2] != A.shape[-1]:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation AX = B "
                           f"({A.shape[-2]}x{A.shape[-1]} and {B2.shape[-2]}x{B2.shape[-1]})")
    batch = _broadcast_batch(A, B2)
    A_b = A.expand(batch + tuple(A.shape)[-2:]) if tuple(A.shape)[:-2] != batch else A
    B_b = B2.expand(batch + tuple(B2.shape)[-2:]) if tuple(B2.shape)[:-2] != batch else B2
    X = Solve.apply(A_b, B_b)
    return X.squeeze(-1) if vector else X


def _broadcast_batch(A: Tensor, B: Tensor) -> tuple:
    from numtorch.ops.shape import broadcast_shapes
    return tuple(broadcast_shapes(tuple(A.shape)[:-2], tuple(B.shape)[:-2]))


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """sum(x * y, dim), with broadcasting (real inputs; complex ones would need x conjugated)."""
    if x._data.dtype.kind == "c" or y._data.dtype.kind == "c":
        raise NotImplementedError("linalg.vecdot: complex inputs are not supported by numtorch yet")
    return (x * y).sum(dim)


def cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (default -1, unlike ``torch.cross``)."""
    if input.shape[dim] != 3 or other.shape[dim] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got "
                           f"{input.shape[dim]} and {other.shape[dim]}")
    return _cross(input, other, dim)


def multi_dot(tensors) -> Tensor:
    """A_1 @ A_2 @ ... @ A_k; the first may be 1-D (a row), the last 1-D (a column).

    The product is taken left to right (PyTorch picks the cheapest order; results agree up to
    rounding).
    """
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
    for i, t in enumerate(tensors):
        if t.ndim != 2 and not (t.ndim == 1 and i in (0, len(tensors) - 1)):
            raise RuntimeError(f"multi_dot(): tensor {i} must be 2D but got {t.ndim}D")
    out = tensors[0]
    for t in tensors[1:]:
        out = out @ t
    return out


# ---- decompositions: forward only --------------------------------------------------------------

class _ForwardOnly(Function):
    """A LAPACK routine without a derivative here: backward raises naming the op."""

    @staticmethod
    def forward(ctx, A, op, fn):
        ctx.op = op
        outs = _lapack(op, fn, A)
        return tuple(outs) if isinstance(outs, (tuple, list)) else outs

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError(f"linalg.{ctx.op}: numtorch computes this decomposition forward only; its "
                           f"backward is not implemented (detach the input, or use inv/solve/det/"
                           f"slogdet, which are differentiable)")


def _run(op: str, A: Tensor, fn):
    out = _ForwardOnly.apply(A, op, fn)
    return out


class Cholesky(Function):
    @staticmethod
    def forward(ctx, A):
        L = _lapack("cholesky", xp_of(A).linalg.cholesky, A)
        ctx.save_for_backward(A, L)
        return L

    @staticmethod
    def backward(ctx, gL):
        # A = L L^T (A symmetric):  gA = sym(L^-T Phi(L^T gL) L^-1), Phi = the lower triangle with
        # the diagonal halved, sym(S) = (S + S^T) / 2  (Murray, 2016)
        from numtorch.ops.shape import tril, diag_embed, diagonal
        A, L = ctx.saved_tensors
        if GradMode.enabled:
            L = Cholesky.apply(A)
        P = _mT(L) @ gL
        phi = tril(P) - 0.5 * diag_embed(diagonal(P, 0, -2, -1))
        Linv = Inv.apply(L)
        S = _mT(Linv) @ phi @ Linv
        return 0.5 * (S + _mT(S))


def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """L with A = L L^T (lower triangular; only A's lower triangle is read), or U = L^T with
    ``upper=True``. Differentiable (the gradient is the symmetric one, as PyTorch's)."""
    _check_square("cholesky", A)
    if A._data.dtype.kind == "c":
        raise NotImplementedError("linalg.cholesky: complex inputs are not supported by numtorch yet")
    L = Cholesky.apply(A)
    return _mT(L) if upper else L


def qr(A: Tensor, mode: str = "reduced"):
    """``(Q, R)`` with A = Q R: ``mode`` "reduced" (Q: m x k), "complete" (Q: m x m) or "r"
    (Q empty). Forward only."""
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' "
                           f"(default), 'r', or 'complete'")
    xp = xp_of(A._data)
    Q, R = _run("qr", A, lambda a: xp.linalg.qr(a, mode="complete" if mode == "complete" else "reduced"))
    if mode == "r":
        Q = make_tensor(xp.empty((0,), dtype=A._data.dtype))
    return _qr(Q, R)


def svd(A: Tensor, full_matrices: bool = True, *, driver=None):
    """``(U, S, Vh)`` with A = U diag(S) Vh, S descending. Forward only."""
    xp = xp_of(A._data)
    U, S, Vh = _run("svd", A, lambda a: xp.linalg.svd(a, full_matrices=full_matrices))
    return _svd(U, S, Vh)


def svdvals(A: Tensor, *, driver=None) -> Tensor:
    """The singular values of A (..., m, n) -> (..., min(m, n)), descending. Forward only."""
    xp = xp_of(A._data)
    return _run("svdvals", A, lambda a: xp.linalg.svd(a, compute_uv=False))


class Eigh(Function):
    @staticmethod
    def forward(ctx, A, UPLO):
        w, V = _lapack("eigh", lambda a: xp_of(a).linalg.eigh(a, UPLO=UPLO), A)
        ctx.save_for_backward(w, V)
        return w, V

    @staticmethod
    def backward(ctx, gw, gV):
        # A = V diag(w) V^T:  gA = V (diag(gw) + skew(V^T gV) / E) V^T with E_ij = w_j - w_i off the
        # diagonal, skew(X) = (X - X^T) / 2. Needs distinct eigenvalues when gV is non-zero.
        from numtorch.ops.shape import diag_embed
        from numtorch.ops.elementwise import where
        w, V = ctx.saved_tensors
        X = _mT(V) @ gV
        skew = 0.5 * (X - _mT(X))
        E = w.unsqueeze(-2) - w.unsqueeze(-1)
        eye = make_tensor(xp_of(E._data).eye(E.shape[-1], dtype=bool))
        inner = where(eye, 0.0, skew / where(eye, 1.0, E)) + diag_embed(gw)
        return V @ inner @ _mT(V), None


def eigh(A: Tensor, UPLO: str = "L"):
    """``(eigenvalues, eigenvectors)`` of a symmetric A, eigenvalues ascending; only the ``UPLO``
    triangle is read. Differentiable (first order; the eigenvector gradient needs distinct
    eigenvalues)."""
    _check_square("eigh", A)
    if A._data.dtype.kind == "c":
        raise NotImplementedError("linalg.eigh: complex inputs are not supported by numtorch yet")
    w, V = Eigh.apply(A, UPLO)
    return _eigh(w, V)


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:
    """The eigenvalues of a symmetric A, ascending (gradient V diag(gw) V^T)."""
    return eigh(A, UPLO).eigenvalues


def pinv(A: Tensor, *, atol=None, rtol=None, hermitian: bool = False) -> Tensor:
    """The Moore-Penrose pseudo-inverse (singular values below max(atol, rtol * s_max) dropped;
    PyTorch's default rtol is eps(dtype) * max(m, n)). Forward only."""
    xp = xp_of(A._data)
    m, n = A.shape[-2:]
    if rtol is None:
        rtol = 0.0 if atol is not None and atol > 0 else xp.finfo(A._data.dtype).eps * max(m, n)
    atol = 0.0 if atol is None else atol

    def _pinv(a):
        if hermitian:
            w, V = xp.linalg.eigh(a)
            s = xp.abs(w)
            cut = xp.maximum(atol, rtol * s.max(-1, keepdims=True))
            w_inv = xp.where(s > cut, 1 / xp.where(s > cut, w, 1), 0)
            return (V * w_inv[..., None, :]) @ V.conj().swapaxes(-1, -2)
        U, s, Vh = xp.linalg.svd(a, full_matrices=False)
        cut = xp.maximum(atol, rtol * _max_or_0(s))
        s_inv = xp.where(s > cut, 1 / xp.where(s > cut, s, 1), 0)
        return (Vh.conj().swapaxes(-1, -2) * s_inv[..., None, :]) @ U.conj().swapaxes(-1, -2)
    return _run("pinv", A, _pinv)


def _max_or_0(s):
    """The largest singular value of each matrix, 0 for an empty one (CuPy's max has no ``initial``)."""
    if s.shape[-1] == 0:
        return xp_of(s).zeros(s.shape[:-1] + (1,), dtype=s.dtype)
    return s.max(-1, keepdims=True)


def matrix_rank(A: Tensor, *, atol=None, rtol=None, hermitian: bool = False) -> Tensor:
    """The number of singular values above max(atol, rtol * s_max), as int64."""
    xp = xp_of(A._data)
    s = xp.abs(xp.linalg.eigvalsh(A._data)) if hermitian else xp.linalg.svd(A._data, compute_uv=False)
    m, n = A.shape[-2:]
    if rtol is None:
        rtol = 0.0 if atol is not None and atol > 0 else xp.finfo(A._data.dtype).eps * max(m, n)
    atol = 0.0 if atol is None else atol
    cut = xp.maximum(atol, rtol * _max_or_0(s))
    return make_tensor((s > cut).sum(-1).astype(xp.int64))


# Tensor methods of this module (x.det() is numtorch.linalg.det(x)): numtorch.linalg sits above the
# ops package, which holds the table, so it adds them itself.
_METHODS = {"inverse": inverse, "det": det, "logdet": logdet, "slogdet": slogdet}
TENSOR_METHODS.update(_METHODS)
add_op_methods(_METHODS)
