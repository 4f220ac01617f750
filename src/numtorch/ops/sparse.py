"""Sparse COO tensors: ``torch.sparse_coo_tensor``, ``to_sparse`` / ``to_dense``, ``coalesce`` and
the sparse x dense matrix product (``torch.sparse.mm``, ``torch.spmm``, ``torch.mm``, ``@``).

A sparse tensor of shape (n, m) stores its nonzeros as ``indices`` (int64, 2 x nnz: row and column
of each entry) and ``values`` (nnz,), as PyTorch's ``sparse_coo`` layout does.  The same position
may appear several times (an *uncoalesced* tensor): the entries there add up.  ``coalesce()`` sorts
the entries by position (row-major) and sums the duplicates.

The product Y = S @ D (S sparse n x m, D dense m x k) is, row by row,

    Y[i] = sum over entries e with row_e = i of  v_e * D[col_e]

computed without a scatter (``np.add.at`` is slow): the entries sorted by row, the products
``v_e * D[col_e]`` summed over each row's run of entries with ``add.reduceat``.  Its gradients are

    dD = S^T @ dY                          (the same product with rows and columns swapped)
    dv_e = <dY[row_e], D[col_e]>           (one dot product per entry)

Gradients flow to the dense operand and to the values tensor the sparse tensor was made from.
"""
from __future__ import annotations

import numpy as np

from numtorch import _dtypes
from numtorch._backend import xp_of, to_device
from numtorch.autograd.function import Function
from numtorch.tensor import Tensor, Size, make_tensor, _parse_to
from numtorch.ops.shape import cat

__all__ = ["sparse_coo_tensor", "spmm", "sparse_mm", "layout", "strided", "sparse_coo", "SparseCOOTensor"]


class layout:
    """A memory layout: ``numtorch.strided`` (dense arrays) or ``numtorch.sparse_coo``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"numtorch.{self.name}"

    def __reduce__(self):
        return self.name


strided = layout("strided")
sparse_coo = layout("sparse_coo")


# ---- the plan of a product: entries sorted by row ---------------------------------------------

class _RowPlan:
    """The entries of an (n x m) sparse matrix grouped by row, for ``add.reduceat``.

    ``order`` sorts the entries by row, ``cols`` is their columns in that order, ``starts`` the
    first sorted entry of each nonempty row and ``rows`` those rows.  ``T`` is the plan of the
    transpose (built on first use: backward needs it for dD = S^T @ dY)."""

    def __init__(self, rows, cols, n: int, m: int) -> None:
        xp = xp_of(rows)
        self.n, self.m = n, m
        self.row_of, self.col_of = rows, cols  # in the tensor's own entry order
        self.order = xp.argsort(rows, kind="stable")
        r = rows[self.order]
        self.cols = cols[self.order]
        first = xp.ones(r.shape, dtype=bool)
        first[1:] = r[1:] != r[:-1]
        self.starts = xp.flatnonzero(first)
        self.rows = r[self.starts]
        self._T = None

    @property
    def T(self) -> "_RowPlan":
        if self._T is None:
            self._T = _RowPlan(self.col_of, self.row_of, self.m, self.n)
            self._T._T = self
        return self._T


def _spmm_arrays(v, D, plan: _RowPlan):
    """Y = S @ D on arrays: Y[i] = sum_{e: row_e = i} v_e D[col_e]."""
    xp = xp_of(D)
    Y = xp.zeros((plan.n, D.shape[1]), dtype=D.dtype)
    if plan.order.size:
        G = v[plan.order][:, None] * D[plan.cols]  # one scaled row of D per entry, sorted by row
        Y[plan.rows] = xp.add.reduceat(G, plan.starts, axis=0)
    return Y


class SparseDenseMM(Function):
    """Y = S @ D for S = (indices, values v) sparse, D dense: the gradients go to v and D."""

    @staticmethod
    def forward(ctx, v, D, plan):
        ctx.save_for_backward(v, D)
        ctx.plan = plan
        return _spmm_arrays(v, D, plan)

    @staticmethod
    def backward_arrays(ctx, gY):
        v, D = ctx.saved_arrays
        plan, need = ctx.plan, ctx.needs_input_grad
        gv = xp_of(D).einsum("ej,ej->e", gY[plan.row_of], D[plan.col_of]) if need[0] else None
        gD = _spmm_arrays(v, gY, plan.T) if need[1] else None  # dD = S^T @ dY
        return gv, gD, None

    @staticmethod
    def backward(ctx, gY):
        v, D = ctx.saved_tensors
        plan, need = ctx.plan, ctx.needs_input_grad
        gv = (gY[make_tensor(plan.row_of)] * D[make_tensor(plan.col_of)]).sum(1) if need[0] else None
        gD = SparseDenseMM.apply(v, gY, plan.T) if need[1] else None
        return gv, gD, None


# ---- coalesce and to_dense ----------------------------------------------------------------------

def _linear_index(indices, size):
    """Each entry's position in the row-major flattening of ``size`` (int64)."""
    lin = indices[0].copy()
    for d in range(1, len(size)):
        lin *= size[d]
        lin += indices[d]
    return lin


