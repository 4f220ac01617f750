"""PyTorch's example program ``time_sequence_prediction`` (pytorch/examples: ``generate_sine_wave.py``
then ``train.py``), its code path written out as a test on a smaller data set.

The program saves a NumPy array of sine waves with ``torch.save(data, open("traindata.pt", "wb"))``,
loads it back with ``torch.load``, and fits two ``LSTMCell``s and a ``Linear`` in float64
(``seq.double()``) with ``optim.LBFGS(lr=0.8)``, printing every closure's loss, then predicts the
future under ``no_grad``.  Here both frameworks run the same program from the same weights, and
every loss the closure sees, the test loss and the prediction must agree to float64 rounding.
"""
from __future__ import annotations

import numpy as np
import pytest

import numtorch


def sine_waves(N=6, L=60, T=20, seed=2) -> np.ndarray:
    """``generate_sine_wave.py`` with fewer and shorter waves (it uses N=100, L=1000)."""
    rng = np.random.RandomState(seed)
    x = np.empty((N, L), "int64")
    x[:] = np.array(range(L)) + rng.randint(-4 * T, 4 * T, N).reshape(N, 1)
    return np.sin(x / 1.0 / T).astype("float64")


def make_sequence(torch, hidden=51):
    """The program's ``Sequence`` module, for either framework."""
    nn = torch.nn

    class Sequence(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm1 = nn.LSTMCell(1, hidden)
            self.lstm2 = nn.LSTMCell(hidden, hidden)
            self.linear = nn.Linear(hidden, 1)

        def forward(self, input, future=0):
            outputs = []
            h_t = torch.zeros(input.size(0), hidden, dtype=torch.double)
            c_t = torch.zeros(input.size(0), hidden, dtype=torch.double)
            h_t2 = torch.zeros(input.size(0), hidden, dtype=torch.double)
            c_t2 = torch.zeros(input.size(0), hidden, dtype=torch.double)
            for input_t in input.split(1, dim=1):
                h_t, c_t = self.lstm1(input_t, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                output = self.linear(h_t2)
                outputs += [output]
            for i in range(future):  # if we should predict the future
                h_t, c_t = self.lstm1(output, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                output = self.linear(h_t2)
                outputs += [output]
            return torch.cat(outputs, dim=1)
    return Sequence()


def train(torch, data, weights, steps=2, future=10):
    """``train.py``'s loop: the losses printed (closure calls, then the test loss) and the prediction."""
    input = torch.from_numpy(data[3:, :-1])
    target = torch.from_numpy(data[3:, 1:])
    test_input = torch.from_numpy(data[:3, :-1])
    test_target = torch.from_numpy(data[:3, 1:])
    seq = make_sequence(torch)
    seq.double()
    seq.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()})
    criterion = torch.nn.MSELoss()
    optimizer = torch.optim.LBFGS(seq.parameters(), lr=0.8)
    printed = []
    for i in range(steps):
        def closure():
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target)
            printed.append(("loss", loss.item()))
            loss.backward()
            return loss
        optimizer.step(closure)
        with torch.no_grad():
            pred = seq(test_input, future=future)
            loss = criterion(pred[:, :-future], test_target)
            printed.append(("test loss", loss.item()))
            y = pred.detach().numpy()
    return printed, y


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> np.ndarray:
    """The waves written and read as the program does: ``torch.save`` to an open file, ``torch.load``."""
    path = tmp_path_factory.mktemp("tsp") / "traindata.pt"
    waves = sine_waves()
    numtorch.save(waves, open(path, "wb"))
    loaded = numtorch.load(str(path))
    assert type(loaded) is np.ndarray and loaded.dtype == np.float64
    np.testing.assert_array_equal(loaded, waves)
    return loaded


def _weights(seed=0) -> dict:
    """Weights for the module, drawn as PyTorch's LSTMCell/Linear initialise (uniform +-1/sqrt(51))."""
    numtorch.manual_seed(seed)
    seq = make_sequence(numtorch)
    seq.double()
    return {k: v.detach().numpy().copy() for k, v in seq.state_dict().items()}


def test_state_dict_is_float64_with_pytorch_keys(torch) -> None:
    ours = _weights()
    ref = make_sequence(torch).double().state_dict()
    assert list(ours) == list(ref)
    assert all(v.dtype == np.float64 and v.shape == tuple(ref[k].shape) for k, v in ours.items())


def test_training_matches_pytorch(torch, data) -> None:
    """Two LBFGS steps (up to 20 closure calls each): every loss the closure prints, the test losses and
    the predicted future agree with PyTorch's to float64 rounding; the loss falls."""
    weights = _weights()
    ours, y = train(numtorch, data, weights)
    ref, y_ref = train(torch, data, weights)
    assert [kind for kind, _ in ours] == [kind for kind, _ in ref]
    np.testing.assert_allclose([v for _, v in ours], [v for _, v in ref], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(y, y_ref, rtol=1e-7, atol=1e-9)
    losses = [v for kind, v in ours if kind == "loss"]
    assert losses[-1] < 0.5 * losses[0]
