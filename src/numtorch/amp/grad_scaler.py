"""``GradScaler``: dynamic loss scaling for float16 training, as ``torch.amp.GradScaler``.

float16 gradients underflow to 0 below 6e-8; multiplying the loss by a large scale S before
backward lifts them into range, and dividing the gradients by S before the step undoes it.  S is
adapted: a step whose gradients hold an inf or NaN is skipped and S is multiplied by
``backoff_factor``; after ``growth_interval`` finite steps in a row S is multiplied by
``growth_factor``.  The scale is a float32 number, as PyTorch keeps it::

    scaler = GradScaler("cuda")
    scaler.scale(loss).backward()
    scaler.step(optimizer)      # unscales, and skips optimizer.step() if a gradient is not finite
    scaler.update()             # backs off or grows the scale

Disabled (``enabled=False``, or device "cuda" without a GPU) it is a pass-through: ``scale``
returns its argument, ``step`` calls ``optimizer.step()``, ``update`` does nothing.
"""
from __future__ import annotations

import warnings
from collections import defaultdict
from enum import Enum
from typing import Any

import numpy as np

from numtorch import _dtypes
from numtorch import _backend
from numtorch._backend import xp_of
from numtorch.autograd.grad_mode import no_grad
from numtorch.tensor import Tensor

__all__ = ["GradScaler", "OptState"]


