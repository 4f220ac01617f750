"""Recurrent cells and one recurrent layer over a whole sequence (Elman RNN, LSTM, GRU).

The input projection of every time step is one GEMM, ``x (T*B, I) @ W_ih^T``; only the
recurrent part ``h @ W_hh^T`` and the gate arithmetic run step by step (a recurrence is
inherently sequential), always on the whole batch at once.

Gate equations (PyTorch's, gates stacked in this order in ``W_ih`` / ``W_hh``)::

    RNN:  h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)            (or relu)
    LSTM: i, f, g, o = sigma, sigma, tanh, sigma of (x W_ih^T + b_ih + h W_hh^T + b_hh)
          c' = f * c + i * g;   h' = o * tanh(c')
    GRU:  r, z = sigma(x W_ir^T + b_ir + h W_hr^T + b_hr), sigma(... z ...)
          n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn));   h' = (1 - z) * n + z * h
"""
from __future__ import annotations

from numtorch._backend import xp_of
from numtorch.autograd.function import Function
from numtorch.ops.elementwise import sigmoid, tanh, relu
from numtorch.ops.linalg import matmul
from numtorch.ops.shape import cat, stack
from numtorch.tensor import Tensor

__all__ = ["rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell", "recurrent_layer"]


class Unbind0(Function):
    """The T slices x[0], ..., x[T-1] as T outputs; backward stacks their gradients (O(T), not O(T^2))."""

    @staticmethod
    def forward(ctx, x):
        return tuple(x[t] for t in range(x.shape[0]))

    @staticmethod
    def backward(ctx, *gys):
        return stack(gys, 0)


class ChunkLast(Function):
    """``n`` equal pieces along the last dim; backward concatenates their gradients."""

    @staticmethod
    def forward(ctx, x, n):
        step = x.shape[-1] // n
        return tuple(x[..., k * step:(k + 1) * step] for k in range(n))

    @staticmethod
    def backward(ctx, *gys):
        return cat(gys, -1), None


def _gemm(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    """x (..., I) @ w^T (+ b) as one 2-D GEMM."""
    lead = tuple(x.shape[:-1])
    y = matmul(x.reshape(-1, x.shape[-1]), w.t())
    if b is not None:
        y = y + b
    return y.reshape(*lead, w.shape[0])


# ---- cells: one step, the input projection ``xw`` already computed --------------------------

def _rnn_step(xw, h, w_hh_t, b_hh, nonlinearity):
    hw = matmul(h, w_hh_t)
    pre = xw + hw if b_hh is None else xw + hw + b_hh
    return (tanh(pre) if nonlinearity == "tanh" else relu(pre)),


def _lstm_step(xw, h, c, w_hh_t, b_hh):
    gates = xw + matmul(h, w_hh_t)
    if b_hh is not None:
        gates = gates + b_hh
    i, f, g, o = ChunkLast.apply(gates, 4)
    c = sigmoid(f) * c + sigmoid(i) * tanh(g)
    return sigmoid(o) * tanh(c), c


def _gru_step(xw, h, w_hh_t, b_hh):
    hw = matmul(h, w_hh_t)
    if b_hh is not None:
        hw = hw + b_hh
    xr, xz, xn = ChunkLast.apply(xw, 3)
    hr, hz, hn = ChunkLast.apply(hw, 3)
    r = sigmoid(xr + hr)
    z = sigmoid(xz + hz)
    n = tanh(xn + r * hn)
    return n + z * (h - n),        # = (1 - z) * n + z * h


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None) -> Tensor:
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh); input (B, I), hx (B, H)."""
    return _rnn_step(_gemm(input, w_ih, b_ih), hx, w_hh.t(), b_hh, "tanh")[0]


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None) -> Tensor:
    """h' = relu(x W_ih^T + b_ih + h W_hh^T + b_hh)."""
    return _rnn_step(_gemm(input, w_ih, b_ih), hx, w_hh.t(), b_hh, "relu")[0]


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step; ``hx = (h, c)``; returns (h', c')."""
    h, c = hx
    return _lstm_step(_gemm(input, w_ih, b_ih), h, c, w_hh.t(), b_hh)


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None) -> Tensor:
    """One GRU step; returns h'."""
    return _gru_step(_gemm(input, w_ih, b_ih), hx, w_hh.t(), b_hh)[0]


def recurrent_layer(mode: str, x: Tensor, state: tuple, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None,
                    b_hh: Tensor | None, reverse: bool = False):
    """Runs one direction of one layer over a sequence.

    Args:
        mode: "RNN_TANH", "RNN_RELU", "LSTM" or "GRU".
        x: (T, B, I), time first.
        state: (h0,) or, for LSTM, (h0, c0); each (B, H).
        reverse: run from the last step to the first (the backward direction of a bidirectional layer).

    Returns:
        output (T, B, H) -- the hidden state at every step, in time order -- and the final state tuple.
    """
    T = x.shape[0]
    steps = Unbind0.apply(_gemm(x, w_ih, b_ih)) if T else ()
    w_hh_t = w_hh.t()
    outs = [None] * T
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        if mode == "LSTM":
            state = _lstm_step(steps[t], state[0], state[1], w_hh_t, b_hh)
        elif mode == "GRU":
            state = _gru_step(steps[t], state[0], w_hh_t, b_hh)
        else:
            state = _rnn_step(steps[t], state[0], w_hh_t, b_hh, "tanh" if mode == "RNN_TANH" else "relu")
        outs[t] = state[0]
    if not T:
        xp = xp_of(x._data)
        from numtorch.tensor import make_tensor
        return make_tensor(xp.zeros((0,) + tuple(state[0].shape), dtype=x._data.dtype)), state
    return stack(outs, 0), state
