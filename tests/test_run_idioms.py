"""PyTorch idioms met in other people's programs, checked against PyTorch: dropout2d/3d on inputs
outside their nominal dims (PyTorch warns and computes), indexing by ``range``, lists and tuples."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import numtorch
import numtorch.nn.functional as F


def _warnings(fn) -> list:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


@pytest.mark.parametrize("name, shape", [
    # 16 or more draws along every drawn dim: equal draws along one by chance (2**-15) never decide
    ("dropout2d", (16, 16)), ("dropout2d", (16, 16, 3)), ("dropout2d", (16, 16, 3, 3)), ("dropout2d", (16, 16, 3, 3, 2)),
    ("dropout3d", (16, 3, 3, 3)), ("dropout3d", (16, 16, 3, 3, 2)), ("dropout3d", (16, 4)),
    ("dropout1d", (16, 5)), ("dropout1d", (16, 16, 5)),
])
def test_feature_dropout_draws_and_warnings_as_pytorch(torch, name: str, shape: tuple) -> None:
    """Which elements share one draw (equal along the dims PyTorch shares), the scale 1/(1-p), and
    PyTorch's warnings, word for word."""
    ours = getattr(F, name)
    theirs = getattr(torch.nn.functional, name)
    numtorch.manual_seed(0)
    torch.manual_seed(0)
    y = ours(numtorch.ones(*shape), 0.5).numpy()
    t = theirs(torch.ones(*shape), 0.5).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0}

    def shared_dims(a):  # the dims along which every draw is constant
        return [d for d in range(a.ndim) if np.all(a == a.take([0], axis=d))]
    assert shared_dims(y) == shared_dims(t)
    assert _warnings(lambda: ours(numtorch.ones(*shape), 0.5)) == _warnings(lambda: theirs(torch.ones(*shape), 0.5))


def test_feature_dropout_errors_as_pytorch(torch) -> None:
    for name, shape in [("dropout1d", (2, 3, 4, 5)), ("dropout2d", (5,))]:
        with pytest.raises(RuntimeError) as theirs:
            getattr(torch.nn.functional, name)(torch.ones(*shape))
        with pytest.raises(RuntimeError) as ours:
            getattr(F, name)(numtorch.ones(*shape))
        assert str(ours.value) == str(theirs.value)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        F.dropout3d(numtorch.ones(2, 2, 2, 2), 1.5)


def test_unbatched_dropout2d_module_in_eval_is_identity() -> None:
    x = numtorch.randn(5, 7)
    m = numtorch.nn.Dropout2d().eval()
    assert m(x) is x


KEYS = [
    lambda y: (range(4), y),                 # x[range(n), y]: the forward-forward example
    lambda y: [[0, 1, 2], [1, 2, 3]],        # a list of lists reads as a tuple (PyTorch warns)
    lambda y: ((0, 1, 2), slice(None)),      # a tuple inside the tuple is one index
    lambda y: [range(2), [0, 1]],
    lambda y: (range(1, 3),),
    lambda y: [],                            # an empty list: nothing selected
    lambda y: [[True, False, True, False]],
    lambda y: [0, 2, 3],
]


@pytest.mark.parametrize("key", range(len(KEYS)))
def test_indexing_by_sequences_as_pytorch(torch, key: int) -> None:
    data = np.arange(20, dtype=np.float32).reshape(4, 5)
    labels = np.array([1, 0, 4, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = torch.from_numpy(data)[KEYS[key](torch.from_numpy(labels))].numpy()
        got = numtorch.from_numpy(data)[KEYS[key](numtorch.from_numpy(labels))].numpy()
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_setitem_by_range_and_labels_as_pytorch(torch) -> None:
    """``x_[range(x.shape[0]), y] = x.max()`` writes one element per row, as in PyTorch."""
    data = np.random.default_rng(0).standard_normal((6, 10)).astype(np.float32)
    labels = np.array([3, 1, 4, 1, 5, 9])
    ours, theirs = numtorch.from_numpy(data.copy()), torch.from_numpy(data.copy())
    ours[range(6), numtorch.from_numpy(labels)] = ours.max()
    theirs[range(6), torch.from_numpy(labels)] = theirs.max()
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_gradient_through_range_indexing() -> None:
    """d/dx sum(x[range(n), y]) is 1 at the selected elements, 0 elsewhere."""
    x = numtorch.zeros(3, 4, requires_grad=True)
    x[range(3), [2, 0, 2]].sum().backward()
    expected = np.zeros((3, 4), np.float32)
    expected[[0, 1, 2], [2, 0, 2]] = 1
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_view_of_a_conv_output_flattens_as_pytorch(torch) -> None:
    """``conv(x).view(n, -1)``: PyTorch's conv output is contiguous; numtorch's is laid out channels-last
    in memory, so its view copies -- with the same values in the same order as PyTorch's."""
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 6, 6)).astype(np.float32), rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    ours = F.max_pool2d(F.conv2d(numtorch.from_numpy(x), numtorch.from_numpy(w)), 2).view(2, -1).numpy()
    theirs = torch.nn.functional.max_pool2d(torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w)),
                                            2).view(2, -1).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        numtorch.ones(3, 4).t().view(-1)  # a transpose still cannot be viewed, as in PyTorch


def test_device_and_layout_flags_as_pytorch(torch) -> None:
    """``input.is_cuda or input.is_xpu`` (the DCGAN example) and the other flags of a CPU tensor."""
    for name in ("is_cpu", "is_cuda", "is_xpu", "is_mps", "is_meta", "is_sparse", "is_quantized", "is_mkldnn",
                 "is_nested"):
        assert getattr(numtorch.ones(2), name) is getattr(torch.ones(2), name), name