class SegmentSum(Function):
    """y[s] = sum of v[order[starts[s]] : ...]: the values of each run of equal positions, summed.
    Each entry's gradient is its run's: dv_e = dy[segment_of[e]]."""

    @staticmethod
    def forward(ctx, v, order, starts, segment_of):
        ctx.segment_of = segment_of
        return xp_of(v).add.reduceat(v[order], starts) if order.size else v[:0].copy()

    @staticmethod
    def backward_arrays(ctx, gy):
        return gy[ctx.segment_of], None, None, None

    @staticmethod
    def backward(ctx, gy):
        return gy[make_tensor(ctx.segment_of)], None, None, None


class ToDense(Function):
    """The dense array with v_e at indices[:, e] (a coalesced tensor: no position twice).
    d/dv_e = dY at that position."""

    @staticmethod
    def forward(ctx, v, indices, size):
        ctx.indices = indices
        Y = xp_of(v).zeros(size, dtype=v.dtype)
        Y[tuple(indices)] = v
        return Y

    @staticmethod
    def backward_arrays(ctx, gY):
        return gY[tuple(ctx.indices)], None, None

    @staticmethod
    def backward(ctx, gY):
        return gY[tuple(make_tensor(i) for i in ctx.indices)], None, None


# ---- the tensor ---------------------------------------------------------------------------------

class _NoDenseData:
    """What a sparse tensor has in place of a dense array: dense ops on it stop with PyTorch's
    exception type instead of computing on something else."""

    def __getattr__(self, name):
        if name.startswith("__"):  # Python's and inspect's probes (__wrapped__, __array_interface__...)
            raise AttributeError(name)
        raise NotImplementedError("this operation is not supported on sparse_coo tensors in numtorch "
                                  "(supported: to_dense, coalesce, indices, values, mm / @ with a dense "
                                  "tensor, + a dense tensor, to); call .to_dense() first")


_NO_DENSE = _NoDenseData()


