"""Errors are part of the API: PyTorch's exception types, messages naming the op and operands."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch


def test_matmul_shape_mismatch():
    with pytest.raises(RuntimeError, match=r"matmul.*\(2, 3\).*\(4, 5\).*3 != 4"):
        numtorch.zeros(2, 3) @ numtorch.zeros(4, 5)
    with pytest.raises(RuntimeError, match=r"mm.*\(2, 3\).*\(4, 5\)"):
        numtorch.mm(numtorch.zeros(2, 3), numtorch.zeros(4, 5))
    with pytest.raises(RuntimeError, match=r"\(2, 2, 3\).*\(2, 4, 5\)"):
        numtorch.bmm(numtorch.zeros(2, 2, 3), numtorch.zeros(2, 4, 5))


@pytest.mark.parametrize("requires_grad", [False, True])
def test_broadcast_mismatch(requires_grad):
    a = numtorch.zeros(3, 4, requires_grad=requires_grad)
    with pytest.raises(RuntimeError, match=r"add.*\(3, 4\).*\(2, 4\).*broadcast"):
        a + numtorch.zeros(2, 4)
    with pytest.raises(RuntimeError, match=r"mul.*\(3, 4\).*\(5,\)"):
        a * numtorch.zeros(5)
    with pytest.raises(RuntimeError, match=r"eq.*\(3, 4\).*\(5,\)"):
        a == numtorch.zeros(5)


def test_cat_stack_unequal_shapes():
    with pytest.raises(RuntimeError, match=r"cat.*Sizes of tensors must match except in dimension 0.*\(2, 3\) and "
                                           r"\(2, 4\).*Expected size 3 but got size 4"):
        numtorch.cat([numtorch.zeros(2, 3), numtorch.zeros(2, 4)])
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        numtorch.cat([numtorch.zeros(2, 3), numtorch.zeros(3)])
    with pytest.raises(RuntimeError, match=r"stack expects each tensor to be equal size.*\[2, 3\].*\[2, 4\]"):
        numtorch.stack([numtorch.zeros(2, 3), numtorch.zeros(2, 4)])


def test_float_tensor_as_index():
    x = numtorch.arange(5.0)
    with pytest.raises(IndexError, match=r"index.*tensors used as indices must be long.*float32.*\(2,\)"):
        x[numtorch.tensor([0.0, 1.0])]
    with pytest.raises(IndexError, match="index_select"):
        x.index_select(0, numtorch.tensor([9]))
    with pytest.raises(IndexError, match=r"out of bounds.*\(5,\)"):
        x[numtorch.tensor([7])]


def test_backward_non_scalar_without_gradient():
    y = numtorch.ones(2, 3, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"grad can be implicitly created only for scalar outputs.*\(2, 3\)"):
        y.backward()
    with pytest.raises(RuntimeError, match=r"Mismatch in shape.*\(3,\).*\(2, 3\)"):
        y.backward(numtorch.ones(3))


def test_backward_twice_through_freed_graph():
    x = numtorch.ones(3, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time.*retain_graph=True"):
        y.backward()


def test_inplace_change_of_saved_tensor():
    x = numtorch.ones(3, requires_grad=True)
    y = x.exp()
    y.add_(1)
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation.*ExpBackward0.*version 1.*version 0"):
        y.sum().backward()
    z = x * 1
    w = z.sin()
    z.mul_(2)
    with pytest.raises(RuntimeError, match=r"modified by an inplace.*float32 \[3\].*SinBackward0"):
        w.sum().backward()


class _FakeCudaArray:
    """Stands in for a CuPy array on cuda:1 (only what device_of reads)."""

    class device:
        id = 1

    shape = (3,)
    dtype = np.dtype(np.float32)


def test_two_devices_message():
    from numtorch.autograd.function import _explain
    from numtorch.ops.elementwise import Add
    from numtorch.tensor import make_tensor
    a = numtorch.zeros(3)
    b = make_tensor(np.zeros(3, dtype=np.float32))
    b._data = _FakeCudaArray()
    err = _explain(Add, (a, b), TypeError("unsupported operand"))
    assert isinstance(err, RuntimeError)
    msg = str(err)
    assert "add" in msg and "cpu" in msg and "cuda:1" in msg and "same device" in msg and ".to(" in msg


def test_to_cuda_without_cuda():
    from numtorch._backend import cuda_is_available
    if cuda_is_available():
        pytest.skip("CUDA available")
    with pytest.raises(RuntimeError, match=r"CUDA.*(CuPy|cupy|pip install numtorch\[gpu\])|CUDA is not available"):
        numtorch.zeros(2).to("cuda")
    with pytest.raises(RuntimeError):
        numtorch.zeros(2, device="cuda")


def test_requires_grad_on_integer_tensor():
    with pytest.raises(RuntimeError, match=r"only Tensors of floating point.*int64"):
        numtorch.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="floating point"):
        numtorch.zeros(2, dtype=numtorch.int32, requires_grad=True)


def test_view_on_non_contiguous():
    x = numtorch.zeros(3, 4).T
    with pytest.raises(RuntimeError, match=r"view size is not compatible.*\(4, 3\).*reshape"):
        x.view(12)
    assert x.reshape(12).shape == (12,)


def test_dim_out_of_range_and_bad_shapes():
    x = numtorch.zeros(2, 3)
    with pytest.raises(IndexError, match=r"sum.*Dimension out of range.*\[-2, 1\].*5"):
        x.sum(5)
    with pytest.raises(RuntimeError, match=r"shape '\[4, 2\]' is invalid for input of size 6"):
        x.reshape(4, 2)
    with pytest.raises(RuntimeError, match="expanded size"):
        x.expand(3, 3)
    with pytest.raises(RuntimeError, match="permute"):
        x.permute(0)


def test_gather_scatter_index_errors():
    x = numtorch.zeros(2, 3)
    with pytest.raises(RuntimeError, match=r"gather.*index 3 is out of bounds for dimension 1 with size 3"):
        x.gather(1, numtorch.tensor([[3]]))
    with pytest.raises(RuntimeError, match=r"gather.*int64"):
        x.gather(1, numtorch.tensor([[0.0]]))
    with pytest.raises(RuntimeError, match=r"scatter_add.*same number of dimensions"):
        x.scatter_add(1, numtorch.tensor([0]), numtorch.ones(1))


def test_where_and_masked_fill_need_bool():
    x = numtorch.zeros(3)
    with pytest.raises(RuntimeError, match=r"where.*bool.*int64"):
        numtorch.where(numtorch.tensor([1, 0, 1]), x, x)
    with pytest.raises(RuntimeError, match=r"masked_fill.*bool.*float32"):
        x.masked_fill(numtorch.zeros(3), 1.0)


def test_integer_negative_power():
    with pytest.raises(RuntimeError, match="Integers to negative integer powers are not allowed"):
        numtorch.tensor([2, 3]) ** -1