class OptState(Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _refresh_per_optimizer_state() -> dict:
    return {"stage": OptState.READY, "found_inf": None}


_FIX = "This may indicate your script did not use scaler.scale(loss or outputs) earlier in the iteration."


class GradScaler:
    """Dynamic loss scaling.

    Args:
        device: "cuda" (default) or "cpu": where the scaled tensors live.
        init_scale: the first scale S (2^16).
        growth_factor: S is multiplied by this after ``growth_interval`` finite steps (> 1).
        backoff_factor: S is multiplied by this after a step with an inf/NaN gradient (< 1).
        growth_interval: the number of finite steps in a row before S grows.
        enabled: False makes every method a pass-through.
    """

    def __init__(self, device: str = "cuda", init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True) -> None:
        self._device = device
        self._enabled = enabled
        if device == "cuda" and enabled and not _backend.cuda_is_available():
            warnings.warn("numtorch.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling.",
                          stacklevel=2)
            self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise AssertionError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise AssertionError("The backoff factor must be < 1.0.")
        self._init_scale = init_scale
        self._scale: np.float32 | None = None      # set by the first scale(): S
        self._growth_factor = growth_factor
        self._backoff_factor = backoff_factor
        self._growth_interval = growth_interval
        self._init_growth_tracker = 0
        self._growth_tracker: int | None = None    # finite steps in a row since S last changed
        self._per_optimizer_states: dict[int, dict] = defaultdict(_refresh_per_optimizer_state)

    # ---- scaling ---------------------------------------------------------------------------
    def scale(self, outputs):
        """``outputs * S`` (a tensor, or tensors in nested lists/tuples); unchanged when disabled."""
        if not self._enabled:
            return outputs
        if self._scale is None:
            self._scale = np.float32(self._init_scale)
            self._growth_tracker = self._init_growth_tracker
        return self._scale_all(outputs)

    def _scale_all(self, v):
        if isinstance(v, Tensor):
            return v * self._scale_tensor(v)
        if isinstance(v, (list, tuple)):
            out = [self._scale_all(x) for x in v]
            return type(v)(out) if isinstance(v, tuple) and not hasattr(v, "_fields") else out
        raise ValueError("outputs must be a Tensor or an iterable of Tensors")

    def _scale_tensor(self, like: Tensor) -> Tensor:
        """S as a 0-d float32 tensor on ``like``'s device (PyTorch multiplies by such a tensor)."""
        from numtorch.creation import tensor
        return tensor(float(self._scale), dtype=_dtypes.float32, device=like.device)

    def _check_scale_growth_tracker(self, funcname: str) -> None:
        if self._scale is None:
            raise AssertionError(f"Attempted {funcname} but _scale is None.  " + _FIX)
        if self._growth_tracker is None:
            raise AssertionError(f"Attempted {funcname} but _growth_tracker is None.  " + _FIX)

    # ---- unscaling and stepping -----------------------------------------------------------
    def unscale_(self, optimizer) -> None:
        """Divides the optimizer's gradients by S in place and records whether any is inf/NaN."""
        if not self._enabled:
            return
        self._check_scale_growth_tracker("unscale_")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer "
                               "since the last update().")
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        inv_scale = np.float32(1.0 / np.float64(self._scale))  # the reciprocal in float64, as PyTorch
        state["found_inf"] = self._unscale_grads(optimizer, inv_scale)
        state["stage"] = OptState.UNSCALED

    @staticmethod
    def _unscale_grads(optimizer, inv_scale) -> bool:
        found_inf = False
        with no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    g = p.grad
                    if g is None:
                        continue
                    if g.dtype is _dtypes.float16:
                        raise ValueError("Attempting to unscale FP16 gradients.")
                    found_inf = found_inf or not bool(xp_of(g._data).isfinite(g._data).all())
                    g.mul_(float(inv_scale))
        return found_inf

    def step(self, optimizer, *args: Any, **kwargs: Any):
        """``optimizer.step()`` after unscaling, unless a gradient was inf/NaN (then skipped: None)."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_scale_growth_tracker("step")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] is OptState.READY:
            self.unscale_(optimizer)
        if state["found_inf"] is None:
            raise AssertionError("No inf checks were recorded for this optimizer.")
        retval = None if state["found_inf"] else optimizer.step(*args, **kwargs)
        state["stage"] = OptState.STEPPED
        return retval

    def update(self, new_scale=None) -> None:
        """Backs S off after an inf/NaN step, grows it after ``growth_interval`` finite ones
        (or sets it to ``new_scale``); then a new iteration begins."""
        if not self._enabled:
            return
        self._check_scale_growth_tracker("update")
        if new_scale is not None:
            self._scale = np.float32(new_scale.item() if isinstance(new_scale, Tensor) else new_scale)
        else:
            found = [s["found_inf"] for s in self._per_optimizer_states.values()
                     if s["found_inf"] is not None]
            if not found:
                raise AssertionError("No inf checks were recorded prior to update.")
            self._update_scale(any(found))
        self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)

    def _update_scale(self, found_inf: bool) -> None:
        """PyTorch's _amp_update_scale_: S *= backoff on inf; S *= growth every growth_interval
        finite steps (kept only if the grown S is finite)."""
        if found_inf:
            self._scale = np.float32(self._scale * np.float32(self._backoff_factor))
            self._growth_tracker = 0
            return
        successful = self._growth_tracker + 1
        if successful == self._growth_interval:
            grown = np.float32(self._scale * np.float32(self._growth_factor))
            if np.isfinite(grown):
                self._scale = grown
            self._growth_tracker = 0
        else:
            self._growth_tracker = successful

    # ---- getters, setters, state ------------------------------------------------------------
    def get_scale(self) -> float:
        """S as a Python float (1.0 when disabled; ``init_scale`` before the first ``scale``)."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else float(self._scale)

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = new_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = new_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = new_interval

    def _get_growth_tracker(self) -> int:
        if not self._enabled:
            return 0
        return self._init_growth_tracker if self._growth_tracker is None else self._growth_tracker

    def is_enabled(self) -> bool:
        return self._enabled

    def state_dict(self) -> dict:
        """PyTorch's keys: scale, growth_factor, backoff_factor, growth_interval, _growth_tracker
        (empty when disabled)."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker()}

    def load_state_dict(self, state_dict: dict) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved "
                               "from a disabled instance of GradScaler.")
        self._init_scale = float(state_dict["scale"])
        if self._scale is not None:
            self._scale = np.float32(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._init_growth_tracker = int(state_dict["_growth_tracker"])
        if self._growth_tracker is not None:
            self._growth_tracker = int(state_dict["_growth_tracker"])
