"""float32 accuracy: every float32 op below against a float64 reference, in float32 ulps.

Each case computes numtorch's float32 result on a grid that includes the tails and special values
(+-0, tiny, subnormal, huge, +-inf and nan where the op defines them), and the float64 reference
from ``math`` / NumPy formulas written here (never numtorch's own code).  The error of an element is
|y - ref| / ulp(scale), ulp(v) = float32's spacing at v, with ``scale`` = |ref| unless the case says
otherwise (for results that are sums of cancelling terms, the terms' magnitude: the rounding error
any float32 evaluation makes) and an absolute floor near zero outputs.  Every case states its bound
in ulps with a one-line reason: float32 eps times the op's conditioning at the element.

Where PyTorch is importable its float32 result is measured the same way, and numtorch and PyTorch
must agree within numtorch's bound plus PyTorch's own error, elementwise in the same ulps.

``python -m pytest tests/test_numerics.py -s`` (or ``python bench/numerics.py``) prints the table of
maximum errors, numtorch and PyTorch, op by op.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

import numtorch
import numtorch.nn.functional as F
import ulps

try:
    import torch as _torch
    _torch.set_num_threads(1)
except ImportError:  # PyTorch's column is then left empty
    _torch = None

F32 = np.float32
SPECIALS = np.array([0.0, -0.0, ulps.TINY, -ulps.TINY, 1e-45, -1e-45, 3e38, -3e38, np.inf, -np.inf, np.nan], F32)


def unary_grid(lo: float, hi: float, n: int = 200_001, specials=SPECIALS) -> np.ndarray:
    """float32: n evenly spaced points on [lo, hi], +-10^k for k in [-45, 38.5], and ``specials``."""
    mags = np.logspace(-45, 38.5, 1500)
    return np.concatenate([np.linspace(lo, hi, n), mags, -mags, specials]).astype(F32)


# ---- float64 references ---------------------------------------------------------------------

def _sigmoid64(x):
    e = np.exp(-np.abs(x))                            # e^-|x| <= 1: no overflow
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus64(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _gelu_tanh64(x):
    # x/2 (1 + tanh u) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3): no cancellation for u < 0
    with np.errstate(over="ignore", invalid="ignore"):
        u = math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)
        return x * _sigmoid64(2 * u)


def _logsumexp64(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    return m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


# ---- the cases -------------------------------------------------------------------------------

@dataclass
class Case:
    """One float32 op: ``inputs()`` -> float32 arrays; ``nt`` / ``th`` run numtorch / PyTorch on them;
    ``ref`` gives (reference, scale or None) in float64; ``bound`` (ulps, a number or per element)."""
    name: str
    grid: str
    inputs: Callable
    nt: Callable
    th: Callable | None
    ref: Callable
    bound: Callable                 # (inputs, reference) -> ulps, scalar or per element
    why: str                        # the bound's justification, one line
    floor: float = ulps.TINY
    bound_text: str = ""            # the table's words for a per-element bound


def _nt(fn):
    return lambda *a: fn(*(numtorch.tensor(v) for v in a)).numpy()


def _th(fn):
    return lambda *a: fn(*(_torch.tensor(v) for v in a)).numpy()


def _rows(shape, scales=(1.0, 10.0, 100.0, 1e4), seed=0):
    """Softmax-style rows: normal logits at several scales, plus rows with -inf entries and ties."""
    rng = np.random.default_rng(seed)
    rows = [rng.standard_normal(shape) * s for s in scales]
    masked = rng.standard_normal(shape) * 3
    masked[..., ::3] = -np.inf                       # an attention mask's -inf entries
    rows += [masked, np.zeros(shape), np.full(shape, 88.0)]
    return np.concatenate(rows).astype(F32)


def _softmax64(x):
    return np.exp(x.astype(np.float64) - _logsumexp64(x.astype(np.float64)))


def _gap(x):
    """|x_i - max_j x_j| per element (float64): softmax's condition number at the element."""
    x = x.astype(np.float64)
    with np.errstate(invalid="ignore"):
        g = np.abs(x - np.max(x, axis=-1, keepdims=True))
    return np.where(np.isfinite(g), g, 0)


