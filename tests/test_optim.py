"""numtorch.optim against torch.optim: same model, same data, 10 steps, same parameters."""
import numpy as np
import pytest

import numtorch as nt

# (optimizer name, kwargs) pairs covering each option of each optimizer
CASES = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, weight_decay=0.1)),
    ("SGD", dict(lr=0.01, maximize=True)),
    ("SGD", dict(lr=0.01, momentum=0.8, nesterov=True, weight_decay=0.05, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.1)),
    ("Adagrad", dict(lr=0.1, maximize=True, eps=1e-6)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.5, weight_decay=0.1)),
    ("Adadelta", dict(maximize=True, eps=1e-4)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), maximize=True)),
    ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.5, amsgrad=True)),
    ("NAdam", dict(lr=0.05)),
    ("NAdam", dict(lr=0.05, weight_decay=0.1)),
    ("NAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, momentum_decay=0.01)),
    ("NAdam", dict(lr=0.05, maximize=True)),
    ("Adamax", dict(lr=0.05)),
    ("Adamax", dict(lr=0.05, weight_decay=0.1, maximize=True, betas=(0.8, 0.9))),
    ("RAdam", dict(lr=0.05)),                      # steps 1-5: momentum SGD branch, 6-10: rectified (rho_t > 5)
    ("RAdam", dict(lr=0.05, weight_decay=0.1, betas=(0.8, 0.9))),
    ("RAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, maximize=True, betas=(0.8, 0.99))),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}" for name, kw in CASES]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _problem(dtype):
    """A tiny linear regression: X (8, 3), Y (8, 2); weights W (3, 2) and bias b (2,)."""
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    W, b = rng.standard_normal((3, 2)), rng.standard_normal(2)
    return [a.astype(dtype) for a in (X, Y, W, b)]


def _run_numtorch(name, kw, dtype, steps=10, groups=None):
    X, Y, W, b = _problem(dtype)
    Xt, Yt = nt.tensor(X), nt.tensor(Y)
    params = [nt.tensor(W, requires_grad=True), nt.tensor(b, requires_grad=True)]
    opt = getattr(nt.optim, name)(groups(params) if groups else params, **kw)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((Xt @ params[0] + params[1] - Yt) ** 2).mean()
        loss.backward()
        opt.step()
    return params, opt


def _run_torch(torch, name, kw, dtype, steps=10, groups=None):
    X, Y, W, b = _problem(dtype)
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    params = [torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)]
    opt = getattr(torch.optim, name)(groups(params) if groups else params, **kw)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((Xt @ params[0] + params[1] - Yt) ** 2).mean()
        loss.backward()
        opt.step()
    return params, opt


def _assert_state_dicts_equal(sd, ref, tol):
    """Same structure as PyTorch's state_dict: groups' keys and values, state keys, tensor values."""
    assert len(sd["param_groups"]) == len(ref["param_groups"])
    for g, rg in zip(sd["param_groups"], ref["param_groups"]):
        assert list(g) == list(rg)
        for k in rg:
            assert g[k] == rg[k], k
    assert list(sd["state"]) == list(ref["state"])
    for i, st in sd["state"].items():
        rst = ref["state"][i]
        assert list(st) == list(rst)
        for k, v in rst.items():
            assert isinstance(st[k], nt.Tensor), k
            assert str(st[k].dtype).split(".")[-1] == str(v.dtype).split(".")[-1], k
            np.testing.assert_allclose(st[k].numpy(), v.numpy(), rtol=tol, atol=tol, err_msg=k)


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-6), (np.float32, 1e-5)], ids=["f64", "f32"])
def test_matches_torch(torch, name, kw, dtype, tol):
    params, opt = _run_numtorch(name, kw, dtype)
    ref_params, ref_opt = _run_torch(torch, name, kw, dtype)
    for p, rp in zip(params, ref_params):
        assert p.dtype == (nt.float64 if dtype == np.float64 else nt.float32)   # no upcast
        np.testing.assert_allclose(p.detach().numpy(), rp.detach().numpy(), rtol=tol, atol=tol)
    _assert_state_dicts_equal(opt.state_dict(), ref_opt.state_dict(), tol)


