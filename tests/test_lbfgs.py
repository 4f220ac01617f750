"""``optim.LBFGS`` against ``torch.optim.LBFGS``: the same trajectory in float64 (to rounding), its
defaults, state_dict, errors; and a closed-form check that it finds a quadratic's minimum."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch


def _rosenbrock(lib, x):
    """f(a, b) = (1 - a)^2 + 100 (b - a^2)^2, minimum 0 at (1, 1): badly conditioned, curved."""
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def _lstsq_data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((20, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.1 * rng.standard_normal(20)
    return X, y, rng.standard_normal((1, 3))


def _lstsq_loss(lib, w, b):
    """Least squares of a linear model, plus 0.01 |w|^4 (not quadratic: the curvature changes)."""
    X, y, _ = _lstsq_data()
    r = (lib.tensor(X) @ w.t()).reshape(-1) + b - lib.tensor(y)
    return (r * r).mean() + 0.01 * (w ** 4).sum()


def _lstsq_model(lib):
    """3 + 1 parameters in two tensors, and the loss."""
    w = lib.tensor(_lstsq_data()[2], dtype=lib.float64, requires_grad=True)
    b = lib.tensor([0.0], dtype=lib.float64, requires_grad=True)
    return [w, b], (lambda: _lstsq_loss(lib, w, b))


def _trajectory(lib, problem, steps, **kw):
    """The losses step() returns, the parameters after each step and the final state counters."""
    if problem == "rosenbrock":
        x = lib.tensor([-1.2, 1.0], dtype=lib.float64, requires_grad=True)
        params, f = [x], (lambda: _rosenbrock(lib, x))
    else:
        params, f = _lstsq_model(lib)
    opt = lib.optim.LBFGS(params, **kw)

    def closure():
        opt.zero_grad()
        loss = f()
        loss.backward()
        return loss
    losses, points = [], []
    for _ in range(steps):
        losses.append(float(opt.step(closure).detach()))
        points.append(np.concatenate([p.detach().numpy().ravel() for p in params]))
    state = opt.state[params[0]]
    return losses, points, (state["func_evals"], state["n_iter"]), opt


CASES = [
    ("rosenbrock", dict()),
    ("rosenbrock", dict(line_search_fn="strong_wolfe")),
    ("rosenbrock", dict(lr=0.5, max_iter=7, history_size=3)),
    ("rosenbrock", dict(line_search_fn="strong_wolfe", max_iter=4, history_size=2)),
    ("lstsq", dict(lr=0.8)),
    ("lstsq", dict(line_search_fn="strong_wolfe", history_size=4)),
    ("lstsq", dict(max_eval=6, tolerance_change=1e-5)),
]


@pytest.mark.parametrize("problem, kw", CASES)
def test_trajectory_matches_pytorch_float64(torch, problem, kw) -> None:
    """Every step's loss, the parameters after each step and the evaluation counts equal PyTorch's."""
    ours = _trajectory(numtorch, problem, 4, **kw)
    ref = _trajectory(torch, problem, 4, **kw)
    np.testing.assert_allclose(ours[0], ref[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.array(ours[1]), np.array(ref[1]), rtol=1e-8, atol=1e-10)
    assert ours[2] == ref[2]


def test_defaults_match_pytorch(torch) -> None:
    ours = numtorch.optim.LBFGS([numtorch.zeros(2, requires_grad=True)]).defaults
    ref = torch.optim.LBFGS([torch.zeros(2, requires_grad=True)]).defaults
    assert ours == ref
    assert ours["max_eval"] == 25 and ours["lr"] == 1 and ours["history_size"] == 100


def test_state_dict_resumes_the_same_trajectory(torch) -> None:
    """Two steps, a state_dict saved with numtorch.save and loaded into a fresh optimizer, two more
    steps: the same points as four steps in one go (and PyTorch's state has the same keys)."""
    _, straight, _, _ = _trajectory(numtorch, "lstsq", 4, history_size=5)
    _, first, _, opt = _trajectory(numtorch, "lstsq", 2, history_size=5)
    import io
    buf = io.BytesIO()
    numtorch.save(opt.state_dict(), buf)
    buf.seek(0)
    saved = numtorch.load(buf)
    params = [numtorch.tensor(p.detach().numpy(), requires_grad=True) for p in opt.param_groups[0]["params"]]
    again = numtorch.optim.LBFGS(params, history_size=5)
    again.load_state_dict(saved)

    def closure():
        again.zero_grad()
        loss = _lstsq_loss(numtorch, *params)
        loss.backward()
        return loss
    for k in range(2):
        again.step(closure)
        point = np.concatenate([p.detach().numpy().ravel() for p in params])
        np.testing.assert_allclose(point, straight[2 + k], rtol=1e-12, atol=1e-14)
    _, _, _, ref_opt = _trajectory(torch, "lstsq", 2, history_size=5)
    assert set(saved["state"][0]) == set(ref_opt.state_dict()["state"][0])


def test_quadratic_minimum_closed_form() -> None:
    """f(x) = 1/2 x^T A x - b^T x has its minimum at A^-1 b; strong-Wolfe L-BFGS finds it."""
    rng = np.random.default_rng(1)
    M = rng.standard_normal((5, 5))
    A, b = M @ M.T + 5 * np.eye(5), rng.standard_normal(5)
    x = numtorch.zeros(5, dtype=numtorch.float64, requires_grad=True)
    At, bt = numtorch.tensor(A), numtorch.tensor(b)
    opt = numtorch.optim.LBFGS([x], line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=0)

    def closure():
        opt.zero_grad()
        loss = 0.5 * (x @ (At @ x)) - bt @ x
        loss.backward()
        return loss
    opt.step(closure)
    np.testing.assert_allclose(x.detach().numpy(), np.linalg.solve(A, b), rtol=1e-8, atol=1e-10)


def test_float32_stays_float32_and_follows_pytorch(torch) -> None:
    """A float32 model: the parameters stay float32; after one step they are near PyTorch's."""
    results = []
    for lib in (numtorch, torch):
        x = lib.tensor([-1.2, 1.0], requires_grad=True)
        opt = lib.optim.LBFGS([x], max_iter=5)

        def closure():
            opt.zero_grad()
            loss = _rosenbrock(lib, x)
            loss.backward()
            return loss
        opt.step(closure)
        assert x.dtype == lib.float32
        results.append(x.detach().numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-4, atol=1e-5)


def test_zero_gradient_returns_after_one_evaluation() -> None:
    """At a point where max|g| <= tolerance_grad the step evaluates once and moves nothing."""
    x = numtorch.tensor([1.0, 1.0], dtype=numtorch.float64, requires_grad=True)
    opt = numtorch.optim.LBFGS([x])
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = _rosenbrock(numtorch, x)
        loss.backward()
        return loss
    loss = opt.step(closure)
    assert len(calls) == 1 and float(loss) == 0.0 and x.tolist() == [1.0, 1.0]


def test_closure_runs_with_grad_enabled_under_no_grad() -> None:
    x = numtorch.tensor([3.0], requires_grad=True)
    opt = numtorch.optim.LBFGS([x], max_iter=3)
    seen = []

    def closure():
        seen.append(numtorch.is_grad_enabled())
        opt.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss
    with numtorch.no_grad():
        opt.step(closure)
    assert seen and all(seen) and abs(x.item()) < 3.0


def test_errors_match_pytorch(torch) -> None:
    for lib in (numtorch, torch):
        a, b = lib.zeros(2, requires_grad=True), lib.zeros(2, requires_grad=True)
        with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
            lib.optim.LBFGS([{"params": [a]}, {"params": [b]}])
        with pytest.raises(ValueError, match="Invalid learning rate: -1"):
            lib.optim.LBFGS([a], lr=-1)
        opt = lib.optim.LBFGS([a], line_search_fn="armijo")

        def closure():
            opt.zero_grad()
            loss = ((a - 1) ** 2).sum()
            loss.backward()
            return loss
        with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
            opt.step(closure)
        with pytest.raises(TypeError):
            opt.step()