def _log_softmax_ref(x):
    x = x.astype(np.float64)
    lse = _logsumexp64(x)
    m = np.max(x, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore"):
        # y_i = (x_i - m) - log S, S = sum e^(x_j - m) >= 1: terms of size |x_i - m| and log S, and
        # log S carries an absolute error of eps (S's own rounding), which matters where S ~ 1
        scale = np.abs(x - m) + np.abs(lse - m) + 1
    return x - lse, np.where(np.isfinite(scale), scale, 0)


def _ce_inputs():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.standard_normal((64, 10)) * s for s in (1.0, 10.0, 100.0)]).astype(F32)
    return x, rng.integers(0, 10, x.shape[0])


def _ce_ref(x, t):
    """Per-sample -log softmax(x)[t]: terms |x_t - m|, log S (S = sum e^(x_j - m)) and log S's eps."""
    x = x.astype(np.float64)
    lse, m = _logsumexp64(x)[:, 0], x.max(-1)
    xt = x[np.arange(x.shape[0]), t]
    return lse - xt, np.abs(xt - m) + np.abs(lse - m) + 1


def _ln_inputs():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 16, 256))
    x[1] += 1e3                                      # a large mean: E[x^2] - E[x]^2 would cancel
    x[2] *= 1e-3
    x[3] = x[3] * 50 + 7
    return (x.astype(F32), (1 + 0.1 * rng.standard_normal(256)).astype(F32), (0.1 * rng.standard_normal(256)).astype(F32))


def _ln_ref(x, w, b, axes=(-1,), eps=1e-5, shape=None):
    """(x - mean) / sqrt(var + eps) w + b in float64; scale: (|x - mean| + ulp-size of x's magnitude
    relative to the spread) -- the rounding of x itself is 2^-24 |x|, over sqrt(var + eps)."""
    x, w, b = (v.astype(np.float64) for v in (x, w, b))
    mu = x.mean(axis=axes, keepdims=True)
    sd = np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    y = (x - mu) / sd
    w, b = (w, b) if shape is None else (w.reshape(shape), b.reshape(shape))
    return y * w + b, (np.abs(x) + np.abs(mu)) / sd * np.abs(w) + np.abs(b)


def _bn_inputs():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 4, 6, 6))
    x[:, 1] += 1e3
    x[:, 2] *= 1e-3
    return x.astype(F32), (1 + 0.1 * rng.standard_normal(4)).astype(F32), (0.1 * rng.standard_normal(4)).astype(F32)


def _sdpa_inputs():
    rng = np.random.default_rng(4)
    q, k, v = (rng.standard_normal((2, 4, 32, 16)) for _ in range(3))
    q[1] *= 4                                        # sharper attention
    return q.astype(F32), k.astype(F32), v.astype(F32)


def _sdpa_ref(q, k, v):
    """softmax(q k^T / sqrt d) v in float64; scale: sum_j p_ij |v_j| (1 + |s_ij| + sum_l |q_il k_jl|/sqrt d),
    the size of the rounding errors of the weighted sum and of the logits that weight it."""
    q, k, v = (a.astype(np.float64) for a in (q, k, v))
    d = q.shape[-1]
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(d)
    p = _softmax64(s)
    dots = np.abs(q) @ np.abs(np.swapaxes(k, -1, -2)) / math.sqrt(d)
    return p @ v, (p * (1 + _gap(s) + dots)) @ np.abs(v)


def _bn_nt(x, w, b):
    return F.batch_norm(numtorch.tensor(x), None, None, numtorch.tensor(w), numtorch.tensor(b), training=True).numpy()


def _bn_th(x, w, b):
    return _torch.nn.functional.batch_norm(_torch.tensor(x), None, None, _torch.tensor(w), _torch.tensor(b),
                                           training=True).numpy()


def _ce_nt(x, t):
    return F.cross_entropy(numtorch.tensor(x), numtorch.tensor(t), reduction="none").numpy()


