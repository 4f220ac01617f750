"""NumPy's floating-point warnings, off inside numtorch's ops.

PyTorch computes log(0) = -inf, sqrt(-1) = nan, 1/0 = inf and exp(1000) = inf silently; NumPy
warns.  ``quiet(f)`` runs ``f`` with NumPy's error state "ignore" for every kind, the state
``np.errstate(all="ignore")`` sets.  It sets the context variable behind ``np.errstate`` directly
(two C calls, a few hundred ns), because ``with np.errstate(...)`` costs more than a small op
itself; where NumPy lacks that variable it falls back to ``np.errstate``.  The state is restored
when ``f`` returns, so a user's own NumPy code still warns.
"""
from __future__ import annotations

import functools

import numpy as np

try:
    from numpy._core._ufunc_config import _extobj_contextvar as _ERRSTATE
    from numpy._core.umath import _make_extobj
    _IGNORE_ALL = _make_extobj(all="ignore")
except (ImportError, AttributeError, TypeError):   # another NumPy: the public, slower way
    _ERRSTATE = None


def quiet(f):
    """``f`` without NumPy RuntimeWarnings (overflow, divide by zero, invalid value) while it runs."""
    if _ERRSTATE is None:
        @functools.wraps(f)
        def silent(*args, **kwargs):
            with np.errstate(all="ignore"):
                return f(*args, **kwargs)
        return silent
    set_state, reset_state, ignore_all = _ERRSTATE.set, _ERRSTATE.reset, _IGNORE_ALL

    @functools.wraps(f)
    def silent(*args, **kwargs):
        token = set_state(ignore_all)
        try:
            return f(*args, **kwargs)
        finally:
            reset_state(token)
    return silent


def ignore_all():
    """Turns NumPy's floating-point warnings off until ``restore(token)``; returns the token."""
    if _ERRSTATE is None:
        state = np.errstate(all="ignore")
        state.__enter__()
        return state
    return _ERRSTATE.set(_IGNORE_ALL)


def restore(token) -> None:
    """Undoes the ``ignore_all()`` that returned ``token``."""
    if _ERRSTATE is None:
        token.__exit__(None, None, None)
    else:
        _ERRSTATE.reset(token)
