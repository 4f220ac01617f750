"""Automatic mixed precision: autocast's CPU policy and GradScaler's dynamic loss scaling, vs PyTorch."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import numtorch as nt
from numtorch.cuda import is_available as cuda_available


def _lib_tensors(lib, arrays):
    return [lib.from_numpy(a.copy()) for a in arrays]


# (name, builder: lib, F, tensors -> result, shapes of the float inputs)
_OPS = [
    ("matmul", lambda L, F, a, b: a @ b, [(4, 5), (5, 3)]),
    ("mm", lambda L, F, a, b: L.mm(a, b), [(4, 5), (5, 3)]),
    ("bmm", lambda L, F, a, b: L.bmm(a, b), [(2, 4, 5), (2, 5, 3)]),
    ("baddbmm", lambda L, F, c, a, b: L.baddbmm(c, a, b), [(2, 4, 3), (2, 4, 5), (2, 5, 3)]),
    ("addmm", lambda L, F, c, a, b: L.addmm(c, a, b), [(4, 3), (4, 5), (5, 3)]),
    ("linear", lambda L, F, x, w, b: F.linear(x, w, b), [(4, 5), (3, 5), (3,)]),
    ("conv2d", lambda L, F, x, w, b: F.conv2d(x, w, b, padding=1), [(2, 3, 6, 6), (4, 3, 3, 3), (4,)]),
    ("conv1d", lambda L, F, x, w: F.conv1d(x, w), [(2, 3, 8), (4, 3, 3)]),
    ("prelu", lambda L, F, x, w: F.prelu(x, w), [(2, 3, 4), (3,)]),
    ("sdpa", lambda L, F, q, k, v: F.scaled_dot_product_attention(q, k, v), [(2, 4, 8), (2, 4, 8), (2, 4, 8)]),
    ("mse_loss", lambda L, F, a, b: F.mse_loss(a, b), [(4, 5), (4, 5)]),
    ("l1_loss", lambda L, F, a, b: F.l1_loss(a, b), [(4, 5), (4, 5)]),
    ("smooth_l1_loss", lambda L, F, a, b: F.smooth_l1_loss(a, b), [(4, 5), (4, 5)]),
    ("bce_logits", lambda L, F, a, b: F.binary_cross_entropy_with_logits(a, b.sigmoid()), [(4, 5), (4, 5)]),
    ("kl_div", lambda L, F, a, b: F.kl_div(a.log_softmax(-1), b.softmax(-1), reduction="batchmean"),
     [(4, 5), (4, 5)]),
    ("prod", lambda L, F, a: L.prod(a, 1), [(4, 5)]),
    # not on the lists: the input dtypes decide
    ("exp", lambda L, F, a: L.exp(a), [(4, 5)]),
    ("add", lambda L, F, a, b: a + b, [(4, 5), (4, 5)]),
    ("softmax", lambda L, F, a: L.softmax(a, -1), [(4, 5)]),
    ("layer_norm", lambda L, F, a: F.layer_norm(a, (5,)), [(4, 5)]),
    ("sum", lambda L, F, a: a.sum(), [(4, 5)]),
]


def _inputs(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def _bf16_first(lib, tensors):
    """The first input in bfloat16, the others float32: shows which ops promote and which cast."""
    return [tensors[0].to(lib.bfloat16)] + tensors[1:]


@pytest.mark.parametrize("name,fn,shapes", _OPS, ids=[o[0] for o in _OPS])
def test_cpu_autocast_dtypes_match_torch(name, fn, shapes, torch):
    arrays = _inputs(shapes)
    for prep in (lambda lib, ts: ts, _bf16_first):
        with nt.autocast("cpu"):
            got = fn(nt, nt.nn.functional, *prep(nt, _lib_tensors(nt, arrays)))
        with torch.autocast("cpu"):
            ref = fn(torch, torch.nn.functional, *prep(torch, _lib_tensors(torch, arrays)))
        assert got.dtype.name == str(ref.dtype).split(".")[1], name
        np.testing.assert_allclose(got.float().detach().numpy(), ref.float().detach().numpy(),
                                   rtol=2 ** -6, atol=2 ** -6 * max(1.0, float(ref.float().abs().max())))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_cpu_autocast_dtype_argument(dtype, torch):
    a, b = _inputs([(4, 5), (5, 3)])
    with nt.autocast("cpu", dtype=getattr(nt, dtype)):
        got = nt.from_numpy(a) @ nt.from_numpy(b)
        assert nt.get_autocast_dtype("cpu") is getattr(nt, dtype)
    with torch.autocast("cpu", dtype=getattr(torch, dtype)):
        ref = torch.from_numpy(a) @ torch.from_numpy(b)
    assert got.dtype.name == str(ref.dtype).split(".")[1] == dtype


def test_disabled_autocast_is_an_exact_no_op():
    a, b = _inputs([(4, 5), (5, 3)])
    x, y = nt.from_numpy(a), nt.from_numpy(b)
    outside = x @ y
    with nt.autocast("cpu", enabled=False):
        assert not nt.is_autocast_enabled("cpu")
        inside = x @ y
    assert inside.dtype == nt.float32
    np.testing.assert_array_equal(inside.numpy(), outside.numpy())


def test_state_nesting_decorator_and_exceptions():
    assert not nt.is_autocast_enabled("cpu")
    with nt.autocast("cpu"):
        assert nt.is_autocast_enabled("cpu") and nt.is_autocast_cpu_enabled()
        assert not nt.is_autocast_enabled()          # no argument: CUDA, as in PyTorch
        with nt.autocast("cpu", enabled=False):
            assert not nt.is_autocast_enabled("cpu")
            assert (nt.ones(2, 2) @ nt.ones(2, 2)).dtype == nt.float32
        assert nt.is_autocast_enabled("cpu")
    assert not nt.is_autocast_enabled("cpu")
    with pytest.raises(ZeroDivisionError):
        with nt.autocast("cpu"):
            1 / 0
    assert not nt.is_autocast_enabled("cpu")

    @nt.autocast("cpu")
    def f(x):
        return x @ x

    assert f(nt.ones(3, 3)).dtype == nt.bfloat16
    assert (nt.ones(3, 3) @ nt.ones(3, 3)).dtype == nt.float32
    with nt.autocast("cpu"):                             # float64 is never cast
        assert (nt.ones(3, 3, dtype=nt.float64) @ nt.ones(3, 3, dtype=nt.float64)).dtype == nt.float64


def test_autocast_gradients_reach_float32_params(torch):
    x, w, b = _inputs([(8, 5), (3, 5), (3,)], seed=1)
    t = np.array([0, 2, 1, 1, 0, 2, 2, 0])
    W, B = nt.from_numpy(w.copy()).requires_grad_(), nt.from_numpy(b.copy()).requires_grad_()
    tW, tB = torch.from_numpy(w.copy()).requires_grad_(), torch.from_numpy(b.copy()).requires_grad_()
    with nt.autocast("cpu"):
        loss = nt.nn.functional.cross_entropy(nt.nn.functional.linear(nt.from_numpy(x), W, B), nt.from_numpy(t))
    with torch.autocast("cpu"):
        tloss = torch.nn.functional.cross_entropy(torch.nn.functional.linear(torch.from_numpy(x), tW, tB),
                                                  torch.from_numpy(t))
    assert loss.dtype == nt.float32 and tloss.dtype == torch.float32
    loss.backward()
    tloss.backward()
    assert W.grad.dtype == nt.float32 and B.grad.dtype == nt.float32
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=2 ** -6)
    np.testing.assert_allclose(W.grad.numpy(), tW.grad.numpy(), rtol=2 ** -5, atol=2 ** -6)
    np.testing.assert_allclose(B.grad.numpy(), tB.grad.numpy(), rtol=2 ** -5, atol=2 ** -6)


def test_module_forward_under_autocast(torch):
    nt.manual_seed(0)
    m = nt.nn.Sequential(nt.nn.Conv2d(3, 4, 3), nt.nn.ReLU(), nt.nn.Flatten(), nt.nn.Linear(4 * 4 * 4, 2))
    tm = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                             torch.nn.Linear(4 * 4 * 4, 2))
    tm.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy()) for k, v in m.state_dict().items()})
    x = _inputs([(2, 3, 6, 6)], seed=2)[0]
    with nt.autocast("cpu"):
        y = m(nt.from_numpy(x))
    with torch.autocast("cpu"):
        ty = tm(torch.from_numpy(x))
    assert y.dtype == nt.bfloat16 and ty.dtype == torch.bfloat16
    np.testing.assert_allclose(y.float().detach().numpy(), ty.float().detach().numpy(), rtol=2 ** -5, atol=2 ** -5)
    assert m[0].weight.dtype == nt.float32   # parameters stay float32


@pytest.mark.skipif(cuda_available(), reason="checks the CPU-only fallback")
def test_cuda_autocast_without_cuda_warns_and_disables(torch):
    with pytest.warns(UserWarning, match="CUDA is not available"):
        ctx = nt.autocast("cuda")
    with ctx:
        assert not nt.is_autocast_enabled("cuda")
        assert (nt.ones(2, 2) @ nt.ones(2, 2)).dtype == nt.float32
    with pytest.warns(FutureWarning, match="deprecated"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            nt.cuda.amp.autocast(enabled=True)
    with pytest.warns(FutureWarning, match="deprecated"):
        c = nt.cpu.amp.autocast()
    with c:
        assert nt.is_autocast_enabled("cpu") and nt.get_autocast_dtype("cpu") is nt.bfloat16


def test_bad_autocast_arguments(torch):
    with pytest.raises(ValueError, match="device_type"):
        nt.autocast(0)
    with pytest.raises(RuntimeError, match="unsupported autocast device_type 'xpu2'"):
        nt.autocast("xpu2")
    with pytest.warns(UserWarning, match="target dtype is not supported"):
        c = nt.autocast("cpu", dtype=nt.float64)
    with c:
        assert not nt.is_autocast_enabled("cpu")


# ---- GradScaler -----------------------------------------------------------------------------

class _Opt:
    """A stand-in optimizer that records its steps."""

    def __init__(self, params):
        self.param_groups = [{"params": list(params)}]
        self.steps = 0

    def step(self, closure=None):
        self.steps += 1
        return "stepped"


def test_disabled_scaler_is_a_pass_through():
    s = nt.amp.GradScaler("cpu", enabled=False)
    loss = nt.tensor(2.0, requires_grad=True)
    assert s.scale(loss) is loss
    opt = _Opt([loss])
    assert s.step(opt) == "stepped" and opt.steps == 1
    s.update()
    assert s.get_scale() == 1.0 and s.state_dict() == {} and not s.is_enabled()
    s.load_state_dict({})    # nothing to load into a disabled scaler


@pytest.mark.skipif(cuda_available(), reason="checks the CPU-only fallback")
def test_cuda_scaler_without_cuda_disables_like_torch(torch):
    with pytest.warns(UserWarning, match="CUDA is not available.  Disabling"):
        s = nt.amp.GradScaler()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ts = torch.amp.GradScaler()
        tc = torch.cuda.amp.GradScaler()
    assert s.is_enabled() == ts.is_enabled() == tc.is_enabled() is False
    assert s.get_scale() == ts.get_scale() == 1.0
    with pytest.warns(FutureWarning):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            c = nt.cuda.amp.GradScaler()
    assert not c.is_enabled()
    loss = nt.tensor(3.0)
    assert s.scale(loss) is loss


def _run_script(lib, pattern, sgd_cls, **kw):
    """Steps of SGD on w with scaled losses; pattern[i]: None (finite), inf or nan in the gradient."""
    w = lib.tensor([1.0, -2.0, 0.5], requires_grad=True)
    opt = sgd_cls([w], lr=0.1)
    scaler = lib.amp.GradScaler("cpu", **kw)
    scales, ws, steps = [], [], []
    x = lib.tensor([0.5, 1.5, -1.0])
    for bad in pattern:
        opt.zero_grad()
        loss = ((w * x) ** 2).sum()
        scaler.scale(loss).backward()
        if bad is not None:
            with lib.no_grad():
                w.grad[1] = bad
        steps.append(scaler.step(opt) is None)
        scaler.update()
        scales.append(scaler.get_scale())
        ws.append(w.detach().numpy().copy())
    return scales, ws, steps, scaler.state_dict()


def test_scale_sequence_matches_torch(torch):
    inf, nan = float("inf"), float("nan")
    pattern = [None, None, inf, None, None, None, nan, inf, None, None, None, None, None, None, None]
    kw = dict(init_scale=2.0 ** 10, growth_factor=2.0, backoff_factor=0.5, growth_interval=3)
    scales, ws, steps, sd = _run_script(nt, pattern, nt.optim.SGD, **kw)
    tscales, tws, tsteps, tsd = _run_script(torch, pattern, torch.optim.SGD, **kw)
    assert scales == tscales
    assert steps == tsteps                      # the same steps skipped
    assert sd == tsd                            # PyTorch's keys and values
    for a, b in zip(ws, tws):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_growth_and_backoff_factors_match_torch(torch):
    pattern = [None] * 5 + [float("inf")] + [None] * 4
    kw = dict(init_scale=3.0, growth_factor=1.5, backoff_factor=0.25, growth_interval=2)
    assert _run_script(nt, pattern, nt.optim.SGD, **kw)[0] == _run_script(torch, pattern, torch.optim.SGD, **kw)[0]


def test_unscale_then_clip_and_stage_errors(torch):
    w = nt.tensor([3.0, 4.0], requires_grad=True)
    opt = nt.optim.SGD([w], lr=1.0)
    s = nt.amp.GradScaler("cpu", init_scale=8.0)
    s.scale((w * w).sum()).backward()
    np.testing.assert_allclose(w.grad.numpy(), 8.0 * np.array([6.0, 8.0]))
    s.unscale_(opt)
    np.testing.assert_allclose(w.grad.numpy(), [6.0, 8.0])            # d(w.w)/dw = 2w
    with pytest.raises(RuntimeError, match="unscale_\\(\\) has already been called"):
        s.unscale_(opt)
    nt.nn.utils.clip_grad_norm_([w], 5.0)
    s.step(opt)                                                      # not unscaled a second time
    np.testing.assert_allclose(w.detach().numpy(), [3.0 - 3.0, 4.0 - 4.0], atol=1e-6)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        s.step(opt)
    with pytest.raises(RuntimeError, match="unscale_\\(\\) is being called after step\\(\\)"):
        s.unscale_(opt)
    s.update()
    with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
        s.step(opt, closure=lambda: None)


def test_scaler_errors_match_torch(torch):
    with pytest.raises(AssertionError, match="growth factor must be > 1.0"):
        nt.amp.GradScaler("cpu", growth_factor=1.0)
    with pytest.raises(AssertionError, match="backoff factor must be < 1.0"):
        nt.amp.GradScaler("cpu", backoff_factor=1.0)
    s = nt.amp.GradScaler("cpu")
    with pytest.raises(AssertionError, match="Attempted step but _scale is None"):
        s.step(_Opt([]))
    with pytest.raises(RuntimeError, match="source state dict is empty"):
        s.load_state_dict({})
    h = nt.zeros(2, dtype=nt.float16, requires_grad=True)
    s.scale(nt.tensor(1.0))
    h.grad = nt.ones(2, dtype=nt.float16)
    with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients."):
        s.unscale_(_Opt([h]))


def test_state_dict_round_trip_and_torch_keys(torch):
    s = nt.amp.GradScaler("cpu", init_scale=256.0, growth_interval=7)
    ts = torch.amp.GradScaler("cpu", init_scale=256.0, growth_interval=7)
    assert s.state_dict() == ts.state_dict()
    s.load_state_dict({"scale": 32.0, "growth_factor": 4.0, "backoff_factor": 0.25, "growth_interval": 3,
                       "_growth_tracker": 2})
    ts.load_state_dict(s.state_dict())
    assert s.state_dict() == ts.state_dict()
    # the loaded tracker counts: one more finite step reaches the interval of 3, the scale grows 4x
    w = nt.tensor([1.0], requires_grad=True)
    opt = nt.optim.SGD([w], lr=0.0)
    s.scale(w.sum()).backward()
    s.step(opt)
    s.update()
    assert s.get_scale() == 128.0 and s.state_dict()["_growth_tracker"] == 0


def test_scale_of_lists_and_bfloat16(torch):
    s = nt.amp.GradScaler("cpu", init_scale=4.0)
    a, b = s.scale([nt.tensor(1.0), (nt.tensor([2.0]), nt.tensor(3.0))])
    assert a.item() == 4.0 and b[0].tolist() == [8.0] and b[1].item() == 12.0
    ts = torch.amp.GradScaler("cpu", init_scale=4.0)
    x = s.scale(nt.ones(3, dtype=nt.bfloat16))
    tx = ts.scale(torch.ones(3, dtype=torch.bfloat16))
    assert x.dtype.name == str(tx.dtype).split(".")[1]


def _train(lib, state, x, t, steps=6):
    m = lib.nn.Sequential(lib.nn.Linear(8, 16), lib.nn.ReLU(), lib.nn.Linear(16, 3))
    m.load_state_dict({k: lib.from_numpy(v.copy()) for k, v in state.items()})
    opt = lib.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    scaler = lib.amp.GradScaler("cpu", init_scale=2.0 ** 8)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        with lib.autocast("cpu"):
            loss = lib.nn.functional.cross_entropy(m(lib.from_numpy(x)), lib.from_numpy(t))
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    return losses, scaler.get_scale()


def test_mixed_precision_training_matches_torch(torch):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((32, 8)).astype(np.float32)
    t = rng.integers(0, 3, 32)
    nt.manual_seed(0)
    ref_model = nt.nn.Sequential(nt.nn.Linear(8, 16), nt.nn.ReLU(), nt.nn.Linear(16, 3))
    state = {k: v.detach().numpy().copy() for k, v in ref_model.state_dict().items()}
    losses, scale = _train(nt, state, x, t)
    tlosses, tscale = _train(torch, state, x, t)
    assert scale == tscale
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(losses, tlosses, rtol=2 ** -5)
