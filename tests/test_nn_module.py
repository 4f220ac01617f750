"""Module, Parameter, containers, Linear, Flatten: PyTorch's semantics, keys and reprs."""
import copy
import math
from collections import OrderedDict

import numpy as np
import pytest

import numtorch
from numtorch import nn


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _build(lib):
    """The same nested architecture in numtorch or torch."""
    class Block(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = lib.nn.Linear(4, 3)
            self.act = lib.nn.ReLU()
            self.register_buffer("scale", lib.ones(3))
            self.register_buffer("tmp", lib.zeros(2), persistent=False)

        def forward(self, x):
            return self.act(self.fc(x)) * self.scale

    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()
            self.layers = lib.nn.ModuleList([lib.nn.Linear(3, 3), lib.nn.Linear(3, 3, bias=False)])
            self.heads = lib.nn.ModuleDict({"a": lib.nn.Linear(3, 2), "b": lib.nn.Identity()})
            self.seq = lib.nn.Sequential(lib.nn.Linear(2, 5), lib.nn.Tanh(), lib.nn.Flatten())
            self.extra = lib.nn.Parameter(lib.zeros(2, 2))

        def forward(self, x):
            h = self.block(x)
            for layer in self.layers:
                h = layer(h)
            return self.seq(self.heads["b"](self.heads["a"](h)))

    return Net()


def _copy_weights(src_torch, dst):
    sd = {k: numtorch.tensor(v.detach().numpy()) for k, v in src_torch.state_dict().items()}
    dst.load_state_dict(sd)


# ---- Parameter ---------------------------------------------------------------------------------

def test_parameter_basics():
    t = numtorch.tensor([1.0, 2.0])
    p = nn.Parameter(t)
    assert isinstance(p, numtorch.Tensor) and p.requires_grad and p.is_leaf
    assert p._data is t._data  # shares memory
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    y = p * 2
    assert type(y) is numtorch.Tensor
    (y.sum()).backward()
    np.testing.assert_array_equal(p.grad.numpy(), [2.0, 2.0])


def test_parameter_repr_matches_torch(torch):
    p = nn.Parameter(numtorch.tensor([[1.0, 2.5], [3.0, 4.0]]))
    assert repr(p) == repr(torch.nn.Parameter(torch.tensor([[1.0, 2.5], [3.0, 4.0]])))


# ---- registration and traversal ----------------------------------------------------------------

def test_state_dict_keys_and_shapes_match_torch(torch):
    ours, theirs = _build(numtorch), _build(torch)
    sd, tsd = ours.state_dict(), theirs.state_dict()
    assert list(sd) == list(tsd)
    for k in sd:
        assert tuple(sd[k].shape) == tuple(tsd[k].shape), k
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert [n for n, _ in ours.named_parameters(prefix="m", recurse=False)] == \
        [n for n, _ in theirs.named_parameters(prefix="m", recurse=False)]
    assert len(list(ours.parameters())) == len(list(theirs.parameters()))


def test_same_weights_same_output_and_grads(torch):
    ours, theirs = _build(numtorch), _build(torch)
    _copy_weights(theirs, ours)
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    y = ours(numtorch.tensor(x))
    ty = theirs(torch.tensor(x))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    y.sum().backward()
    ty.sum().backward()
    for (n, p), (tn, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        if tp.grad is None:
            assert p.grad is None, n
        else:
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-6, err_msg=n)


def test_state_dict_is_detached_and_shares_memory():
    m = nn.Linear(2, 3)
    sd = m.state_dict()
    assert not sd["weight"].requires_grad
    assert sd["weight"]._data is m.weight._data
    kv = m.state_dict(keep_vars=True)
    assert kv["weight"] is m.weight
    assert list(m.state_dict(prefix="p.")) == ["p.weight", "p.bias"]


def test_load_state_dict_copies_values_in_place():
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    w = b.weight
    result = b.load_state_dict(a.state_dict())
    assert b.weight is w
    np.testing.assert_array_equal(b.weight.detach().numpy(), a.weight.detach().numpy())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"


def test_load_state_dict_strict_errors_match_torch(torch):
    sd = nn.Sequential(nn.Linear(2, 3)).state_dict()
    sd["1.weight"] = numtorch.zeros(1)
    del sd["0.bias"]
    with pytest.raises(RuntimeError) as ours:
        nn.Sequential(nn.Linear(2, 3)).load_state_dict(sd)
    tsd = torch.nn.Sequential(torch.nn.Linear(2, 3)).state_dict()
    tsd["1.weight"] = torch.zeros(1)
    del tsd["0.bias"]
    with pytest.raises(RuntimeError) as theirs:
        torch.nn.Sequential(torch.nn.Linear(2, 3)).load_state_dict(tsd)
    assert str(ours.value) == str(theirs.value)
    res = nn.Sequential(nn.Linear(2, 3)).load_state_dict(sd, strict=False)
    assert res.missing_keys == ["0.bias"] and res.unexpected_keys == ["1.weight"]


def test_load_state_dict_size_mismatch_message():
    with pytest.raises(RuntimeError, match=r"size mismatch for weight: copying a param with shape "
                                           r"numtorch.Size\(\[2, 4\]\) from checkpoint, the shape in current "
                                           r"model is numtorch.Size\(\[2, 3\]\)"):
        nn.Linear(3, 2).load_state_dict(nn.Linear(4, 2).state_dict())


def test_setattr_registration_rules():
    m = nn.Module()
    m.w = nn.Parameter(numtorch.zeros(2))
    m.sub = nn.Linear(1, 1)
    m.register_buffer("buf", numtorch.zeros(1))
    m.plain = 3
    assert list(m._parameters) == ["w"] and list(m._modules) == ["sub"] and list(m._buffers) == ["buf"]
    assert m.plain == 3 and "plain" in m.__dict__
    with pytest.raises(TypeError, match="cannot assign 'numtorch.Tensor' as parameter 'w'"):
        m.w = numtorch.zeros(2)
    with pytest.raises(TypeError, match="cannot assign 'int' as child module 'sub'"):
        m.sub = 1
    with pytest.raises(TypeError, match="cannot assign 'int' as buffer 'buf'"):
        m.buf = 1
    m.buf = numtorch.ones(1)  # a tensor may replace a buffer
    assert m.buf.item() == 1.0
    with pytest.raises(KeyError, match="attribute 'plain' already exists"):
        m.register_buffer("plain", numtorch.zeros(1))
    with pytest.raises(KeyError):
        m.register_parameter("a.b", None)
    with pytest.raises(TypeError):
        m.add_module("x", 3)
    m.w = None
    assert m.w is None and "w" in m._parameters
    del m.sub
    assert "sub" not in m._modules
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'sub'"):
        m.sub
    assert "buf" in dir(m)


def test_register_before_init_raises():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(numtorch.zeros(1))
    with pytest.raises(AttributeError, match="cannot assign parameters before Module.__init__"):
        Bad()


def test_non_leaf_parameter_rejected():
    m = nn.Module()
    x = numtorch.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="non-leaf"):
        p = nn.Parameter(x)
        p.grad_fn = (x * 2).grad_fn
        m.register_parameter("p", p)


