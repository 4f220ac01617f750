"""RNN / LSTM / GRU and their cells: same weights as PyTorch give the same outputs and gradients."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
from helpers import assert_close


def _copy(tm, nm):
    assert list(tm.state_dict()) == list(nm.state_dict())
    nm.load_state_dict({k: numtorch.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})


def _flat(out):
    """(output, h) or (output, (h, c)) as a list of tensors."""
    o, s = out
    return [o] + (list(s) if isinstance(s, tuple) else [s])


def _compare(torch, cls, kw, x, states=None, seed=0):
    tm = getattr(torch.nn, cls)(3, 4, dtype=torch.float64, **kw)
    nm = getattr(numtorch.nn, cls)(3, 4, dtype=numtorch.float64, **kw)
    _copy(tm, nm)
    tx, nx = torch.tensor(x, requires_grad=True), numtorch.tensor(x, requires_grad=True)
    targs, nargs = [tx], [nx]
    if states is not None:
        ts = [torch.tensor(s, requires_grad=True) for s in states]
        ns = [numtorch.tensor(s, requires_grad=True) for s in states]
        targs.append(tuple(ts) if cls == "LSTM" else ts[0])
        nargs.append(tuple(ns) if cls == "LSTM" else ns[0])
    touts, nouts = _flat(tm(*targs)), _flat(nm(*nargs))
    rng = np.random.default_rng(seed)
    gs = [rng.standard_normal(tuple(t.shape)) for t in touts]
    for t, n in zip(touts, nouts):
        assert_close(n, t, what="forward")
    torch.autograd.backward(touts, [torch.tensor(g) for g in gs])
    numtorch.autograd.backward(nouts, [numtorch.tensor(g) for g in gs])
    assert_close(nx.grad, tx.grad, what="input grad")
    if states is not None:
        for a, b in zip(ns, ts):
            assert_close(a.grad, b.grad, what="state grad")
    tp = dict(tm.named_parameters())
    for name, p in nm.named_parameters():
        assert_close(p.grad, tp[name].grad, what=name)


CONFIGS = [{}, {"num_layers": 2}, {"bidirectional": True}, {"num_layers": 2, "bidirectional": True},
           {"batch_first": True}, {"bias": False}]


@pytest.mark.parametrize("kw", CONFIGS)
@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_recurrent_layer_matches_torch(torch, cls, kw):
    x = np.random.default_rng(1).standard_normal((2, 5, 3) if kw.get("batch_first") else (5, 2, 3))
    _compare(torch, cls, kw, x)


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_initial_states_and_unbatched(torch, cls):
    rng = np.random.default_rng(2)
    D, L = 2, 2
    n_states = 2 if cls == "LSTM" else 1
    states = [rng.standard_normal((L * D, 2, 4)) for _ in range(n_states)]
    _compare(torch, cls, {"num_layers": L, "bidirectional": True}, rng.standard_normal((4, 2, 3)), states)
    _compare(torch, cls, {}, rng.standard_normal((4, 3)))                     # unbatched (T, I)


def test_rnn_relu_matches_torch(torch):
    _compare(torch, "RNN", {"nonlinearity": "relu", "num_layers": 2}, np.random.default_rng(3).standard_normal((4, 2, 3)))


@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_torch(torch, cls):
    tm = getattr(torch.nn, cls)(3, 4, dtype=torch.float64)
    nm = getattr(numtorch.nn, cls)(3, 4, dtype=numtorch.float64)
    _copy(tm, nm)
    rng = np.random.default_rng(4)
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    tx, nx = torch.tensor(x, requires_grad=True), numtorch.tensor(x, requires_grad=True)
    hx_t = (torch.tensor(h), torch.tensor(h * 0.5)) if cls == "LSTMCell" else torch.tensor(h)
    hx_n = (numtorch.tensor(h), numtorch.tensor(h * 0.5)) if cls == "LSTMCell" else numtorch.tensor(h)
    to, no = tm(tx, hx_t), nm(nx, hx_n)
    to, no = (to[0] + 2 * to[1], no[0] + 2 * no[1]) if cls == "LSTMCell" else (to, no)
    assert_close(no, to)
    to.sum().backward()
    no.sum().backward()
    assert_close(nx.grad, tx.grad)
    assert_close(nm.weight_hh.grad, tm.weight_hh.grad)


def test_lstm_gradcheck_float64():
    numtorch.manual_seed(0)
    m = numtorch.nn.LSTM(2, 2, dtype=numtorch.float64)
    x = numtorch.randn(3, 1, 2, dtype=numtorch.float64, requires_grad=True)
    w = m.weight_hh_l0
    assert numtorch.autograd.gradcheck(lambda x, w: m(x)[0], (x, w))


def test_init_range_parameter_names_and_float32():
    m = numtorch.nn.GRU(5, 8, num_layers=2, bidirectional=True)
    names = [n for n, _ in m.named_parameters()]
    assert names[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert "weight_ih_l1_reverse" in names and tuple(m.weight_ih_l1.shape) == (24, 16)
    assert max(float(p.abs().max()) for p in m.parameters()) <= 1 / np.sqrt(8)
    out, h = m(numtorch.randn(4, 3, 5))
    assert out.dtype == numtorch.float32 and tuple(out.shape) == (4, 3, 16) and tuple(h.shape) == (4, 3, 8)


def test_dropout_between_layers_only_in_training():
    numtorch.manual_seed(0)
    m = numtorch.nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    x = numtorch.randn(5, 2, 3)
    m.eval()
    a, b = m(x)[0], m(x)[0]
    assert_close(a, b)           # no dropout in eval mode
    m.train()
    assert not np.allclose(m(x)[0].detach().numpy(), a.detach().numpy())


def test_errors():
    m = numtorch.nn.LSTM(3, 4)
    with pytest.raises(RuntimeError, match="input_size"):
        m(numtorch.randn(5, 2, 7))
    with pytest.raises(RuntimeError, match="hidden size"):
        m(numtorch.randn(5, 2, 3), (numtorch.zeros(1, 3, 4), numtorch.zeros(1, 3, 4)))
    with pytest.raises(ValueError, match="nonlinearity"):
        numtorch.nn.RNN(3, 4, nonlinearity="gelu")