class SparseCOOTensor(Tensor):
    """A sparse tensor in PyTorch's COO layout: ``indices`` (int64, ndim x nnz) and ``values`` (nnz,).

    >>> import numtorch as torch
    >>> s = torch.sparse_coo_tensor([[0, 1, 1], [2, 0, 0]], [1.0, 2.0, 3.0], (2, 3))
    >>> s.to_dense()
    tensor([[0., 0., 1.],
            [5., 0., 0.]])
    """

    layout = sparse_coo
    is_sparse = True

    # ---- attributes ----
    shape = property(lambda self: Size(self._size))
    ndim = property(lambda self: len(self._size))
    dtype = property(lambda self: self._vals.dtype)
    device = property(lambda self: self._vals.device)

    def size(self, dim: int | None = None):
        return Size(self._size) if dim is None else self._size[dim]

    def dim(self) -> int:
        return len(self._size)

    def numel(self) -> int:
        return int(np.prod(self._size, dtype=np.int64))

    def __len__(self) -> int:
        return self._size[0]

    def is_floating_point(self) -> bool:
        return self._vals.is_floating_point()

    def sparse_dim(self) -> int:
        return len(self._size)

    def dense_dim(self) -> int:
        return 0

    def _nnz(self) -> int:
        return int(self._idx.shape[1])

    def is_coalesced(self) -> bool:
        return self._coalesced

    def _indices(self) -> Tensor:
        return make_tensor(self._idx)

    def _values(self) -> Tensor:
        return self._vals

    def indices(self) -> Tensor:
        self._require_coalesced("indices")
        return make_tensor(self._idx)

    def values(self) -> Tensor:
        self._require_coalesced("values")
        return self._vals

    def _require_coalesced(self, what: str) -> None:
        if not self._coalesced:
            raise RuntimeError(f"Cannot get {what} on an uncoalesced tensor, please call .coalesce() first")

    def __repr__(self) -> str:
        """PyTorch's: the indices and values tensors, then size, nnz, (dtype,) layout."""
        pad = " " * 15
        ind = repr(make_tensor(self._idx)).replace("\n", "\n" + pad)
        val, _, dtype = repr(self._vals.detach()).replace("\n", "\n" + pad).partition(", dtype=")
        val, dtype = (val + ")", f"dtype={dtype[:-1]}, ") if dtype else (val, "")
        size = "(" + ", ".join(map(str, self._size)) + ("," if len(self._size) == 1 else "") + ")"
        return (f"tensor(indices={ind},\n       values={val},\n       size={size}, nnz={self._nnz()}, "
                f"{dtype}layout=numtorch.sparse_coo)")

    # ---- conversions ----
    def coalesce(self) -> "SparseCOOTensor":
        """The same tensor with its entries sorted by position and duplicates summed."""
        if self._coalesced:
            return self
        xp = xp_of(self._idx)
        lin = _linear_index(self._idx, self._size)
        order = xp.argsort(lin, kind="stable")
        ls = lin[order]
        first = xp.ones(ls.shape, dtype=bool)
        first[1:] = ls[1:] != ls[:-1]
        starts = xp.flatnonzero(first)
        segment_of = xp.empty_like(order)
        segment_of[order] = xp.cumsum(first) - 1  # entry e belongs to run segment_of[e]
        vals = SegmentSum.apply(self._vals, order, starts, segment_of)
        return _make(self._idx[:, order[starts]], vals, self._size, coalesced=True)

    def to_dense(self, dtype=None, *, masked_grad=None) -> Tensor:
        c = self.coalesce()
        out = ToDense.apply(c._vals, c._idx, tuple(self._size))
        return out if dtype is None else out.to(dtype)

    def to_sparse(self, *args, layout=None, **kwargs) -> "SparseCOOTensor":
        _check_to_sparse_layout(layout)
        return self

    def to(self, *args, **kwargs) -> "SparseCOOTensor":
        dtype, device, copy, non_blocking = _parse_to(self, args, kwargs)
        vals = self._vals
        idx = self._idx
        if device is not None and device != self.device:
            idx = to_device(idx, device)
            vals = vals.to(device)
        if dtype is not None and dtype != self.dtype:
            vals = vals.to(dtype)
        if vals is self._vals and not copy:
            return self
        return _make(idx, vals, self._size, self._coalesced)

    def detach(self) -> "SparseCOOTensor":
        return _make(self._idx, self._vals.detach(), self._size, self._coalesced)

    def t(self) -> "SparseCOOTensor":
        """The transpose of a sparse matrix (its entries' rows and columns swapped)."""
        if len(self._size) != 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 sparse and 0 dense dimensions, but got "
                               f"{len(self._size)} sparse and 0 dense dimensions")
        return _make(self._idx[::-1].copy(), self._vals, self._size[::-1], coalesced=False)

    def transpose(self, dim0: int, dim1: int) -> "SparseCOOTensor":
        if sorted((dim0 % 2, dim1 % 2)) != [0, 1] or len(self._size) != 2:
            return self if dim0 % len(self._size) == dim1 % len(self._size) else self.t()
        return self.t()

    # ---- arithmetic ----
    def __matmul__(self, other):
        return sparse_matmul(self, other)

    def __rmatmul__(self, other):
        return sparse_matmul(other, self)

    def __add__(self, other):
        return _add(self, other)

    def __radd__(self, other):
        return _add(other, self)


def _make(indices, values: Tensor, size, coalesced: bool) -> SparseCOOTensor:
    """Wraps checked parts (no copy): the one constructor of a sparse tensor."""
    t = Tensor.__new__(SparseCOOTensor)
    t._data = _NO_DENSE
    t._idx, t._vals, t._size, t._coalesced = indices, values, tuple(int(s) for s in size), coalesced
    t._plan = None
    t.requires_grad = values.requires_grad
    t.grad = t.grad_fn = t._vc = t._hooks = None
    t._output_nr = 0
    return t