@pytest.mark.parametrize("name,kw", [CASES[2], CASES[8], CASES[13], CASES[16], CASES[22], CASES[28]],
                         ids=["SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "NAdam"])
def test_state_dict_round_trip_resumes_exactly(name, kw):
    """5 steps, state_dict, a fresh optimizer loads it, 5 more steps == 10 uninterrupted steps."""
    full, _ = _run_numtorch(name, kw, np.float64, steps=10)
    params, opt = _run_numtorch(name, kw, np.float64, steps=5)
    X, Y, _, _ = _problem(np.float64)
    sd = opt.state_dict()
    opt2 = getattr(nt.optim, name)(params, **{**kw, "lr": 123.0})   # lr comes back from the state_dict
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == kw.get("lr", opt.defaults["lr"])
    for _ in range(5):
        opt2.zero_grad()
        ((nt.tensor(X) @ params[0] + params[1] - nt.tensor(Y)) ** 2).mean().backward()
        opt2.step()
    # exact up to rounding: loading casts NAdam's float32 mu_product to the parameters' float64,
    # as PyTorch's load_state_dict does, so the resumed run rounds it differently (~1e-11)
    for p, q in zip(params, full):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-10, atol=1e-10)
    # the loaded state is a copy: the first optimizer's state did not move on
    assert float(opt.state[params[0]].get("step", nt.tensor(5.0))) == 5.0


def test_load_torch_state_dict_continues_like_torch(torch):
    """A PyTorch Adam state_dict, converted tensor by tensor, resumes in numtorch as in PyTorch."""
    kw = dict(lr=0.05, amsgrad=True)
    ref_params, ref_opt = _run_torch(torch, "Adam", kw, np.float64, steps=5)
    sd = ref_opt.state_dict()
    sd = {"state": {i: {k: nt.tensor(v.numpy()) for k, v in st.items()} for i, st in sd["state"].items()},
          "param_groups": sd["param_groups"]}
    params = [nt.tensor(p.detach().numpy(), requires_grad=True) for p in ref_params]
    opt = nt.optim.Adam(params, **kw)
    opt.load_state_dict(sd)
    X, Y, _, _ = _problem(np.float64)
    for _ in range(5):
        opt.zero_grad()
        ((nt.tensor(X) @ params[0] + params[1] - nt.tensor(Y)) ** 2).mean().backward()
        opt.step()
        ref_opt.zero_grad()
        ((torch.tensor(X) @ ref_params[0] + ref_params[1] - torch.tensor(Y)) ** 2).mean().backward()
        ref_opt.step()
    for p, rp in zip(params, ref_params):
        np.testing.assert_allclose(p.detach().numpy(), rp.detach().numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_per_group_lr_matches_torch(torch, name):
    kw = dict(lr=0.05, momentum=0.9) if name != "Adam" else dict(lr=0.05)

    def groups(params):
        return [{"params": [params[0]]}, {"params": [params[1]], "lr": 0.001}]

    params, opt = _run_numtorch(name, kw, np.float64, groups=groups)
    ref_params, ref_opt = _run_torch(torch, name, kw, np.float64, groups=groups)
    for p, rp in zip(params, ref_params):
        np.testing.assert_allclose(p.detach().numpy(), rp.detach().numpy(), rtol=1e-6, atol=1e-6)
    _assert_state_dicts_equal(opt.state_dict(), ref_opt.state_dict(), 1e-6)


def test_add_param_group_matches_torch(torch):
    def run(lib, opt_cls):
        a = lib.tensor([1.0, -2.0], dtype=lib.float64, requires_grad=True)
        b = lib.tensor([0.5, 3.0], dtype=lib.float64, requires_grad=True)
        opt = opt_cls([a], lr=0.1, momentum=0.9)
        for step in range(6):
            if step == 2:
                opt.add_param_group({"params": b, "lr": 0.01})
            opt.zero_grad()
            ((a ** 2).sum() + (b ** 3).sum()).backward()
            opt.step()
        return a, b, opt

    a, b, opt = run(nt, nt.optim.SGD)
    ra, rb, ropt = run(torch, torch.optim.SGD)
    np.testing.assert_allclose(a.detach().numpy(), ra.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.detach().numpy(), rb.detach().numpy(), rtol=1e-12)
    assert opt.param_groups[1]["momentum"] == 0.9          # filled from the defaults
    _assert_state_dicts_equal(opt.state_dict(), ropt.state_dict(), 1e-12)


def test_params_without_grad_are_skipped():
    a = nt.tensor([1.0, 2.0], requires_grad=True)
    b = nt.tensor([3.0], requires_grad=True)
    opt = nt.optim.Adam([a, b], lr=0.1)
    (a * a).sum().backward()
    opt.step()
    assert b.tolist() == [3.0]
    assert len(opt.state) == 1 and b not in opt.state
    assert a._version >= 1          # the in-place update bumped the version counter


def test_zero_grad():
    a = nt.tensor([1.0, 2.0], requires_grad=True)
    opt = nt.optim.SGD([a], lr=0.1)
    (a * a).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert a.grad is not None and a.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert a.grad is None


def test_closure_returns_loss():
    a = nt.tensor([1.0, 2.0], requires_grad=True)
    opt = nt.optim.SGD([a], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = (a * a).sum()
        loss.backward()
        return loss

    with nt.no_grad():   # the closure still records a graph: step enables grad for it
        loss = opt.step(closure)
    assert loss.item() == 5.0
    assert a.tolist() == [0.0, 0.0]            # a - 0.5 * 2a


def test_float32_stays_float32():
    a = nt.tensor(np.ones(4, np.float32), requires_grad=True)
    for name in ["SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "NAdam", "Adamax", "RAdam"]:
        opt = getattr(nt.optim, name)([a], lr=0.01)
        (a * a).sum().backward()
        opt.step()
        a.grad = None
        assert a._data.dtype == np.float32, name
        for v in opt.state[a].values():
            if v._data.ndim:
                assert v._data.dtype == np.float32, name


def test_errors():
    a = nt.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        nt.optim.SGD(a, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        nt.optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        nt.optim.SGD([a], lr=-1)
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        nt.optim.SGD([a], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1"):
        nt.optim.Adam([a], betas=(0.9, 1.0))
    with pytest.warns(UserWarning, match="duplicate parameters"):
        nt.optim.SGD([a, a], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        nt.optim.SGD([{"params": [a]}, {"params": [a]}], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        nt.optim.SGD([a * 2], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        nt.optim.SGD([{"params": {a}}], lr=0.1)
    opt = nt.optim.SGD([a], lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": []})


def test_named_parameters_are_accepted():
    a = nt.tensor([1.0], requires_grad=True)
    opt = nt.optim.SGD([("w", a)], lr=0.1)
    assert opt.param_groups[0]["params"][0] is a
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["w"]


def test_parameter_objects_work():
    w = nt.nn.Parameter(nt.ones(3))
    opt = nt.optim.SGD([w], lr=0.5)
    (w * w).sum().backward()
    opt.step()
    assert isinstance(w, nt.nn.Parameter)
    assert w.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)), ("AdamW", dict(lr=1e-2)),
                                     ("RMSprop", dict(lr=1e-3, centered=True))])
def test_mlp_training_matches_torch(torch, name, kw):
    """nn.Linear-ReLU-Linear with the same weights, 5 steps of cross-entropy: same losses and weights."""
    try:
        model = nt.nn.Sequential(nt.nn.Linear(6, 8), nt.nn.ReLU(), nt.nn.Linear(8, 3))
        F = nt.nn.functional
        F.cross_entropy
    except (AttributeError, NotImplementedError) as e:   # nn is another engineer's work in progress
        pytest.skip(f"numtorch.nn not ready: {e}")
    ref = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    model.load_state_dict({k: nt.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    rng = np.random.default_rng(1)
    X, t = rng.standard_normal((16, 6)).astype(np.float32), rng.integers(0, 3, 16)
    opt, ref_opt = getattr(nt.optim, name)(model.parameters(), **kw), getattr(torch.optim, name)(ref.parameters(), **kw)
    for _ in range(5):
        opt.zero_grad()
        loss = F.cross_entropy(model(nt.tensor(X)), nt.tensor(t))
        loss.backward()
        opt.step()
        ref_opt.zero_grad()
        ref_loss = torch.nn.functional.cross_entropy(ref(torch.tensor(X)), torch.tensor(t))
        ref_loss.backward()
        ref_opt.step()
        assert abs(loss.item() - ref_loss.item()) < 1e-5
    for k, v in ref.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[k].numpy(), v.numpy(), rtol=1e-5, atol=1e-5)
    _assert_state_dicts_equal(opt.state_dict(), ref_opt.state_dict(), 1e-5)
