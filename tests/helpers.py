"""One helper that checks an op against its three oracles (tinygrad style: one line per op).

``check("exp", (3, 4))`` builds a seeded float64 input of shape (3, 4) and
1. compares numtorch's forward with the NumPy reference ``np_fn`` (when given),
2. compares forward and input gradients (for a random upstream gradient) with PyTorch's,
   when torch is importable,
3. runs ``numtorch.autograd.gradcheck`` (central differences) in float64.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

import numtorch

try:
    import torch as _torch
except ImportError:  # the PyTorch oracle is optional
    _torch = None

_DOUBLE_NT = numtorch.float64


def lib(t):
    """The framework a tensor belongs to, for one-liners that call module functions:
    ``check(lambda a, b: lib(a).cat([a, b]), (2, 3), (2, 3))``."""
    return numtorch if isinstance(t, numtorch.Tensor) else _torch


def make_inputs(shapes_or_arrays, low: float = -2.0, high: float = 2.0, seed: int = 0) -> list:
    """float64 arrays: a shape tuple becomes uniform(low, high) samples; arrays pass through."""
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes_or_arrays:
        if isinstance(s, np.ndarray):
            out.append(s)
        elif isinstance(s, (tuple, list)):
            out.append(rng.uniform(low, high, size=tuple(s)))
        else:  # a Python number passes through as an operand
            out.append(s)
    return out


def _float_outputs(out) -> list:
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return outs


def _to_np(t) -> np.ndarray:
    if _torch is not None and isinstance(t, _torch.Tensor):
        return t.detach().numpy(force=True)  # (force: PyTorch's ZeroTensor gradients refuse plain numpy())
    if isinstance(t, numtorch.Tensor):
        return np.asarray(t.detach()._data)
    return np.asarray(t)


def _resolve(fn, module, kwargs):
    if isinstance(fn, str):
        f = getattr(module, fn)
        return lambda *xs: f(*xs, **kwargs)
    return lambda *xs: fn(*xs, **kwargs)


def assert_close(actual, expected, atol=1e-6, rtol=1e-5, what="") -> None:
    a, e = _to_np(actual), _to_np(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != expected {e.shape}"
    np.testing.assert_allclose(a.astype(np.float64) if a.dtype.kind != "b" else a,
                               e.astype(np.float64) if e.dtype.kind != "b" else e,
                               atol=atol, rtol=rtol, err_msg=what, equal_nan=True)


def check(fn, *shapes_or_arrays, torch_fn=None, np_fn=None, grad: bool = True, low: float = -2.0,
          high: float = 2.0, atol: float = 1e-6, rtol: float = 1e-5, grad_atol: float = 1e-5,
          gradcheck: bool = True, seed: int = 0, no_grad_args=(), **kwargs):
    """Runs op ``fn`` (a name in numtorch/torch, or a callable working on either's tensors).

    Args:
        fn: op name (``"exp"``) or callable such as ``lambda x, y: x @ y.T``.
        shapes_or_arrays: input shapes (random float64 in [low, high)), float64/int arrays, or numbers.
        torch_fn: the PyTorch op when it is spelled differently.
        np_fn: NumPy reference for the forward, called on the float64 arrays.
        grad: whether to check gradients (float inputs only).
        no_grad_args: positions of float inputs that must not require grad (e.g. exponents).
        kwargs: passed to both ops.
    Returns the numtorch output.
    """
    arrays = make_inputs(shapes_or_arrays, low, high, seed)
    nt_fn = _resolve(fn, numtorch, kwargs)

    def is_diff(i, a):
        return grad and isinstance(a, np.ndarray) and a.dtype.kind == "f" and i not in no_grad_args

    def nt_inputs(requires_grad):
        return [numtorch.tensor(a.copy(), requires_grad=requires_grad and is_diff(i, a))
                if isinstance(a, np.ndarray) else a for i, a in enumerate(arrays)]

    xs = nt_inputs(True)
    out = nt_fn(*xs)
    outs = _float_outputs(out)
    if np_fn is not None:
        ref = np_fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in arrays])
        for o, r in zip(outs, _float_outputs(ref)):
            assert_close(o, r, atol, rtol, "forward vs NumPy")

    if _torch is not None:
        th_fn = _resolve(torch_fn if torch_fn is not None else fn, _torch, kwargs)
        txs = [_torch.tensor(a, requires_grad=is_diff(i, a)) if isinstance(a, np.ndarray) else a
               for i, a in enumerate(arrays)]
        tout = th_fn(*txs)
        touts = _float_outputs(tout)
        assert len(outs) == len(touts), "number of outputs differs from PyTorch"
        for o, t in zip(outs, touts):
            assert_close(o, t, atol, rtol, "forward vs PyTorch")
            if hasattr(o, "dtype") and hasattr(t, "dtype"):
                assert str(o.dtype).split(".")[-1] == str(t.dtype).split(".")[-1], \
                    f"dtype {o.dtype} != PyTorch's {t.dtype}"
        diff = [i for i, a in enumerate(arrays) if is_diff(i, a)]
        pairs = [(o, t) for o, t in zip(outs, touts)
                 if isinstance(o, numtorch.Tensor) and o.requires_grad and t.requires_grad]
        if diff and pairs:
            rng = np.random.default_rng(seed + 1)
            ups = [rng.standard_normal(tuple(o.shape)) for o, _ in pairs]
            nt_g = numtorch.autograd.grad([o for o, _ in pairs], [xs[i] for i in diff],
                                          [numtorch.tensor(u) for u in ups], allow_unused=True)
            th_g = _torch.autograd.grad([t for _, t in pairs], [txs[i] for i in diff],
                                        [_torch.tensor(u) for u in ups], allow_unused=True)
            for k, (g, tg) in enumerate(zip(nt_g, th_g)):
                if tg is None:
                    assert g is None or not np.any(_to_np(g)), f"input {diff[k]}: PyTorch gives no gradient"
                    continue
                assert g is not None, f"input {diff[k]}: no gradient, PyTorch has one"
                assert_close(g, tg, grad_atol, rtol, f"gradient of input {diff[k]} vs PyTorch")

    if grad and gradcheck and any(is_diff(i, a) for i, a in enumerate(arrays)):
        gx = nt_inputs(True)
        assert numtorch.autograd.gradcheck(nt_fn, gx, eps=1e-6, atol=grad_atol, rtol=1e-3)
    return out


# ---- MPI: tests that start their own mpiexec ----------------------------------------------

def mpiexec_path() -> str | None:
    """``mpiexec`` next to this Python (a venv with the ``mpich`` wheel), else on PATH."""
    here = Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else shutil.which("mpiexec")


def mpi_skip_reason() -> str | None:
    """Why MPI tests cannot run here (None when they can)."""
    if mpiexec_path() is None:
        return "no mpiexec next to sys.executable or on PATH (pip install numtorch[dist])"
    probe = subprocess.run([sys.executable, "-c", "from mpi4py import MPI"], capture_output=True, text=True,
                           timeout=60)
    if probe.returncode != 0:
        return f"mpi4py/MPI library does not load: {probe.stderr.strip().splitlines()[-1:]}"
    return None


def conv2d_float64_reference(x, w, gy, torch, padding=1):
    """PyTorch's float64 conv2d of float32 inputs: ((y, dW, dx), (their sum |terms| scales)), the
    references a float32 conv's error is measured against (rounding error is bounded by eps x sum|terms|)."""
    f64 = lambda a, rg=False: torch.tensor(a.astype(np.float64), requires_grad=rg)  # noqa: E731
    xt, wt = f64(x, True), f64(w, True)
    yt = torch.nn.functional.conv2d(xt, wt, padding=padding)
    yt.backward(f64(gy))
    ax, aw, ag = f64(np.abs(x)), f64(np.abs(w)), f64(np.abs(gy))
    with torch.no_grad():
        scale = (torch.nn.functional.conv2d(ax, aw, padding=padding).numpy(),
                 torch.nn.grad.conv2d_weight(ax, w.shape, ag, padding=padding).numpy(),
                 torch.nn.grad.conv2d_input(x.shape, aw, ag, padding=padding).numpy())
    return (yt.detach().numpy(), wt.grad.numpy(), xt.grad.numpy()), scale
