"""Autocast's state and its casting policy (the user's API is ``numtorch.amp.autocast``).

Inside an enabled ``autocast(device_type)`` region each op on PyTorch's lists casts its
floating-point inputs first, as PyTorch's autocast does:

- "lower" ops (matrix products, convolutions, linear, attention) run in the autocast dtype
  (bfloat16 by default on the CPU, float16 on CUDA): they gain most and lose little;
- "fp32" ops (losses, and on CUDA softmax, norms and sums) run in float32: they need range or
  accumulate many terms;
- every other op runs in the dtypes it is given (so ``bfloat16 + float32`` promotes to float32).

float64 tensors are never cast, nor are integer ones.  An op opts in with two lines at its top::

    if _autocast.active:
        input, weight, bias = _autocast.cast("linear", input, weight, bias)

``active`` counts the enabled regions of every thread: while it is 0 the check costs one
attribute read.  The enabled flags and dtypes themselves are per thread, as in PyTorch.
"""
from __future__ import annotations

import threading

from numtorch import _dtypes

_LOWER, _FP32 = "lower", "fp32"

# PyTorch's lists (aten/src/ATen/autocast_mode.cpp), for the ops numtorch has.
_CPU_LOWER = ("conv1d", "conv2d", "conv3d", "bmm", "mm", "baddbmm", "addmm", "addbmm", "linear", "matmul",
              "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "prelu",
              "scaled_dot_product_attention")
_CPU_FP32 = ("binary_cross_entropy", "prod", "cdist", "trace", "inverse", "pinverse", "mse_loss",
             "cosine_embedding_loss", "nll_loss", "hinge_embedding_loss", "poisson_nll_loss",
             "smooth_l1_loss", "cross_entropy", "l1_loss", "huber_loss", "margin_ranking_loss",
             "soft_margin_loss", "triplet_margin_loss", "multi_margin_loss", "kl_div",
             "binary_cross_entropy_with_logits", "multilabel_soft_margin_loss", "gaussian_nll_loss")
_CUDA_LOWER = _CPU_LOWER + ("addmv", "mv", "einsum")
_CUDA_FP32 = tuple(op for op in _CPU_FP32 if op != "binary_cross_entropy") + (
    "softmax", "log_softmax", "layer_norm", "group_norm", "logsumexp", "cumsum", "cumprod")

POLICY = {"cpu": {**dict.fromkeys(_CPU_LOWER, _LOWER), **dict.fromkeys(_CPU_FP32, _FP32)},
          "cuda": {**dict.fromkeys(_CUDA_LOWER, _LOWER), **dict.fromkeys(_CUDA_FP32, _FP32)}}

active = 0  # enabled autocast regions, all threads together: the ops' fast check
_lock = threading.Lock()


class _State(threading.local):
    """Per thread: is autocast on for a device type, and to which dtype."""

    def __init__(self) -> None:
        self.enabled = {"cpu": False, "cuda": False}
        self.dtype = {"cpu": _dtypes.bfloat16, "cuda": _dtypes.float16}
        self.cache_enabled = True


state = _State()


def _device_type(args) -> str:
    for a in args:
        d = getattr(a, "_data", None)
        if d is not None:
            return "cpu" if d.__class__.__module__ == "numpy" else "cuda"
    return "cpu"


def _cast_one(a, target):
    d = getattr(a, "_data", None)
    if d is None or d.dtype == target.np or _dtypes.kind(d.dtype) != "f" or d.dtype.itemsize == 8:
        return a  # not a tensor, already there, not floating, or float64 (never cast)
    from numtorch.ops.convert import to_copy
    return to_copy(a, target)  # differentiable: the gradient flows back in the input's dtype


def cast(op: str, *args):
    """``args`` as op ``op`` takes them under the current autocast state (unchanged when off)."""
    dev = _device_type(args)
    if not state.enabled[dev]:
        return args
    policy = POLICY[dev].get(op)
    if policy is None:
        return args
    target = state.dtype[dev] if policy == _LOWER else _dtypes.float32
    return tuple(_cast_one(a, target) for a in args)


def set_enabled(device_type: str, enabled: bool) -> None:
    """Turns autocast on or off for ``device_type`` in this thread (keeping ``active`` true)."""
    global active
    enabled = bool(enabled)
    with _lock:
        active += int(enabled) - int(state.enabled[device_type])
        state.enabled[device_type] = enabled


def enter(device_type: str, enabled: bool, dtype, cache_enabled: bool) -> tuple:
    """Sets the state for ``device_type``; returns what ``leave`` restores."""
    prev = (state.enabled[device_type], state.dtype[device_type], state.cache_enabled)
    set_enabled(device_type, enabled)
    state.dtype[device_type] = dtype
    state.cache_enabled = cache_enabled
    return prev


def leave(device_type: str, prev: tuple) -> None:
    """Restores the state that ``enter`` replaced."""
    set_enabled(device_type, prev[0])
    state.dtype[device_type], state.cache_enabled = prev[1], prev[2]