def _ce_th(x, t):
    return _torch.nn.functional.cross_entropy(_torch.tensor(x), _torch.tensor(t), reduction="none").numpy()


def _ce_mean_ref(x, t):
    r, s = _ce_ref(x, t)
    return np.array(r.mean()), np.array(s.mean())


TF = None if _torch is None else _torch.nn.functional
_GELU_SPECIALS = SPECIALS[:-3].tolist() + [np.nan]   # +-inf: nan in numtorch and PyTorch (x Phi(x) at inf)


CASES = [
    Case("gelu", "[-15, 10], +-10^[-45, 38.5], specials", lambda: (unary_grid(-15, 10, specials=_GELU_SPECIALS),),
         _nt(F.gelu), _th(lambda x: TF.gelu(x)) if TF else None,
         lambda x: (ulps.gelu_ref(x)[0], None), lambda *a: 16,
         "erfc-form Phi (fit 1.5 ulps in float32) times exact-split e^(-x^2/2) (2 exps): ~8 roundings", floor=2.0 ** -120),
    Case("gelu backward (slope)", "as gelu", lambda: (unary_grid(-15, 10, specials=_GELU_SPECIALS),),
         lambda x: _grad_nt(F.gelu, x), (lambda x: _grad_th(TF.gelu, x)) if TF else None,
         lambda x: ulps.gelu_ref(x)[1:], lambda *a: 16,
         "Phi + x phi to 16 ulps of |Phi| + |x phi| (the slope crosses 0 at x = -0.75)", floor=2.0 ** -120),
    Case("gelu tanh", "[-15, 10], +-10^[-45, 38.5], specials", lambda: (unary_grid(-15, 10, specials=_GELU_SPECIALS),),
         _nt(lambda x: F.gelu(x, approximate="tanh")), _th(lambda x: TF.gelu(x, approximate="tanh")) if TF else None,
         lambda x: (_gelu_tanh64(x.astype(np.float64)), None),
         lambda x, r: 8 + 8 * np.abs(math.sqrt(2 / math.pi) * (x.astype(np.float64) + 0.044715 * x.astype(np.float64) ** 3)),
         "x sigmoid(2u): u = k (x + 0.044715 x^3) carries ~2 ulps, amplified by |d log sigmoid(2u) / d log u| <= 2|u|",
         floor=2.0 ** -120, bound_text="8 + 8 abs(u)"),
    Case("erf", "[-6, 6], +-10^[-45, 38.5], specials", lambda: (unary_grid(-6, 6),), _nt(numtorch.erf),
         _th(_torch.erf) if _torch else None, lambda x: (ulps.erf_ref(x.astype(np.float64)), None), lambda *a: 2,
         "SciPy's erf in double rounded to float32 (1/2 ulp), or a 1.2e-7 relative fit (2 ulps)"),
    Case("erfc", "[-6, 12], +-10^[-45, 38.5], specials", lambda: (unary_grid(-6, 12),), _nt(numtorch.erfc),
         _th(_torch.erfc) if _torch else None, lambda x: (ulps.erfc_ref(x.astype(np.float64)), None), lambda *a: 2,
         "as erf: erfc is computed, not 1 - erf (relative accuracy in the tail)"),
    Case("sigmoid", "[-100, 100], +-10^[-45, 38.5], specials", lambda: (unary_grid(-100, 100),), _nt(numtorch.sigmoid),
         _th(_torch.sigmoid) if _torch else None, lambda x: (_sigmoid64(x.astype(np.float64)), None),
         lambda *a: 4, "e = e^-|x| of an exact argument (< 2 ulps), 1 + e, 1 / (1 + e), e r: 4 roundings"),
    Case("tanh", "[-20, 20], +-10^[-45, 38.5], specials", lambda: (unary_grid(-20, 20),), _nt(numtorch.tanh),
         _th(_torch.tanh) if _torch else None, lambda x: (np.tanh(x.astype(np.float64)), None), lambda *a: 3,
         "NumPy's float32 tanh (a few ulps: its SIMD kernels)"),
    Case("softplus", "[-100, 100], +-10^[-45, 38.5], specials", lambda: (unary_grid(-100, 100),), _nt(F.softplus),
         _th(TF.softplus) if TF else None, lambda x: (_softplus64(x.astype(np.float64)), None),
         lambda *a: 4, "max(x, 0) + log1p(e^-|x|), e^-|x| of an exact argument: 4 roundings"),
    Case("logsigmoid", "[-100, 100], +-10^[-45, 38.5], specials", lambda: (unary_grid(-100, 100),), _nt(F.logsigmoid),
         _th(TF.logsigmoid) if TF else None, lambda x: (-_softplus64(-x.astype(np.float64)), None),
         lambda *a: 4, "as softplus(-x)"),
    Case("silu", "[-100, 100], +-10^[-45, 38.5], specials", lambda: (unary_grid(-100, 100),), _nt(F.silu),
         _th(TF.silu) if TF else None,
         lambda x: (x.astype(np.float64) * _sigmoid64(x.astype(np.float64)), None),
         lambda *a: 5, "x sigmoid(x): sigmoid's bound plus one product (floor 2^-120: sigmoid(x) is subnormal "
         "for x < -87, and x times it keeps only its few bits)", floor=2.0 ** -120),
    Case("softmax", "rows of 40: N(0, s^2) logits, s in {1, 10, 100, 1e4}, -inf masks, ties, 88s",
         lambda: (_rows((64, 40)),), _nt(lambda x: F.softmax(x, -1)), _th(lambda x: TF.softmax(x, -1)) if TF else None,
         lambda x: (_softmax64(x), None), lambda x, r: 4 + _gap(x) + math.log2(x.shape[-1]),
         "e^(x_i - m) carries |x_i - m| ulps (the rounded difference), the sum log2(n) more",
         bound_text="4 + abs(x_i - max) + log2 n"),
    Case("log_softmax", "as softmax", lambda: (_rows((64, 40)),), _nt(lambda x: F.log_softmax(x, -1)),
         _th(lambda x: TF.log_softmax(x, -1)) if TF else None, _log_softmax_ref, lambda x, r: 4 + math.log2(x.shape[-1]),
         "(x_i - m) - log sum: 4 ulps of the terms' size plus the sum's log2(n)"),
    Case("cross_entropy (per sample)", "192 x 10 logits, scales 1, 10, 100", _ce_inputs, _ce_nt, _ce_th if TF else None,
         _ce_ref, lambda *a: 4 + math.log2(10), "log_softmax's bound at the target"),
    Case("cross_entropy (mean)", "as above", _ce_inputs,
         lambda x, t: F.cross_entropy(numtorch.tensor(x), numtorch.tensor(t)).numpy(),
         (lambda x, t: TF.cross_entropy(_torch.tensor(x), _torch.tensor(t)).numpy()) if TF else None,
         _ce_mean_ref, lambda *a: 4 + math.log2(10) + math.log2(192), "per sample, plus a pairwise mean's log2(N)"),
    Case("layer_norm", "4 x 16 rows of 256: N(0,1), mean 1e3, scale 1e-3, N(7, 50^2)", _ln_inputs,
         lambda x, w, b: F.layer_norm(numtorch.tensor(x), (256,), numtorch.tensor(w), numtorch.tensor(b)).numpy(),
         (lambda x, w, b: TF.layer_norm(_torch.tensor(x), (256,), _torch.tensor(w), _torch.tensor(b)).numpy()) if TF else None,
         lambda x, w, b: _ln_ref(x, w, b), lambda *a: 8 + math.log2(256),
         "x - mean carries ulp(|x| + |mean|): 8 ulps of (|x| + |mean|)/sd |w| + |b|, plus the mean's log2(n)"),
    Case("batch_norm (training)", "8 x 4 x 6 x 6: N(0,1), mean 1e3, scale 1e-3", _bn_inputs, _bn_nt, _bn_th if TF else None,
         lambda x, w, b: _ln_ref(x, w, b, axes=(0, 2, 3), shape=(1, 4, 1, 1)), lambda *a: 8 + math.log2(288),
         "as layer_norm over N, H, W"),
    Case("scaled_dot_product_attention", "2 x 4 heads, 32 x 16, N(0,1) (queries x4 in one batch)", _sdpa_inputs,
         _nt(F.scaled_dot_product_attention), _th(TF.scaled_dot_product_attention) if TF else None,
         _sdpa_ref, lambda q, *a: 8 + 2 * q.shape[-1],
         "dot products of d terms (d ulps), softmax (its gap-sized error, in the scale), weighted sum of 32"),
]


