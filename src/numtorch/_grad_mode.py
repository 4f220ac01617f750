"""Grad mode: whether ops record the graph that backward walks.

``no_grad``, ``enable_grad``, ``set_grad_enabled`` and ``inference_mode`` work as context
managers and as decorators, as in PyTorch.
"""
from __future__ import annotations

import functools


class GradMode:
    """The one switch read by every op (``Function.apply``)."""

    enabled = True


def is_grad_enabled() -> bool:
    return GradMode.enabled


class _GradModeContext:
    """Sets grad mode to ``self.mode`` on entry and restores the previous mode on exit."""

    mode = True

    def __enter__(self):
        self.prev = GradMode.enabled
        GradMode.enabled = self.mode
        return self

    def __exit__(self, *exc) -> bool:
        GradMode.enabled = self.prev
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = GradMode.enabled
            GradMode.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                GradMode.enabled = prev
        return wrapper


class _BareDecorator(_GradModeContext):
    """Also allows the bare form ``@no_grad`` (without parentheses)."""

    def __new__(cls, orig_func=None):
        self = super().__new__(cls)
        if callable(orig_func):
            return self(orig_func)
        return self

    def __init__(self, orig_func=None) -> None:
        pass


class no_grad(_BareDecorator):
    """Ops inside record nothing: for evaluation and for optimizer updates."""

    mode = False


class enable_grad(_BareDecorator):
    """Turns recording back on inside a ``no_grad`` block."""

    mode = True


class inference_mode(_GradModeContext):
    """Like ``no_grad`` (numtorch has no separate inference tensors)."""

    def __init__(self, mode: bool = True) -> None:
        self.mode = not mode


class set_grad_enabled(_GradModeContext):
    """``set_grad_enabled(False)`` switches at once; as a context it restores on exit."""

    def __init__(self, mode: bool) -> None:
        self.prev = GradMode.enabled
        self.mode = bool(mode)
        GradMode.enabled = self.mode

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        GradMode.enabled = self.prev
        return False

    def __call__(self, fn):
        GradMode.enabled = self.prev
        return super().__call__(fn)
