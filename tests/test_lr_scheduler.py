"""numtorch.optim.lr_scheduler against torch.optim.lr_scheduler: the same lrs step by step."""
import math

import numpy as np
import pytest

import numtorch as nt

STEPS = 24


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _optimizer(lib, kind="SGD"):
    """Two parameter groups (lr 0.1 and 0.02) so per-group behaviour is checked too."""
    a = lib.zeros(3, requires_grad=True)
    b = lib.zeros(2, requires_grad=True)
    groups = [{"params": [a]}, {"params": [b], "lr": 0.02}]
    if kind == "Adam":
        return lib.optim.Adam(groups, lr=0.1)
    return lib.optim.SGD(groups, lr=0.1, momentum=0.9)


def _lambda_a(epoch):
    return 0.95 ** epoch


def _lambda_b(epoch):
    return 1.0 / (1 + epoch)


# name -> (optimizer kind, function building the scheduler from (lr_scheduler module, optimizer))
SCHEDULERS = {
    "LambdaLR": ("SGD", lambda S, o: S.LambdaLR(o, _lambda_a)),
    "LambdaLR-per-group": ("SGD", lambda S, o: S.LambdaLR(o, [_lambda_a, _lambda_b])),
    "MultiplicativeLR": ("SGD", lambda S, o: S.MultiplicativeLR(o, lambda e: 0.9 if e % 2 else 0.99)),
    "StepLR": ("SGD", lambda S, o: S.StepLR(o, step_size=5, gamma=0.5)),
    "MultiStepLR": ("SGD", lambda S, o: S.MultiStepLR(o, milestones=[3, 7, 7, 15], gamma=0.5)),
    "ConstantLR": ("SGD", lambda S, o: S.ConstantLR(o, factor=0.5, total_iters=4)),
    "ExponentialLR": ("SGD", lambda S, o: S.ExponentialLR(o, gamma=0.9)),
    "CosineAnnealingLR": ("SGD", lambda S, o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001)),
    "LinearLR": ("SGD", lambda S, o: S.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=8)),
    "OneCycleLR-cos": ("SGD", lambda S, o: S.OneCycleLR(o, max_lr=[1.0, 0.1], total_steps=STEPS + 1)),
    "OneCycleLR-linear": ("SGD", lambda S, o: S.OneCycleLR(o, max_lr=0.5, total_steps=STEPS + 1,
                                                            anneal_strategy="linear", pct_start=0.4)),
    "OneCycleLR-three-phase": ("SGD", lambda S, o: S.OneCycleLR(o, max_lr=0.5, epochs=5, steps_per_epoch=5,
                                                                 three_phase=True)),
    "OneCycleLR-adam": ("Adam", lambda S, o: S.OneCycleLR(o, max_lr=0.01, total_steps=30, base_momentum=0.8,
                                                           max_momentum=0.9)),
    "OneCycleLR-no-momentum": ("SGD", lambda S, o: S.OneCycleLR(o, max_lr=0.5, total_steps=30,
                                                                 cycle_momentum=False, div_factor=10.0)),
    "PolynomialLR": ("SGD", lambda S, o: S.PolynomialLR(o, total_iters=12, power=2.0)),
    "CosineAnnealingWarmRestarts": ("SGD", lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2,
                                                                                       eta_min=0.001)),
    "ChainedScheduler": ("SGD", lambda S, o: S.ChainedScheduler([S.ConstantLR(o, factor=0.5, total_iters=4),
                                                                 S.ExponentialLR(o, gamma=0.9)])),
    "SequentialLR": ("SGD", lambda S, o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.1, total_iters=5), S.CosineAnnealingLR(o, T_max=15)], milestones=[5])),
    "SequentialLR-3": ("SGD", lambda S, o: S.SequentialLR(
        o, [S.ConstantLR(o, factor=0.5, total_iters=3), S.ExponentialLR(o, gamma=0.8),
            S.StepLR(o, step_size=3)], milestones=[4, 12])),
}


