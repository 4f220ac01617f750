"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` (multi-layer, bidirectional) and their one-step cells.

Parameter names, shapes and initialisation are PyTorch's, so state_dicts load both ways:
``weight_ih_l{k}`` (gates * H, input), ``weight_hh_l{k}`` (gates * H, H), ``bias_ih_l{k}``,
``bias_hh_l{k}``, with the suffix ``_reverse`` for the backward direction; every one drawn from
U(-1/sqrt(H), 1/sqrt(H)).  Gates: LSTM (i, f, g, o), GRU (r, z, n).  The arithmetic is in
``numtorch.ops.rnn``.
"""
from __future__ import annotations

import math

from numtorch.nn import init
from numtorch.nn.modules.module import Module
from numtorch.nn.parameter import Parameter
from numtorch.ops import rnn as _rnn
from numtorch.tensor import Tensor
from numtorch.creation import empty, zeros
from numtorch.ops import cat, stack
from numtorch.nn.utils.rnn import PackedSequence

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


class RNNBase(Module):
    """The shared body of RNN, LSTM and GRU: parameters per layer and direction, and the layer loop.

    Args:
        mode: "RNN_TANH", "RNN_RELU", "LSTM" or "GRU".
        input_size, hidden_size: I and H.
        num_layers: stacked layers (layer k > 0 reads the outputs of layer k - 1).
        bias: learn ``bias_ih`` and ``bias_hh``.
        batch_first: input and output are (N, T, *) instead of (T, N, *).
        dropout: applied to the outputs of every layer but the last (training only).
        bidirectional: each layer also runs from the last step to the first; outputs are concatenated.
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device=None, dtype=None) -> None:
        super().__init__()
        if proj_size:
            raise NotImplementedError("LSTM: proj_size is not supported")
        if not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if hidden_size <= 0 or num_layers <= 0:
            raise ValueError(f"hidden_size and num_layers must be positive, got {hidden_size} and "
                             f"{num_layers}")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        num_directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        self._flat_weights_names = []
        kw = dict(device=device, dtype=dtype)
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * num_directions
            for direction in range(num_directions):
                sfx = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = [("weight_ih", (gate_size, layer_input)), ("weight_hh", (gate_size, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                for name, shape in shapes:
                    setattr(self, name + sfx, Parameter(empty(shape, **kw)))
                    self._flat_weights_names.append(name + sfx)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    @property
    def all_weights(self) -> list:
        return [[getattr(self, n) for n in self._flat_weights_names if n.endswith(sfx) and
                 (sfx.endswith("_reverse") or not n.endswith("_reverse"))]
                for sfx in self._suffixes()]

    def _suffixes(self) -> list:
        return [f"_l{k}" + ("_reverse" if d else "") for k in range(self.num_layers)
                for d in range(2 if self.bidirectional else 1)]

    def _layer_params(self, sfx: str) -> tuple:
        get = lambda name: getattr(self, name + sfx) if self.bias or name.startswith("weight") else None  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    def _zeros_state(self, x: Tensor, N: int) -> Tensor:
        D = 2 if self.bidirectional else 1
        return zeros(self.num_layers * D, N, self.hidden_size, dtype=x.dtype, device=x.device)

    def _check_input(self, x: Tensor) -> None:
        if x.ndim not in (2, 3):
            raise ValueError(f"{type(self).__name__}: Expected input to be 2D or 3D, got {x.ndim}D instead")
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {x.shape[-1]}")

    def _run(self, x: Tensor, states: list):
        """x (T, N, I); states: per (layer, direction) tuples of (N, H). Returns output and final states."""
        import numtorch.nn.functional as F
        finals = []
        D = 2 if self.bidirectional else 1
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                i = layer * D + d
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                out, st = _rnn.recurrent_layer(self.mode, x, states[i], *self._layer_params(sfx),
                                               reverse=bool(d))
                outs.append(out)
                finals.append(st)
            x = outs[0] if D == 1 else cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, finals

    def _forward(self, input: Tensor, hx: tuple | None):
        """Common layout handling; ``hx`` is (h0,) or (h0, c0) or None. Returns output and stacked states."""
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        self._check_input(input)
        unbatched = input.ndim == 2
        x = input.unsqueeze(1) if unbatched else (input.transpose(0, 1) if self.batch_first else input)
        N = x.shape[1]
        n_state = 2 if self.mode == "LSTM" else 1
        if hx is None:
            hx = tuple(self._zeros_state(x, N) for _ in range(n_state))
        else:
            hx = tuple(h.unsqueeze(1) if unbatched else h for h in hx)
            want = (self.num_layers * (2 if self.bidirectional else 1), N, self.hidden_size)
            for h in hx:
                if tuple(h.shape) != want:
                    raise RuntimeError(f"Expected hidden size {want}, got {tuple(h.shape)}")
        states = [tuple(h[i] for h in hx) for i in range(hx[0].shape[0])]
        out, finals = self._run(x, states)
        stacked = tuple(stack([st[k] for st in finals], 0) for k in range(n_state))
        if unbatched:
            return out.squeeze(1), tuple(s.squeeze(1) for s in stacked)
        return (out.transpose(0, 1) if self.batch_first else out), stacked

    # ---- packed input: each sequence runs for its own length ----------------------------------
    def _forward_packed(self, packed: PackedSequence, hx: tuple | None):
        """A ``PackedSequence`` in, a ``PackedSequence`` out; the final state of each sequence is its
        state after its own last step, returned in the original batch order (as PyTorch does)."""
        self._check_input(packed.data)
        sizes = [int(b) for b in packed.batch_sizes.tolist()]
        N, n_state = sizes[0], 2 if self.mode == "LSTM" else 1
        if hx is None:
            hx = tuple(self._zeros_state(packed.data, N) for _ in range(n_state))
        else:
            want = (self.num_layers * (2 if self.bidirectional else 1), N, self.hidden_size)
            for h in hx:
                if tuple(h.shape) != want:
                    raise RuntimeError(f"Expected hidden size {want}, got {tuple(h.shape)}")
            if packed.sorted_indices is not None:   # the caller's order -> the packed (sorted) order
                hx = tuple(h.index_select(1, packed.sorted_indices) for h in hx)
        steps, offset = [], 0
        for b in sizes:
            steps.append(packed.data[offset:offset + b])
            offset += b
        states = [tuple(h[i] for h in hx) for i in range(hx[0].shape[0])]
        steps, finals = self._run_packed(steps, sizes, states)
        stacked = tuple(stack([st[k] for st in finals], 0) for k in range(n_state))
        if packed.unsorted_indices is not None:
            stacked = tuple(s.index_select(1, packed.unsorted_indices) for s in stacked)
        return packed._replace(data=cat(steps, 0)), stacked

    def _run_packed(self, steps: list, sizes: list, states: list):
        """The layer loop over packed steps (``steps[t]`` has ``sizes[t]`` rows)."""
        import numtorch.nn.functional as F
        D, finals = (2 if self.bidirectional else 1), []
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                out, st = _packed_direction(self.mode, steps, sizes, states[layer * D + d],
                                            self._layer_params(sfx), reverse=bool(d))
                outs.append(out)
                finals.append(st)
            steps = outs[0] if D == 1 else [cat(pair, -1) for pair in zip(*outs)]
            if self.dropout and self.training and layer < self.num_layers - 1:
                steps = [F.dropout(s, self.dropout, True) for s in steps]
        return steps, finals

    def flatten_parameters(self) -> None:
        """Accepted for compatibility: PyTorch packs the weights into one block for cuDNN; numtorch's
        recurrence reads each weight where it is, so there is nothing to do."""

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


_CELLS = {"LSTM": _rnn.lstm_cell, "GRU": _rnn.gru_cell, "RNN_TANH": _rnn.rnn_tanh_cell,
          "RNN_RELU": _rnn.rnn_relu_cell}


def _packed_direction(mode: str, steps: list, sizes: list, state: tuple, params: tuple, reverse: bool):
    """One direction of one layer over packed steps: at step t only the first ``sizes[t]`` sequences
    (the longest ones) advance; the others keep their state -- a finished sequence its final state, a
    not yet started one (running backwards) its initial state.  Returns the outputs per step and the
    final state tuple (N, H) each."""
    cell, outs = _CELLS[mode], [None] * len(steps)
    for t in (range(len(steps) - 1, -1, -1) if reverse else range(len(steps))):
        b = sizes[t]
        active = tuple(s[:b] for s in state)
        new = cell(steps[t], active if mode == "LSTM" else active[0], *params)
        new = new if mode == "LSTM" else (new,)
        state = tuple(n if b == s.shape[0] else cat([n, s[b:]], 0) for n, s in zip(new, state))
        outs[t] = new[0]
    return outs, state


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu).

    ``RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True, batch_first=False,
    dropout=0.0, bidirectional=False)``.  ``forward(input, hx=None)`` returns (output, h_n):
    output (T, N, D * H), h_n (num_layers * D, N, H).

    >>> import numtorch as torch
    >>> rnn = torch.nn.RNN(4, 8, num_layers=2, batch_first=True)
    >>> out, h = rnn(torch.randn(3, 5, 4))
    >>> out.shape, h.shape
    (numtorch.Size([3, 5, 8]), numtorch.Size([2, 3, 8]))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size,
                         num_layers, bias, batch_first, dropout, bidirectional, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None):
        out, (h,) = self._forward(input, None if hx is None else (hx,))
        return out, h


