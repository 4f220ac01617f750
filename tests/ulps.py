"""Errors of float32 results in float32 ulps against float64 references (math / NumPy formulas).

``ulp_error(actual, ref, scale=None, floor=...)``: |actual - ref| / ulp(max(|scale|, floor)), with
ulp(v) the spacing of float32 at v (2^-23 v for v a power of two).  ``scale`` defaults to |ref|;
for a sum whose terms cancel (GELU's slope Phi + x phi) it is the sum of the terms' magnitudes, the
size of the rounding errors any evaluation makes.  ``floor`` is the absolute floor near zero outputs
(float32's smallest normal unless an op's outputs underflow sooner).  Special values compare
exactly: equal infinities, or nan against nan, count as 0 ulps; anything else against a non-finite
reference counts as inf.
"""
from __future__ import annotations

import math

import numpy as np

TINY = float(np.finfo(np.float32).tiny)    # 2^-126, float32's smallest normal
_SQRT1_2 = 1 / math.sqrt(2.0)
_erfc = np.vectorize(math.erfc, otypes=[np.float64])
_erf = np.vectorize(math.erf, otypes=[np.float64])


def ulp_error(actual, ref, scale=None, floor: float = TINY) -> np.ndarray:
    """Elementwise error of ``actual`` (any float array) against ``ref`` (float64), in float32 ulps."""
    a = np.asarray(actual, dtype=np.float64)
    r = np.asarray(ref, dtype=np.float64)
    s = np.abs(r) if scale is None else np.abs(np.asarray(scale, dtype=np.float64))
    with np.errstate(invalid="ignore", over="ignore"):
        s = np.where(np.isfinite(s), np.maximum(s, floor), floor)
        ulp = np.spacing(s.astype(np.float32)).astype(np.float64)
        err = np.abs(a - r) / ulp
    special = ~np.isfinite(r) | ~np.isfinite(a)
    same = (a == r) | (np.isnan(a) & np.isnan(r))
    return np.where(special, np.where(same, 0.0, np.inf), err)


def max_ulps(actual, ref, scale=None, floor: float = TINY) -> float:
    e = ulp_error(actual, ref, scale, floor)
    return float(e.max()) if e.size else 0.0


def normal_cdf(x):
    """Phi(x) = erfc(-x / sqrt 2) / 2 in float64: relative accuracy in both tails."""
    return 0.5 * _erfc(-np.asarray(x, np.float64) * _SQRT1_2)


def normal_pdf(x):
    x = np.asarray(x, np.float64)
    return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def gelu_ref(x):
    """GELU's value x Phi(x), slope Phi(x) + x phi(x) and the slope's scale |Phi| + |x phi| (float64)."""
    x = np.asarray(x, np.float64)
    cdf, xpdf = normal_cdf(x), x * normal_pdf(x)
    with np.errstate(invalid="ignore"):
        return x * cdf, cdf + xpdf, np.abs(cdf) + np.abs(xpdf)


def erf_ref(x):
    return _erf(np.asarray(x, np.float64))


def erfc_ref(x):
    return _erfc(np.asarray(x, np.float64))
