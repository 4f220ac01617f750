"""L-BFGS: a quasi-Newton method that builds its idea of the curvature from the last few steps.

PyTorch's algorithm (``torch.optim.LBFGS``, after minFunc), step for step.  All parameters are seen
as one flat vector ``x`` with gradient ``g``.  One ``step(closure)`` runs up to ``max_iter``
iterations; each evaluates ``closure()`` (it recomputes the loss and calls ``backward``)::

    s = x_new - x_old,  y = g_new - g_old          (kept for the last history_size steps, if y.s > 1e-10)
    rho_i = 1 / (y_i . s_i),  H0 = (y . s) / (y . y)   (the newest pair scales the first guess)
    two-loop recursion:  q = -g
        for i newest..oldest:  a_i = rho_i s_i.q;   q -= a_i y_i
        r = H0 q
        for i oldest..newest:  b_i = rho_i y_i.r;   r += (a_i - b_i) s_i
    d = r  (the first iteration: d = -g)
    x <- x + t d,  t = lr  (the first iteration: t = lr * min(1, 1 / |g|_1)),
                   or the step a strong-Wolfe line search finds (``line_search_fn="strong_wolfe"``)

It stops early when ``max|g| <= tolerance_grad``, when the directional derivative ``g.d`` exceeds
``-tolerance_change``, when the step or the loss change is below ``tolerance_change``, or after
``max_eval`` closure calls.  The arithmetic runs on the parameters' arrays in their dtype (float32
stays float32, with 0-d values where PyTorch keeps 0-d tensors), so a float64 run follows PyTorch's
trajectory to rounding.

>>> import numtorch as torch
>>> x = torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)
>>> opt = torch.optim.LBFGS([x], line_search_fn="strong_wolfe")
>>> def closure():
...     opt.zero_grad()
...     loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2   # Rosenbrock: minimum at (1, 1)
...     loss.backward()
...     return loss
>>> for _ in range(5):
...     _ = opt.step(closure)
>>> [round(v, 4) for v in x.tolist()]
[1.0, 1.0]
"""
from __future__ import annotations

from typing import Callable, Iterable

from numtorch._backend import xp_of
from numtorch.autograd.grad_mode import enable_grad, no_grad
from numtorch.optim.optimizer import Optimizer
from numtorch.tensor import Tensor, make_tensor

__all__ = ["LBFGS"]


# ---- the line search (minFunc's polyinterp.lua and lswolfe.lua, as PyTorch ports them) ----------