def _trace(lib, kind, make, steps=STEPS):
    opt = _optimizer(lib, kind)
    sched = make(lib.optim.lr_scheduler, opt)
    lrs, moms = [sched.get_last_lr()], []
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr())
        assert lrs[-1] == [g["lr"] for g in opt.param_groups]
        moms.append([g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups])
    return lrs, moms, opt, sched


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_lrs_match_torch(torch, name):
    kind, make = SCHEDULERS[name]
    lrs, moms, opt, sched = _trace(nt, kind, make)
    ref_lrs, ref_moms, ref_opt, ref_sched = _trace(torch, kind, make)
    np.testing.assert_allclose(lrs, ref_lrs, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(moms, ref_moms, rtol=1e-12, atol=1e-15)
    assert set(sched.state_dict()) == set(ref_sched.state_dict())
    for g, rg in zip(opt.param_groups, ref_opt.param_groups):
        assert set(g) == set(rg)           # initial_lr, max_lr, ... added as PyTorch adds them


@pytest.mark.parametrize("name", ["LambdaLR", "StepLR", "MultiStepLR", "CosineAnnealingLR", "OneCycleLR-cos",
                                  "SequentialLR", "LinearLR", "CosineAnnealingWarmRestarts", "ChainedScheduler"])
def test_state_dict_round_trip(name):
    """10 steps, save both state_dicts, rebuild, load, 10 more steps == 20 uninterrupted steps."""
    kind, make = SCHEDULERS[name]
    full, _, _, _ = _trace(nt, kind, make, steps=20)
    _, _, opt, sched = _trace(nt, kind, make, steps=10)
    opt_sd, sched_sd = opt.state_dict(), sched.state_dict()
    opt2 = _optimizer(nt, kind)
    sched2 = make(nt.optim.lr_scheduler, opt2)
    opt2.load_state_dict(opt_sd)
    sched2.load_state_dict(sched_sd)
    lrs = []
    for _ in range(10):
        opt2.step()
        sched2.step()
        lrs.append(sched2.get_last_lr())
    np.testing.assert_allclose(lrs, full[11:], rtol=1e-12)


def test_chained_schedulers_match_torch(torch):
    def run(lib):
        opt = _optimizer(lib)
        s1 = lib.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5)
        s2 = lib.optim.lr_scheduler.ExponentialLR(opt, gamma=0.95)
        out = []
        for _ in range(STEPS):
            opt.step()
            s1.step()
            s2.step()
            out.append([g["lr"] for g in opt.param_groups])
        return out

    np.testing.assert_allclose(run(nt), run(torch), rtol=1e-12)


def test_warm_restarts_fractional_epochs_match_torch(torch):
    def run(lib):
        opt = _optimizer(lib)
        sched = lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2, eta_min=0.01)
        out = []
        for epoch in np.arange(0, 9, 0.25):
            sched.step(float(epoch))
            out.append(sched.get_last_lr())
        return out

    np.testing.assert_allclose(run(nt), run(torch), rtol=1e-12)


def test_step_with_epoch_uses_closed_form(torch):
    def run(lib):
        opt = _optimizer(lib)
        sched = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
        with pytest.warns(UserWarning):
            sched.step(7)
        return sched.get_last_lr()

    ref = [0.1 * (1 + math.cos(math.pi * 7 / 10)) / 2, 0.02 * (1 + math.cos(math.pi * 7 / 10)) / 2]
    np.testing.assert_allclose(run(nt), ref, rtol=1e-12)
    np.testing.assert_allclose(run(nt), run(torch), rtol=1e-12)


METRICS = [1.0, 0.9, 0.9, 0.9, 0.95, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.81, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7,
           0.7, 0.7, 0.7, 0.7, 0.7]


@pytest.mark.parametrize("kw", [
    dict(),
    dict(patience=2, factor=0.5),
    dict(patience=1, factor=0.5, cooldown=2, min_lr=[0.05, 0.001]),
    dict(patience=1, factor=0.3, threshold=0.05, threshold_mode="abs", min_lr=0.01),
    dict(mode="max", patience=2, factor=0.5),
    dict(mode="max", patience=0, threshold_mode="abs", eps=0.05),
], ids=["default", "patience", "cooldown-minlr", "abs", "max", "max-abs-eps"])
def test_reduce_lr_on_plateau_matches_torch(torch, kw):
    def run(lib):
        opt = _optimizer(lib)
        sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
        out = []
        for m in METRICS:
            opt.step()
            sched.step(m)
            out.append(sched.get_last_lr())
        return out, sched

    lrs, sched = run(nt)
    ref_lrs, ref_sched = run(torch)
    np.testing.assert_allclose(lrs, ref_lrs, rtol=1e-12)
    assert sched.state_dict() == ref_sched.state_dict()


def test_reduce_lr_on_plateau_round_trip():
    opt = _optimizer(nt)
    sched = nt.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5)
    for m in METRICS[:8]:
        sched.step(m)
    sd = sched.state_dict()
    sched2 = nt.optim.lr_scheduler.ReduceLROnPlateau(_optimizer(nt))
    sched2.load_state_dict(sd)
    assert sched2.state_dict() == sd
    assert sched2.best == 0.8 and sched2.patience == 1


def test_scheduler_errors():
    opt = _optimizer(nt)
    S = nt.optim.lr_scheduler
    with pytest.raises(TypeError, match="is not an Optimizer"):
        S.StepLR(object(), 3)
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        S.LambdaLR(opt, [_lambda_a])
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        S.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(_optimizer(nt), 3, last_epoch=5)
    with pytest.raises(ValueError, match="total_steps OR"):
        S.OneCycleLR(opt, max_lr=1.0)
    opt = _optimizer(nt)
    sched = S.OneCycleLR(opt, max_lr=1.0, total_steps=2)
    opt.step()
    sched.step()
    sched.step()
    with pytest.raises(ValueError, match="Tried to step 3 times"):
        sched.step()


def test_warns_when_stepped_before_optimizer():
    import warnings
    opt = _optimizer(nt)
    sched = nt.optim.lr_scheduler.StepLR(opt, 2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    opt2 = _optimizer(nt)
    sched2 = nt.optim.lr_scheduler.StepLR(opt2, 2)
    opt2.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched2.step()
