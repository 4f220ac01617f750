"""Sorting and counting: sort, argsort, topk, kthvalue, unique, bincount, one_hot, searchsorted."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
from helpers import check, assert_close


def _pair(torch, a):
    return numtorch.tensor(a), torch.tensor(a)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_argsort(dim, descending, torch):
    a = np.array([[3.0, 1.0, 2.0, 1.0], [0.5, 0.5, -1.0, 4.0], [2.0, 2.0, 2.0, 1.0]])  # ties: stable order
    x, tx = _pair(torch, a)
    s, ts = x.sort(dim, descending=descending), tx.sort(dim=dim, descending=descending, stable=True)
    assert_close(s.values, ts.values)
    assert s.indices.tolist() == ts.indices.tolist()
    assert x.argsort(dim, descending=descending).tolist() == \
        tx.argsort(dim=dim, descending=descending, stable=True).tolist()
    check(lambda t: t.sort(dim, descending=descending)[0], (3, 4))


@pytest.mark.parametrize("k,largest", [(1, True), (2, True), (3, False), (4, True)])
def test_topk(k, largest, torch):
    a = np.random.default_rng(0).permutation(20).reshape(4, 5).astype(np.float64)
    x, tx = _pair(torch, a)
    r, tr = x.topk(k, largest=largest), tx.topk(k, largest=largest)
    assert_close(r.values, tr.values)
    assert r.indices.tolist() == tr.indices.tolist()
    r0, tr0 = x.topk(min(k, 4), dim=0, largest=largest), tx.topk(min(k, 4), dim=0, largest=largest)
    assert r0.indices.tolist() == tr0.indices.tolist()
    check(lambda t: t.topk(k, largest=largest)[0], (4, 5))


def test_topk_large_dim_partition_path(torch):
    a = np.random.default_rng(1).permutation(300).reshape(2, 150).astype(np.float64)
    x, tx = _pair(torch, a)
    for largest in (True, False):
        r, tr = x.topk(5, largest=largest), tx.topk(5, largest=largest)
        assert_close(r.values, tr.values)
        assert r.indices.tolist() == tr.indices.tolist()


def test_kthvalue(torch):
    a = np.random.default_rng(0).permutation(12).reshape(3, 4).astype(np.float64)
    x, tx = _pair(torch, a)
    r, tr = x.kthvalue(2, 1), tx.kthvalue(2, 1)
    assert_close(r.values, tr.values)
    assert r.indices.tolist() == tr.indices.tolist()
    check(lambda t: t.kthvalue(3, 0)[0], (4, 3))


def test_unique(torch):
    a = np.array([3, 1, 2, 3, 1, 5])
    x, tx = _pair(torch, a)
    assert x.unique().tolist() == tx.unique().tolist()
    u, inv, cnt = numtorch.unique(x, return_inverse=True, return_counts=True)
    tu, tinv, tcnt = torch.unique(tx, return_inverse=True, return_counts=True)
    assert (u.tolist(), inv.tolist(), cnt.tolist()) == (tu.tolist(), tinv.tolist(), tcnt.tolist())
    m = np.array([[1, 2], [1, 2], [0, 3]])
    assert numtorch.unique(numtorch.tensor(m), dim=0).tolist() == torch.unique(torch.tensor(m), dim=0).tolist()
    v, c = numtorch.unique_consecutive(numtorch.tensor([1, 1, 2, 2, 1]), return_counts=True)
    tv, tc = torch.unique_consecutive(torch.tensor([1, 1, 2, 2, 1]), return_counts=True)
    assert (v.tolist(), c.tolist()) == (tv.tolist(), tc.tolist())


def test_bincount(torch):
    a = np.array([0, 2, 2, 5, 1])
    x, tx = _pair(torch, a)
    assert x.bincount().tolist() == tx.bincount().tolist()
    assert x.bincount(minlength=8).tolist() == tx.bincount(minlength=8).tolist()
    w = np.array([0.5, 1.0, 2.0, 0.25, 1.0], dtype=np.float32)
    r, tr = x.bincount(numtorch.tensor(w)), tx.bincount(torch.tensor(w))
    assert r.dtype.name == str(tr.dtype).split(".")[1]
    assert_close(r, tr)
    assert x.bincount().dtype == numtorch.int64
    with pytest.raises(RuntimeError, match="bincount"):
        numtorch.tensor([-1, 2]).bincount()


def test_one_hot(torch):
    import torch.nn.functional as F
    a = np.array([[0, 2], [1, 3]])
    x, tx = _pair(torch, a)
    r, tr = numtorch.ops.one_hot(x), F.one_hot(tx)
    assert r.dtype == numtorch.int64 and r.tolist() == tr.tolist()
    assert numtorch.ops.one_hot(x, 6).tolist() == F.one_hot(tx, 6).tolist()
    with pytest.raises(RuntimeError):
        numtorch.ops.one_hot(x, 2)


def test_searchsorted_bucketize_histc(torch):
    seq = np.array([1.0, 3.0, 5.0, 7.0])
    v = np.array([[0.0, 3.0, 6.0], [7.0, 8.0, 5.0]])
    for right in (False, True):
        assert numtorch.searchsorted(numtorch.tensor(seq), numtorch.tensor(v), right=right).tolist() == \
            torch.searchsorted(torch.tensor(seq), torch.tensor(v), right=right).tolist()
        assert numtorch.bucketize(numtorch.tensor(v), numtorch.tensor(seq), right=right).tolist() == \
            torch.bucketize(torch.tensor(v), torch.tensor(seq), right=right).tolist()
    seq2 = np.array([[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]])
    v2 = np.array([[2.0, 5.0], [1.0, 7.0]])
    assert numtorch.searchsorted(numtorch.tensor(seq2), numtorch.tensor(v2)).tolist() == \
        torch.searchsorted(torch.tensor(seq2), torch.tensor(v2)).tolist()
    h = np.array([1.0, 2.0, 1.0, 2.5, 4.0])
    assert_close(numtorch.histc(numtorch.tensor(h), bins=4, min=0, max=4), torch.histc(torch.tensor(h), 4, 0, 4))
    assert_close(numtorch.histc(numtorch.tensor(h), bins=3), torch.histc(torch.tensor(h), 3))


def test_sort_zero_dim_and_empty(torch):
    s = numtorch.tensor(3.0).sort()
    assert s.values.item() == 3.0 and s.indices.item() == 0
    e = numtorch.zeros(0).sort()
    assert tuple(e.values.shape) == (0,)
