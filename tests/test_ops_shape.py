"""Shape ops: views, permutations, broadcasting, joining/splitting, flips, padding, triangles."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
from helpers import check, assert_close, lib


def test_reshape_view_flatten():
    check(lambda x: x.reshape(4, 6), (2, 3, 4), np_fn=lambda x: x.reshape(4, 6))
    check(lambda x: x.reshape(-1), (2, 3, 4), np_fn=lambda x: x.reshape(-1))
    check(lambda x: x.reshape((3, -1)), (2, 3, 4), np_fn=lambda x: x.reshape(3, -1))
    check(lambda x: x.view(6, 4), (2, 3, 4), np_fn=lambda x: x.reshape(6, 4))
    check(lambda x: x.flatten(), (2, 3, 4), np_fn=lambda x: x.reshape(-1))
    check(lambda x: x.flatten(1), (2, 3, 4), np_fn=lambda x: x.reshape(2, -1))
    check(lambda x: x.flatten(0, 1), (2, 3, 4), np_fn=lambda x: x.reshape(6, 4))
    check(lambda x: x.unflatten(1, (2, 2)), (3, 4), np_fn=lambda x: x.reshape(3, 2, 2))
    check(lambda x: x.T.reshape(-1), (3, 4), np_fn=lambda x: x.T.reshape(-1))  # non-contiguous


def test_view_shares_memory_and_reshape_errors():
    x = numtorch.zeros(2, 3)
    v = x.view(6)
    v[0] = 5.0
    assert x[0, 0].item() == 5.0
    with pytest.raises(RuntimeError, match="invalid for input of size"):
        x.reshape(4, 2)
    with pytest.raises(RuntimeError):
        x.view(-1, -1)


def test_squeeze_unsqueeze():
    check(lambda x: x.squeeze(), (1, 3, 1, 2), np_fn=np.squeeze)
    check(lambda x: x.squeeze(0), (1, 3, 1, 2), np_fn=lambda x: x.squeeze(0))
    check(lambda x: x.squeeze(1), (1, 3, 1, 2), np_fn=lambda x: x)
    check(lambda x: x.squeeze(-2), (1, 3, 1, 2), np_fn=lambda x: x.squeeze(2))
    check(lambda x: x.unsqueeze(0), (3, 2), np_fn=lambda x: x[None])
    check(lambda x: x.unsqueeze(-1), (3, 2), np_fn=lambda x: x[..., None])
    check(lambda x: x.unsqueeze(1), (3, 2), np_fn=lambda x: x[:, None])


@pytest.mark.parametrize("dims", [(1, 0, 2), (2, 0, 1), (-1, 0, 1)])
def test_permute(dims):
    check(lambda x: x.permute(*dims), (2, 3, 4), np_fn=lambda x: x.transpose(dims))
    check(lambda x: x.permute(dims), (2, 3, 4), np_fn=lambda x: x.transpose(dims))


def test_transpose_t_movedim():
    check(lambda x: x.transpose(0, 2), (2, 3, 4), np_fn=lambda x: x.swapaxes(0, 2))
    check(lambda x: x.transpose(-1, -2), (2, 3, 4), np_fn=lambda x: x.swapaxes(-1, -2))
    check(lambda x: x.t(), (3, 4), np_fn=lambda x: x.T)
    check(lambda x: x.T, (3, 4), np_fn=lambda x: x.T)
    check(lambda x: x.mT, (2, 3, 4), np_fn=lambda x: x.swapaxes(-1, -2))
    check(lambda x: x.movedim(0, -1), (2, 3, 4), np_fn=lambda x: np.moveaxis(x, 0, -1))
    check(lambda x: x.movedim((0, 1), (2, 0)), (2, 3, 4), np_fn=lambda x: np.moveaxis(x, (0, 1), (2, 0)))
    check("swapaxes", (2, 3, 4), 0, 1, np_fn=lambda x, a, b: x.swapaxes(a, b))


def test_expand_broadcast():
    check(lambda x: x.expand(3, 4), (1, 4), np_fn=lambda x: np.broadcast_to(x, (3, 4)))
    check(lambda x: x.expand(2, -1, 4), (3, 1), np_fn=lambda x: np.broadcast_to(x, (2, 3, 4)))
    check(lambda x: x.broadcast_to((2, 3)), (3,), np_fn=lambda x: np.broadcast_to(x, (2, 3)))
    check(lambda x, y: x.expand_as(y), (3, 1), (3, 4), np_fn=lambda x, y: np.broadcast_to(x, y.shape))
    a, b = numtorch.broadcast_tensors(numtorch.zeros(3, 1), numtorch.zeros(1, 4))
    assert tuple(a.shape) == tuple(b.shape) == (3, 4)
    assert numtorch.broadcast_shapes((3, 1), (4,)) == (3, 4)


def test_repeat_tile_repeat_interleave():
    check(lambda x: x.repeat(2, 3), (2, 3), np_fn=lambda x: np.tile(x, (2, 3)))
    check(lambda x: x.repeat(2, 1, 2), (2, 3), np_fn=lambda x: np.tile(x, (2, 1, 2)))
    check(lambda x: x.tile((2,)), (2, 3), np_fn=lambda x: np.tile(x, (1, 2)))
    check(lambda x: x.repeat_interleave(2, dim=0), (2, 3), np_fn=lambda x: np.repeat(x, 2, axis=0))
    check(lambda x: x.repeat_interleave(2), (2, 3), np_fn=lambda x: np.repeat(x, 2))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_stack(dim):
    check(lambda a, b: lib(a).cat([a, b], dim), (2, 3), (2, 3), np_fn=lambda a, b: np.concatenate([a, b], dim))
    check(lambda a, b: lib(a).cat([a, b], dim), (2, 3), (2, 3)[:dim % 2] + (1,) + (2, 3)[dim % 2 + 1:])
    check(lambda a, b, c: lib(a).stack([a, b, c], dim), (2, 3), (2, 3), (2, 3),
          np_fn=lambda a, b, c: np.stack([a, b, c], dim))


def test_cat_unequal_sizes_and_mixed_dtype(torch):
    a = numtorch.ones(2, 3, requires_grad=True)
    b = numtorch.ones(4, 3, requires_grad=True)
    y = numtorch.cat([a, b * 2])
    assert tuple(y.shape) == (6, 3)
    y.sum().backward()
    assert_close(a.grad, np.ones((2, 3)))
    c = numtorch.cat([numtorch.tensor([1, 2]), numtorch.tensor([0.5])])
    assert c.dtype == numtorch.float32
    assert c.dtype.name == str(torch.cat([torch.tensor([1, 2]), torch.tensor([0.5])]).dtype).split(".")[1]
    assert numtorch.hstack([numtorch.ones(2), numtorch.zeros(3)]).shape == (5,)
    assert numtorch.vstack([numtorch.ones(2), numtorch.zeros(2)]).shape == (2, 2)


@pytest.mark.parametrize("how", ["split2", "split_sizes", "chunk", "unbind"])
def test_split_chunk_unbind(how, torch):
    fns = {
        "split2": lambda x: x.split(2, 1), "split_sizes": lambda x: x.split([1, 4], 1),
        "chunk": lambda x: x.chunk(3, 1), "unbind": lambda x: x.unbind(1),
    }
    f = fns[how]
    a = np.random.default_rng(0).standard_normal((3, 5))
    x, tx = numtorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    parts, tparts = f(x), f(tx)
    assert len(parts) == len(tparts)
    for p, tp in zip(parts, tparts):
        assert_close(p, tp)
    w = [np.random.default_rng(i).standard_normal(tuple(tp.shape)) for i, tp in enumerate(tparts)]
    sum((p * numtorch.tensor(wi)).sum() for p, wi in zip(parts, w)).backward()
    sum((p * torch.tensor(wi)).sum() for p, wi in zip(tparts, w)).backward()
    assert_close(x.grad, tx.grad)
    check(lambda t: f(t)[0] * 2 + f(t)[-1].sum(), (3, 5))


def test_flip_roll_narrow_select():
    check(lambda x: x.flip(0), (3, 4), np_fn=lambda x: np.flip(x, 0))
    check(lambda x: x.flip((0, 1)), (3, 4), np_fn=lambda x: np.flip(x, (0, 1)))
    check(lambda x: x.flip(-1), (3, 4), np_fn=lambda x: np.flip(x, -1))
    check(lambda x: x.flip(-1, 0), (3, 4), np_fn=lambda x: np.flip(x, (-1, 0)))
    check("fliplr", (3, 4), np_fn=np.fliplr)
    check("flipud", (3, 4), np_fn=np.flipud)
    check(lambda x: x.roll(1, 0), (3, 4), np_fn=lambda x: np.roll(x, 1, 0))
    check(lambda x: x.roll((1, -2), (0, 1)), (3, 4), np_fn=lambda x: np.roll(x, (1, -2), (0, 1)))
    check(lambda x: x.roll(2), (3, 4), np_fn=lambda x: np.roll(x, 2))
    check(lambda x: x.narrow(1, 1, 2), (3, 4), np_fn=lambda x: x[:, 1:3])
    check(lambda x: x.narrow(0, -2, 2), (3, 4), np_fn=lambda x: x[1:3])
    check(lambda x: x.select(1, 2), (3, 4), np_fn=lambda x: x[:, 2])
    check(lambda x: x.select(0, -1), (3, 4), np_fn=lambda x: x[-1])


def test_tril_triu_diagonal_trace():
    check("tril", (4, 4), np_fn=np.tril)
    check("triu", (3, 4), 1, np_fn=lambda x, k: np.triu(x, k))
    check("tril", (2, 3, 4), -1, np_fn=lambda x, k: np.tril(x, k))
    check("diagonal", (3, 4), np_fn=np.diagonal)
    check("diagonal", (3, 4), 1, np_fn=lambda x, o: np.diagonal(x, o))
    check("diagonal", (3, 4), -1, np_fn=lambda x, o: np.diagonal(x, o))
    check(lambda x: x.diagonal(0, 1, 2), (2, 3, 4), np_fn=lambda x: np.diagonal(x, 0, 1, 2))
    check("diag", (3,), np_fn=np.diag)
    check("diag", (3,), 1, np_fn=lambda x, k: np.diag(x, k))
    check("diag", (3, 4), np_fn=np.diag)
    check("trace", (3, 4), np_fn=np.trace)
    check("diag_embed", (2, 3))


def test_constant_pad(torch):
    import torch.nn.functional as F
    for pad in [(1, 2), (1, 1, 2, 0), (0, 0, 1, 1, 1, 0), (-1, 1)]:
        check(lambda x: numtorch.ops.constant_pad(x, pad, 0.5) if isinstance(x, numtorch.Tensor)
              else F.pad(x, pad, value=0.5), (2, 3, 4))


def test_atleast_ravel_view_as():
    check(lambda x: x.ravel(), (2, 3), np_fn=np.ravel)
    check(lambda x, y: x.view_as(y), (2, 3), (3, 2), np_fn=lambda x, y: x.reshape(y.shape))
    check(lambda x, y: x.reshape_as(y), (2, 3), (6,), np_fn=lambda x, y: x.reshape(y.shape))
    assert numtorch.atleast_1d(numtorch.tensor(1.0)).shape == (1,)
    assert numtorch.atleast_2d(numtorch.ones(3)).shape == (1, 3)


def test_zero_size_shapes():
    check(lambda x: x.reshape(3, 0), (0, 3))
    check(lambda x: x.permute(1, 0), (0, 3))
    check(lambda x, y: x + y, (0, 3), (1, 3))
    z = numtorch.cat([numtorch.zeros(0, 3), numtorch.ones(2, 3)])
    assert tuple(z.shape) == (2, 3)


def test_views_share_version_counter():
    x = numtorch.zeros(3, 4)
    v = x.T
    x.add_(1)
    assert v._version == x._version == 1
    assert v[0, 0].item() == 1.0


def test_non_contiguous_inputs_in_chain():
    check(lambda x, y: (x.T @ y[::2]).relu(), (5, 3), (10, 4))
    check(lambda x: x.permute(2, 0, 1)[1:, :, ::2].exp().sum(0), (3, 4, 5))
