"""nn.utils: clip_grad_norm_ / clip_grad_value_ / parameters_to_vector against PyTorch and closed forms."""
import math

import numpy as np
import pytest

import numtorch
from numtorch import nn


def _pairs(seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (4,), (2, 2, 2)]
    data = [rng.standard_normal(s) for s in shapes]
    grads = [rng.standard_normal(s) * 3 for s in shapes]
    return data, grads


def _ours(data, grads, dtype=numtorch.float32):
    ps = []
    for d, g in zip(data, grads):
        p = nn.Parameter(numtorch.tensor(d, dtype=dtype))
        p.grad = numtorch.tensor(g, dtype=dtype)
        ps.append(p)
    return ps


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    data, grads = _pairs()
    ours = _ours(data, grads)
    theirs = [torch.nn.Parameter(torch.tensor(d, dtype=torch.float32)) for d in data]
    for p, g in zip(theirs, grads):
        p.grad = torch.tensor(g, dtype=torch.float32)
    n = nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
    nt = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert n.dtype == numtorch.float32 and n.shape == ()
    np.testing.assert_allclose(n.item(), nt.item(), rtol=1e-6)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_clip_grad_norm_closed_form():
    p = nn.Parameter(numtorch.zeros(2))
    p.grad = numtorch.tensor([3.0, 4.0])
    total = nn.utils.clip_grad_norm_(p, max_norm=1.0)
    assert total.item() == 5.0
    np.testing.assert_allclose(p.grad.numpy(), [3 / (5 + 1e-6), 4 / (5 + 1e-6)], rtol=1e-6)
    q = nn.Parameter(numtorch.zeros(1))  # no grad: skipped, not an error
    assert nn.utils.clip_grad_norm_([q], 1.0).item() == 0.0


def test_clip_grad_norm_nonfinite():
    p = nn.Parameter(numtorch.zeros(2))
    p.grad = numtorch.tensor([float("inf"), 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    with np.errstate(invalid="ignore"):  # inf * 0 gives nan gradients, as in PyTorch
        assert math.isinf(nn.utils.clip_grad_norm_([p], 1.0).item())


def test_clip_grad_value():
    data, grads = _pairs()
    ours = _ours(data, grads, numtorch.float64)
    nn.utils.clip_grad_value_(ours, 0.7)
    for p, g in zip(ours, grads):
        np.testing.assert_array_equal(p.grad.numpy(), np.clip(g, -0.7, 0.7))


def test_parameters_to_vector_roundtrip():
    m = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    v = nn.utils.parameters_to_vector(m.parameters())
    expected = np.concatenate([p.detach().numpy().ravel() for p in m.parameters()])
    np.testing.assert_array_equal(v.detach().numpy(), expected)
    w = m[0].weight
    nn.utils.vector_to_parameters(v * 0 + 1, m.parameters())
    assert m[0].weight is w and all(float(p.detach().numpy().min()) == 1.0 for p in m.parameters())
    assert m[0].weight.shape == (2, 3)


def test_pad_sequence_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    seqs = [rng.standard_normal((n, 3)) for n in (4, 2, 3)]
    for kw in [{}, {"batch_first": True}, {"batch_first": True, "padding_value": -1.0, "padding_side": "left"}]:
        ours = [numtorch.tensor(s, requires_grad=True) for s in seqs]
        theirs = [torch.tensor(s, requires_grad=True) for s in seqs]
        y = nn.utils.rnn.pad_sequence(ours, **kw)
        yt = torch.nn.utils.rnn.pad_sequence(theirs, **kw)
        np.testing.assert_array_equal(y.detach().numpy(), yt.detach().numpy())
        g = rng.standard_normal(tuple(yt.shape))
        y.backward(numtorch.tensor(g))
        yt.backward(torch.tensor(g))
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
