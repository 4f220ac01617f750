"""``numtorch.cuda.amp``: the older names of ``numtorch.amp`` for CUDA (deprecated in PyTorch too)."""
from __future__ import annotations

import warnings

from numtorch import amp as _amp
from numtorch._dtypes import float16
from numtorch.amp import custom_bwd, custom_fwd  # noqa: F401

__all__ = ["GradScaler", "autocast", "custom_bwd", "custom_fwd"]


class autocast(_amp.autocast):
    """``numtorch.cuda.amp.autocast(enabled=True, dtype=float16)`` =
    ``numtorch.amp.autocast("cuda", ...)``."""

    def __init__(self, enabled: bool = True, dtype=float16, cache_enabled: bool = True) -> None:
        warnings.warn("`numtorch.cuda.amp.autocast(args...)` is deprecated. Please use "
                      "`numtorch.amp.autocast('cuda', args...)` instead.", FutureWarning, stacklevel=2)
        super().__init__("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


class GradScaler(_amp.GradScaler):
    """``numtorch.cuda.amp.GradScaler(...)`` = ``numtorch.amp.GradScaler("cuda", ...)``."""

    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        warnings.warn("`numtorch.cuda.amp.GradScaler(args...)` is deprecated. Please use "
                      "`numtorch.amp.GradScaler('cuda', args...)` instead.", FutureWarning, stacklevel=2)
        super().__init__("cuda", init_scale, growth_factor, backoff_factor, growth_interval, enabled)
