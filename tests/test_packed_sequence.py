"""Packed sequences (``nn.utils.rnn``) and ``nn.RNN`` / ``LSTM`` / ``GRU`` on packed input, against
PyTorch: the packing itself, and outputs, final states (each sequence's at its own length) and
gradients for padded batches of different lengths."""
from __future__ import annotations

import numpy as np
import pytest

import numtorch
from numtorch.nn.utils import rnn as nt_rnn

RNG = np.random.default_rng(0)
LENGTHS = [3, 5, 1, 4]            # unsorted: needs enforce_sorted=False
X = RNG.standard_normal((5, 4, 3))  # (T, B, I)


def _np(t):
    return t.detach().numpy()


@pytest.mark.parametrize("batch_first", [False, True])
def test_packing_matches_pytorch(torch, batch_first) -> None:
    out = []
    for lib in (numtorch, torch):
        R = lib.nn.utils.rnn
        x = lib.tensor(X.transpose(1, 0, 2) if batch_first else X, requires_grad=True)
        p = R.pack_padded_sequence(x, LENGTHS, batch_first=batch_first, enforce_sorted=False)
        padded, lengths = R.pad_packed_sequence(p, batch_first=batch_first, total_length=6)
        (padded * lib.arange(padded.numel(), dtype=padded.dtype).reshape(padded.shape)).sum().backward()
        out.append([_np(p.data), p.batch_sizes.tolist(), p.sorted_indices.tolist(), p.unsorted_indices.tolist(),
                    _np(padded), lengths.tolist(), _np(x.grad)])
    for a, b in zip(*out):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_pack_sequence_and_sorted_batches(torch) -> None:
    seqs = [RNG.standard_normal((n, 2)) for n in (4, 2, 2)]
    for enforce in (True, False):
        ours = nt_rnn.pack_sequence([numtorch.tensor(s) for s in seqs], enforce_sorted=enforce)
        ref = torch.nn.utils.rnn.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=enforce)
        np.testing.assert_array_equal(_np(ours.data), ref.data.numpy())
        assert ours.batch_sizes.tolist() == ref.batch_sizes.tolist()
        assert (ours.sorted_indices is None) == (ref.sorted_indices is None)


def test_errors_match_pytorch(torch) -> None:
    for lib in (numtorch, torch):
        R = lib.nn.utils.rnn
        x = lib.zeros(5, 3, 2)
        with pytest.raises(RuntimeError, match="`lengths` array must be sorted in decreasing order when "
                           "`enforce_sorted` is True"):
            R.pack_padded_sequence(x, [2, 3, 1])
        with pytest.raises(RuntimeError, match="Length of all samples has to be greater than 0"):
            R.pack_padded_sequence(x, [3, 2, 0])
        p = R.pack_padded_sequence(x, [3, 2, 1])
        with pytest.raises(ValueError, match="Expected total_length to be at least the length of the longest "
                           "sequence in input, but got total_length=2 and max sequence length being 3"):
            R.pad_packed_sequence(p, total_length=2)


def _rnn_case(lib, kind, layers, bidirectional, batch_first, with_hx, weights=None):
    lib.manual_seed(0)
    cls = {"LSTM": lib.nn.LSTM, "GRU": lib.nn.GRU, "RNN": lib.nn.RNN}[kind]
    m = cls(3, 4, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first).double()
    if weights is not None:
        m.load_state_dict({k: lib.tensor(v) for k, v in weights.items()})
    x = lib.tensor(X.transpose(1, 0, 2) if batch_first else X, requires_grad=True)
    packed = lib.nn.utils.rnn.pack_padded_sequence(x, LENGTHS, batch_first=batch_first, enforce_sorted=False)
    D = 2 if bidirectional else 1
    hx = None
    if with_hx:
        h0 = lib.tensor(RNG_HX[: layers * D], requires_grad=True)
        hx = (h0, lib.tensor(RNG_HX[: layers * D] * 0.5)) if kind == "LSTM" else h0
    out, state = m(packed, hx)
    assert isinstance(out, lib.nn.utils.rnn.PackedSequence)
    padded, lengths = lib.nn.utils.rnn.pad_packed_sequence(out, batch_first=batch_first)
    states = state if kind == "LSTM" else (state,)
    loss = (padded ** 2).sum() + sum((s * s.cos()).sum() for s in states)
    loss.backward()
    grads = [_np(p.grad) for p in m.parameters()] + [_np(x.grad)]
    return m, [_np(out.data), _np(padded), lengths.tolist()] + [_np(s) for s in states], grads


RNG_HX = RNG.standard_normal((4, 4, 4))


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("layers, bidirectional, batch_first, with_hx", [
    (1, False, False, False), (2, True, True, True), (2, False, False, True), (1, True, False, False)])
def test_recurrent_layers_match_pytorch(torch, kind, layers, bidirectional, batch_first, with_hx) -> None:
    """The same weights: packed output, padded output, h_n (and c_n) and every gradient equal PyTorch's."""
    m, ours, grads = _rnn_case(numtorch, kind, layers, bidirectional, batch_first, with_hx)
    weights = {k: v.detach().numpy() for k, v in m.state_dict().items()}
    _, ref, ref_grads = _rnn_case(torch, kind, layers, bidirectional, batch_first, with_hx, weights)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-10, atol=1e-12)
    for g, rg in zip(grads, ref_grads):
        np.testing.assert_allclose(g, rg, rtol=1e-9, atol=1e-11)


def test_final_state_is_each_sequence_at_its_own_length() -> None:
    """h_n of a sequence equals the last output at its own length, i.e. running it alone unpadded."""
    lstm = numtorch.nn.LSTM(3, 4).double()
    x = numtorch.tensor(X)
    out, (h, c) = lstm(nt_rnn.pack_padded_sequence(x, LENGTHS, enforce_sorted=False))
    for i, n in enumerate(LENGTHS):
        alone, (h_i, c_i) = lstm(x[:n, i:i + 1])
        np.testing.assert_allclose(_np(h[0, i]), _np(h_i[0, 0]), rtol=1e-12)
        np.testing.assert_allclose(_np(c[0, i]), _np(c_i[0, 0]), rtol=1e-12)
