"""Loss functions (the names of ``torch.nn.functional``), each with ``reduction`` "none" | "mean" | "sum".

``cross_entropy`` with class indices is the training hot path, so it is one fused ``Function``
("Softmax-with-Loss" in the notes): forward is a stable log-softmax and a pick of the target's
log-probability; backward is ``(softmax - onehot) * weight / N`` without a separate softmax node.
"""
from __future__ import annotations

from collections import namedtuple

import math
import warnings

import numpy as np

from numtorch import _kernels
from numtorch._backend import xp_of
from numtorch.ops import _autocast
from numtorch.autograd.function import Function
from numtorch.ops import elementwise as _ew
from numtorch.ops import reduce as _reduce
from numtorch.ops import shape as _shape
from numtorch.ops._util import (_round_bf16, array_sum, in_float32_for_bfloat16, log1p_exp_neg_abs,
                               ones_vector, sum_to)
from numtorch.ops.activation import log_softmax, softmax
from numtorch.tensor import Tensor, make_tensor

__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "soft_margin_loss",
           "poisson_nll_loss", "gaussian_nll_loss", "margin_ranking_loss", "hinge_embedding_loss",
           "cosine_embedding_loss", "multilabel_soft_margin_loss", "triplet_margin_loss", "multi_margin_loss"]

_REDUCTIONS = ("none", "mean", "sum")


def _legacy_reduction(size_average, reduce, reduction: str) -> str:
    """PyTorch's deprecated ``size_average`` / ``reduce`` flags, turned into a ``reduction`` string."""
    if size_average is None and reduce is None:
        return reduction
    legacy = ("mean" if (size_average is None or size_average) and (reduce is None or reduce) else
              ("sum" if reduce is None or reduce else "none"))
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{legacy}' "
                  "instead.", stacklevel=3)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return ("mean" if size_average else "sum") if reduce else "none"


def _reduced(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "mean":
        return _reduce.mean(loss)
    if reduction == "sum":
        return _reduce.sum(loss)
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _check_same_size(name: str, input: Tensor, target: Tensor) -> None:
    if tuple(input.shape) != tuple(target.shape):
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size "
                      f"({input.shape}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", stacklevel=3)


# ---- regression losses -----------------------------------------------------------------------

