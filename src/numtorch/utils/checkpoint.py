"""``numtorch.utils.checkpoint``: activation checkpointing's API, so scripts that use it run.

PyTorch's ``checkpoint`` frees a segment's activations after forward and recomputes them during
backward, trading compute for memory. numtorch does not make that trade yet: ``checkpoint`` simply
calls the function, so results and gradients are the same as PyTorch's but memory use is that of
an ordinary forward pass.
"""
from __future__ import annotations

__all__ = ["checkpoint", "checkpoint_sequential"]


def checkpoint(function, *args, use_reentrant=None, context_fn=None, determinism_check="default",
               debug: bool = False, preserve_rng_state: bool = True, **kwargs):
    """``function(*args, **kwargs)`` (activations are kept, not recomputed: see the module docstring)."""
    return function(*args, **kwargs)


def checkpoint_sequential(functions, segments: int, input, use_reentrant=None, **kwargs):
    """Runs ``functions`` (a list or an ``nn.Sequential``) one after another on ``input``."""
    if hasattr(functions, "children") and not isinstance(functions, (list, tuple)):
        functions = list(functions.children())
    for f in functions:
        input = f(input)
    return input
