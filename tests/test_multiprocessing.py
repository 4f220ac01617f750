"""``numtorch.multiprocessing``: tensors in shared memory, seen by forked and spawned processes.

The oracle is the parent's own memory: a child writes into a shared tensor (or trains a shared
model), and the parent reads the change after ``join``; an unshared copy would leave it unchanged.
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import numtorch
import numtorch.multiprocessing as mp
import numtorch.nn as nn


def _fill(t, value) -> None:
    t.fill_(value)


def _sgd_steps(model, steps: int) -> None:
    opt = numtorch.optim.SGD(model.parameters(), lr=0.1)
    x = numtorch.ones(4, 3)
    for _ in range(steps):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()


def _put_back(q_in, q_out) -> None:
    t = q_in.get(timeout=60)
    t.add_(1)
    q_out.put(t.sum().item())


def test_share_memory_keeps_values_and_is_idempotent() -> None:
    t = numtorch.arange(6.0).view(2, 3)
    assert not t.is_shared()
    assert t.share_memory_() is t and t.is_shared()
    data = t._data
    t.share_memory_()
    assert t._data is data
    np.testing.assert_array_equal(t.numpy(), np.arange(6.0).reshape(2, 3))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_child_writes_into_the_parents_tensor(method: str) -> None:
    t = numtorch.zeros(5).share_memory_()
    p = mp.get_context(method).Process(target=_fill, args=(t, 7.0))
    p.start()
    p.join(120)
    assert p.exitcode == 0
    np.testing.assert_array_equal(t.numpy(), np.full(5, 7.0, np.float32))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_hogwild_children_train_the_parents_model(method: str) -> None:
    """SGD steps in two children move the parent's parameters by exactly the steps' sum: d/dW sum(W x + b)
    is x summed over the batch for every row, so each step subtracts lr * 4 from W and b's entries."""
    model = nn.Linear(3, 2)
    before = [p.detach().numpy().copy() for p in model.parameters()]
    model.share_memory()
    assert all(p.is_shared() for p in model.parameters())
    ctx = mp.get_context(method)
    procs = [ctx.Process(target=_sgd_steps, args=(model, 3)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    for b, p in zip(before, model.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), b - 2 * 3 * 0.1 * 4, rtol=1e-5, atol=1e-5)


def test_a_tensor_through_a_queue_is_shared() -> None:
    ctx = mp.get_context("spawn")
    q_in, q_out = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=_put_back, args=(q_in, q_out))
    p.start()
    t = numtorch.ones(3)
    q_in.put(t)
    assert q_out.get(timeout=120) == 6.0
    p.join(120)
    np.testing.assert_array_equal(t.numpy(), [2.0, 2.0, 2.0])  # the child's add_ reached our tensor


def test_spawn_runs_fn_with_its_index() -> None:
    t = numtorch.zeros(3).share_memory_()
    mp.spawn(_set_index, args=(t,), nprocs=3)
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0, 3.0])
    with pytest.raises(mp.ProcessExitedException, match="exit code"):
        mp.spawn(_fail, nprocs=1)


def _set_index(i, t) -> None:
    t[i] = i + 1


def _fail(i) -> None:
    raise SystemExit(3)


def test_what_is_not_sent() -> None:
    x = numtorch.ones(2, requires_grad=True)
    from multiprocessing.reduction import ForkingPickler
    with pytest.raises(RuntimeError, match="non-leaf tensor"):
        ForkingPickler.dumps(x * 2)
    with pytest.raises(TypeError, match="not pickled"):  # plain pickle still refuses tensors
        pickle.dumps(numtorch.ones(2))


def test_the_api_of_torch_multiprocessing() -> None:
    assert mp.get_sharing_strategy() in mp.get_all_sharing_strategies()
    with pytest.raises(ValueError):
        mp.set_sharing_strategy("nonsense")
    for name in ("Process", "Queue", "Pool", "get_context", "set_start_method", "get_start_method", "cpu_count"):
        assert callable(getattr(mp, name)), name
    assert numtorch.multiprocessing is mp
