"""``numtorch.cpu.amp``: the older names of ``numtorch.amp`` for the CPU (deprecated in PyTorch too)."""
from __future__ import annotations

import warnings

from numtorch import amp as _amp
from numtorch._dtypes import bfloat16

__all__ = ["GradScaler", "autocast"]


class autocast(_amp.autocast):
    """``numtorch.cpu.amp.autocast(enabled=True, dtype=bfloat16)`` = ``numtorch.amp.autocast("cpu", ...)``."""

    def __init__(self, enabled: bool = True, dtype=bfloat16, cache_enabled: bool = True) -> None:
        warnings.warn("`numtorch.cpu.amp.autocast(args...)` is deprecated. Please use "
                      "`numtorch.amp.autocast('cpu', args...)` instead.", FutureWarning, stacklevel=2)
        super().__init__("cpu", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


class GradScaler(_amp.GradScaler):
    """``numtorch.cpu.amp.GradScaler(...)`` = ``numtorch.amp.GradScaler("cpu", ...)``."""

    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        warnings.warn("`numtorch.cpu.amp.GradScaler(args...)` is deprecated. Please use "
                      "`numtorch.amp.GradScaler('cpu', args...)` instead.", FutureWarning, stacklevel=2)
        super().__init__("cpu", init_scale, growth_factor, backoff_factor, growth_interval, enabled)
