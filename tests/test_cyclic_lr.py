"""``lr_scheduler.CyclicLR`` against PyTorch's: the lr and momentum (or Adam's beta1) step by step for
each mode, a custom scale function, several parameter groups, state_dict resumption and errors."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch


class Halving:
    """A callable object as scale_fn (its __dict__ travels in state_dict)."""

    def __init__(self) -> None:
        self.base = 2.0

    def __call__(self, x):
        return 1 / self.base ** (x - 1)


CASES = [
    ("sgd", dict(base_lr=0.01, max_lr=0.1, step_size_up=4)),
    ("sgd", dict(base_lr=0.01, max_lr=0.1, step_size_up=3, step_size_down=5, mode="triangular2")),
    ("sgd", dict(base_lr=[0.01, 0.02], max_lr=[0.1, 0.3], step_size_up=2, mode="exp_range", gamma=0.9)),
    ("adam", dict(base_lr=0.001, max_lr=0.01, step_size_up=3, base_momentum=0.85, max_momentum=0.95)),
    ("sgd", dict(base_lr=0.01, max_lr=0.1, step_size_up=2, scale_fn=lambda x: 0.5 ** x,
                 scale_mode="iterations")),
    ("rmsprop_no_momentum", dict(base_lr=0.01, max_lr=0.1, step_size_up=3, cycle_momentum=False)),
]


def _trace(lib, kind, kw, steps=20):
    a = lib.zeros(2, requires_grad=True)
    b = lib.zeros(2, requires_grad=True)
    groups = [{"params": [a]}, {"params": [b]}]
    if kind == "sgd":
        opt = lib.optim.SGD(groups, lr=0.5, momentum=0.9)
    elif kind == "adam":
        opt = lib.optim.Adam(groups, lr=0.5)
    else:
        opt = lib.optim.RMSprop(groups, lr=0.5)
    sched = lib.optim.lr_scheduler.CyclicLR(opt, **kw)
    lrs, moms = [], []
    for _ in range(steps):
        lrs.append([g["lr"] for g in opt.param_groups])
        moms.append([g["betas"][0] if "betas" in g else g.get("momentum", 0.0) for g in opt.param_groups])
        opt.step()
        sched.step()
    return np.array(lrs), np.array(moms), sched


@pytest.mark.parametrize("kind, kw", CASES)
def test_matches_pytorch(torch, kind, kw) -> None:
    lrs, moms, sched = _trace(numtorch, kind, kw)
    ref_lrs, ref_moms, ref = _trace(torch, kind, kw)
    np.testing.assert_allclose(lrs, ref_lrs, rtol=1e-12)
    np.testing.assert_allclose(moms, ref_moms, rtol=1e-12)
    assert sched.get_last_lr() == pytest.approx(ref.get_last_lr(), rel=1e-12)


def test_triangular_closed_form() -> None:
    """step_size_up=2: 0.1, 0.55, 1.0, 0.55, 0.1, ... (a triangle between base_lr and max_lr)."""
    lrs, _, _ = _trace(numtorch, "sgd", dict(base_lr=0.1, max_lr=1.0, step_size_up=2), steps=6)
    np.testing.assert_allclose(lrs[:, 0], [0.1, 0.55, 1.0, 0.55, 0.1, 0.55], rtol=1e-12)


def test_state_dict_resumes(torch) -> None:
    """After 7 steps, a new scheduler loading the state_dict continues with the same lrs; a callable
    object's attributes come back, and the keys are PyTorch's."""
    def make(lib, fn):
        w = lib.zeros(2, requires_grad=True)
        opt = lib.optim.SGD([w], lr=0.1, momentum=0.9)
        return opt, lib.optim.lr_scheduler.CyclicLR(opt, 0.01, 0.1, step_size_up=3, scale_fn=fn)
    fn = Halving()
    fn.base = 3.0
    opt, sched = make(numtorch, fn)
    for _ in range(7):
        opt.step()
        sched.step()
    state = sched.state_dict()
    assert state["_scale_fn_custom"] == {"base": 3.0}
    opt2, sched2 = make(numtorch, Halving())
    sched2.load_state_dict(state)
    opt2.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
    for _ in range(4):
        opt.step(), sched.step(), opt2.step(), sched2.step()
        assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    _, ref = make(torch, Halving())
    assert set(state) == set(ref.state_dict())


def test_errors_match_pytorch(torch) -> None:
    for lib in (numtorch, torch):
        w = lib.zeros(2, requires_grad=True)
        with pytest.raises(ValueError, match="mode is invalid and scale_fn is None"):
            lib.optim.lr_scheduler.CyclicLR(lib.optim.SGD([w], lr=0.1, momentum=0.9), 0.01, 0.1, mode="saw")
        with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
            lib.optim.lr_scheduler.CyclicLR(lib.optim.Adagrad([w], lr=0.1), 0.01, 0.1)
        with pytest.raises(ValueError, match="base_lr must have the same length as optimizer.param_groups. "
                           "base_lr has 2 values, param_groups has 1."):
            lib.optim.lr_scheduler.CyclicLR(lib.optim.SGD([w], lr=0.1, momentum=0.9), [0.01, 0.02], 0.1)
