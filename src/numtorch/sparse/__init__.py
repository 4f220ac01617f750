"""``torch.sparse``: products with sparse COO tensors (the tensors and ops are in ``numtorch.ops.sparse``).

>>> import numtorch as torch
>>> s = torch.tensor([[0.0, 2.0], [1.0, 0.0]]).to_sparse()
>>> torch.sparse.mm(s, torch.ones(2, 1))
tensor([[2.],
        [1.]])
"""
from numtorch.ops import TENSOR_METHODS
from numtorch.ops.sparse import METHODS as _METHODS, sparse_mm as _sparse_mm, spmm, strided as _strided  # noqa: F401
from numtorch.tensor import add_op_methods as _add_op_methods

__all__ = ["mm", "spmm"]


def mm(mat1, mat2):
    """sparse (n x m) @ dense (m x k) -> dense, or sparse @ sparse -> sparse; gradients to both."""
    return _sparse_mm(mat1, mat2, "mm")


TENSOR_METHODS.update(_METHODS)
_add_op_methods(_METHODS)  # x.to_sparse(), x.to_dense()
_add_op_methods({"layout": _strided})  # x.layout: numtorch.strided for a dense tensor