def test_buffer_class_and_persistence():
    m = nn.Module()
    m.b = nn.Buffer(numtorch.ones(2), persistent=False)
    assert "b" in m._buffers and "b" not in m.state_dict()
    assert type(m.b) is numtorch.Tensor


def test_shared_parameter_listed_once():
    a = nn.Linear(2, 2)
    m = nn.Sequential(a, a)
    assert len(list(m.parameters())) == 2
    assert list(m.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_get_submodule_parameter_buffer():
    net = _build(numtorch)
    assert net.get_submodule("block.fc") is net.block.fc
    assert net.get_parameter("layers.1.weight") is net.layers[1].weight
    assert net.get_buffer("block.scale") is net.block.scale
    with pytest.raises(AttributeError, match="has no attribute `nope`"):
        net.get_submodule("block.nope")


def test_train_eval_apply_requires_grad():
    net = _build(numtorch)
    assert net.training and net.block.act.training
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        net.train("yes")
    names = []
    net.apply(lambda m: names.append(type(m).__name__))
    assert names[-1] == "Net" and names[0] == "Linear"
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_zero_grad():
    m = nn.Linear(2, 2)
    m(numtorch.ones(1, 2)).sum().backward()
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is not None and float(m.weight.grad.abs().sum()) == 0.0
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None


def test_to_dtype_keeps_parameter_objects():
    m = nn.Sequential(nn.Linear(2, 3))
    m[0].register_buffer("count", numtorch.tensor(3))
    w = m[0].weight
    m.double()
    assert m[0].weight is w and w.dtype == numtorch.float64 and w.requires_grad
    assert m[0].count.dtype == numtorch.int64  # integer buffers keep their dtype
    m.to(numtorch.float32)
    assert w.dtype == numtorch.float32
    assert m.to("cpu") is m and m.cpu() is m
    m.half()
    assert w.dtype == numtorch.float16
    with pytest.raises(TypeError):
        m.to(numtorch.int64)


def test_hooks_run_and_remove():
    m = nn.Linear(2, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: calls.append("pre") or (args[0] * 0,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append("post") or out + 1)
    y = m(numtorch.ones(1, 2))
    assert calls == ["pre", "post"]
    np.testing.assert_allclose(y.detach().numpy(), m.bias.detach().numpy()[None] + 1, rtol=1e-6)
    h1.remove()
    h2.remove()
    calls.clear()
    m(numtorch.ones(1, 2))
    assert calls == []
    h = m.register_forward_hook(lambda mod, args, kwargs, out: calls.append(kwargs), with_kwargs=True)
    m(input=numtorch.ones(1, 2))
    assert calls == [{"input": calls[0]["input"]}]
    h.remove()


def test_backward_hooks_match_torch(torch):
    def run(lib):
        m = lib.nn.Sequential(lib.nn.Linear(3, 2), lib.nn.Tanh())
        with lib.no_grad():
            m[0].weight.copy_(lib.tensor(np.arange(6, dtype=np.float32).reshape(2, 3) / 5 - 0.5))
            m[0].bias.copy_(lib.tensor([0.1, -0.2]))
        log = []
        m[0].register_full_backward_pre_hook(lambda mod, go: log.append(("pre", [tuple(g.shape) for g in go])))
        m[0].register_full_backward_hook(
            lambda mod, gi, go: (log.append(("full", [None if g is None else tuple(g.shape) for g in gi])),
                                 tuple(None if g is None else 2 * g for g in gi))[1])
        x = lib.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3), requires_grad=True)
        m(x).sum().backward()
        m(lib.ones(4, 3)).sum().backward()
        return log, np.asarray(x.grad.detach().numpy(), dtype=np.float64)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (log, g), (tlog, tg) = run(numtorch), run(torch)
    assert log == tlog
    np.testing.assert_allclose(g, tg, rtol=1e-5)  # the hook doubled grad_input in both