def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
             weight: Tensor | None = None) -> Tensor:
    """Mean squared error (x - t)^2.  The notes' sum_squared_error is 0.5 * this with reduction="sum"."""
    if _autocast.active:
        input, target, weight = _autocast.cast("mse_loss", input, target, weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_same_size("mse_loss", input, target)
    d = input - target
    loss = d * d
    if weight is not None:
        loss = loss * weight
    return _reduced(loss, reduction)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
            weight: Tensor | None = None) -> Tensor:
    """Mean absolute error |x - t|."""
    if _autocast.active:
        input, target, weight = _autocast.cast("l1_loss", input, target, weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_same_size("l1_loss", input, target)
    loss = _ew.abs(input - target)
    if weight is not None:
        loss = loss * weight
    return _reduced(loss, reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere (d = x - t): L1 with a rounded kink."""
    if _autocast.active:
        input, target = _autocast.cast("smooth_l1_loss", input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    if beta == 0.0:
        return l1_loss(input, target, reduction=reduction)
    d = _ew.abs(input - target)
    loss = _ew.where(d < beta, (0.5 / beta) * d * d, d - 0.5 * beta)
    return _reduced(loss, reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """0.5 d^2 where |d| < delta, delta (|d| - 0.5 delta) elsewhere (= delta * smooth_l1 with beta=delta)."""
    if _autocast.active:
        input, target, weight = _autocast.cast("huber_loss", input, target, weight)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    d = _ew.abs(input - target)
    loss = _ew.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))
    if weight is not None:
        loss = loss * weight
    return _reduced(loss, reduction)


# ---- classification: cross-entropy ----------------------------------------------------------

def _valid_targets(xp, t, ignore_index: int, C: int, op: str):
    """(mask of counted targets or None when all count, targets with ignored ones set to 0); checks bounds.

    On the CPU an out-of-range target raises IndexError.  On a GPU that check would make the host wait
    for the device at every step (PyTorch reports it with an asynchronous device-side assert); there
    the mask is a float mask holding NaN for out-of-range targets, so their loss -- and the mean -- is NaN.
    """
    if xp is not np:
        counted = t != ignore_index
        in_range = (t >= 0) & (t < C)
        t = xp.where(counted & in_range, t, 0)
        return xp.where(in_range | ~counted, counted, xp.nan).astype(xp.float32), t
    if not t.size:
        return None, t
    tmin, tmax = int(xp.minimum.reduce(t, None)), int(xp.maximum.reduce(t, None))  # (= t.min(), t.max())
    valid = None
    if tmin <= ignore_index <= tmax:  # some targets may be ignore_index
        valid = t != ignore_index
        t = xp.where(valid, t, 0)
        tmin, tmax = int(xp.minimum.reduce(t, None)), int(xp.maximum.reduce(t, None))  # (= t.min(), t.max())
    if tmin < 0 or tmax >= C:
        raise IndexError(f"{op}: Target {tmin if tmin < 0 else tmax} is out of bounds (the input has {C} "
                         "classes).")
    return valid, t


@in_float32_for_bfloat16
class CrossEntropy(Function):
    """Fused softmax + cross-entropy on (M, C) logits and (M,) class indices.

    Per sample i with target t_i: loss_i = -sum_c q_ic log p_ic, where p = softmax(x_i) and
    q_ic = (1 - eps) w_{t_i} [c = t_i] + (eps / C) w_c (label smoothing eps, class weights w);
    ignored samples have q_i = 0.  Then d loss_i / d x_ic = p_ic * sum_c q_ic - q_ic.
    """

    @staticmethod
    def forward(ctx, x, t, w, ignore_index, reduction, eps):
        xp = xp_of(x)
        M, C = x.shape
        x = xp.ascontiguousarray(x)  # (so that the targets' flat positions below index it; no copy if it is)
        if w is None and not eps and xp is np and _all_classes(t, ignore_index, C):  # the usual case
            return _cross_entropy_plain(ctx, x, t, reduction)
        valid, t_safe = _valid_targets(xp, t, ignore_index, C, "cross_entropy")
        all_valid = valid is None
        at = xp.arange(0, M * C, C) + t_safe  # the targets' flat positions in an (M, C) array
        # log-softmax, stably: s = x - max, lse = log sum exp(s), log p = s - lse
        s = x - x.max(axis=1, keepdims=True)
        nll = -s.reshape(-1)[at]  # -(s at the target); + lse below
        if eps:
            smooth = s @ w if w is not None else s.sum(axis=1)  # sum_c w_c s_ic
        xp.exp(s, out=s)
        sumexp = array_sum(s, 1)
        lse = xp.log(sumexp)
        nll += lse
        # per-sample weight of the target term (0 for ignored samples); None: all 1
        wt = w[t_safe] if w is not None else (None if all_valid else valid.astype(x.dtype))
        if w is not None and not all_valid:
            wt = wt * valid
        loss = nll if wt is None else nll * wt
        if eps:
            loss *= x.dtype.type(1 - eps)
        W = w.sum() if w is not None else float(C)  # (stays on the device: no sync)
        if eps:  # -sum_c w_c log p_ic = W lse - sum_c w_c s_ic
            smooth_loss = W * lse - smooth
            if not all_valid:
                smooth_loss *= valid
            loss += x.dtype.type(eps / C) * smooth_loss
        out, denom = _reduce_losses(loss, reduction, wt, M)
        if ctx.needs_input_grad:
            s /= sumexp[:, None]  # s now holds softmax(x)
            ctx.save_for_backward(x, s)
            ctx.info = _CrossEntropyInfo(at, t_safe, wt, valid if not all_valid else None, w, W, eps,
                                         reduction, denom)
        return xp.asarray(out, dtype=x.dtype)

    @staticmethod
    def backward(ctx, gy):
        # the formula from differentiable ops (create_graph)
        return _cross_entropy_backward_graph(ctx.saved_tensors[0], gy, ctx.info), None, None, None, None, None

    @staticmethod
    def backward_arrays(ctx, gy):
        # first order: the formula on the arrays, p = softmax(x) saved by forward
        x, p = ctx.saved_arrays
        gx = _cross_entropy_backward_arrays(p, gy, ctx.info)
        return (_round_bf16(gx) if ctx.__dict__.get("bf16") else gx), None, None, None, None, None


def _reduce_losses(loss, reduction: str, wt, M: int):
    """(the reduced loss, the mean's divisor or None): the divisor is the counted targets' weight."""
    if reduction == "none":
        return loss, None
    if reduction == "sum":
        return loss.sum(), None
    denom = loss.dtype.type(M) if wt is None else wt.sum()
    return loss.sum() / denom, denom


def _all_classes(t, ignore_index: int, C: int) -> bool:
    """True when every int64 target is a class in [0, C) and ``ignore_index`` is none of them: one
    reduction, the largest target read as unsigned (a negative one reads as 2^64 - |t|)."""
    return (t.dtype is _I64 and t.size and not 0 <= ignore_index < C
            and int(_max_reduce(t.view(_U64), None)) < C)


def _cross_entropy_plain(ctx, x, t, reduction):
    """``CrossEntropy.forward`` without class weights, smoothing or ignored targets, on NumPy:
    s = x - max, lse = log sum_c exp(s) (the row sums as one GEMV), loss_i = lse_i - s_i,t_i >= 0;
    the mean or sum is one dot product of those terms (all >= 0: no cancellation)."""
    M, C = x.shape
    at = np.arange(0, M * C, C) + t  # the targets' flat positions
    s = x - _row_max(x)[:, None]
    st = s.reshape(-1)[at]  # s at the targets (a copy)
    np.exp(s, out=s)
    sumexp = s @ ones_vector(C, x.dtype)
    loss = np.log(sumexp)
    loss -= st
    denom = x.dtype.type(M) if reduction == "mean" else None
    if reduction == "none":
        out = loss
    else:
        out = loss @ ones_vector(M, x.dtype)
        out = out / denom if denom is not None else out
    if ctx.needs_input_grad:
        s /= sumexp[:, None]  # s now holds softmax(x)
        ctx.save_for_backward(x, s)
        ctx.info = _CrossEntropyInfo(at, t, None, None, None, float(C), 0.0, reduction, denom)
    return np.asarray(out, dtype=x.dtype)


def _row_max(x):
    """The max of each row of an (M, C) array.  With C <= 32 from a transposed copy: NumPy reduces a
    row of a few floats in one inner loop per row (~40 ns each), but the C rows of x^T with one
    vectorized pass each (2.0 against 5.3 us at (100, 10); slower from C = 64 on)."""
    if x.shape[1] <= 32:
        return _max_reduce(x.T.copy(), 0)
    return _max_reduce(x, 1)


_I64, _U64 = np.dtype(np.int64), np.dtype(np.uint64)
_max_reduce = np.maximum.reduce


_CrossEntropyInfo = namedtuple("_CrossEntropyInfo", "at t wt valid w W eps reduction denom")
_CrossEntropyInfo.__doc__ = """What CrossEntropy's forward keeps for backward: the targets' flat
positions in the (M, C) logits (row * C + target) and the safe targets, each sample's target weight
``wt`` (None: all 1), the ignore mask ``valid`` (None: none ignored), the class weights ``w`` and their
sum ``W``, label smoothing ``eps``, the reduction and the mean's divisor ``denom``."""


def _cross_entropy_backward_arrays(p, g, info: _CrossEntropyInfo):
    """First-order gradient on the arrays, p = softmax(x) from forward: gx = c_i (p_i Q_i - q_i),
    c the incoming gradient (divided by ``denom`` for the mean)."""
    at, t, wt, valid, w, W, eps, reduction, denom = info
    x_shape = p.shape
    xp = xp_of(p)
    c = g / denom if reduction == "mean" else g  # () or (M,)
    dt = p.dtype
    if not eps:
        cw = xp.asarray(c if wt is None else c * wt, dtype=dt)
        cw = cw[:, None] if cw.ndim else cw
        if _kernels.fused(p, cw):  # GPU: one kernel instead of a product and a scatter
            cols = xp.arange(x_shape[1], dtype=xp.int64)[None, :]
            gx = _kernels.cross_entropy_backward(p, cw, t.astype(xp.int64, copy=False)[:, None], cols)
        else:
            gx = p * cw
            gx.reshape(-1)[at] -= cw.reshape(-1) if cw.ndim else cw  # p - onehot, scaled
    else:
        wt = 1 if wt is None else wt
        Q = (1 - eps) * wt + (eps / x_shape[1]) * W * (1 if valid is None else valid)
        cQ = (c * Q).astype(dt, copy=False)
        gx = p * (cQ[:, None] if cQ.ndim else cQ)
        cv = c * (1 if valid is None else valid)
        cv = xp.broadcast_to(xp.asarray(cv, dtype=dt), (x_shape[0],))
        wrow = w if w is not None else xp.ones(x_shape[1], dtype=dt)
        gx -= (eps / x_shape[1]) * cv[:, None] * wrow[None, :]
        gx.reshape(-1)[at] -= (c * (1 - eps) * wt).astype(dt, copy=False)
    return gx


def _cross_entropy_backward_graph(x: Tensor, gy: Tensor, info) -> Tensor:
    """The cross-entropy gradient built from differentiable ops (used only for double backward)."""
    at, t, wt, valid, w, W, eps, reduction, denom = info
    xp = xp_of(x._data)
    M, C = x.shape
    dt = x._data.dtype
    wt = 1 if wt is None else wt
    q = xp.zeros((M, C), dtype=dt)
    q.reshape(-1)[at] = (1 - eps) * wt
    if eps:
        wrow = w if w is not None else xp.ones(C, dtype=dt)
        counted = xp.ones(M, dtype=dt) if valid is None else valid.astype(dt)
        q += (eps / C) * counted[:, None] * wrow[None, :]
    Q = q.sum(axis=1, keepdims=True)
    p = softmax(x, 1)
    g = p * make_tensor(Q) - make_tensor(q)
    c = gy / float(denom) if reduction == "mean" else gy
    return g * (_shape.reshape(c, (M, 1)) if c.ndim else c)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                  ignore_index: int = -100, reduce=None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between softmax(input) and the target: the loss of classifiers.

    Reference implementation: numtorch.nn.textbook.cross_entropy

    Args:
        input: logits (N, C), (C,) or (N, C, d1, ...).
        target: class indices (N,), () or (N, d1, ...) (int64), or class probabilities shaped like input.
        weight: (C,) weight of each class.
        ignore_index: a target value that contributes nothing (class-index targets only).
        label_smoothing: eps in [0, 1]: the target becomes (1 - eps) onehot + eps / C.
    With reduction="mean" and class indices, the sum is divided by the total weight of the counted
    targets (the number of non-ignored samples without ``weight``), as in PyTorch.
    """
    if _autocast.active:
        input, target, weight = _autocast.cast("cross_entropy", input, target, weight)
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if input.ndim == 0:
        raise RuntimeError("cross_entropy: input must have at least one dimension (the classes)")
    if target._data.dtype.kind in "fV":
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing)
    if target._data.dtype.kind not in "iu":
        raise RuntimeError("cross_entropy: expected target of dtype int64 (class indices) or a floating "
                           f"dtype (probabilities), got {target.dtype}")
    shape = input._data.shape
    if len(shape) == 2 and target._data.shape == shape[:1]:  # (N, C) logits, (N,) targets: as they are
        x, t, out_shape = input, target, shape[:1]
    else:
        x, t, out_shape = _as_rows(input, target, "cross_entropy")
    w = None if weight is None else weight._data
    if w is not None and w.shape != (x.shape[1],):
        raise RuntimeError(f"cross_entropy: weight tensor should be defined either for all {x.shape[1]} "
                           f"classes or no classes but got weight tensor of shape: {list(weight.shape)}")
    loss = CrossEntropy.apply(x, t._data, w, ignore_index, reduction, float(label_smoothing))
    return _shape.reshape(loss, out_shape) if reduction == "none" and out_shape != tuple(loss.shape) else loss


def _as_rows(input: Tensor, target: Tensor, op: str):
    """Logits as (M, C) rows and targets as (M,): moves the class dim of (N, C, d1, ...) last."""
    if input.ndim == 1:  # (C,) with a scalar target
        if target.ndim != 0:
            raise RuntimeError(f"{op}: expected a 0-D target for a 1-D input, got target of shape "
                               f"{list(target.shape)}")
        return _shape.reshape(input, (1, -1)), _shape.reshape(target, (1,)), ()
    N, C = input.shape[0], input.shape[1]
    expected = (N,) + tuple(input.shape[2:])
    if tuple(target.shape) != expected:
        if target.shape and target.shape[0] != N:
            raise ValueError(f"Expected input batch_size ({N}) to match target batch_size "
                             f"({target.shape[0]}).")
        raise RuntimeError(f"{op}: expected target size {list(expected)}, got {list(target.shape)}")
    if input.ndim == 2:
        return input, target, (N,)
    rows = _shape.reshape(_shape.movedim(input, 1, -1), (-1, C))
    return rows, _shape.reshape(target, (-1,)), expected


def _cross_entropy_probs(input: Tensor, target: Tensor, weight, reduction: str, eps: float) -> Tensor:
    """Cross-entropy with class-probability targets: -sum_c w_c q_c log softmax(x)_c."""
    if tuple(target.shape) != tuple(input.shape):
        raise RuntimeError(f"cross_entropy: with probability targets the target must have the input's shape "
                           f"{list(input.shape)}, got {list(target.shape)}")
    cdim = 0 if input.ndim == 1 else 1
    C = input.shape[cdim]
    logp = log_softmax(input, cdim)
    q = target if not eps else target * (1 - eps) + eps / C
    if weight is not None:
        q = q * _shape.reshape(weight, (C,) + (1,) * (input.ndim - cdim - 1))
    loss = -_reduce.sum(logp * q, cdim)
    return _reduced(loss, reduction)  # "mean" divides by the number of samples N * d1 * ..., not by C


class NLLLoss(Function):
    """loss_i = -w_{t_i} x[i, t_i] on (M, C) log-probabilities; linear in x."""

    @staticmethod
    def forward(ctx, x, t, w, ignore_index, reduction):
        xp = xp_of(x)
        M, C = x.shape
        valid, t_safe = _valid_targets(xp, t, ignore_index, C, "nll_loss")
        rows = xp.arange(M)
        wt = w[t_safe] if w is not None else xp.ones(M, dtype=x.dtype)
        if valid is not None:
            wt = wt * valid
        loss = -x[rows, t_safe] * wt
        denom = wt.sum() if reduction == "mean" else None
        ctx.info = (rows, t_safe, wt.astype(x.dtype, copy=False), reduction, denom, x.shape)
        if reduction == "none":
            return loss
        return xp.asarray(loss.sum() if reduction == "sum" else loss.sum() / denom, dtype=x.dtype)

    @staticmethod
    def backward(ctx, gy):
        # d loss_i / d x[i, c] = -w_{t_i} [c = t_i]: a constant matrix times gy
        rows, t, wt, reduction, denom, shape = ctx.info
        xp = xp_of(gy._data)
        m = xp.zeros(shape, dtype=wt.dtype)
        m[rows, t] = -wt / denom if reduction == "mean" else -wt
        c = _shape.reshape(gy, (-1, 1)) if gy.ndim else gy
        return c * make_tensor(m), None, None


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (e.g. from ``log_softmax``) at the targets."""
    if _autocast.active:
        input, target, weight = _autocast.cast("nll_loss", input, target, weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if target._data.dtype.kind not in "iu":
        raise RuntimeError("nll_loss: expected target of an integer dtype (class indices), got "
                           f"{target.dtype}")
    x, t, out_shape = _as_rows(input, target, "nll_loss")
    w = None if weight is None else weight._data
    loss = NLLLoss.apply(x, t._data, w, ignore_index=ignore_index, reduction=reduction)
    return _shape.reshape(loss, out_shape) if reduction == "none" and out_shape != tuple(loss.shape) else loss


# ---- binary classification ----------------------------------------------------------------------

class BinaryCrossEntropy(Function):
    """loss = -(t log x + (1 - t) log(1 - x)), each log clamped at -100 (PyTorch's convention)."""

    @staticmethod
    def forward(ctx, x, t):
        xp = xp_of(x)
        # checked on the CPU only: on a GPU the check would wait for the device (an input outside
        # [0, 1] gives NaN there; PyTorch raises a device-side assert)
        if xp is np and x.size and (x.min() < 0 or x.max() > 1):
            raise RuntimeError("all elements of input should be between 0 and 1")
        with _quiet(xp):
            log_x = xp.maximum(xp.log(x), -100)
            log_1mx = xp.maximum(xp.log1p(-x), -100)
        ctx.save_for_backward(x, t)
        return -(t * log_x + (1 - t) * log_1mx)

    @staticmethod
    def backward(ctx, gy):
        # d/dx = (x - t) / (x (1 - x))  (denominator clamped at 1e-12);  d/dt = log(1 - x) - log(x)
        x, t = ctx.saved_tensors
        gx = gt = None
        if ctx.needs_input_grad[0]:
            gx = gy * (x - t) / _ew.clamp_min(x * (1 - x), 1e-12)
        if ctx.needs_input_grad[1]:
            # max(log v, -100) = log(max(v, e^-100)) for v >= 0, without log(0) warnings
            gt = gy * (_ew.log(_ew.clamp_min(1 - x, _E_M100)) - _ew.log(_ew.clamp_min(x, _E_M100)))
        return gx, gt


_E_M100 = math.exp(-100)


class _quiet:
    """Silences NumPy's divide-by-zero warning for log(0) (the clamp handles it)."""

    def __init__(self, xp) -> None:
        self.xp = xp

    def __enter__(self):
        self.old = self.xp.seterr(divide="ignore") if hasattr(self.xp, "seterr") else None

    def __exit__(self, *exc):
        if self.old is not None:
            self.xp.seterr(**self.old)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                         reduce=None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities ``input`` (in [0, 1]) against ``target``."""
    if _autocast.active:
        input, target, weight = _autocast.cast("binary_cross_entropy", input, target, weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")
    loss = BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduced(loss, reduction)


@in_float32_for_bfloat16
class BCEWithLogits(Function):
    """loss = (1 - t) x + (1 + (pw - 1) t) softplus(-x), stable for any x; pw the positive weight."""

    @staticmethod
    def forward(ctx, x, t, pw):
        xp = xp_of(x)
        ctx.save_for_backward(x, t, pw)
        # softplus(-x) = max(-x, 0) + log1p(e^-|x|); the max terms are combined first, so that a tiny
        # log1p term is never added to a large number that later cancels
        tail = log1p_exp_neg_abs(x)
        if pw is None:
            return (xp.maximum(x, 0) - x * t) + tail
        return ((1 - t) * xp.maximum(x, 0) + pw * t * xp.maximum(-x, 0)) + (1 + (pw - 1) * t) * tail

    @staticmethod
    def backward(ctx, gy):
        # d/dx = (1 + (pw - 1) t) sigmoid(x) - pw t;  d/dt = -x + (pw - 1) softplus(-x);
        # d/dpw = t softplus(-x)
        x, t, pw = ctx.saved_tensors
        need = ctx.needs_input_grad
        s = _ew.sigmoid(x)
        gx = gt = gpw = None
        if pw is None:
            if need[0]:
                gx = sum_to(gy * (s - t), tuple(x.shape))
            if need[1]:
                gt = sum_to(-gy * x, tuple(t.shape))
            return gx, gt, None
        sp = _softplus_neg(x)
        if need[0]:
            gx = sum_to(gy * ((1 + (pw - 1) * t) * s - pw * t), tuple(x.shape))
        if need[1]:
            gt = sum_to(gy * ((pw - 1) * sp - x), tuple(t.shape))
        if need[2]:
            gpw = sum_to(gy * t * sp, tuple(pw.shape))
        return gx, gt, gpw


def _softplus_neg(x: Tensor) -> Tensor:
    """log(1 + e^-x) = softplus(-x), differentiable and stable."""
    return _ew.softplus_raw(-x, 1.0, math.inf)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average=None, reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """sigmoid + binary cross-entropy in one stable op (never computes log(0)).

    ``pos_weight`` (broadcast along the last dim, one per class) weighs the positive examples.
    """
    if _autocast.active:
        input, target, weight, pos_weight = _autocast.cast("binary_cross_entropy_with_logits", input, target,
                                                           weight, pos_weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    loss = BCEWithLogits.apply(input, target, pos_weight)
    if weight is not None:
        loss = loss * weight
    return _reduced(loss, reduction)


# ---- distributions ---------------------------------------------------------------------------

def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """KL(target || exp(input)) = sum target (log target - input); ``input`` holds log-probabilities.

    reduction="batchmean" divides the sum by the batch size (the mathematically correct KL);
    "mean" divides by the number of elements, as PyTorch does.
    """
    if _autocast.active:
        input, target = _autocast.cast("kl_div", input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in ("none", "mean", "sum", "batchmean"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support "
                      "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
                      "definition.'mean' will be changed to behave the same as 'batchmean' in the next major "
                      "release.",
                      stacklevel=2)
    if log_target:
        loss = _ew.exp(target) * (target - input)
    else:
        loss = _ew.xlogy(target, target) - target * input
    if reduction == "batchmean":
        return _reduce.sum(loss) / (input.shape[0] if input.ndim else 1)
    return _reduced(loss, reduction)


def soft_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """log(1 + exp(-t x)) for targets t in {-1, 1}."""
    if _autocast.active:
        input, target = _autocast.cast("soft_margin_loss", input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _reduced(_softplus_neg(target * input), reduction)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     size_average=None, eps: float = 1e-8, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of a Poisson target with rate exp(input) (or input)."""
    if _autocast.active:
        input, target = _autocast.cast("poisson_nll_loss", input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if log_input:
        loss = _ew.exp(input) - target * input
    else:
        loss = input - target * _ew.log(input + eps)
    if full:  # Stirling's approximation of log(t!) for t > 1
        stirling = target * _ew.log(target) - target + 0.5 * _ew.log(2 * math.pi * target)
        loss = loss + _ew.where(target > 1, stirling, 0.0)
    return _reduced(loss, reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var: Tensor, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Tensor:
    """0.5 (log var + (x - t)^2 / var) (+ 0.5 log 2 pi when ``full``); var clamped at ``eps``."""
    if _autocast.active:
        input, target, var = _autocast.cast("gaussian_nll_loss", input, target, var)
    if var.ndim == input.ndim - 1 and tuple(var.shape) == tuple(input.shape[:-1]):
        var = _shape.unsqueeze(var, -1)
    if bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")
    from numtorch.ops.convert import clone
    with_floor = _ew.clamp_min(clone(var), eps)
    d = input - target
    loss = 0.5 * (_ew.log(with_floor) + d * d / with_floor)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduced(loss, reduction)


# ---- margin and embedding losses --------------------------------------------------------------

def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, -y (x1 - x2) + margin): x1 should rank above x2 where y = 1, below where y = -1."""
    if _autocast.active:
        input1, input2, target = _autocast.cast("margin_ranking_loss", input1, input2, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _reduced(_ew.clamp_min(-target * (input1 - input2) + margin, 0.0), reduction)


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """x where y = 1, max(0, margin - x) where y = -1."""
    if _autocast.active:
        input, target = _autocast.cast("hinge_embedding_loss", input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    pos = _ew.where(target == 1, input, 0.0)
    neg = _ew.where(target == -1, _ew.clamp_min(margin - input, 0.0), 0.0)
    return _reduced(pos + neg, reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                          size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin) where y = -1 (cos over the last dim)."""
    if _autocast.active:
        input1, input2, target = _autocast.cast("cosine_embedding_loss", input1, input2, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    eps = 1e-12  # PyTorch's: cos = x1.x2 / sqrt((|x1|^2 + eps)(|x2|^2 + eps))
    dim = input1.ndim - 1
    prod = _reduce.sum(input1 * input2, dim)
    mag = (_reduce.sum(input1 * input1, dim) + eps) * (_reduce.sum(input2 * input2, dim) + eps)
    cos = prod / _ew.sqrt(mag)
    loss = (_ew.where(target == 1, 1 - cos, 0.0)
            + _ew.where(target == -1, _ew.clamp_min(cos - margin, 0.0), 0.0))
    return _reduced(loss, reduction)


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of each label's logit, averaged over the labels (dim 1)."""
    if _autocast.active:
        input, target, weight = _autocast.cast("multilabel_soft_margin_loss", input, target, weight)
    from numtorch.ops.activation import logsigmoid
    reduction = _legacy_reduction(size_average, reduce, reduction)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    loss = _reduce.mean(loss, input.ndim - 1)
    return _reduced(loss, reduction)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0,
                        p: float = 2.0, eps: float = 1e-6, swap: bool = False, size_average=None, reduce=None,
                        reduction: str = "mean") -> Tensor:
    """max(0, d(a, p) - d(a, n) + margin) with d the p-norm distance."""
    if _autocast.active:
        anchor, positive, negative = _autocast.cast("triplet_margin_loss", anchor, positive, negative)
    from numtorch.ops.activation import pairwise_distance
    reduction = _legacy_reduction(size_average, reduce, reduction)
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = _ew.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduced(_ew.clamp_min(margin + d_pos - d_neg, 0.0), reduction)


def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0,
                      weight: Tensor | None = None, size_average=None, reduce=None,
                      reduction: str = "mean") -> Tensor:
    """sum over j != y of max(0, margin - x[y] + x[j])^p / C (the multi-class hinge loss)."""
    if _autocast.active:
        input, target, weight = _autocast.cast("multi_margin_loss", input, target, weight)
    from numtorch.ops.index import gather
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    x = input if input.ndim == 2 else _shape.reshape(input, (1, -1))
    t = _shape.reshape(target, (-1, 1))
    C = x.shape[1]
    picked = gather(x, 1, t)
    h = _ew.clamp_min(margin - picked + x, 0.0)
    if p == 2:
        h = h * h
    if weight is not None:
        h = h * _shape.reshape(gather(_shape.reshape(weight, (1, -1)).expand(t.shape[0], C), 1, t), (-1, 1))
    xp = xp_of(x._data)
    not_target = make_tensor((xp.arange(C)[None, :] != t._data).astype(x._data.dtype))
    loss = _reduce.sum(h * not_target, 1) / C
    if input.ndim != 2:
        loss = _shape.reshape(loss, ())
    return _reduced(loss, reduction)
