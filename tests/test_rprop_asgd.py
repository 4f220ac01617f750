"""``optim.Rprop`` and ``optim.ASGD`` against PyTorch's: parameters and state_dict after steps on a
least-squares problem (float64 and float32), and their argument errors."""
from __future__ import annotations

import numpy as np
import pytest

from test_optim import _assert_state_dicts_equal, _run_numtorch, _run_torch

import numtorch

CASES = [
    ("Rprop", dict()),
    ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2))),
    ("Rprop", dict(maximize=True)),
    ("ASGD", dict()),
    ("ASGD", dict(lr=0.05, lambd=1e-2, alpha=0.5, t0=3, weight_decay=0.1)),
    ("ASGD", dict(lr=0.1, t0=0, maximize=True)),
]


@pytest.mark.parametrize("name, kw", CASES)
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-5)], ids=["f64", "f32"])
def test_matches_pytorch(torch, name, kw, dtype, tol) -> None:
    """Twenty steps: the parameters and every state entry equal PyTorch's (ax, eta, mu; prev, step_size)."""
    params, opt = _run_numtorch(name, kw, dtype, steps=20)
    ref_params, ref_opt = _run_torch(torch, name, kw, dtype, steps=20)
    for p, rp in zip(params, ref_params):
        assert p.dtype == (numtorch.float64 if dtype == np.float64 else numtorch.float32)
        np.testing.assert_allclose(p.detach().numpy(), rp.detach().numpy(), rtol=tol, atol=tol)
    _assert_state_dicts_equal(opt.state_dict(), ref_opt.state_dict(), tol)


def test_rprop_step_sizes_by_hand() -> None:
    """f(w) = w^2 from w = 1 with lr 0.1: steps 0.1, 0.12, 0.144 while the sign holds (eta_plus 1.2)."""
    w = numtorch.tensor([1.0], dtype=numtorch.float64, requires_grad=True)
    opt = numtorch.optim.Rprop([w], lr=0.1)
    seen = []
    for _ in range(3):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
        seen.append(w.item())
    np.testing.assert_allclose(seen, [0.9, 0.9 - 0.12, 0.9 - 0.12 - 0.144], rtol=1e-12)


def test_errors_match_pytorch(torch) -> None:
    for lib in (numtorch, torch):
        w = lib.zeros(2, requires_grad=True)
        with pytest.raises(ValueError, match="Invalid eta values: 1.5, 2"):
            lib.optim.Rprop([w], etas=(1.5, 2))
        with pytest.raises(ValueError, match="Invalid learning rate: -1"):
            lib.optim.Rprop([w], lr=-1)
        with pytest.raises(ValueError, match="Invalid weight_decay value: -0.1"):
            lib.optim.ASGD([w], weight_decay=-0.1)