def test_forward_missing():
    with pytest.raises(NotImplementedError, match=r'Module \[Module\] is missing the required "forward" function'):
        nn.Module()(1)


def test_repr_matches_torch(torch):
    def build(lib):
        return lib.nn.Sequential(lib.nn.Linear(784, 100), lib.nn.ReLU(),
                                 lib.nn.Sequential(lib.nn.Linear(100, 10, bias=False), lib.nn.Identity()),
                                 lib.nn.Flatten(), lib.nn.Unflatten(1, (2, 5)))
    assert repr(build(numtorch)) == repr(build(torch))
    ml = lambda lib: lib.nn.ModuleList([lib.nn.Linear(2, 2), lib.nn.Linear(2, 2), lib.nn.ReLU()])  # noqa: E731
    assert repr(ml(numtorch)) == repr(ml(torch))
    assert repr(_build(numtorch)) == repr(_build(torch))
    pl = nn.ParameterList([nn.Parameter(numtorch.zeros(2, 3))])
    tpl = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(2, 3))])
    assert repr(pl).replace("numtorch", "torch") == repr(tpl)


# ---- containers --------------------------------------------------------------------------------

def test_sequential_indexing():
    a, b, c = nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1)
    s = nn.Sequential(a, b, c)
    assert len(s) == 3 and s[0] is a and s[-1] is c and list(s) == [a, b, c]
    sub = s[1:]
    assert isinstance(sub, nn.Sequential) and list(sub._modules) == ["1", "2"] and sub[0] is b
    s.append(nn.Tanh())
    assert list(s._modules) == ["0", "1", "2", "3"]
    del s[1]
    assert list(s._modules) == ["0", "1", "2"] and s[1] is c
    s[0] = nn.Identity()
    assert isinstance(s[0], nn.Identity)
    with pytest.raises(IndexError):
        s[5]
    od = nn.Sequential(OrderedDict([("conv", nn.Identity()), ("fc", nn.Linear(2, 2))]))
    assert list(od.state_dict()) == ["fc.weight", "fc.bias"] and od.fc is od[1]
    y = nn.Sequential(nn.Linear(3, 2), nn.ReLU())(numtorch.ones(4, 3))
    assert y.shape == (4, 2)