class LSTM(RNNBase):
    """Long short-term memory: gates i, f, g, o; c_t = f * c_{t-1} + i * g; h_t = o * tanh(c_t).

    ``forward(input, (h0, c0)=None)`` returns (output, (h_n, c_n)).

    >>> import numtorch as torch
    >>> lstm = torch.nn.LSTM(4, 8, bidirectional=True)
    >>> out, (h, c) = lstm(torch.randn(5, 3, 4))
    >>> out.shape, h.shape
    (numtorch.Size([5, 3, 16]), numtorch.Size([2, 3, 8]))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device=None, dtype=None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, proj_size, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: tuple | None = None):
        out, (h, c) = self._forward(input, hx)
        return out, (h, c)


class GRU(RNNBase):
    """Gated recurrent unit: gates r, z; n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); h' = (1 - z) n + z h.

    ``forward(input, hx=None)`` returns (output, h_n).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None):
        out, (h,) = self._forward(input, None if hx is None else (hx,))
        return out, h


class RNNCellBase(Module):
    """One step of a recurrent layer: ``weight_ih`` (chunks * H, I), ``weight_hh`` (chunks * H, H), biases."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        kw = dict(device=device, dtype=dtype)
        self.weight_ih = Parameter(empty((num_chunks * hidden_size, input_size), **kw))
        self.weight_hh = Parameter(empty((num_chunks * hidden_size, hidden_size), **kw))
        if bias:
            self.bias_ih = Parameter(empty(num_chunks * hidden_size, **kw))
            self.bias_hh = Parameter(empty(num_chunks * hidden_size, **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def _prepare(self, input: Tensor, hx, n_state: int):
        if input.ndim not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected input to be 1D or 2D, got {input.ndim}D "
                             "instead")
        unbatched = input.ndim == 1
        x = input.unsqueeze(0) if unbatched else input
        if hx is None:
            z = zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
            hx = (z,) * n_state
        else:
            hx = tuple(h.unsqueeze(0) if unbatched else h for h in hx)
        return x, hx, unbatched

    def _params(self) -> tuple:
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu); input (N, I), hx (N, H) -> (N, H)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), unbatched = self._prepare(input, None if hx is None else (hx,), 1)
        cell = _rnn.rnn_tanh_cell if self.nonlinearity == "tanh" else _rnn.rnn_relu_cell
        h = cell(x, h, *self._params())
        return h.squeeze(0) if unbatched else h


class LSTMCell(RNNCellBase):
    """One LSTM step: ``forward(input, (h, c)=None)`` returns (h', c')."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx: tuple | None = None):
        x, hx, unbatched = self._prepare(input, hx, 2)
        h, c = _rnn.lstm_cell(x, hx, *self._params())
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


class GRUCell(RNNCellBase):
    """One GRU step: ``forward(input, hx=None)`` returns h'."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), unbatched = self._prepare(input, None if hx is None else (hx,), 1)
        h = _rnn.gru_cell(x, h, *self._params())
        return h.squeeze(0) if unbatched else h
