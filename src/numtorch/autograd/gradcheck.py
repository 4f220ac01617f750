"""Numerical differentiation (数值微分) and gradient checking.

The central difference (f(x + h) - f(x - h)) / 2h approximates each partial derivative with
error O(h^2).  ``gradcheck`` compares it with what backpropagation computes: the standard way
to catch a wrong backward.
"""
from __future__ import annotations

import numpy as np

import numtorch.creation as _creation
import numtorch.tensor as _tensor
from numtorch.autograd import engine
from numtorch.autograd.grad_mode import no_grad, enable_grad


def numerical_grad(f, *inputs, eps: float = 1e-6):
    """d(sum of f(*inputs))/d(input) for each input, by central differences (float64 advised).

    >>> import numtorch as torch
    >>> x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    >>> g, = torch.autograd.numerical_grad(lambda x: (x ** 2).sum(), x)
    >>> torch.allclose(g, 2 * x)  # d(x^2)/dx = 2x, up to the O(eps^2) error of central differences
    True
    """
    def total(*xs):
        out = f(*xs)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return sum(float(o._data.sum()) for o in outs if isinstance(o, _tensor.Tensor))

    return tuple(_creation.tensor(g) for g in _numerical_jacobian_vjp(total, inputs, eps))


def _numerical_jacobian_vjp(scalar_f, inputs, eps):
    """Gradient of a scalar function of the inputs, one element at a time, in place."""
    grads = []
    with no_grad():
        for t in inputs:
            if not isinstance(t, _tensor.Tensor) or t._data.dtype.kind not in "fcV":
                grads.append(None)
                continue
            a = t._data
            flat = a.reshape(-1)  # a view when contiguous
            if a.size and not np.shares_memory(flat, a):
                raise ValueError("numerical_grad needs contiguous inputs")
            g = np.zeros(a.size, dtype=np.float64)
            for i in range(a.size):
                old = flat[i].item()
                flat[i] = old + eps
                fp = scalar_f(*inputs)
                flat[i] = old - eps
                fm = scalar_f(*inputs)
                flat[i] = old
                g[i] = (fp - fm) / (2 * eps)
            grads.append(g.reshape(a.shape).astype(a.dtype))
    return grads


