"""The float32 CPU GELU (``activation._gelu_and_slope_f32``) on a dense grid against float64.

The grid covers every regime of its formula: x < -13 (outputs subnormal or 0), the left tail where
Phi(x) = Phi(-|x|) is tiny and must keep relative precision, |x| < 1 (the polynomial's variable v
near its largest value), the slope's zero at x = -0.75 and the right side where Phi = 1 - P.  The
references are x Phi(x) and Phi(x) + x phi(x) in float64 from math.erfc (``tests/ulps.py``); the bound
is ``GELU_ULPS`` of ``tests/test_gpt_fast_paths.py`` (the slope measured against |Phi| + |x phi|, the
size of its terms), so the dense grid and the random samples there share one stated budget.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import numtorch
import numtorch.nn.functional as F
import ulps
from numtorch.ops import activation
from test_gpt_fast_paths import GELU_ULPS, _GELU_FLOOR

F32 = np.float32


def _grid():
    a = np.concatenate([np.linspace(-15, 10, 250001), np.linspace(-1, 1, 100001),
                        np.linspace(-0.8, -0.7, 20001), [0.0, -0.0, 1e-30, -1e-30, 1e-45, -1e-45]])
    return a.astype(F32)


def test_gelu_and_slope_dense_grid_within_budget():
    a = _grid()
    y, slope = activation._gelu_and_slope_f32(a)
    yr, sr, scale = ulps.gelu_ref(a)
    assert y.dtype == slope.dtype == np.float32
    assert ulps.max_ulps(y, yr, floor=_GELU_FLOOR) <= GELU_ULPS
    assert ulps.max_ulps(slope, sr, scale=scale, floor=_GELU_FLOOR) <= GELU_ULPS


def test_gelu_float32_left_tail_keeps_relative_precision():
    # Phi(-10) = 7.6e-24: 1 + erf(x / sqrt 2) would give 0 or an error of 1 here
    a = np.linspace(-12.5, -5, 2001).astype(F32)
    y, _ = activation._gelu_and_slope_f32(a)
    yr = ulps.gelu_ref(a)[0]
    assert np.all(y < 0)
    assert ulps.max_ulps(y, yr) <= GELU_ULPS


def test_gelu_float32_special_values_as_pytorch():
    # nan at +-inf and nan, as PyTorch's CPU GELU; huge finite x: x and -0 (exactly x Phi(x) rounded;
    # PyTorch's x/2 (1 + erf) overflows to inf at 3e38); +-0 keep their sign (the slope there, 1/2,
    # is within the budget of the dense grid above)
    a = np.array([np.inf, -np.inf, np.nan, 3e38, -3e38, 0.0, -0.0], F32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no floating-point warnings escape
        y, slope = activation._gelu_and_slope_f32(a)
    assert np.isnan(y[:3]).all() and np.isnan(slope[:3]).all()
    np.testing.assert_array_equal(y[3:], np.array([3e38, -0.0, 0.0, -0.0], F32))
    np.testing.assert_array_equal(slope[3:5], np.array([1.0, 0.0], F32))
    assert np.signbit(y[4]) and np.signbit(y[6])


@pytest.mark.parametrize("n", [activation._GELU_CHUNK - 1, 2 * activation._GELU_CHUNK + 3])
def test_gelu_float32_special_value_in_a_later_block(n):
    a = np.random.default_rng(n).standard_normal(n).astype(F32)
    a[-1] = np.inf
    y = F.gelu(numtorch.tensor(a)).numpy()
    assert np.isnan(y[-1]) and np.isfinite(y[:-1]).all()
    assert ulps.max_ulps(y[:-1], ulps.gelu_ref(a[:-1])[0], floor=_GELU_FLOOR) <= GELU_ULPS