def test_modulelist_and_moduledict():
    ml = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
    assert len(ml) == 3 and isinstance(ml[1:], nn.ModuleList) and len(ml[1:]) == 2
    ml.append(nn.ReLU())
    ml.extend([nn.Tanh()])
    ml.insert(0, nn.Identity())
    assert isinstance(ml[0], nn.Identity) and len(ml) == 6
    del ml[0]
    assert list(ml._modules) == [str(i) for i in range(5)]
    assert len(list(ml.parameters())) == 6
    md = nn.ModuleDict({"a": nn.Linear(1, 1)})
    md["b"] = nn.ReLU()
    assert list(md.keys()) == ["a", "b"] and "a" in md and len(md) == 2
    assert md.pop("b").__class__ is nn.ReLU and list(md) == ["a"]


def test_parameterlist_and_dict():
    pl = nn.ParameterList([numtorch.zeros(2), nn.Parameter(numtorch.ones(3))])
    assert all(isinstance(p, nn.Parameter) for p in pl) and len(pl) == 2
    pl.append(numtorch.zeros(1))
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    pd = nn.ParameterDict({"b": numtorch.zeros(1), "a": numtorch.ones(1)})
    assert isinstance(pd["a"], nn.Parameter) and sorted(pd.keys()) == ["a", "b"]
    assert len(list(pd.parameters())) == 2


# ---- Linear ------------------------------------------------------------------------------------

def test_linear_init_bounds_and_shapes():
    numtorch.manual_seed(0)
    m = nn.Linear(400, 50)
    assert m.weight.shape == (50, 400) and m.bias.shape == (50,)
    bound = 1 / math.sqrt(400)
    w = m.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound  # U(-b, b) has std b / sqrt(3)
    assert np.abs(m.bias.detach().numpy()).max() <= bound
    assert nn.Affine is nn.Linear
    assert nn.Linear(3, 2, bias=False).bias is None


def test_linear_matches_torch_nd_input(torch):
    m = nn.Linear(4, 3).double()
    tm = torch.nn.Linear(4, 3).double()
    _copy_weights(tm, m)
    x = np.random.default_rng(1).standard_normal((2, 5, 4))
    xt = torch.tensor(x, requires_grad=True)
    xn = numtorch.tensor(x, requires_grad=True)
    y, ty = m(xn), tm(xt)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12)
    g = np.random.default_rng(2).standard_normal((2, 5, 3))
    y.backward(numtorch.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(m.weight.grad.numpy(), tm.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(m.bias.grad.numpy(), tm.bias.grad.numpy(), rtol=1e-10)


def test_linear_gradcheck_and_closed_form():
    rng = np.random.default_rng(3)
    x = numtorch.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    W = numtorch.tensor(rng.standard_normal((2, 4)), requires_grad=True)
    b = numtorch.tensor(rng.standard_normal(2), requires_grad=True)
    F = nn.functional
    np.testing.assert_allclose(F.linear(x, W, b).detach().numpy(),
                               x.detach().numpy() @ W.detach().numpy().T + b.detach().numpy())
    assert numtorch.autograd.gradcheck(F.linear, (x, W, b))
    assert numtorch.autograd.gradcheck(lambda x, W: F.linear(x, W), (x, W))
    x1 = numtorch.tensor(rng.standard_normal(4), requires_grad=True)
    assert numtorch.autograd.gradcheck(F.linear, (x1, W, b))
    assert numtorch.autograd.gradgradcheck(F.linear, (x, W, b))


def test_linear_float32_stays_float32_and_errors():
    m = nn.Linear(3, 2)
    assert m(numtorch.ones(4, 3)).dtype == numtorch.float32
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(4x5 and 3x2\)"):
        m(numtorch.ones(4, 5))
    with pytest.raises(RuntimeError, match="same dtype"):
        m(numtorch.ones(4, 3, dtype=numtorch.float64))


def test_flatten_unflatten():
    x = numtorch.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Unflatten(1, (3, 20))(nn.Flatten()(x)).shape == (2, 3, 20)


def test_deepcopy_module():
    m = nn.Sequential(nn.Linear(2, 2))
    m.register_buffer("b", numtorch.ones(1))
    c = copy.deepcopy(m)
    assert c[0].weight is not m[0].weight and isinstance(c[0].weight, nn.Parameter)
    np.testing.assert_array_equal(c[0].weight.detach().numpy(), m[0].weight.detach().numpy())
    with numtorch.no_grad():
        c[0].weight.fill_(0)
    assert float(m[0].weight.abs().sum()) > 0


# ---- Dropout -----------------------------------------------------------------------------------

def test_dropout_train_and_eval():
    F = nn.functional
    numtorch.manual_seed(0)
    x = numtorch.ones(200, 100, requires_grad=True)
    y = F.dropout(x, p=0.3)
    a = y.detach().numpy()
    assert set(np.unique(a)) <= {0.0, np.float32(1 / 0.7)}
    assert abs((a == 0).mean() - 0.3) < 0.02  # about p of the elements dropped
    assert y.dtype == numtorch.float32
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), a)  # d y / d x = mask / (1 - p)
    m = nn.Dropout(0.5)
    assert repr(m) == "Dropout(p=0.5, inplace=False)"
    m.eval()
    z = numtorch.randn(3, 4)
    assert m(z) is z
    assert F.dropout(z, 0.5, training=False) is z
    assert float(F.dropout(z, 1.0).abs().sum()) == 0.0
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)