def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2, kept in bounds::

        d1 = g1 + g2 - 3 (f1 - f2) / (x1 - x2),   d2 = sqrt(d1^2 - g1 g2)
        x  = x2 - (x2 - x1) (g2 + d2 - d1) / (g2 - g1 + 2 d2)       (x2 the farther point)

    With no real minimiser (d1^2 < g1 g2) it returns the middle of the bounds.
    """
    if bounds is not None:
        lo, hi = bounds
    else:
        lo, hi = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square < 0:
        return (lo + hi) / 2.0
    d2 = xp_of(d2_square).sqrt(d2_square) if hasattr(d2_square, "dtype") else d2_square ** 0.5
    if x1 <= x2:
        min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(min_pos, lo), hi)


class _Bracket:
    """Trial steps of the line search with their loss, gradient and directional derivative."""

    def __init__(self, t, f, g, gtd) -> None:
        self.t, self.f, self.g, self.gtd = t, f, g, gtd

    def set(self, i: int, t, f, g, gtd) -> None:
        self.t[i], self.f[i], self.g[i], self.gtd[i] = t, f, g, gtd


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """A step ``t`` along ``d`` meeting the strong Wolfe conditions::

        f(x + t d) <= f + c1 t g.d          (sufficient decrease, Armijo)
        |g(x + t d).d| <= -c2 g.d            (the slope has flattened)

    First it widens ``t`` until an interval brackets such a point, then shrinks the interval by
    cubic interpolation.  ``obj_func(x, t, d)`` returns the loss and flat gradient at ``x + t d``.
    Returns ``(loss, gradient, t, number of evaluations)``.
    """
    d_norm = abs(d).max()
    g = g.copy()
    f_new, g_new = obj_func(x, t, d)
    gtd_new = _dot(g_new, d)
    br, done, ls_iter, evals = None, False, 0, 1
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    while ls_iter < max_ls:  # bracketing: grow t until the interval holds a Wolfe point
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            br = _Bracket([t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()], [gtd_prev, gtd_new])
            break
        if abs(gtd_new) <= -c2 * gtd:
            br, done = _Bracket([t], [f_new], [g_new], None), True
            break
        if gtd_new >= 0:
            br = _Bracket([t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()], [gtd_prev, gtd_new])
            break
        min_step, max_step = t + 0.01 * (t - t_prev), t * 10
        t_prev, t = t, _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                                          bounds=(min_step, max_step))
        f_prev, g_prev, gtd_prev = f_new, g_new.copy(), gtd_new
        f_new, g_new = obj_func(x, t, d)
        evals += 1
        gtd_new = _dot(g_new, d)
        ls_iter += 1
    if ls_iter == max_ls:  # as PyTorch: the bracket [0, t], without slopes (the zoom does not run)
        br = _Bracket([0, t], [f, f_new], [g, g_new], None)
    low, evals = _zoom(obj_func, x, d, f, gtd, br, done, ls_iter, evals, d_norm, c1, c2, tolerance_change,
                       max_ls)
    return br.f[low], br.g[low], br.t[low], evals


def _zoom(obj_func, x, d, f, gtd, br, done, ls_iter, evals, d_norm, c1, c2, tolerance_change, max_ls):
    """Shrinks the bracket ``br`` (in place) around a strong-Wolfe point; returns the index of its
    low end (the best step found) and the evaluation count."""
    insuf_progress = False
    low, high = (0, 1) if br.f[0] <= br.f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(br.t[1] - br.t[0]) * d_norm < tolerance_change:   # the bracket is too small
            break
        t = _cubic_interpolate(br.t[0], br.f[0], br.gtd[0], br.t[1], br.f[1], br.gtd[1])
        t, insuf_progress = _away_from_ends(t, br.t, insuf_progress)
        f_new, g_new = obj_func(x, t, d)
        evals += 1
        gtd_new = _dot(g_new, d)
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= br.f[low]:
            br.set(high, t, f_new, g_new.copy(), gtd_new)   # no sufficient decrease: new high end
            low, high = (0, 1) if br.f[0] <= br.f[1] else (1, 0)
            continue
        if abs(gtd_new) <= -c2 * gtd:
            done = True                                       # the Wolfe conditions hold
        elif gtd_new * (br.t[high] - br.t[low]) >= 0:
            br.set(high, br.t[low], br.f[low], br.g[low], br.gtd[low])   # the old low becomes high
        br.set(low, t, f_new, g_new.copy(), gtd_new)          # the new point becomes the low end
    return low, evals


def _away_from_ends(t, ends, insuf_progress):
    """A trial ``t`` within 10% of the bracket's length from an end: moved to 10% inside when the
    previous trial also made too little progress or ``t`` lies on or beyond the end."""
    lo, hi = min(ends), max(ends)
    eps = 0.1 * (hi - lo)
    if not min(hi - t, t - lo) < eps:   # (not >=: a NaN t keeps going, as in PyTorch)
        return t, False
    if not (insuf_progress or t >= hi or t <= lo):
        return t, True
    return (hi - eps if abs(t - hi) < abs(t - lo) else lo + eps), False


# ---- the optimizer ------------------------------------------------------------------------------

_HISTORY = ("d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss", "al")


class LBFGS(Optimizer):
    """L-BFGS (PyTorch's ``torch.optim.LBFGS``): ``step(closure)`` runs up to ``max_iter`` iterations.

    One parameter group only; its state (the curvature history) is kept under the first parameter,
    as in PyTorch.  Memory: ``history_size + 1`` extra copies of all parameters.

    Args:
        params: the tensors to optimize.
        lr: learning rate (default 1).
        max_iter: iterations per ``step`` (default 20).
        max_eval: closure evaluations per ``step`` (default ``max_iter * 5 // 4``).
        tolerance_grad: stop when the largest gradient entry is at most this (default 1e-7).
        tolerance_change: stop when the step, the loss change or ``g.d`` is below this (default 1e-9).
        history_size: how many (s, y) pairs to remember (default 100).
        line_search_fn: ``None`` (a fixed step ``lr``) or ``"strong_wolfe"``.
    """

    def __init__(self, params: Iterable, lr: float = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= float(lr):
            raise ValueError(f"Invalid learning rate: {lr}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size,
                        line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    # ---- the parameters as one flat vector ------------------------------------------------
    def _gather_flat_grad(self):
        """All gradients, raveled and concatenated (zeros for a parameter without one)."""
        views = []
        for p in self._params:
            a = p._data if p.grad is None else p.grad._data
            v = xp_of(a).zeros(a.size, a.dtype) if p.grad is None else a.ravel()
            views.append(v.view(v.real.dtype) if v.dtype.kind == "c" else v)   # complex: (re, im) pairs
        return xp_of(views[0]).concatenate(views)

    def _add_grad(self, step_size, update) -> None:
        """x <- x + step_size * update, each parameter from its own slice of ``update``."""
        offset = 0
        for p in self._params:
            a = p._data
            n = a.size * (2 if a.dtype.kind == "c" else 1)
            part = update[offset:offset + n] * step_size
            if a.dtype.kind == "c":
                part = part.view(a.dtype)
            a += part.reshape(a.shape)
            p._bump_version()
            offset += n

    def _clone_param(self) -> list:
        return [p._data.copy() for p in self._params]

    def _set_param(self, params_data) -> None:
        for p, a in zip(self._params, params_data):
            p._data[...] = a
            p._bump_version()

    def _directional_evaluate(self, closure, x, t, d):
        """The loss and flat gradient at ``x + t d``; the parameters are set back to ``x``."""
        self._add_grad(t, d)
        loss = float(_call(closure))
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # ---- one step ---------------------------------------------------------------------------
    @no_grad()
    def step(self, closure: Callable):
        """Runs up to ``max_iter`` L-BFGS iterations; returns the loss of the first ``closure()``.

        Args:
            closure: re-evaluates the model and returns the loss (it calls ``zero_grad`` and
                ``backward`` itself); it runs with grad enabled.
        """
        self._opt_called = True
        group = self.param_groups[0]
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        orig_loss = _call(closure)
        loss = float(orig_loss)
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if abs(flat_grad).max() <= group["tolerance_grad"]:
            return orig_loss                                # already optimal
        h = {k: _from_state(state.get(k)) for k in _HISTORY}
        self._iterate(closure, group, state, h, loss, flat_grad)
        state.update({k: _to_state(v) for k, v in h.items() if k != "al" or v is not None})
        return orig_loss

    def _iterate(self, closure, group, state, h, loss, flat_grad) -> None:
        """The iterations of one step; ``h`` holds the history (d, t, s/y pairs, ...) and is updated."""
        lr = group["lr"]
        if isinstance(lr, Tensor):   # a tensor lr stays a 0-d array, as PyTorch keeps it a tensor
            lr = lr._data.reshape(())
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        n_iter, current_evals, t = 0, 1, h["t"]
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            self._direction(state, group, h, flat_grad)
            if h["prev_flat_grad"] is None:
                h["prev_flat_grad"] = flat_grad.copy()
            else:
                h["prev_flat_grad"][...] = flat_grad
            h["prev_loss"] = loss
            # the first step is scaled by the gradient's size; later ones trust the curvature
            t = min(1.0, 1.0 / abs(flat_grad).sum()) * lr if state["n_iter"] == 1 else lr
            d = h["d"]
            gtd = _dot(flat_grad, d)                        # directional derivative g.d
            if gtd > -tol_change:
                break
            loss, flat_grad, t, evals = self._move(closure, group, loss, flat_grad, t, d, gtd,
                                                   max_eval - current_evals, n_iter != max_iter)
            h["t"] = t
            current_evals += evals
            state["func_evals"] += evals
            if (n_iter == max_iter or current_evals >= max_eval
                    or abs(flat_grad).max() <= tol_grad                # optimal
                    or abs(d * t).max() <= tol_change                  # the step is tiny
                    or abs(loss - h["prev_loss"]) < tol_change):       # the loss stopped moving
                break
        h["t"] = t

    @staticmethod
    def _direction(state, group, h, flat_grad) -> None:
        """The search direction ``h["d"]``: -g first, then the two-loop recursion over the history."""
        if state["n_iter"] == 1:
            h["d"], h["old_dirs"], h["old_stps"], h["ro"], h["H_diag"] = -flat_grad, [], [], [], 1
            return
        old_dirs, old_stps, ro = h["old_dirs"], h["old_stps"], h["ro"]
        y = flat_grad - h["prev_flat_grad"]
        s = h["d"] * h["t"]
        ys = _dot(y, s)
        if ys > 1e-10:                                      # keep the pair only where curvature is positive
            if len(old_dirs) == group["history_size"]:
                old_dirs.pop(0), old_stps.pop(0), ro.pop(0)
            old_dirs.append(y)
            old_stps.append(s)
            ro.append(1.0 / ys)
            h["H_diag"] = ys / _dot(y, y)                  # scale of the initial inverse Hessian
        if h["al"] is None:
            h["al"] = [None] * group["history_size"]
        al = h["al"]
        q = -flat_grad
        for i in range(len(old_dirs) - 1, -1, -1):
            al[i] = _dot(old_stps[i], q) * ro[i]
            q -= old_dirs[i] * al[i]
        r = q * h["H_diag"]
        for i in range(len(old_dirs)):
            be_i = _dot(old_dirs[i], r) * ro[i]
            r += old_stps[i] * (al[i] - be_i)
        h["d"] = r

    def _move(self, closure, group, loss, flat_grad, t, d, gtd, evals_left, re_evaluate):
        """Moves the parameters along ``d``: by the line search's step, or by ``t`` (then the loss and
        gradient are re-evaluated unless this is the last iteration).  Returns
        ``(loss, flat gradient, t, closure calls)``."""
        if group["line_search_fn"] is not None:
            if group["line_search_fn"] != "strong_wolfe":
                raise RuntimeError("only 'strong_wolfe' is supported")
            x_init = self._clone_param()
            loss, flat_grad, t, evals = _strong_wolfe(
                lambda x, t, d: self._directional_evaluate(closure, x, t, d), x_init, t, d, loss,
                flat_grad, gtd, max_ls=evals_left)
            self._add_grad(t, d)
            return loss, flat_grad, t, evals
        self._add_grad(t, d)
        if not re_evaluate:   # the last iteration: in a stochastic setting a new loss is of no use
            return loss, flat_grad, t, 0
        loss = float(_call(closure))
        return loss, self._gather_flat_grad(), t, 1


def _dot(a, b):
    """a . b of two flat vectors, as an elementwise product and a (pairwise) sum: a BLAS dot may wake
    its thread pool for every call, which on a busy machine costs milliseconds instead of microseconds."""
    return (a * b).sum()


def _call(closure):
    with enable_grad():
        return closure()


def _to_state(v):
    """An array (0-d ones too) as a Tensor in ``state``, as PyTorch keeps them; lists item by item."""
    if isinstance(v, list):
        return [_to_state(e) for e in v]
    if hasattr(v, "dtype") and hasattr(v, "shape"):
        return make_tensor(xp_of(v).asarray(v))
    return v


def _from_state(v):
    """The arrays of a ``state`` entry (Tensors unwrapped, lists copied item by item)."""
    if isinstance(v, list):
        return [_from_state(e) for e in v]
    if isinstance(v, Tensor):
        return v._data if v._data.ndim else v._data[()]
    return v