def _outputs(func, inputs):
    out = func(*inputs)
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def gradcheck(func, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, nondet_tol: float = 0.0, check_undefined_grad: bool = True,
              check_grad_dtypes: bool = False, check_batched_grad: bool = False, fast_mode: bool = False,
              masked=None) -> bool:
    """Checks backprop against central differences for every (output, input) element pair.

    Like PyTorch's: inputs that require grad should be float64.  With ``fast_mode`` only one
    random projection of the outputs and of each input is checked, as PyTorch's fast mode: one
    backward and two evaluations per input instead of two per input element.
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    diff_inputs = [t for t in inputs if isinstance(t, _tensor.Tensor) and t.requires_grad]
    if not diff_inputs:
        raise ValueError("gradcheck expects at least one input tensor to require gradient")
    for t in diff_inputs:
        if t._data.dtype != np.float64 and raise_exception:
            import warnings
            warnings.warn(f"gradcheck: input of dtype {t.dtype} is not float64; the check may fail because "
                          "of precision, not a wrong gradient", stacklevel=2)
    if fast_mode:
        return _fast_gradcheck(func, inputs, eps, atol, rtol, raise_exception)
    outs = [o for o in _outputs(func, inputs) if o.requires_grad or o._data.dtype.kind in "fcV"]
    rng = np.random.default_rng(0)
    projections = []
    for o in outs:
        if fast_mode:
            projections.append([rng.standard_normal(o._data.shape)])
        else:
            n = o._data.size
            projections.append([np.eye(n)[k].reshape(o._data.shape) for k in range(n)])
    for oi, o in enumerate(outs):
        for v in projections[oi]:
            def scalar_f(*xs, oi=oi, v=v):
                return float((np.asarray(_outputs(func, xs)[oi]._data, dtype=np.float64) * v).sum())
            numeric = _numerical_jacobian_vjp(scalar_f, inputs, eps)
            out = _outputs(func, inputs)[oi]
            if out.requires_grad:
                analytic = engine.grad(out, diff_inputs, _creation.tensor(v, dtype=out.dtype),
                                       allow_unused=True)
            else:
                analytic = [None] * len(diff_inputs)
            k = 0
            for t, num in zip(inputs, numeric):
                if not (isinstance(t, _tensor.Tensor) and t.requires_grad):
                    continue
                ana = analytic[k]
                k += 1
                ana_arr = np.zeros_like(num) if ana is None else np.asarray(ana._data, dtype=np.float64)
                if not np.allclose(ana_arr, num, rtol=rtol, atol=atol, equal_nan=False):
                    if raise_exception:
                        err = np.abs(ana_arr - num).max()
                        raise GradcheckError(
                            f"Jacobian mismatch for output {oi} with respect to input {k - 1} "
                            f"(max abs difference {err:.3g}),\nnumerical:{num.ravel()[:10]}\n"
                            f"analytical:{ana_arr.ravel()[:10]}")
                    return False
    return True


def _fast_gradcheck(func, inputs, eps, atol, rtol, raise_exception) -> bool:
    """Checks v^T J u for random v (outputs) and u (each input): the analytic side is one
    backward with ``v``; the numeric side is a central difference along ``u``."""
    rng = np.random.default_rng(0)
    first = _outputs(func, inputs)
    kept = [i for i, o in enumerate(first) if o.requires_grad or o._data.dtype.kind in "fcV"]
    vs = [rng.standard_normal(first[i]._data.shape) for i in kept]

    def projected(*xs) -> float:
        outs = _outputs(func, xs)
        return sum(float((np.asarray(outs[i]._data, dtype=np.float64) * v).sum()) for i, v in zip(kept, vs))

    diff = [(k, t) for k, t in enumerate(inputs) if isinstance(t, _tensor.Tensor) and t.requires_grad]
    with_grad = [(i, v) for i, v in zip(kept, vs) if first[i].requires_grad]
    analytic = [None] * len(diff)
    if with_grad:
        analytic = engine.grad([first[i] for i, _ in with_grad], [t for _, t in diff],
                               [_creation.tensor(v, dtype=first[i].dtype) for i, v in with_grad],
                               allow_unused=True)
    for (k, t), ana in zip(diff, analytic):
        u = rng.standard_normal(t._data.shape)
        a = t._data
        old = a.copy()
        with no_grad():
            a[...] = old + eps * u
            fp = projected(*inputs)
            a[...] = old - eps * u
            fm = projected(*inputs)
            a[...] = old
        num = (fp - fm) / (2 * eps)
        an = 0.0 if ana is None else float((np.asarray(ana._data, dtype=np.float64) * u).sum())
        if not abs(an - num) <= atol + rtol * abs(num):
            if raise_exception:
                raise GradcheckError(f"Jacobian mismatch for output projection with respect to input {k} "
                                     f"(fast mode): numerical {num:.6g}, analytical {an:.6g}")
            return False
    return True


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck`` when backprop and numerical differentiation disagree."""


def gradgradcheck(func, inputs, grad_outputs=None, *, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, gen_non_contig_grad_outputs: bool = False, raise_exception: bool = True,
                  fast_mode: bool = False, **kwargs) -> bool:
    """Checks second derivatives: gradcheck of the function (inputs, v) -> d(func . v)/d(inputs)."""
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    outs = _outputs(func, inputs)
    rng = np.random.default_rng(1)
    if grad_outputs is None:
        grad_outputs = tuple(_creation.tensor(rng.standard_normal(o._data.shape), dtype=o.dtype,
                                              requires_grad=True) for o in outs)
    grad_outputs = tuple(grad_outputs)
    n_in = len(inputs)
    diff_idx = [i for i, t in enumerate(inputs) if isinstance(t, _tensor.Tensor) and t.requires_grad]

    def first_grads(*args):
        xs, vs = args[:n_in], args[n_in:]
        with enable_grad():  # the numerical pass calls this under no_grad; the first grads need a graph
            o = _outputs(func, xs)
            gs = engine.grad(o, [xs[i] for i in diff_idx], vs, create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first_grads, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, fast_mode=fast_mode)