def test_dropout_seeded_and_gradcheck():
    F = nn.functional
    numtorch.manual_seed(3)
    a = F.dropout(numtorch.ones(50)).numpy()
    numtorch.manual_seed(3)
    b = F.dropout(numtorch.ones(50)).numpy()
    np.testing.assert_array_equal(a, b)
    x = numtorch.randn(4, 5, dtype=numtorch.float64, requires_grad=True)

    def f(t):
        numtorch.manual_seed(11)  # the same mask on every call
        return F.dropout(t, 0.4)
    assert numtorch.autograd.gradcheck(f, (x,))


def test_dropout2d_zeroes_whole_channels_and_inplace():
    F = nn.functional
    numtorch.manual_seed(1)
    y = F.dropout2d(numtorch.ones(8, 16, 5, 5), p=0.5).numpy()
    per_channel = y.reshape(8, 16, -1)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1))
    assert 0 < (per_channel == 0).all(-1).mean() < 1
    y1 = F.dropout1d(numtorch.ones(4, 6, 7), p=0.5).numpy()
    assert np.all((y1 == 0).all(-1) | (y1 == 2.0).all(-1))
    x = numtorch.ones(10, 10)
    out = nn.Dropout(0.5, inplace=True)(x)
    assert out is x and set(np.unique(x.numpy())) <= {0.0, 2.0}


def test_alpha_dropout_keeps_mean_and_variance():
    numtorch.manual_seed(2)
    x = numtorch.randn(200000)
    y = nn.AlphaDropout(0.2).train()(x).numpy()
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02
    assert nn.AlphaDropout(0.2).eval()(x) is x


def test_set_submodule_to_empty_compile():
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU()))
    m.set_submodule("1.0", nn.Tanh())
    assert isinstance(m[1][0], nn.Tanh)
    with pytest.raises(AttributeError):
        m.set_submodule("1.x", nn.Tanh(), strict=True)
    w = m[0].weight
    assert m.to_empty(device="cpu") is m and m[0].weight is w and w.shape == (2, 2)
    assert m.compile() is None and m(numtorch.ones(1, 2)).shape == (1, 2)


def test_load_state_dict_from_torch_or_numpy(torch):
    tm = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    m = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    assert repr(m.load_state_dict(tm.state_dict())) == "<All keys matched successfully>"
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(m(numtorch.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-6)
    m2 = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    m2.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    np.testing.assert_array_equal(m2[2].weight.detach().numpy(), tm[2].weight.detach().numpy())
    assert m2[2].weight.dtype == numtorch.float32