def _grad_nt(fn, x):
    t = numtorch.tensor(x, requires_grad=True)
    fn(t).sum().backward()
    return t.grad.numpy()


def _grad_th(fn, x):
    t = _torch.tensor(x, requires_grad=True)
    fn(t).sum().backward()
    return t.grad.numpy()


def measure(case: Case):
    """(numtorch's max ulps, PyTorch's max ulps or None, elementwise arrays for the checks)."""
    inputs = case.inputs()
    ref, scale = case.ref(*inputs)
    with np.errstate(all="ignore"):
        y = case.nt(*inputs)
        err = ulps.ulp_error(y, ref, scale, case.floor)
        bound = np.broadcast_to(np.asarray(case.bound(inputs[0], ref), np.float64), err.shape)
        bound = np.where(np.isfinite(bound), bound, 0.0)   # at +-inf and nan inputs: exact results only
        terr = ty = None
        if case.th is not None:
            ty = case.th(*inputs)
            terr = ulps.ulp_error(ty, ref, scale, case.floor)
    return inputs, y, ty, ref, scale, err, terr, bound


def _max(e):
    e = e[np.isfinite(e)] if e is not None else None
    return None if e is None else (float(e.max()) if e.size else 0.0)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_float32_accuracy(case):
    inputs, y, ty, ref, scale, err, terr, bound = measure(case)
    assert y.dtype == np.float32
    bad = err > bound
    if bad.any():
        i = np.flatnonzero(bad.reshape(-1))[0]
        raise AssertionError(f"{case.name}: {err.reshape(-1)[i]:.1f} ulps > bound {bound.reshape(-1)[i]:.1f} "
                             f"at input {inputs[0].reshape(-1)[i] if inputs[0].size == err.size else i}")
    if terr is None:
        return
    # agreement with PyTorch within numtorch's bound plus PyTorch's own (measured) error
    with np.errstate(all="ignore"):
        diff = ulps.ulp_error(y, ty.astype(np.float64), ref if scale is None else scale, case.floor)
    both = np.isfinite(terr) & np.isfinite(diff)
    limit = bound + np.where(np.isfinite(terr), terr, 0)
    assert not (diff[both] > limit[both]).any(), f"{case.name}: numtorch and PyTorch differ beyond both errors"
    # special values (the reference 0, +-inf or nan) that PyTorch gets exactly, numtorch gets exactly too
    special = (terr == 0) & (~np.isfinite(ref) | (ref == 0))
    assert (err[special] == 0).all(), f"{case.name}: a special value differs from PyTorch's exact one"


def table() -> str:
    """The markdown table of max errors (ulps) against float64, numtorch and PyTorch."""
    lines = ["| op | grid | bound (ulps) | numtorch max | PyTorch max |", "| --- | --- | --- | --- | --- |"]
    for case in CASES:
        inputs, y, ty, ref, scale, err, terr, bound = measure(case)
        b = case.bound_text or f"{float(bound.max()):.0f}"
        tmax = _max(terr)
        lines.append(f"| {case.name} | {case.grid} | {b} | {_max(err):.2f} | {'n/a' if tmax is None else '%.3g' % tmax} |")
    return "\n".join(lines)


def test_print_table(capsys):
    """Prints the table (visible with ``pytest -s``); checks that every row has numbers."""
    t = table()
    with capsys.disabled():
        print("\n" + t)
    assert t.count("\n") == len(CASES) + 1
