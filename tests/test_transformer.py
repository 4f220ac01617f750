"""Transformer encoder/decoder layers, stacks, nn.Transformer, positional encodings, Seq2SeqTransformer."""
from __future__ import annotations

import math

import numpy as np
import pytest

import numtorch
from helpers import assert_close

E, H = 8, 2


def _copy(tm, nm):
    assert list(tm.state_dict()) == list(nm.state_dict())
    nm.load_state_dict({k: numtorch.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})


def _run_both(torch, tm, nm, inputs, kw, seed=0):
    """Forward + backward of both models (train mode, dropout 0: PyTorch's fast path stays off)."""
    _copy(tm, nm)
    tm.train()
    nm.train()
    tx = [torch.tensor(a, requires_grad=True) for a in inputs]
    nx = [numtorch.tensor(a, requires_grad=True) for a in inputs]
    tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    nkw = {k: numtorch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    to, no = tm(*tx, **tkw), nm(*nx, **nkw)
    assert_close(no, to, what="forward")
    g = np.random.default_rng(seed).standard_normal(tuple(to.shape))
    to.backward(torch.tensor(g))
    no.backward(numtorch.tensor(g))
    for a, b in zip(nx, tx):
        assert_close(a.grad, b.grad, what="input grad")
    tp = dict(tm.named_parameters())
    for name, p in nm.named_parameters():
        assert_close(p.grad, tp[name].grad, what=name)


def _shape(batch_first, L, N=3):
    return (N, L, E) if batch_first else (L, N, E)


KPM = np.array([[False, False, False, True, True], [False, True, False, False, False],
                [False, False, False, False, False]])
CAUSAL_F = np.triu(np.full((5, 5), -np.inf), 1)
CAUSAL_B = np.triu(np.ones((5, 5), dtype=bool), 1)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("masks", [{}, {"src_mask": CAUSAL_F, "is_causal": True}, {"src_mask": CAUSAL_B},
                                   {"src_key_padding_mask": KPM}])
def test_encoder_layer(torch, norm_first, batch_first, masks):
    kw = dict(dim_feedforward=16, dropout=0.0, norm_first=norm_first, batch_first=batch_first)
    tm = torch.nn.TransformerEncoderLayer(E, H, dtype=torch.float64, **kw)
    nm = numtorch.nn.TransformerEncoderLayer(E, H, dtype=numtorch.float64, **kw)
    x = np.random.default_rng(1).standard_normal(_shape(batch_first, 5))
    _run_both(torch, tm, nm, [x], masks)


@pytest.mark.parametrize("activation", ["relu", "gelu", "callable"])
def test_encoder_layer_activations(torch, activation):
    act_t = torch.nn.functional.silu if activation == "callable" else activation
    act_n = numtorch.nn.functional.silu if activation == "callable" else activation
    tm = torch.nn.TransformerEncoderLayer(E, H, 16, 0.0, act_t, dtype=torch.float64)
    nm = numtorch.nn.TransformerEncoderLayer(E, H, 16, 0.0, act_n, dtype=numtorch.float64)
    _run_both(torch, tm, nm, [np.random.default_rng(2).standard_normal((5, 3, E))], {})


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_decoder_layer(torch, norm_first, batch_first):
    kw = dict(dim_feedforward=16, dropout=0.0, norm_first=norm_first, batch_first=batch_first)
    tm = torch.nn.TransformerDecoderLayer(E, H, dtype=torch.float64, **kw)
    nm = numtorch.nn.TransformerDecoderLayer(E, H, dtype=numtorch.float64, **kw)
    rng = np.random.default_rng(3)
    tgt, mem = rng.standard_normal(_shape(batch_first, 5)), rng.standard_normal(_shape(batch_first, 5))
    _run_both(torch, tm, nm, [tgt, mem], {"tgt_mask": CAUSAL_F, "tgt_is_causal": True,
                                          "memory_key_padding_mask": KPM, "tgt_key_padding_mask": KPM})


def test_encoder_and_decoder_stacks_with_norm(torch):
    rng = np.random.default_rng(4)
    tl = torch.nn.TransformerEncoderLayer(E, H, 16, 0.0, dtype=torch.float64)
    nl = numtorch.nn.TransformerEncoderLayer(E, H, 16, 0.0, dtype=numtorch.float64)
    tm = torch.nn.TransformerEncoder(tl, 2, torch.nn.LayerNorm(E, dtype=torch.float64), enable_nested_tensor=False)
    nm = numtorch.nn.TransformerEncoder(nl, 2, numtorch.nn.LayerNorm(E, dtype=numtorch.float64))
    assert nm.layers[0] is not nm.layers[1] and nm.layers[0].linear1.weight is not nm.layers[1].linear1.weight
    _run_both(torch, tm, nm, [rng.standard_normal((5, 3, E))], {"mask": CAUSAL_F})
    tl = torch.nn.TransformerDecoderLayer(E, H, 16, 0.0, dtype=torch.float64)
    nl = numtorch.nn.TransformerDecoderLayer(E, H, 16, 0.0, dtype=numtorch.float64)
    tm = torch.nn.TransformerDecoder(tl, 2, torch.nn.LayerNorm(E, dtype=torch.float64))
    nm = numtorch.nn.TransformerDecoder(nl, 2, numtorch.nn.LayerNorm(E, dtype=numtorch.float64))
    _run_both(torch, tm, nm, [rng.standard_normal((4, 3, E)), rng.standard_normal((5, 3, E))], {})


@pytest.mark.parametrize("kw", [{}, {"norm_first": True, "activation": "gelu"}, {"batch_first": True}])
def test_transformer_matches_torch(torch, kw):
    tm = torch.nn.Transformer(E, H, 2, 2, 16, dropout=0.0, dtype=torch.float64, **kw)
    nm = numtorch.nn.Transformer(E, H, 2, 2, 16, dropout=0.0, dtype=numtorch.float64, **kw)
    bf = kw.get("batch_first", False)
    rng = np.random.default_rng(5)
    src, tgt = rng.standard_normal(_shape(bf, 5)), rng.standard_normal(_shape(bf, 4))
    mask = numtorch.nn.Transformer.generate_square_subsequent_mask(4, dtype=numtorch.float64).numpy()
    _run_both(torch, tm, nm, [src, tgt], {"tgt_mask": mask, "src_key_padding_mask": KPM,
                                          "memory_key_padding_mask": KPM, "tgt_is_causal": True})


def test_square_subsequent_mask_and_init(torch):
    m = numtorch.nn.Transformer.generate_square_subsequent_mask(4)
    assert m.dtype == numtorch.float32
    assert np.array_equal(m.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())
    t = numtorch.nn.Transformer(16, 2, 1, 1, 32)
    w = t.encoder.layers[0].linear1.weight.detach().numpy()
    assert np.abs(w).max() <= math.sqrt(6 / (16 + 32))           # xavier_uniform_
    with pytest.raises(RuntimeError, match="d_model"):
        t(numtorch.randn(3, 2, 8), numtorch.randn(3, 2, 8))


def test_positional_encodings():
    pe = numtorch.nn.SinusoidalPositionalEncoding(6, max_len=10)
    x = numtorch.zeros(2, 4, 6)
    y = pe(x).numpy()
    pos, i = 3, 2   # closed form: pe[pos, 2i] = sin(pos / 10000^(2i/d)), pe[pos, 2i+1] = cos(...)
    assert_close(y[1, pos, 2 * i], math.sin(pos / 10000 ** (2 * i / 6)))
    assert_close(y[0, pos, 2 * i + 1], math.cos(pos / 10000 ** (2 * i / 6)))
    assert list(pe.state_dict()) == []                            # a fixed code: nothing to save
    tf = numtorch.nn.SinusoidalPositionalEncoding(6, 10, batch_first=False)
    assert_close(tf(numtorch.zeros(4, 2, 6)).numpy()[:, 0], y[0])
    lp = numtorch.nn.LearnedPositionalEncoding(10, 6)
    assert list(lp.state_dict()) == ["weight"]
    out = lp(x, offset=2)
    assert_close(out[0], lp.weight[2:6])
    out.sum().backward()
    assert_close(lp.weight.grad.numpy()[2:6], np.full((4, 6), 2.0))
    with pytest.raises(ValueError, match="max_len"):
        lp(numtorch.zeros(1, 9, 6), offset=2)


def test_seq2seq_learns_to_reverse_digits():
    """Teacher forcing on random digit strings; greedy decoding reverses held-out strings."""
    from numtorch.models import Seq2SeqTransformer
    numtorch.manual_seed(0)
    rng = np.random.default_rng(0)
    L, B, BOS, steps = 5, 64, 10, 300
    model = Seq2SeqTransformer(11, 11, d_model=32, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                               dim_feedforward=64, dropout=0.0, max_len=16, norm_first=True)
    opt = numtorch.optim.Adam(model.parameters(), lr=1e-2)
    sched = numtorch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / steps)
    for _ in range(steps):
        src = rng.integers(0, 10, (B, L))
        tgt = src[:, ::-1].copy()
        tgt_in = np.concatenate([np.full((B, 1), BOS), tgt[:, :-1]], 1)
        logits = model(numtorch.tensor(src), numtorch.tensor(tgt_in))
        loss = numtorch.nn.functional.cross_entropy(logits.reshape(-1, 11), numtorch.tensor(tgt).reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    src = rng.integers(0, 10, (500, L))
    out = model.greedy_decode(numtorch.tensor(src), L, BOS).numpy()
    assert out.shape == (500, L)
    assert (out == src[:, ::-1]).mean() >= 0.99