def _row_plan(s: SparseCOOTensor) -> _RowPlan:
    """The tensor's plan for products, built once (a tensor's entries never change)."""
    if s._plan is None:
        s._plan = _RowPlan(s._idx[0], s._idx[1], s._size[0], s._size[1])
    return s._plan


# ---- construction -------------------------------------------------------------------------------

def _as_index_array(indices):
    """int64 indices as an array on the device they came from (a list, array or tensor)."""
    if isinstance(indices, Tensor):
        if indices.is_floating_point():
            raise RuntimeError(f"indices must be an int64 tensor, got {indices.dtype}")
        return indices._data.astype(np.int64, copy=False)
    a = np.asarray(indices)
    if a.dtype.kind == "f":
        raise RuntimeError(f"indices must be an int64 tensor, got {a.dtype}")
    return a.astype(np.int64)


def _as_values(values, dtype, device) -> Tensor:
    from numtorch import creation
    if not isinstance(values, Tensor):
        return creation.tensor(values, dtype=dtype, device=device)
    if dtype is not None and values.dtype != dtype:
        values = values.to(dtype)
    if device is not None:
        values = values.to(device)
    return values


def _check_indices(idx, nnz: int, size) -> None:
    if idx.ndim != 2:
        raise RuntimeError(f"indices must be sparse_dim x nnz, but got: {list(idx.shape)}")
    if idx.shape[1] != nnz:
        raise RuntimeError(f"indices and values must have same nnz, but got nnz from indices: "
                           f"{idx.shape[1]}, nnz from values: {nnz}")
    if size is not None and len(size) != idx.shape[0]:
        raise RuntimeError(f"'len(size) == sparse_dim + dense_dim' is not satisfied: "
                           f"len(size) = {len(size)}, sparse_dim = {idx.shape[0]}, dense_dim = 0")
    if nnz and size is not None:
        lo, hi = idx.min(axis=1), idx.max(axis=1)
        for d in range(idx.shape[0]):
            if int(lo[d]) < 0:
                raise RuntimeError(f"found negative index {int(lo[d])} for dim {d}")
            if int(hi[d]) >= size[d]:
                raise RuntimeError(f"size is inconsistent with indices: for dim {d}, size is {size[d]} "
                                   f"but found index {int(hi[d])}")


def sparse_coo_tensor(indices, values, size=None, *, dtype=None, device=None, pin_memory=False,
                      requires_grad=False, check_invariants=None, is_coalesced=None) -> SparseCOOTensor:
    """A sparse COO tensor with ``values[e]`` at position ``indices[:, e]`` (repeats add up).

    ``size`` defaults to the smallest shape that holds every index. The tensor is not coalesced
    (unless ``is_coalesced=True`` says so); ``coalesce()`` sorts and sums it.

    >>> import numtorch as torch
    >>> torch.sparse_coo_tensor([[0, 1, 1], [2, 0, 0]], [1.0, 2.0, 3.0]).coalesce().values()
    tensor([1., 5.])
    """
    vals = _as_values(values, None if dtype is None else _dtypes.to_dtype(dtype), device)
    if vals.ndim != 1:
        raise NotImplementedError(f"sparse_coo_tensor: numtorch's sparse tensors hold one value per index "
                                  f"(values of shape {tuple(vals.shape)} would make a hybrid tensor)")
    idx = to_device(_as_index_array(indices), vals.device)
    if size is not None:
        size = tuple(int(s) for s in size)
    _check_indices(idx, vals.shape[0], size)
    if size is None:
        size = tuple(int(m) + 1 for m in idx.max(axis=1)) if idx.shape[1] else (0,) * idx.shape[0]
    if requires_grad:
        vals = vals.detach().requires_grad_(True)
    return _make(idx, vals, size, coalesced=bool(is_coalesced) or idx.shape[1] <= 1)


def _check_to_sparse_layout(layout_) -> None:
    if layout_ is not None and layout_ is not sparse_coo:
        raise NotImplementedError(f"to_sparse: only layout=numtorch.sparse_coo is supported, got {layout_}")


