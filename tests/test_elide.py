"""Temporary elision (numtorch/_elide.py): results are unchanged, named data is never overwritten,
and a chain of operators on temporaries really reuses one buffer."""
import tracemalloc

import numpy as np
import pytest

import numtorch
from numtorch import _elide

pytestmark = pytest.mark.skipif(_elide.TEMP_REFS < 0, reason="this interpreter cannot tell temporaries apart")

N = 200_000


def _x(seed=0):
    return numtorch.from_numpy(np.random.default_rng(seed).standard_normal(N).astype(np.float32))


def test_chain_matches_numpy():
    x = _x()
    a = x.numpy().copy()
    got = ((x * 0.5 + 1.0).exp() * x - x) / 3.0 + (2 - x * x) * (1 / (x.abs() + 1))
    want = (np.exp(a * 0.5 + 1.0) * a - a) / 3.0 + (2 - a * a) * (1 / (np.abs(a) + 1))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
    np.testing.assert_array_equal(x.numpy(), a)  # the input itself is untouched


def test_chain_reuses_one_buffer():
    x = _x()
    nbytes = x.numpy().nbytes
    ((x * 0.5 + 1.0).exp() * x - x)  # warm up (imports, caches)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        y = (x * 0.5 + 1.0).exp() * x - x
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert y.shape == (N,)
    # without elision two result buffers are alive at once (an operand and the new result)
    assert peak < 1.5 * nbytes, f"peak {peak} bytes for a {nbytes}-byte chain: temporaries not reused"


class Holder:
    pass


GLOBAL = None


def test_named_tensors_are_never_overwritten():
    global GLOBAL
    x = _x()
    a = x.numpy().copy()
    y = x * 2                     # a local
    GLOBAL = x * 3                # a global
    items = [x * 4]               # a list item
    h = Holder()
    h.t = x * 5                   # an attribute
    before = [t.numpy().copy() for t in (y, GLOBAL, items[0], h.t)]

    def closure():
        return y + 1
    results = [y + 1, GLOBAL + 1, items[0] + 1, h.t + 1, closure(), y.exp(), 1 - y, y / 2]
    for t, b in zip((y, GLOBAL, items[0], h.t), before):
        np.testing.assert_array_equal(t.numpy(), b)
    np.testing.assert_array_equal(x.numpy(), a)
    np.testing.assert_allclose(results[0].numpy(), before[0] + 1)
    GLOBAL = None


def test_views_and_shared_arrays_are_never_overwritten():
    base = np.arange(12, dtype=np.float64).reshape(3, 4)
    x = numtorch.from_numpy(base.copy())
    keep = x.numpy().copy()
    _ = x[0] * 2 + 1              # x[0] is a view of x's memory
    _ = x.t() * 2 + 1
    _ = x.reshape(-1) + 1
    _ = x.detach() + 1            # shares x's array
    np.testing.assert_array_equal(x.numpy(), keep)
    a = base.copy()
    _ = numtorch.from_numpy(a) + 1  # the caller still holds a
    np.testing.assert_array_equal(a, base)
    t = numtorch.from_numpy(base.copy())
    n = t.numpy()                 # a NumPy alias of a temporary-looking tensor
    _ = t + 1
    np.testing.assert_array_equal(n, base)


def test_no_elision_where_types_or_shapes_change():
    i = numtorch.arange(6)
    assert ((i + 1) * 2.5).dtype == numtorch.float32          # int temp * float -> a new float result
    assert ((i * 1) / 2).dtype == numtorch.float32
    np.testing.assert_allclose(((i * 1) / 2).numpy(), np.arange(6) / 2)
    row = numtorch.ones(4)
    assert ((row * 1) + numtorch.ones(3, 4)).shape == (3, 4)  # broadcasting up needs a new array
    assert ((numtorch.ones(3, dtype=numtorch.float32) * 1) + numtorch.ones(3, dtype=numtorch.float64)).dtype \
        == numtorch.float64


def test_gradients_through_temporaries_are_unchanged():
    w = numtorch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = ((w * 2 + 1).exp() * w - w).sum()
    y.backward()
    a = np.array([1.0, -2.0, 3.0], dtype=np.float32)
    e = np.exp(2 * a + 1)
    np.testing.assert_allclose(w.grad.numpy(), 2 * e * a + e - 1, rtol=1e-5)
    with numtorch.no_grad():
        z = (w * 2 + 1).exp() * w - w   # no recording: elided, w untouched
    np.testing.assert_allclose(w.detach().numpy(), a)
    np.testing.assert_allclose(z.numpy(), e * a - a, rtol=1e-6)