def to_sparse(self: Tensor, sparse_dim: int | None = None, *, layout=None, blocksize=None,
              dense_dim=None) -> SparseCOOTensor:
    """The nonzeros of a dense tensor as a coalesced sparse COO tensor (gradient: to the dense one)."""
    _check_to_sparse_layout(layout)
    if sparse_dim is not None and sparse_dim != self.ndim:
        raise NotImplementedError(f"to_sparse: numtorch makes sparse_dim == ndim ({self.ndim}), "
                                  f"got {sparse_dim}")
    xp = xp_of(self._data)
    idx = xp.stack(xp.nonzero(self._data)).astype(np.int64) if self.ndim else xp.zeros((0, 1), np.int64)
    vals = self[tuple(make_tensor(i) for i in idx)] if self.ndim else self.reshape(1)
    return _make(idx, vals, tuple(self.shape), coalesced=True)


# ---- products -----------------------------------------------------------------------------------

def _check_mm(op: str, a, b) -> None:
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"{op}: expected 2D tensors, got {a.ndim}D and {b.ndim}D "
                           f"(shapes {tuple(a.shape)} and {tuple(b.shape)})")
    if a.shape[1] != b.shape[0]:
        raise RuntimeError(f"{op}: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied "
                           f"({a.shape[1]} != {b.shape[0]})")
    if a.dtype != b.dtype:
        raise RuntimeError(f"{op}: expected both tensors to have the same dtype, but got {a.dtype} and "
                           f"{b.dtype} (shapes {tuple(a.shape)} and {tuple(b.shape)}); "
                           "convert one with .to()")
    if a.device != b.device:
        raise RuntimeError(f"{op}: expected both tensors on the same device, but got {a.device} and "
                           f"{b.device}; move one with .to(\"{a.device}\")")


def sparse_mm(mat1, mat2, op: str = "mm") -> Tensor:
    """mat1 @ mat2 where one or both are sparse COO matrices.

    sparse @ dense and dense @ sparse give a dense tensor, sparse @ sparse a sparse one (as PyTorch).
    dense @ sparse is (S^T @ D^T)^T."""
    if not isinstance(mat1, Tensor) or not isinstance(mat2, Tensor):
        raise TypeError(f"{op}: both operands must be tensors, got {type(mat1).__name__} and "
                        f"{type(mat2).__name__}")
    _check_mm(op, mat1, mat2)
    s1, s2 = mat1.is_sparse, mat2.is_sparse
    if s1 and s2:
        return to_sparse(SparseDenseMM.apply(mat1._vals, mat2.to_dense(), _row_plan(mat1)))
    if s1:
        return SparseDenseMM.apply(mat1._vals, mat2, _row_plan(mat1))
    return SparseDenseMM.apply(mat2._vals, mat1.t(), _row_plan(mat2).T).t()


def sparse_matmul(input, other) -> Tensor:
    """``matmul`` / ``@`` with a sparse operand: a matrix product, a dense vector as a column."""
    if isinstance(other, Tensor) and not other.is_sparse and other.ndim == 1:
        return sparse_mm(input, other.unsqueeze(1), "matmul").squeeze(1)
    return sparse_mm(input, other, "matmul")


def spmm(input, mat2) -> Tensor:
    """``torch.spmm``: sparse (n x m) @ dense (m x k) -> dense (n x k)."""
    return sparse_mm(input, mat2, "spmm")


def _add(a, b) -> Tensor:
    """sparse + dense (either order) is dense: the sparse one made dense, then added with promotion.
    sparse + sparse is sparse: both lists of entries together (uncoalesced: repeats add up)."""
    if isinstance(a, SparseCOOTensor) and isinstance(b, SparseCOOTensor):
        if a.shape != b.shape:
            raise RuntimeError(f"add: expected sizes to match, got {tuple(a.shape)} and {tuple(b.shape)}")
        xp = xp_of(a._idx)
        vals = cat([a._vals, b._vals.to(a._vals.dtype)])
        return _make(xp.concatenate([a._idx, b._idx], axis=1), vals, a._size, coalesced=False)
    a = a.to_dense() if isinstance(a, SparseCOOTensor) else a
    b = b.to_dense() if isinstance(b, SparseCOOTensor) else b
    return a + b


def _dense_to_dense(self: Tensor, dtype=None, *, masked_grad=None) -> Tensor:
    """A dense tensor's ``to_dense()`` is itself (as in PyTorch)."""
    return self if dtype is None else self.to(dtype)


METHODS = {"to_sparse": to_sparse, "to_dense": _dense_to_dense}
