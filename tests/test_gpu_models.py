"""Every nn layer, model, optimizer, data path and I/O path on "cuda" gives the CPU's results.

Each test runs twice through the ``backend`` fixture: ``[cupy]`` on a real GPU (marked ``gpu``,
skipped without one) and ``[emulated]`` with ``tests/fake_cupy.py`` playing CuPy under CuPy's
rules (no implicit device -> host conversion, no mixing with NumPy arrays).

The pattern everywhere: build the CPU object, copy its weights into a "cuda" copy
(``load_state_dict``), run the same inputs, and compare outputs and gradients with float32
tolerances (rtol 1e-4, atol 1e-5).
"""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import numtorch
import numtorch.models
import numtorch.nn as nn
import numtorch.nn.functional as F

from gpu_backends import backend  # noqa: F401  (autouse: every test runs on [cupy] and [emulated])
from test_gpu import _close


def _on_cuda(t) -> bool:
    return t.device.type == "cuda"


def _to_gpu(t: numtorch.Tensor) -> numtorch.Tensor:
    """A "cuda" leaf copy of a CPU tensor (same values, same requires_grad)."""
    return t.detach().to("cuda").requires_grad_(t.requires_grad)


class _Inputs:
    """Seeded CPU inputs for one module: floats (with grad unless told), labels, probabilities."""

    def __init__(self, seed: int = 0) -> None:
        self.g = numtorch.Generator().manual_seed(seed)

    def randn(self, *shape, scale: float = 1.0, grad: bool = True) -> numtorch.Tensor:
        return (numtorch.randn(*shape, generator=self.g) * scale).requires_grad_(grad)

    def rand(self, *shape, low: float = 0.0, grad: bool = True) -> numtorch.Tensor:
        x = numtorch.rand(*shape, generator=self.g) * (1 - low) + low  # U(low, 1)
        return x.requires_grad_(grad)

    def sign(self, *shape) -> numtorch.Tensor:
        return numtorch.randint(0, 2, shape, generator=self.g).float() * 2 - 1  # +-1

    def labels(self, high: int, *shape) -> numtorch.Tensor:
        return numtorch.randint(0, high, shape, generator=self.g)


# name -> (constructor, inputs).  Sizes are small; every class of numtorch.nn must be listed here
# or in _NOT_LAYERS (test_every_nn_module_is_covered keeps the table complete).
_I = _Inputs
_SPECS = {
    # ---- linear, sparse, containers
    "Identity": (lambda: nn.Identity(), lambda i: [i.randn(3, 4)]),
    "Linear": (lambda: nn.Linear(4, 3), lambda i: [i.randn(2, 4)]),
    "Affine": (lambda: nn.Affine(4, 3), lambda i: [i.randn(2, 4)]),
    "NonDynamicallyQuantizableLinear": (lambda: nn.NonDynamicallyQuantizableLinear(4, 3), lambda i: [i.randn(2, 4)]),
    "LazyLinear": (lambda: nn.LazyLinear(3), lambda i: [i.randn(2, 4)]),
    "Bilinear": (lambda: nn.Bilinear(3, 4, 2), lambda i: [i.randn(5, 3), i.randn(5, 4)]),
    "Embedding": (lambda: nn.Embedding(7, 3, padding_idx=0), lambda i: [i.labels(7, 2, 5)]),
    "Sequential": (lambda: nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2)), lambda i: [i.randn(3, 4)]),
    "Flatten": (lambda: nn.Flatten(), lambda i: [i.randn(2, 3, 2, 2)]),
    "Unflatten": (lambda: nn.Unflatten(1, (2, 3)), lambda i: [i.randn(4, 6)]),
    # ---- activations
    "CELU": (lambda: nn.CELU(0.7), lambda i: [i.randn(3, 5)]),
    "ELU": (lambda: nn.ELU(), lambda i: [i.randn(3, 5)]),
    "GELU": (lambda: nn.GELU(), lambda i: [i.randn(3, 5)]),
    "GLU": (lambda: nn.GLU(), lambda i: [i.randn(3, 6)]),
    "Hardshrink": (lambda: nn.Hardshrink(), lambda i: [i.randn(3, 5)]),
    "Hardsigmoid": (lambda: nn.Hardsigmoid(), lambda i: [i.randn(3, 5, scale=4)]),
    "Hardswish": (lambda: nn.Hardswish(), lambda i: [i.randn(3, 5, scale=4)]),
    "Hardtanh": (lambda: nn.Hardtanh(), lambda i: [i.randn(3, 5, scale=2)]),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.1), lambda i: [i.randn(3, 5)]),
    "LogSigmoid": (lambda: nn.LogSigmoid(), lambda i: [i.randn(3, 5)]),
    "LogSoftmax": (lambda: nn.LogSoftmax(dim=1), lambda i: [i.randn(3, 5)]),
    "Mish": (lambda: nn.Mish(), lambda i: [i.randn(3, 5)]),
    "PReLU": (lambda: nn.PReLU(3), lambda i: [i.randn(2, 3, 4)]),
    "ReLU": (lambda: nn.ReLU(), lambda i: [i.randn(3, 5)]),
    "ReLU6": (lambda: nn.ReLU6(), lambda i: [i.randn(3, 5, scale=5)]),
    "RReLU": (lambda: nn.RReLU(), lambda i: [i.randn(3, 5)]),
    "SELU": (lambda: nn.SELU(), lambda i: [i.randn(3, 5)]),
    "SiLU": (lambda: nn.SiLU(), lambda i: [i.randn(3, 5)]),
    "Sigmoid": (lambda: nn.Sigmoid(), lambda i: [i.randn(3, 5)]),
    "Softmax": (lambda: nn.Softmax(dim=-1), lambda i: [i.randn(3, 5)]),
    "Softmax2d": (lambda: nn.Softmax2d(), lambda i: [i.randn(2, 3, 2, 2)]),
    "Softmin": (lambda: nn.Softmin(dim=1), lambda i: [i.randn(3, 5)]),
    "Softplus": (lambda: nn.Softplus(beta=2.0), lambda i: [i.randn(3, 5)]),
    "Softshrink": (lambda: nn.Softshrink(), lambda i: [i.randn(3, 5)]),
    "Softsign": (lambda: nn.Softsign(), lambda i: [i.randn(3, 5)]),
    "Swish": (lambda: nn.Swish(beta=1.5, learnable=True), lambda i: [i.randn(3, 5)]),
    "Tanh": (lambda: nn.Tanh(), lambda i: [i.randn(3, 5)]),
    "Tanhshrink": (lambda: nn.Tanhshrink(), lambda i: [i.randn(3, 5)]),
    "Threshold": (lambda: nn.Threshold(0.1, -2.0), lambda i: [i.randn(3, 5)]),
    # ---- dropout (masks are drawn on the host from the global seed: the same on both devices)
    "Dropout": (lambda: nn.Dropout(0.3), lambda i: [i.randn(4, 6)]),
    "Dropout1d": (lambda: nn.Dropout1d(0.3), lambda i: [i.randn(2, 4, 5)]),
    "Dropout2d": (lambda: nn.Dropout2d(0.3), lambda i: [i.randn(2, 4, 3, 3)]),
    "Dropout3d": (lambda: nn.Dropout3d(0.3), lambda i: [i.randn(2, 4, 2, 2, 2)]),
    "AlphaDropout": (lambda: nn.AlphaDropout(0.3), lambda i: [i.randn(4, 6)]),
    "FeatureAlphaDropout": (lambda: nn.FeatureAlphaDropout(0.3), lambda i: [i.randn(2, 4, 3, 3)]),
    # ---- convolution, pooling, padding, resampling
    "Conv1d": (lambda: nn.Conv1d(2, 3, 3, padding=1, stride=2), lambda i: [i.randn(2, 2, 7)]),
    "Conv2d": (lambda: nn.Conv2d(2, 3, 3, padding=1, groups=1, dilation=1), lambda i: [i.randn(2, 2, 5, 5)]),
    "ConvTranspose1d": (lambda: nn.ConvTranspose1d(2, 3, 3, stride=2), lambda i: [i.randn(2, 2, 4)]),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1), lambda i: [i.randn(2, 2, 3, 3)]),
    "AvgPool1d": (lambda: nn.AvgPool1d(2), lambda i: [i.randn(2, 3, 6)]),
    "AvgPool2d": (lambda: nn.AvgPool2d(2), lambda i: [i.randn(2, 3, 4, 4)]),
    "MaxPool1d": (lambda: nn.MaxPool1d(2), lambda i: [i.randn(2, 3, 6)]),
    "MaxPool2d": (lambda: nn.MaxPool2d(3, stride=2, padding=1), lambda i: [i.randn(2, 3, 5, 5)]),
    "AdaptiveAvgPool1d": (lambda: nn.AdaptiveAvgPool1d(3), lambda i: [i.randn(2, 3, 7)]),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d((2, 3)), lambda i: [i.randn(2, 3, 5, 7)]),
    "AdaptiveMaxPool1d": (lambda: nn.AdaptiveMaxPool1d(3), lambda i: [i.randn(2, 3, 7)]),
    "AdaptiveMaxPool2d": (lambda: nn.AdaptiveMaxPool2d(2), lambda i: [i.randn(2, 3, 5, 5)]),
    "ConstantPad1d": (lambda: nn.ConstantPad1d((1, 2), 0.5), lambda i: [i.randn(2, 3, 4)]),
    "ConstantPad2d": (lambda: nn.ConstantPad2d(1, -1.0), lambda i: [i.randn(2, 3, 3, 3)]),
    "ZeroPad2d": (lambda: nn.ZeroPad2d((1, 0, 2, 1)), lambda i: [i.randn(2, 3, 3, 3)]),
    "ReflectionPad1d": (lambda: nn.ReflectionPad1d(2), lambda i: [i.randn(2, 3, 5)]),
    "ReflectionPad2d": (lambda: nn.ReflectionPad2d(1), lambda i: [i.randn(2, 3, 4, 4)]),
    "ReplicationPad1d": (lambda: nn.ReplicationPad1d((2, 1)), lambda i: [i.randn(2, 3, 5)]),
    "ReplicationPad2d": (lambda: nn.ReplicationPad2d(1), lambda i: [i.randn(2, 3, 4, 4)]),
    "CircularPad2d": (lambda: nn.CircularPad2d(1), lambda i: [i.randn(2, 3, 4, 4)]),
    "PixelShuffle": (lambda: nn.PixelShuffle(2), lambda i: [i.randn(2, 8, 2, 3)]),
    "PixelUnshuffle": (lambda: nn.PixelUnshuffle(2), lambda i: [i.randn(2, 2, 4, 6)]),
    "Upsample": (lambda: nn.Upsample(scale_factor=2, mode="nearest"), lambda i: [i.randn(2, 3, 3, 3)]),
    "UpsamplingNearest2d": (lambda: nn.UpsamplingNearest2d(scale_factor=2), lambda i: [i.randn(2, 3, 3, 3)]),
    "UpsamplingBilinear2d": (lambda: nn.UpsamplingBilinear2d(scale_factor=2), lambda i: [i.randn(2, 3, 3, 3)]),
    "Fold": (lambda: nn.Fold((4, 5), 2), lambda i: [i.randn(2, 3 * 4, 12)]),
    "Unfold": (lambda: nn.Unfold(2, padding=1, stride=2), lambda i: [i.randn(2, 3, 4, 5)]),
    # ---- normalisation (training mode: running statistics are compared too)
    "BatchNorm1d": (lambda: nn.BatchNorm1d(3), lambda i: [i.randn(4, 3, 5)]),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3), lambda i: [i.randn(4, 3, 2, 2)]),
    "SyncBatchNorm": (lambda: nn.SyncBatchNorm(3), lambda i: [i.randn(4, 3, 2, 2)]),
    "InstanceNorm1d": (lambda: nn.InstanceNorm1d(3, affine=True, track_running_stats=True),
                       lambda i: [i.randn(2, 3, 6)]),
    "InstanceNorm2d": (lambda: nn.InstanceNorm2d(3, affine=True), lambda i: [i.randn(2, 3, 3, 4)]),
    "GroupNorm": (lambda: nn.GroupNorm(2, 4), lambda i: [i.randn(2, 4, 3, 3)]),
    "LayerNorm": (lambda: nn.LayerNorm(5), lambda i: [i.randn(3, 4, 5)]),
    "RMSNorm": (lambda: nn.RMSNorm(5), lambda i: [i.randn(3, 4, 5)]),
    # ---- distances
    "CosineSimilarity": (lambda: nn.CosineSimilarity(dim=1), lambda i: [i.randn(3, 5), i.randn(3, 5)]),
    "PairwiseDistance": (lambda: nn.PairwiseDistance(), lambda i: [i.randn(3, 5), i.randn(3, 5)]),
    # ---- recurrent
    "RNN": (lambda: nn.RNN(3, 4, num_layers=2, bidirectional=True), lambda i: [i.randn(5, 2, 3)]),
    "LSTM": (lambda: nn.LSTM(3, 4, num_layers=2, batch_first=True), lambda i: [i.randn(2, 5, 3)]),
    "GRU": (lambda: nn.GRU(3, 4, bidirectional=True), lambda i: [i.randn(5, 2, 3), i.randn(2, 2, 4)]),
    "RNNCell": (lambda: nn.RNNCell(3, 4), lambda i: [i.randn(2, 3), i.randn(2, 4)]),
    "LSTMCell": (lambda: nn.LSTMCell(3, 4), lambda i: [i.randn(2, 3), (i.randn(2, 4), i.randn(2, 4))]),
    "GRUCell": (lambda: nn.GRUCell(3, 4), lambda i: [i.randn(2, 3), i.randn(2, 4)]),
    # ---- attention and transformers (dropout 0.1: masks too must agree)
    "MultiheadAttention": (lambda: nn.MultiheadAttention(8, 2, batch_first=True, kdim=6, vdim=5),
                           lambda i: [i.randn(2, 3, 8), i.randn(2, 4, 6), i.randn(2, 4, 5)]),
    "TransformerEncoderLayer": (lambda: nn.TransformerEncoderLayer(8, 2, 16, batch_first=True),
                                lambda i: [i.randn(2, 5, 8)]),
    "TransformerDecoderLayer": (lambda: nn.TransformerDecoderLayer(8, 2, 16, norm_first=True),
                                lambda i: [i.randn(4, 2, 8), i.randn(5, 2, 8)]),
    "TransformerEncoder": (lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2),
                           lambda i: [i.randn(5, 2, 8)]),
    "TransformerDecoder": (lambda: nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16), 2),
                           lambda i: [i.randn(4, 2, 8), i.randn(5, 2, 8)]),
    "Transformer": (lambda: nn.Transformer(8, 2, 1, 1, 16, batch_first=True),
                    lambda i: [i.randn(2, 5, 8), i.randn(2, 4, 8)]),
    "LearnedPositionalEncoding": (lambda: nn.LearnedPositionalEncoding(10, 6), lambda i: [i.randn(2, 4, 6)]),
    "SinusoidalPositionalEncoding": (lambda: nn.SinusoidalPositionalEncoding(6, 10, dropout=0.2),
                                     lambda i: [i.randn(2, 4, 6)]),
    # ---- variants (options that take other code paths): "Class/what"
    "MultiheadAttention/bias_kv+zero_attn": (lambda: nn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True),
                                             lambda i: [i.randn(3, 2, 8), i.randn(4, 2, 8), i.randn(4, 2, 8)]),
    "Embedding/max_norm": (lambda: nn.Embedding(7, 3, max_norm=1.0), lambda i: [i.labels(7, 2, 5)]),
    "Conv2d/reflect+groups": (lambda: nn.Conv2d(4, 6, 3, padding=1, groups=2, padding_mode="reflect", stride=2),
                              lambda i: [i.randn(2, 4, 5, 5)]),
    "Conv2d/circular+dilation": (lambda: nn.Conv2d(2, 3, 3, padding=2, dilation=2, padding_mode="circular"),
                                 lambda i: [i.randn(2, 2, 5, 6)]),
    "BatchNorm2d/eval": (lambda: nn.BatchNorm2d(3).eval(), lambda i: [i.randn(4, 3, 2, 2)]),
    "BatchNorm1d/cumulative": (lambda: nn.BatchNorm1d(3, momentum=None), lambda i: [i.randn(4, 3)]),
    "LSTM/bidirectional": (lambda: nn.LSTM(3, 4, bidirectional=True, batch_first=True), lambda i: [i.randn(2, 5, 3)]),
    "TransformerEncoderLayer/gelu+norm_first": (
        lambda: nn.TransformerEncoderLayer(8, 2, 16, activation="gelu", norm_first=True, batch_first=True),
        lambda i: [i.randn(2, 5, 8)]),
    "MaxPool2d/indices+ceil": (lambda: nn.MaxPool2d(2, return_indices=True, ceil_mode=True),
                               lambda i: [i.randn(2, 3, 5, 5)]),
    # ---- losses
    "L1Loss": (lambda: nn.L1Loss(), lambda i: [i.randn(3, 4), i.randn(3, 4, grad=False)]),
    "MSELoss": (lambda: nn.MSELoss(reduction="sum"), lambda i: [i.randn(3, 4), i.randn(3, 4, grad=False)]),
    "HuberLoss": (lambda: nn.HuberLoss(delta=0.5), lambda i: [i.randn(3, 4), i.randn(3, 4, grad=False)]),
    "SmoothL1Loss": (lambda: nn.SmoothL1Loss(beta=0.5), lambda i: [i.randn(3, 4), i.randn(3, 4, grad=False)]),
    "CrossEntropyLoss": (lambda: nn.CrossEntropyLoss(weight=numtorch.tensor([1.0, 2.0, 0.5, 1.0]),
                                                     label_smoothing=0.1, ignore_index=2),
                         lambda i: [i.randn(5, 4), i.labels(4, 5)]),
    "NLLLoss": (lambda: nn.NLLLoss(), lambda i: [i.randn(5, 4), i.labels(4, 5)]),
    "BCELoss": (lambda: nn.BCELoss(), lambda i: [i.rand(3, 4, low=0.05), i.rand(3, 4, grad=False)]),
    "BCEWithLogitsLoss": (lambda: nn.BCEWithLogitsLoss(pos_weight=numtorch.tensor([1.0, 2.0, 3.0, 0.5])),
                          lambda i: [i.randn(3, 4), i.rand(3, 4, grad=False)]),
    "KLDivLoss": (lambda: nn.KLDivLoss(reduction="batchmean"),
                  lambda i: [i.randn(3, 4), i.rand(3, 4, low=0.1, grad=False)]),
    "PoissonNLLLoss": (lambda: nn.PoissonNLLLoss(), lambda i: [i.randn(3, 4), i.rand(3, 4, grad=False) * 3]),
    "GaussianNLLLoss": (lambda: nn.GaussianNLLLoss(),
                        lambda i: [i.randn(3, 4), i.randn(3, 4, grad=False), i.rand(3, 4, low=0.1)]),
    "SoftMarginLoss": (lambda: nn.SoftMarginLoss(), lambda i: [i.randn(3, 4), i.sign(3, 4)]),
    "MultiLabelSoftMarginLoss": (lambda: nn.MultiLabelSoftMarginLoss(),
                                 lambda i: [i.randn(3, 4), i.rand(3, 4, grad=False).round()]),
    "MultiMarginLoss": (lambda: nn.MultiMarginLoss(), lambda i: [i.randn(5, 4), i.labels(4, 5)]),
    "HingeEmbeddingLoss": (lambda: nn.HingeEmbeddingLoss(), lambda i: [i.randn(3, 4), i.sign(3, 4)]),
    "MarginRankingLoss": (lambda: nn.MarginRankingLoss(0.2),
                          lambda i: [i.randn(6), i.randn(6), i.sign(6)]),
    "CosineEmbeddingLoss": (lambda: nn.CosineEmbeddingLoss(0.1),
                            lambda i: [i.randn(4, 5), i.randn(4, 5), i.sign(4)]),
    "TripletMarginLoss": (lambda: nn.TripletMarginLoss(), lambda i: [i.randn(4, 5), i.randn(4, 5), i.randn(4, 5)]),
}

# Classes of numtorch.nn that are not layers to call: the base class and containers without a
# forward (tested below with their contents), and the recurrent base classes (as in PyTorch, only
# their subclasses have a forward).
_NOT_LAYERS = {"Module", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict", "RNNBase", "RNNCellBase"}


def _nn_module_classes() -> list[str]:
    return sorted(n for n, c in vars(nn).items() if inspect.isclass(c) and issubclass(c, nn.Module))


def test_every_nn_module_is_covered():
    missing = set(_nn_module_classes()) - set(_SPECS) - _NOT_LAYERS
    assert not missing, f"add these numtorch.nn classes to _SPECS: {sorted(missing)}"


# ---- helpers: flatten outputs, a weighted scalar of them, gradients ------------------------------

def _tensors(obj) -> list:
    """Every tensor in a (nested) output, in order."""
    if isinstance(obj, numtorch.Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _tensors(o)]
    return []


def _weighted_sum(outputs: list, seed: int = 99) -> numtorch.Tensor:
    """sum_k <w_k, y_k> with fixed random w_k: a scalar whose gradient differs per element (plain sum
    would give softmax a zero gradient)."""
    g = numtorch.Generator().manual_seed(seed)
    total = None
    for y in outputs:
        if not y.requires_grad:
            continue
        w = numtorch.randn(*y.shape, generator=g).to(y.device)
        term = (y * w).sum()
        total = term if total is None else total + term
    return total


def _run(module, inputs: list, seed: int = 5):
    """Forward (global seed reset: dropout draws the same masks on both devices), then backward."""
    numtorch.manual_seed(seed)
    out = _tensors(module(*inputs))
    loss = _weighted_sum(out)
    if loss is not None:
        loss.backward()
    return out


def _gpu_inputs(inputs: list) -> list:
    return [tuple(_to_gpu(t) for t in x) if isinstance(x, tuple) else _to_gpu(x) for x in inputs]


def _build_pair(name: str):
    """The CPU module and a "cuda" module holding the same weights (copied with load_state_dict)."""
    ctor, make_inputs = _SPECS[name]
    numtorch.manual_seed(0)
    cpu = ctor()
    inputs = make_inputs(_I(1))
    numtorch.manual_seed(1)
    gpu = ctor().to("cuda")
    if getattr(cpu, "_lazy", None) is not None:
        # lazy modules materialise on their first call, on the module's device
        _run(cpu, make_inputs(_I(1)))
        _run(gpu, _gpu_inputs(make_inputs(_I(1))))
        cpu.zero_grad()
        gpu.zero_grad()
    gpu.load_state_dict(cpu.state_dict())
    return cpu, gpu, inputs


# Failures whose cause is an op (ops/, tensor.py: not this file's subject): expected failures on the
# emulator only, strict, so each mark turns into a failure as soon as the op is fixed.
_OP_BUGS: dict = {}  # name -> the exact op bug, while one is open


def _expect_op_bug(request, backend, reason: str | None) -> None:
    """Marks the running test xfail(strict) on the emulated backend (``backend`` is fake_cupy there)."""
    if reason is not None and backend is not None:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


@pytest.mark.parametrize("name", sorted(_SPECS))
def test_nn_module_matches_cpu(name, request, backend):  # noqa: F811 (the fixture, by name)
    _expect_op_bug(request, backend, _OP_BUGS.get(name))
    cpu, gpu, inputs = _build_pair(name)
    for p in gpu.parameters():  # load_state_dict copies into the existing cuda parameters
        assert _on_cuda(p), f"{name}: parameter left cuda after load_state_dict"
    gpu_inputs = _gpu_inputs(inputs)
    out_cpu, out_gpu = _run(cpu, inputs), _run(gpu, gpu_inputs)
    assert len(out_cpu) == len(out_gpu) > 0
    for yc, yg in zip(out_cpu, out_gpu):
        assert _on_cuda(yg), f"{name}: output on {yg.device}"
        _close(yc, yg)
    flat_cpu, flat_gpu = _tensors(inputs), _tensors(gpu_inputs)
    for xc, xg in zip(flat_cpu, flat_gpu):
        if xc.requires_grad:
            assert _on_cuda(xg.grad)
            _close(xc.grad, xg.grad)
    for (n, pc), (_, pg) in zip(cpu.named_parameters(), gpu.named_parameters()):
        if pc.grad is None:
            assert pg.grad is None, f"{name}.{n}"
            continue
        assert _on_cuda(pg.grad), f"{name}.{n}.grad on {pg.grad.device}"
        _close(pc.grad, pg.grad)
    for (n, bc), (_, bg) in zip(cpu.named_buffers(), gpu.named_buffers()):  # running statistics
        assert _on_cuda(bg), f"{name}.{n}"
        _close(bc, bg)


# ---- moving modules --------------------------------------------------------------------------------

class _Holder(nn.Module):
    """Containers without a forward of their own: ModuleList, ModuleDict, ParameterList, ParameterDict."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(3, 3), nn.BatchNorm1d(3)])
        self.heads = nn.ModuleDict({"a": nn.Linear(3, 2)})
        self.scales = nn.ParameterList([nn.Parameter(numtorch.ones(3)), nn.Parameter(numtorch.full((3,), 2.0))])
        self.shifts = nn.ParameterDict({"s": nn.Parameter(numtorch.zeros(2))})
        self.register_buffer("steps", numtorch.tensor(0))

    def forward(self, x):
        for layer, scale in zip(self.layers, self.scales):
            x = layer(x) * scale
        return self.heads["a"](x) + self.shifts["s"]


def _all_tensors(m: nn.Module) -> list:
    return list(m.parameters()) + list(m.buffers())


def test_module_to_cuda_cpu_and_dtype():
    m = _Holder()
    params = list(m.parameters())
    assert m.to("cuda") is m
    assert all(_on_cuda(t) for t in _all_tensors(m))
    assert [p for p in m.parameters()] == params  # the same Parameter objects (optimizers stay valid)
    assert m.steps.dtype == numtorch.int64  # integer buffers move but keep their dtype
    m.cpu()
    assert all(t.device.type == "cpu" for t in _all_tensors(m))
    m.cuda()
    assert all(_on_cuda(t) for t in _all_tensors(m))
    m.to(numtorch.float64)
    assert all(_on_cuda(p) and p.dtype == numtorch.float64 for p in m.parameters())
    assert m.steps.dtype == numtorch.int64 and m.layers[1].running_mean.dtype == numtorch.float64
    m.to("cpu", numtorch.float32)
    assert all(p.device.type == "cpu" and p.dtype == numtorch.float32 for p in m.parameters())
    m.to(numtorch.zeros(1, device="cuda"))  # to(tensor): that tensor's device and dtype
    assert all(_on_cuda(t) for t in _all_tensors(m))
    m.cpu().to(device="cuda:0", non_blocking=True)
    assert all(t.device == numtorch.device("cuda", 0) for t in _all_tensors(m))
    m.cpu().cuda(0)
    assert all(_on_cuda(t) for t in _all_tensors(m))
    m.double().float()
    assert all(_on_cuda(p) and p.dtype == numtorch.float32 for p in m.parameters())
    m.half()
    assert all(_on_cuda(p) and p.dtype == numtorch.float16 for p in m.parameters())
    m.cpu().float().to_empty(device="cuda")  # storage on cuda, values unspecified
    assert all(_on_cuda(t) and t.dtype == b.dtype for t, b in zip(_all_tensors(m), _all_tensors(_Holder())))
    p = nn.Parameter(numtorch.ones(2, device="cuda"))
    assert _on_cuda(p) and p.requires_grad and isinstance(p, nn.Parameter)


def test_module_move_keeps_grads_and_running_stats():
    numtorch.manual_seed(0)
    cpu = _Holder().train()
    gpu = _Holder()
    gpu.load_state_dict(cpu.state_dict())
    x = numtorch.randn(4, 3)
    cpu(x).sum().backward()
    gpu.cuda()(x.cuda()).sum().backward()
    bn_cpu, bn_gpu = cpu.layers[1], gpu.layers[1]
    assert _on_cuda(bn_gpu.running_mean) and _on_cuda(bn_gpu.num_batches_tracked)
    _close(bn_cpu.running_mean, bn_gpu.running_mean)
    _close(bn_cpu.running_var, bn_gpu.running_var)
    assert int(bn_gpu.num_batches_tracked.cpu()) == 1
    cpu.cuda()  # gradients move with their parameters
    for pc, pg in zip(cpu.parameters(), gpu.parameters()):
        assert _on_cuda(pc.grad)
        _close(pc.grad, pg.grad)


def test_state_dict_of_cuda_module_and_load_from_cpu():
    numtorch.manual_seed(0)
    cpu = _Holder()
    gpu = _Holder().cuda()
    params = {n: p for n, p in gpu.named_parameters()}
    gpu.load_state_dict(cpu.state_dict())  # PyTorch copies into the existing cuda tensors
    for n, p in gpu.named_parameters():
        assert p is params[n] and _on_cuda(p), n
    sd = gpu.state_dict()
    assert all(_on_cuda(t) for t in sd.values())
    for k, v in cpu.state_dict().items():
        _close(v, sd[k], 0, 0)
    cpu.load_state_dict(sd)  # and back: cuda tensors copied into CPU parameters stay on the CPU
    assert all(t.device.type == "cpu" for t in cpu.state_dict().values())
    gpu.load_state_dict(cpu.state_dict(), assign=True)  # assign: takes the given tensors as they are
    assert all(t.device.type == "cpu" for t in gpu.state_dict().values())


_FACTORY = {  # classes that take device=/dtype= (PyTorch's factory kwargs)
    "Linear": lambda **kw: nn.Linear(4, 3, **kw),
    "Bilinear": lambda **kw: nn.Bilinear(3, 4, 2, **kw),
    "PReLU": lambda **kw: nn.PReLU(3, **kw),
    "Conv1d": lambda **kw: nn.Conv1d(2, 3, 3, **kw),
    "ConvTranspose2d": lambda **kw: nn.ConvTranspose2d(2, 3, 3, **kw),
    "BatchNorm2d": lambda **kw: nn.BatchNorm2d(3, **kw),
    "GroupNorm": lambda **kw: nn.GroupNorm(2, 4, **kw),
    "LayerNorm": lambda **kw: nn.LayerNorm(5, **kw),
    "RMSNorm": lambda **kw: nn.RMSNorm(5, **kw),
    "Embedding": lambda **kw: nn.Embedding(7, 3, **kw),
    "MultiheadAttention": lambda **kw: nn.MultiheadAttention(8, 2, **kw),
    "Transformer": lambda **kw: nn.Transformer(8, 2, 1, 1, 16, **kw),
    "LSTM": lambda **kw: nn.LSTM(3, 4, **kw),
    "GRUCell": lambda **kw: nn.GRUCell(3, 4, **kw),
}


@pytest.mark.parametrize("name", sorted(_FACTORY))
def test_modules_built_on_cuda(name):
    """device="cuda" at construction: every tensor on cuda, the same initial values as on the CPU (the
    random draws happen on the host), dtype= honoured."""
    numtorch.manual_seed(0)
    cpu = _FACTORY[name]()
    numtorch.manual_seed(0)
    gpu = _FACTORY[name](device="cuda")
    for (n, a), (_, b) in zip(cpu.state_dict().items(), gpu.state_dict().items()):
        assert _on_cuda(b), n
        _close(a, b, 0, 0)
    numtorch.manual_seed(0)
    g64 = _FACTORY[name](device="cuda", dtype=numtorch.float64)
    assert all(_on_cuda(p) and p.dtype == numtorch.float64 for p in g64.parameters())


@pytest.mark.parametrize("init", ["uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
                                  "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
                                  "kaiming_normal_", "orthogonal_", "sparse_"])
def test_nn_init_on_cuda_tensors(init):
    fn = getattr(nn.init, init)
    args = {"constant_": (0.3,), "sparse_": (0.5,)}.get(init, ())
    shape = (3, 2, 3) if init == "dirac_" else (4, 5)
    cpu, gpu = numtorch.empty(*shape), numtorch.empty(*shape, device="cuda")
    numtorch.manual_seed(1)
    fn(cpu, *args)
    numtorch.manual_seed(1)
    assert fn(gpu, *args) is gpu
    assert _on_cuda(gpu)
    _close(cpu, gpu)


# ---- models ----------------------------------------------------------------------------------------

def _model_pair(ctor):
    """A CPU model and a "cuda" copy with its weights (cuda first, then load_state_dict from the CPU)."""
    numtorch.manual_seed(0)
    cpu = ctor()
    gpu = ctor().cuda()
    gpu.load_state_dict(cpu.state_dict())
    return cpu, gpu


def _compare_grads(cpu: nn.Module, gpu: nn.Module, rtol: float = 1e-4, atol: float = 1e-5) -> None:
    for (n, pc), (_, pg) in zip(cpu.named_parameters(), gpu.named_parameters()):
        assert (pc.grad is None) == (pg.grad is None), n
        if pc.grad is not None:
            assert _on_cuda(pg.grad), n
            _close(pc.grad, pg.grad, rtol, atol)


def _small_densenet() -> nn.Module:
    return numtorch.models.DenseNet(growth_rate=4, block_config=(2, 2), num_init_features=8, bn_size=2,
                                    num_classes=5, small_inputs=True)


@pytest.mark.parametrize("name,ctor,shape", [
    ("TwoLayerNet", lambda: numtorch.models.TwoLayerNet(12, 7, 4), (3, 12)),
    ("MLP", lambda: numtorch.models.MLP([12, 8, 6, 4], activation="tanh"), (3, 12)),
    ("SimpleConvNet", lambda: numtorch.models.SimpleConvNet((1, 10, 10), hidden_size=8), (2, 1, 10, 10)),
    ("LeNet5", lambda: numtorch.models.LeNet5(), (2, 1, 28, 28)),
    ("resnet20", lambda: numtorch.models.resnet20(), (2, 3, 16, 16)),
    ("resnet18", lambda: numtorch.models.resnet18(num_classes=5), (2, 3, 32, 32)),
    ("densenet", _small_densenet, (2, 3, 8, 8)),
    ("CifarResNet-B", lambda: numtorch.models.CifarResNet(8, num_classes=4, shortcut="B"), (2, 3, 8, 8)),
    ("densenet-dropout", lambda: numtorch.models.DenseNet(4, (2,), 8, 2, drop_rate=0.2, num_classes=3,
                                                          memory_efficient=True, small_inputs=False), (2, 3, 16, 16)),
])
def test_classifier_matches_cpu(name, ctor, shape):
    cpu, gpu = _model_pair(ctor)
    x = numtorch.randn(*shape, generator=numtorch.Generator().manual_seed(1))
    t = numtorch.tensor([1, 0, 3][:shape[0]])
    losses = []
    for m, xx, tt in ((cpu, x, t), (gpu, x.cuda(), t.cuda())):
        numtorch.manual_seed(3)  # the same dropout masks
        losses.append(F.cross_entropy(m(xx), tt))
        losses[-1].backward()
    _close(*losses)
    _compare_grads(cpu, gpu, rtol=1e-3, atol=1e-4)  # deep nets: float32 sums in a different order
    for (n, bc), (_, bg) in zip(cpu.named_buffers(), gpu.named_buffers()):
        assert _on_cuda(bg), n
        _close(bc, bg, rtol=1e-3, atol=1e-4)
    cpu.eval(), gpu.eval()
    _close(cpu(x), gpu(x.cuda()), rtol=1e-3, atol=1e-4)


def test_densenet_bc_100_runs_on_cuda():
    m = numtorch.models.densenet_bc_100().cuda().eval()
    with numtorch.no_grad():
        y = m(numtorch.randn(1, 3, 8, 8, device="cuda"))
    assert _on_cuda(y) and tuple(y.shape) == (1, 10)


def _gpt(dropout: float = 0.0):
    return numtorch.models.GPT(vocab_size=11, n_layer=2, n_head=2, n_embd=8, block_size=6, dropout=dropout)


def test_gpt_forward_loss_and_grads_match_cpu():
    cpu, gpu = _model_pair(lambda: _gpt(dropout=0.1))
    g = numtorch.Generator().manual_seed(2)
    idx, tgt = numtorch.randint(0, 11, (2, 5), generator=g), numtorch.randint(0, 11, (2, 5), generator=g)
    outs = []
    for m, a, b in ((cpu, idx, tgt), (gpu, idx.cuda(), tgt.cuda())):
        numtorch.manual_seed(7)  # the same dropout masks
        logits, loss = m(a, b)
        loss.backward()
        outs.append((logits, loss))
    assert _on_cuda(outs[1][0]) and _on_cuda(outs[1][1])
    _close(outs[0][0], outs[1][0])
    _close(outs[0][1], outs[1][1])
    _compare_grads(cpu, gpu)


@pytest.mark.parametrize("use_cache", [False, True])
def test_gpt_greedy_generate_same_tokens(use_cache):
    cpu, gpu = _model_pair(_gpt)
    idx = numtorch.tensor([[1, 2], [3, 4]])
    # 7 new tokens: the window slides past block_size 6, which refills the cache
    a = cpu.generate(idx, 7, temperature=0, use_cache=use_cache)
    b = gpu.generate(idx.cuda(), 7, temperature=0, use_cache=use_cache)
    assert _on_cuda(b)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b.cpu()))
    assert np.asarray(a).tolist() == np.asarray(cpu.generate(idx, 7, temperature=0, use_cache=not use_cache)).tolist()


def test_gpt_sampling_with_generator_same_tokens():
    cpu, gpu = _model_pair(_gpt)
    idx = numtorch.tensor([[1, 2]])
    a = cpu.generate(idx, 4, temperature=0.8, top_k=5, generator=numtorch.Generator().manual_seed(3))
    b = gpu.generate(idx.cuda(), 4, temperature=0.8, top_k=5, generator=numtorch.Generator().manual_seed(3))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b.cpu()))


def test_seq2seq_matches_cpu_and_greedy_decodes_the_same():
    ctor = lambda: numtorch.models.Seq2SeqTransformer(9, 10, d_model=8, nhead=2, num_encoder_layers=1,  # noqa: E731
                                                      num_decoder_layers=1, dim_feedforward=16, dropout=0.1)
    cpu, gpu = _model_pair(ctor)
    g = numtorch.Generator().manual_seed(4)
    src, tgt = numtorch.randint(0, 9, (2, 5), generator=g), numtorch.randint(0, 10, (2, 4), generator=g)
    pad = numtorch.tensor([[False] * 5, [False] * 3 + [True] * 2])
    outs = []
    for m, dev in ((cpu, "cpu"), (gpu, "cuda")):
        numtorch.manual_seed(7)
        y = m(src.to(dev), tgt.to(dev), src_key_padding_mask=pad.to(dev))
        (y * y).sum().backward()
        outs.append(y)
    _close(outs[0], outs[1])
    _compare_grads(cpu, gpu)
    a = cpu.greedy_decode(src, 6, start_symbol=1, end_symbol=2)
    b = gpu.greedy_decode(src.cuda(), 6, start_symbol=1, end_symbol=2)
    assert _on_cuda(b)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b.cpu()))


@pytest.mark.parametrize("float_mask", [False, True])
def test_attention_masks_on_cuda(float_mask):
    cpu, gpu = _model_pair(lambda: nn.MultiheadAttention(8, 2, batch_first=True))
    i = _I(16)
    q, kv = i.randn(2, 3, 8), i.randn(2, 4, 8)
    causal = nn.Transformer.generate_square_subsequent_mask(4)[:3]  # (3, 4) float: -inf above the diagonal
    attn_mask = causal if float_mask else causal.isinf()
    pad = numtorch.tensor([[False, False, False, True], [False, False, False, False]])
    outs = []
    for m, dev in ((cpu, "cpu"), (gpu, "cuda")):
        a, b = (q, kv) if dev == "cpu" else (_to_gpu(q), _to_gpu(kv))
        y, w = m(a, b, b, key_padding_mask=pad.to(dev), attn_mask=attn_mask.to(dev))
        _weighted_sum([y, w]).backward()
        outs.append((y, w, a, b))
    assert _on_cuda(nn.Transformer.generate_square_subsequent_mask(3, device="cuda"))
    for c, g in zip(outs[0][:2], outs[1][:2]):
        assert _on_cuda(g)
        _close(c, g)
    for c, g in zip(outs[0][2:], outs[1][2:]):
        _close(c.grad, g.grad)
    _compare_grads(cpu, gpu)


def test_pad_sequence_of_cuda_tensors():
    from numtorch.nn.utils.rnn import pad_sequence
    i = _I(18)
    seqs = [i.randn(3, 2), i.randn(1, 2), i.randn(4, 2)]
    seqs_g = [_to_gpu(t) for t in seqs]
    for kw in (dict(batch_first=True), dict(padding_value=-1.0, padding_side="left")):
        y, yg = pad_sequence(seqs, **kw), pad_sequence(seqs_g, **kw)
        assert _on_cuda(yg)
        _close(y, yg, 0, 0)
        _weighted_sum([y]).backward()
        _weighted_sum([yg]).backward()
    for a, b in zip(seqs, seqs_g):
        _close(a.grad, b.grad)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_recurrent_stacks_with_dropout_and_initial_state(kind):
    ctor = lambda: getattr(nn, kind)(3, 4, num_layers=2, batch_first=True, dropout=0.2)  # noqa: E731
    cpu, gpu = _model_pair(ctor)
    i = _I(3)
    x = i.randn(2, 5, 3)
    h0 = i.randn(2, 2, 4)
    state = (h0, i.randn(2, 2, 4)) if kind == "LSTM" else h0
    state_gpu = tuple(_to_gpu(s) for s in state) if kind == "LSTM" else _to_gpu(state)
    xg = _to_gpu(x)
    out_cpu, out_gpu = _run(cpu, [x, state]), _run(gpu, [xg, state_gpu])
    for a, b in zip(out_cpu, out_gpu):
        assert _on_cuda(b)
        _close(a, b)
    _close(x.grad, xg.grad)
    _close(h0.grad, (state_gpu[0] if kind == "LSTM" else state_gpu).grad)
    _compare_grads(cpu, gpu)


# ---- vision.ops ------------------------------------------------------------------------------------

def _boxes(n: int, seed: int, grad: bool = False) -> numtorch.Tensor:
    """n random xyxy boxes inside a 20 x 20 image (positive width and height)."""
    g = numtorch.Generator().manual_seed(seed)
    xy = numtorch.rand(n, 2, generator=g) * 14
    wh = numtorch.rand(n, 2, generator=g) * 6 + 0.5
    return numtorch.cat([xy, xy + wh], 1).requires_grad_(grad)


def test_box_ops_match_cpu():
    from numtorch.vision import ops
    a, b = _boxes(6, 0, grad=True), _boxes(5, 1, grad=True)
    ag, bg = _to_gpu(a), _to_gpu(b)
    for fn in (ops.box_iou, ops.generalized_box_iou, ops.distance_box_iou):
        y, yg = fn(a, b), fn(ag, bg)
        assert _on_cuda(yg)
        _close(y, yg)
    for fmt in ("xywh", "cxcywh"):
        yg = ops.box_convert(ag, "xyxy", fmt)
        assert _on_cuda(yg)
        _close(ops.box_convert(a, "xyxy", fmt), yg)
        _close(a, ops.box_convert(yg, fmt, "xyxy"))
    _close(ops.box_area(a), ops.box_area(ag))
    loss, loss_g = (ops.generalized_box_iou_loss(p, q, reduction="sum")
                    for p, q in ((a[:5], b), (ag[:5], bg)))
    loss.backward()
    loss_g.backward()
    _close(loss, loss_g)
    _close(a.grad, ag.grad)
    _close(b.grad, bg.grad)
    _close(ops.clip_boxes_to_image(a, (10, 12)), ops.clip_boxes_to_image(ag, (10, 12)))
    kept = ops.remove_small_boxes(ag, 3.0)
    assert _on_cuda(kept)
    np.testing.assert_array_equal(np.asarray(ops.remove_small_boxes(a, 3.0)), np.asarray(kept.cpu()))


@pytest.mark.parametrize("rows", [2048, 7])  # 7: the device path's IoU matrix in several blocks
def test_nms_and_batched_nms_match_cpu(rows, monkeypatch):
    from numtorch.vision import ops
    monkeypatch.setattr(ops, "_NMS_ROWS", rows)
    boxes = _boxes(40, 2)
    scores = numtorch.rand(40, generator=numtorch.Generator().manual_seed(3))
    idxs = numtorch.randint(0, 3, (40,), generator=numtorch.Generator().manual_seed(4))
    keep = ops.nms(boxes, scores, 0.3)
    keep_g = ops.nms(boxes.cuda(), scores.cuda(), 0.3)
    assert _on_cuda(keep_g) and keep_g.dtype == numtorch.int64
    np.testing.assert_array_equal(np.asarray(keep), np.asarray(keep_g.cpu()))
    assert 0 < len(keep) < 40  # the case suppresses something and keeps something
    keep = ops.batched_nms(boxes, scores, idxs, 0.3)
    keep_g = ops.batched_nms(boxes.cuda(), scores.cuda(), idxs.cuda(), 0.3)
    assert _on_cuda(keep_g)
    np.testing.assert_array_equal(np.asarray(keep), np.asarray(keep_g.cpu()))
    empty = ops.batched_nms(boxes[:0].cuda(), scores[:0].cuda(), idxs[:0].cuda(), 0.3)
    assert _on_cuda(empty) and tuple(empty.shape) == (0,)


def test_roi_align_matches_cpu():
    from numtorch.vision import ops
    x = _I(5).randn(2, 3, 9, 10)
    rois = numtorch.cat([numtorch.tensor([[0.0], [1.0], [1.0]]), _boxes(3, 6)[:, :4] * 0.5], 1)
    xg = _to_gpu(x)
    y = ops.roi_align(x, rois, (3, 2), spatial_scale=1.0, sampling_ratio=-1, aligned=True)
    yg = ops.roi_align(xg, rois.cuda(), (3, 2), spatial_scale=1.0, sampling_ratio=-1, aligned=True)
    assert _on_cuda(yg)
    _close(y, yg)
    _weighted_sum([y]).backward()
    _weighted_sum([yg]).backward()
    _close(x.grad, xg.grad)
    boxes_list = [_boxes(2, 7).cuda(), _boxes(1, 8).cuda()]  # the list-of-boxes form
    y2 = ops.roi_align(xg, boxes_list, 2, sampling_ratio=2)
    _close(ops.roi_align(x, [b.cpu() for b in boxes_list], 2, sampling_ratio=2), y2)


# ---- the detector ----------------------------------------------------------------------------------

def _detector():
    """A small CenterNet whose heatmap scores are spread out (an untrained head gives nearly equal scores,
    whose order a GPU's float32 sums could swap)."""
    from numtorch.models.detection import CenterNet
    m = CenterNet(num_classes=3, in_channels=1, widths=(4, 8, 8), score_thresh=0.0, topk=20)
    nn.init.normal_(m.cls_logits.weight, std=1.0)
    return m


def _det_targets(device) -> list:
    return [{"boxes": numtorch.tensor([[4.0, 5.0, 20.0, 18.0], [10.0, 2.0, 14.0, 30.0]], device=device),
             "labels": numtorch.tensor([2, 0], device=device)},
            {"boxes": numtorch.tensor([[1.0, 1.0, 9.0, 11.0]], device=device),
             "labels": numtorch.tensor([1], device=device)}]


def test_detector_losses_and_grads_match_cpu():
    cpu, gpu = _model_pair(_detector)
    images = _I(8).randn(2, 1, 32, 32, grad=False)
    losses_cpu = cpu(images, _det_targets("cpu"))
    losses_gpu = gpu(images.cuda(), _det_targets("cuda"))
    assert sorted(losses_cpu) == sorted(losses_gpu) == ["bbox_giou", "heatmap", "offset", "size"]
    for k in losses_cpu:
        assert _on_cuda(losses_gpu[k]), k
        _close(losses_cpu[k], losses_gpu[k])
    sum(losses_cpu.values()).backward()
    sum(losses_gpu.values()).backward()
    _compare_grads(cpu, gpu, rtol=1e-3, atol=1e-5)


def test_detector_predicts_the_same_on_cuda():
    cpu, gpu = _model_pair(_detector)
    cpu.eval(), gpu.eval()
    images = [_I(9).randn(1, 30, 27, grad=False), _I(10).randn(1, 32, 32, grad=False)]  # padded to 32 x 32
    with numtorch.no_grad():
        det_cpu = cpu(images)
        det_gpu = gpu([im.cuda() for im in images])
    assert len(det_cpu) == len(det_gpu) == 2
    for dc, dg in zip(det_cpu, det_gpu):
        assert len(dc["boxes"]) > 0
        for key in ("boxes", "scores", "labels"):
            assert _on_cuda(dg[key]), key
            assert dg[key].dtype == dc[key].dtype, key
            _close(dc[key].float(), dg[key].float())
    boxes = det_gpu[0]["boxes"].cpu()  # the first image is 30 x 27: boxes clipped to it, not to the padding
    assert float(boxes[:, 2].max()) <= 27 and float(boxes[:, 3].max()) <= 30


_DATA = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.skipif(not (_DATA / "mnist").exists(), reason="MNIST test files not present")
def test_detector_trainer_honours_device(tmp_path, backend):  # noqa: F811
    """`numtorch train --model detector --device cuda` trains and evaluates on the device (it used to
    ignore --device); the run's numbers agree with the same run on the CPU."""
    from numtorch.cli.train_detect import default_config, save_detector_run, train_detector
    config = default_config(epochs=1, batch_size=4, canvases_per_epoch=8, held_out_canvases=4, canvas_size=48,
                            digit_size=[16, 24], data_dir=str(_DATA))
    runs = {dev: train_detector(config, progress=False, log=lambda *a: None, device=dev) for dev in ("cpu", "cuda")}
    model = runs["cuda"]["model"]
    assert all(_on_cuda(p) for p in model.parameters())
    assert all(_on_cuda(v) for s in runs["cuda"]["optimizer"].state.values() for v in s.values()
               if isinstance(v, numtorch.Tensor) and v.ndim > 0)
    np.testing.assert_allclose(runs["cpu"]["history"]["loss"], runs["cuda"]["history"]["loss"], rtol=1e-3)
    if backend is not None:  # the emulator's arithmetic is NumPy's: the same ranking, the same mAP
        assert runs["cpu"]["history"]["map_50"] == pytest.approx(runs["cuda"]["history"]["map_50"], abs=1e-6)
    assert 0 <= runs["cuda"]["history"]["map_50"][-1] <= 1
    paths = save_detector_run(tmp_path, config, runs["cuda"])  # a cuda model's checkpoint
    sd = numtorch.load(paths["checkpoint"], map_location="cpu")["model"]
    for k, v in model.state_dict().items():
        _close(v, sd[k], 0, 0)


# ---- optimizers ------------------------------------------------------------------------------------

_OPTIMIZERS = {  # name -> keyword arguments that reach the optional branches
    "SGD": dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "Adam": dict(lr=0.01, amsgrad=True, weight_decay=0.01),
    "AdamW": dict(lr=0.01, weight_decay=0.1),
    "Adamax": dict(lr=0.01, weight_decay=0.01),
    "NAdam": dict(lr=0.01, weight_decay=0.01),
    "RAdam": dict(lr=0.01, weight_decay=0.01),
    "RMSprop": dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.01),
    "Adagrad": dict(lr=0.1, lr_decay=0.01, weight_decay=0.01),
    "Adadelta": dict(lr=1.0, weight_decay=0.01),
    "Rprop": dict(lr=0.01, etas=(0.4, 1.3), maximize=True),
    "ASGD": dict(lr=0.01, t0=1, weight_decay=0.01),
}
_CLOSURE_OPTIMIZERS = {"LBFGS"}  # step(closure) only: test_lbfgs_on_cuda_matches_cpu


def test_every_optimizer_is_covered():
    names = {n for n, c in vars(numtorch.optim).items()
             if inspect.isclass(c) and issubclass(c, numtorch.optim.Optimizer) and c is not numtorch.optim.Optimizer}
    covered = set(_OPTIMIZERS) | _CLOSURE_OPTIMIZERS
    assert names == covered, f"update _OPTIMIZERS: {sorted(names ^ covered)}"


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_on_cuda_matches_cpu(line_search_fn):
    """L-BFGS with a closure: the same parameters and curvature history on "cuda" as on the CPU."""
    cpu, gpu = _model_pair(_optim_model)
    results = []
    for model, device in ((cpu, "cpu"), (gpu, "cuda")):
        g = numtorch.Generator().manual_seed(11)
        x = numtorch.randn(6, 4, generator=g).to(device)
        t = numtorch.randint(0, 3, (6,), generator=g).to(device)
        opt = numtorch.optim.LBFGS(model.parameters(), max_iter=5, history_size=3, line_search_fn=line_search_fn)

        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), t)
            loss.backward()
            return loss
        for _ in range(2):
            opt.step(closure)
        results.append(opt)
    for pc, pg in zip(cpu.parameters(), gpu.parameters()):
        assert _on_cuda(pg)
        _close(pc, pg)
    for (k, a), (_, b) in zip(_state_tensors(results[0]), _state_tensors(results[1])):
        if b.ndim:
            assert _on_cuda(b), k
        _close(a, b)


def _optim_model() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))


def _optim_steps(model: nn.Module, opt, device: str, steps: int = 3) -> None:
    g = numtorch.Generator().manual_seed(11)
    x, t = numtorch.randn(6, 4, generator=g).to(device), numtorch.randint(0, 3, (6,), generator=g).to(device)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), t).backward()
        opt.step()


def _state_tensors(opt) -> list:
    return [(k, v) for s in opt.state.values() for k, v in s.items() if isinstance(v, numtorch.Tensor)]


@pytest.mark.parametrize("name", sorted(_OPTIMIZERS))
def test_optimizer_steps_match_cpu(name):
    cpu, gpu = _model_pair(_optim_model)
    ctor = getattr(numtorch.optim, name)
    opt_cpu, opt_gpu = ctor(cpu.parameters(), **_OPTIMIZERS[name]), ctor(gpu.parameters(), **_OPTIMIZERS[name])
    _optim_steps(cpu, opt_cpu, "cpu")
    _optim_steps(gpu, opt_gpu, "cuda")
    for (n, pc), (_, pg) in zip(cpu.named_parameters(), gpu.named_parameters()):
        assert _on_cuda(pg), n
        _close(pc, pg)
    states = _state_tensors(opt_gpu)
    assert states, f"{name}: expected optimizer state"
    for k, v in states:
        if v.ndim:  # per-element state; PyTorch keeps scalars ("step", NAdam's "mu_product") on the host
            assert _on_cuda(v), f"{name} state {k!r} on {v.device}"
    for (k, a), (_, b) in zip(_state_tensors(opt_cpu), states):
        _close(a, b)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_optimizer_load_state_dict_moves_state_to_cuda(name):
    """A CPU optimizer's state_dict loaded into the optimizer of a cuda model: the state follows the
    parameters to cuda (PyTorch casts it to each parameter's device), and training continues the same."""
    cpu, gpu = _model_pair(_optim_model)
    ctor = getattr(numtorch.optim, name)
    opt_cpu = ctor(cpu.parameters(), **_OPTIMIZERS[name])
    _optim_steps(cpu, opt_cpu, "cpu", steps=2)
    gpu.load_state_dict(cpu.state_dict())
    opt_gpu = ctor(gpu.parameters(), **_OPTIMIZERS[name])
    opt_gpu.load_state_dict(opt_cpu.state_dict())
    for k, v in _state_tensors(opt_gpu):
        if v.ndim:
            assert _on_cuda(v), f"{name} state {k!r} on {v.device}"
    _optim_steps(cpu, opt_cpu, "cpu", steps=2)
    _optim_steps(gpu, opt_gpu, "cuda", steps=2)
    for pc, pg in zip(cpu.parameters(), gpu.parameters()):
        _close(pc, pg)
    back = ctor(cpu.parameters(), **_OPTIMIZERS[name])  # and a cuda state into a CPU optimizer
    back.load_state_dict(opt_gpu.state_dict())
    assert all(v.device.type == "cpu" for _, v in _state_tensors(back))


def test_lr_scheduler_with_cuda_parameters():
    _, gpu = _model_pair(_optim_model)
    opt = numtorch.optim.SGD(gpu.parameters(), lr=0.1, momentum=0.9)
    sched = numtorch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=5)
    plateau_opt = numtorch.optim.Adam(gpu.parameters(), lr=0.1)
    plateau = numtorch.optim.lr_scheduler.ReduceLROnPlateau(plateau_opt, patience=0, factor=0.5)
    lrs = []
    for _ in range(4):
        _optim_steps(gpu, opt, "cuda", steps=1)
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
        plateau.step(numtorch.tensor(1.0, device="cuda"))  # a metric on the device: a constant loss plateaus
    ref = numtorch.optim.lr_scheduler.OneCycleLR(numtorch.optim.SGD([nn.Parameter(numtorch.zeros(1))], lr=0.1),
                                                 max_lr=0.5, total_steps=5)
    expected = []
    for _ in range(4):
        ref.optimizer.step()
        ref.step()
        expected.append(ref.optimizer.param_groups[0]["lr"])
    assert lrs == pytest.approx(expected)
    assert plateau_opt.param_groups[0]["lr"] < 0.1


def test_clip_grad_on_cuda_matches_cpu_without_host_sync(backend):  # noqa: F811
    cpu, gpu = _model_pair(_optim_model)
    x = numtorch.randn(6, 4, generator=numtorch.Generator().manual_seed(12))
    (cpu(x) ** 2).sum().backward()
    (gpu(x.cuda()) ** 2).sum().backward()
    if backend is not None:
        backend.stats.reset()
    norm_cpu = nn.utils.clip_grad_norm_(cpu.parameters(), 0.5)
    norm_gpu = nn.utils.clip_grad_norm_(gpu.parameters(), 0.5)
    if backend is not None:  # the emulator counts device -> host transfers
        assert backend.stats.syncs == 0, "clip_grad_norm_ fetched a value from the device"
    assert _on_cuda(norm_gpu)
    _close(norm_cpu, norm_gpu)
    _compare_grads(cpu, gpu)
    _close(nn.utils.clip_grad_norm_(cpu.parameters(), 1.0, norm_type=float("inf")),
           nn.utils.clip_grad_norm_(gpu.parameters(), 1.0, norm_type=float("inf")))
    nn.utils.clip_grad_value_(cpu.parameters(), 0.01)
    nn.utils.clip_grad_value_(gpu.parameters(), 0.01)
    _compare_grads(cpu, gpu)
    for p in gpu.parameters():
        p.grad.fill_(float("nan"))
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(gpu.parameters(), 1.0, error_if_nonfinite=True)


# ---- data ------------------------------------------------------------------------------------------

def test_dataloader_pinned_batches_to_cuda_non_blocking():
    from numtorch.utils.data import DataLoader, TensorDataset
    g = numtorch.Generator().manual_seed(13)
    x, y = numtorch.randn(10, 3, generator=g), numtorch.randint(0, 4, (10,), generator=g)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=False, pin_memory=True)
    seen = []
    for xb, yb in loader:
        xg, yg = xb.to("cuda", non_blocking=True), yb.cuda(non_blocking=True)
        assert _on_cuda(xg) and _on_cuda(yg) and yg.dtype == numtorch.int64
        seen.append((xg, yg))
    numtorch.cuda.synchronize()
    _close(x, numtorch.cat([a for a, _ in seen]), 0, 0)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(numtorch.cat([b for _, b in seen]).cpu()))


def test_dataloader_pin_memory_gives_page_locked_batches():
    """pin_memory=True: batches in page-locked host memory, so non_blocking copies are asynchronous."""
    from numtorch._backend import is_pinned
    from numtorch.utils.data import DataLoader, TensorDataset
    ds = TensorDataset(numtorch.randn(6, 3), numtorch.arange(6))
    for workers in (0, 1):
        for xb, yb in DataLoader(ds, batch_size=4, pin_memory=True, num_workers=workers):
            assert xb.device.type == "cpu" and is_pinned(xb._data) and is_pinned(yb._data)
    assert not any(is_pinned(x._data) for x, _ in DataLoader(ds, batch_size=4))


def test_dataset_of_cuda_tensors_and_random_split():
    from numtorch.utils.data import DataLoader, TensorDataset, random_split
    x = numtorch.arange(24.0, device="cuda").reshape(12, 2)
    y = numtorch.arange(12, device="cuda")
    ds = TensorDataset(x, y)
    xi, yi = ds[3]
    assert _on_cuda(xi) and _on_cuda(yi)
    train, test = random_split(ds, [8, 4], generator=numtorch.Generator().manual_seed(0))
    batches = list(DataLoader(train, batch_size=3, shuffle=True, generator=numtorch.Generator().manual_seed(1)))
    xs = numtorch.cat([b[0] for b in batches])
    ys = numtorch.cat([b[1] for b in batches])
    assert _on_cuda(xs) and _on_cuda(ys) and tuple(xs.shape) == (8, 2)
    _close(xs[:, 0], (ys * 2).float(), 0, 0)  # rows stay with their labels
    assert sorted(np.asarray(ys.cpu()).tolist() + [int(test[i][1].cpu()) for i in range(4)]) == list(range(12))


def test_vision_transforms_output_moves_to_cuda():
    from numtorch.vision import transforms as T
    img = (np.arange(6 * 5 * 3) % 256).astype(np.uint8).reshape(6, 5, 3)  # an HWC uint8 image
    pipeline = T.Compose([T.ToTensor(), T.Normalize((0.5, 0.4, 0.3), (0.2, 0.25, 0.3))])
    x = pipeline(img)
    xg = x.to("cuda")
    assert _on_cuda(xg) and tuple(xg.shape) == (3, 6, 5)
    _close(x, xg, 0, 0)
    _close(T.Normalize((0.5, 0.4, 0.3), (0.2, 0.25, 0.3))(T.ToTensor()(img).cuda()), x)  # transforms on cuda


@pytest.mark.parametrize("make", [
    lambda T: T.RandomCrop(4, padding=1), lambda T: T.RandomHorizontalFlip(1.0), lambda T: T.RandomVerticalFlip(1.0),
    lambda T: T.RandomResizedCrop(4, antialias=True), lambda T: T.CenterCrop(3), lambda T: T.Pad(2, fill=0.5),
    lambda T: T.Resize((7, 4), antialias=True), lambda T: T.ColorJitter(0.4, 0.4, 0.4), lambda T: T.Grayscale(3),
    lambda T: T.RandomErasing(1.0, value="random"), lambda T: T.RandomErasing(1.0, value=0.0, inplace=True),
    lambda T: T.ConvertImageDtype(numtorch.float64),
])
def test_vision_transforms_on_cuda_tensors(make):
    """Transforms take a cuda image and give a cuda image with the CPU's values (same seed, same draws)."""
    from numtorch.vision import transforms as T
    img = numtorch.rand(3, 6, 5, generator=numtorch.Generator().manual_seed(14))
    numtorch.manual_seed(15)
    y = make(T)(img.clone())
    numtorch.manual_seed(15)
    yg = make(T)(img.cuda())
    assert _on_cuda(yg) and yg.dtype == y.dtype
    _close(y, yg)


@pytest.mark.parametrize("make", [lambda T: T.RandomHorizontalFlip(1.0), lambda T: T.Resize((9, 14)),
                                  lambda T: T.Resize(6), lambda T: T.RandomCrop((6, 8), min_visible=0.3)])
def test_detection_transforms_on_cuda(make):
    from numtorch.vision import detection_transforms as T
    img = numtorch.rand(1, 10, 12, generator=numtorch.Generator().manual_seed(19))
    target = {"boxes": numtorch.tensor([[0.0, 1.0, 5.0, 6.0], [6.0, 2.0, 11.0, 9.0], [2.0, 7.0, 4.0, 10.0]]),
              "labels": numtorch.tensor([1, 2, 3]), "iscrowd": numtorch.tensor([0, 0, 1])}
    numtorch.manual_seed(20)
    y, ty = make(T)(img, target)
    numtorch.manual_seed(20)
    yg, tg = make(T)(img.cuda(), {k: v.cuda() for k, v in target.items()})
    assert _on_cuda(yg) and all(_on_cuda(v) for v in tg.values())
    _close(y, yg)
    assert sorted(ty) == sorted(tg)
    for k in ty:
        assert ty[k].dtype == tg[k].dtype, k
        _close(ty[k], tg[k])


# ---- saving and loading ----------------------------------------------------------------------------

def _saved_cuda_checkpoint(tmp_path):
    numtorch.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).cuda()
    opt = numtorch.optim.Adam(m.parameters(), lr=0.1)
    m(numtorch.randn(4, 3, device="cuda")).sum().backward()
    opt.step()
    path = tmp_path / "ckpt.pt"
    numtorch.save({"model": m.state_dict(), "optim": opt.state_dict(), "epoch": 2}, path)
    return m, path


@pytest.mark.parametrize("where", ["cpu", "cuda", "device", "dict", "callable", None])
def test_load_map_location(tmp_path, where):
    m, path = _saved_cuda_checkpoint(tmp_path)
    expected = {"cpu": "cpu", "cuda": "cuda", "device": "cuda", "dict": "cpu", "callable": "cuda", None: "cuda"}
    ml = {"cpu": "cpu", "cuda": "cuda", "device": numtorch.device("cuda", 0), "dict": {"cuda:0": "cpu"},
          "callable": lambda storage, loc: storage.cuda(), None: None}[where]
    ckpt = numtorch.load(path, map_location=ml)
    assert ckpt["epoch"] == 2
    for k, v in ckpt["model"].items():
        assert v.device.type == expected[where], (k, v.device)
        _close(m.state_dict()[k], v, 0, 0)
    for state in ckpt["optim"]["state"].values():
        for v in state.values():
            if isinstance(v, numtorch.Tensor) and v.ndim:
                assert v.device.type == expected[where]


def test_cpu_checkpoint_loads_into_cuda_model(tmp_path):
    numtorch.manual_seed(0)
    cpu = nn.Linear(3, 2)
    numtorch.save(cpu.state_dict(), tmp_path / "cpu.pt")
    sd = numtorch.load(tmp_path / "cpu.pt", map_location="cuda")
    assert all(_on_cuda(v) for v in sd.values())
    gpu = nn.Linear(3, 2).cuda()
    gpu.load_state_dict(numtorch.load(tmp_path / "cpu.pt"))  # CPU tensors into a cuda module
    assert _on_cuda(gpu.weight)
    _close(cpu.weight, gpu.weight, 0, 0)
    _close(cpu(numtorch.ones(1, 3)), gpu(numtorch.ones(1, 3, device="cuda")))


# ---- device mixing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("ctor,shape", [
    (lambda: nn.Linear(3, 2), (4, 3)),
    (lambda: nn.Conv2d(1, 2, 3), (1, 1, 5, 5)),
    (lambda: nn.LSTM(3, 2), (4, 1, 3)),
    (lambda: nn.Embedding(5, 2), None),
    (lambda: nn.LayerNorm(3), (2, 3)),
])
def test_cuda_module_with_cpu_input_names_both_devices(ctor, shape):
    m = ctor().cuda()
    x = numtorch.tensor([[1, 2]]) if shape is None else numtorch.randn(*shape)
    with pytest.raises(RuntimeError, match=r"(?s)(cpu.*cuda|cuda.*cpu)"):
        m(x)


def test_parameters_to_vector_and_back_on_cuda():
    from numtorch.nn.utils import parameters_to_vector, vector_to_parameters
    cpu, gpu = _model_pair(_optim_model)
    v, vg = parameters_to_vector(cpu.parameters()), parameters_to_vector(gpu.parameters())
    assert _on_cuda(vg)
    _close(v, vg, 0, 0)
    (vg * vg).sum().backward()  # differentiable: d/dp sum(p^2) = 2p
    for p in gpu.parameters():
        _close(p.grad, 2 * p)
    vector_to_parameters(vg * 0.5, gpu.parameters())
    assert all(_on_cuda(p) for p in gpu.parameters())
    _close(parameters_to_vector(gpu.parameters()), v * 0.5)
    with pytest.raises(RuntimeError, match=r"cpu.*cuda"):
        vector_to_parameters(v, gpu.parameters())


# ---- no host syncs on the training path ------------------------------------------------------------

@pytest.mark.parametrize("opt_name", sorted(_OPTIMIZERS))
def test_training_step_never_waits_for_the_device(backend, opt_name):  # noqa: F811
    """forward, backward, clip_grad_norm_ and the optimizer step of a conv net: no value is fetched
    from the device (the emulator counts every transfer to the host), so a GPU is never stalled."""
    if backend is None:
        pytest.skip("the emulator counts host syncs; a real GPU does not")
    m = numtorch.models.LeNet5().cuda()
    opt = getattr(numtorch.optim, opt_name)(m.parameters(), **_OPTIMIZERS[opt_name])
    x, t = numtorch.randn(2, 1, 28, 28, device="cuda"), numtorch.tensor([1, 7], device="cuda")
    for _ in range(2):  # the first step creates the optimizer state
        backend.stats.reset()
        opt.zero_grad()
        F.cross_entropy(m(x), t).backward()
        nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        assert backend.stats.syncs == 0


def test_gpt_training_and_cached_greedy_decoding_never_wait(backend):  # noqa: F811
    if backend is None:
        pytest.skip("the emulator counts host syncs; a real GPU does not")
    m = _gpt(dropout=0.1).cuda()
    opt = numtorch.optim.AdamW(m.parameters(), lr=0.01)
    idx = numtorch.randint(0, 11, (2, 5), generator=numtorch.Generator().manual_seed(5)).cuda()
    backend.stats.reset()
    opt.zero_grad()
    m(idx, idx)[1].backward()
    opt.step()
    m.generate(idx[:, :2], 3, temperature=0)
    assert backend.stats.syncs == 0


# ---- the command line's trainers, in process (a subprocess cannot use the emulator) -----------------

def test_classifier_trainer_on_cuda_matches_cpu(tmp_path):
    from numtorch.cli import common
    from numtorch.cli.train import save_run, train
    g = numtorch.Generator().manual_seed(17)
    split = lambda n: common.Split(numtorch.rand(n, 1, 6, 6, generator=g),  # noqa: E731
                                   numtorch.randint(0, 3, (n,), generator=g))
    data = common.DataBundle("toy", split(12), split(6), ["a", "b", "c"])
    config = {"model": "simplecnn", "data": "toy", "image_shape": [1, 6, 6], "hidden": 8, "classes": data.classes,
              "epochs": 2, "batch_size": 4, "lr": 0.05, "optimizer": "momentum", "weight_decay": 0.0, "seed": 0,
              "augment": False}
    quiet = dict(progress=False, log=lambda *a: None)
    runs = {dev: train(config, data, device=dev, **quiet) for dev in ("cpu", "cuda")}
    assert all(_on_cuda(p) for p in runs["cuda"]["model"].parameters())
    for key in ("train_loss", "test_loss", "step_loss"):
        np.testing.assert_allclose(runs["cpu"]["history"][key], runs["cuda"]["history"][key], rtol=1e-4, atol=1e-6)
    assert runs["cpu"]["history"]["test_acc"] == runs["cuda"]["history"]["test_acc"]
    paths = save_run(tmp_path, config, runs["cuda"])  # checkpoint of a cuda model and optimizer
    ckpt = numtorch.load(paths["checkpoint"], map_location="cpu")
    model = common.model_from_checkpoint(ckpt, "cuda")
    assert all(_on_cuda(p) for p in model.parameters())
    loss, acc = common.evaluate(model, data.test, device="cuda")
    assert (loss, acc) == pytest.approx(common.evaluate(runs["cpu"]["model"], data.test), rel=1e-4)


def test_checkpoint_of_a_cuda_run_opens_on_a_machine_without_cuda(tmp_path, monkeypatch):
    """`numtorch train --device cuda` on a GPU box, `numtorch predict`/`detect`/`evaluate` on a laptop."""
    from numtorch import _backend
    from numtorch.cli import common
    from numtorch.cli.train_detect import save_detector_run
    from numtorch.cli.detect import load_detector
    numtorch.manual_seed(0)
    gpu = _detector().cuda()
    save_detector_run(tmp_path, {"model": "detector"}, {"model": gpu, "history": {}})
    monkeypatch.setattr(_backend, "cuda_is_available", lambda: False)
    with pytest.raises(RuntimeError, match="map_location"):  # what numtorch.load says without map_location
        numtorch.load(tmp_path / "checkpoint.safetensors")
    ckpt = common.load_checkpoint(tmp_path / "checkpoint.safetensors")
    assert all(v.device.type == "cpu" for v in ckpt["model"].values())
    model, _ = load_detector(tmp_path / "checkpoint.safetensors")
    for (k, a), b in zip(model.state_dict().items(), gpu.state_dict().values()):
        _close(a, b, 0, 0)
    net = numtorch.models.resnet20()
    numtorch.save(net.cuda().state_dict(), tmp_path / "resnet20.pt")
    loaded = numtorch.models.resnet20(weights=str(tmp_path / "resnet20.pt"))  # pretrained weights from a GPU
    for a, b in zip(loaded.state_dict().values(), net.state_dict().values()):
        assert a.device.type == "cpu"
        _close(a, b, 0, 0)


def test_text_trainer_on_cuda_matches_cpu():
    from numtorch.cli.train_text import sample_text, train_gpt
    text = "to be or not to be, that is the question. " * 8
    settings = dict(block_size=8, n_layer=1, n_head=2, n_embd=8, dropout=0.1, batch_size=4, lr=1e-2,
                    weight_decay=0.0, eval_iters=2, seed=0, steps=3, eval_interval=3)
    quiet = dict(progress=False, log=lambda *a: None)
    runs = {dev: train_gpt(text, settings, device=dev, **quiet) for dev in ("cpu", "cuda")}
    np.testing.assert_allclose(runs["cpu"]["history"]["step_loss"], runs["cuda"]["history"]["step_loss"], rtol=1e-4)
    np.testing.assert_allclose(runs["cpu"]["history"]["val_loss"], runs["cuda"]["history"]["val_loss"], rtol=1e-4)
    a = sample_text(runs["cpu"]["model"], runs["cpu"]["tokenizer"], "to", tokens=6, temperature=0.0)
    b = sample_text(runs["cuda"]["model"], runs["cuda"]["tokenizer"], "to", tokens=6, temperature=0.0, device="cuda")
    assert a == b and len(b) == 8


def test_generate_command_with_device_cuda(tmp_path, capsys):
    """`numtorch generate CKPT --device cuda`, in process, prints what the CPU prints (sampling too: the
    random draws are the host's)."""
    from numtorch.cli.main import main
    from numtorch.cli.train_text import save_text_run, train_gpt
    settings = dict(block_size=8, n_layer=1, n_head=2, n_embd=8, dropout=0.0, batch_size=4, lr=1e-2,
                    weight_decay=0.0, eval_iters=1, seed=0, steps=2, eval_interval=2)
    run = train_gpt("abcabcabd " * 20, settings, device="cuda", progress=False, log=lambda *a: None)
    save_text_run(tmp_path, settings, run, sample="")
    printed = {}
    for dev in ("cpu", "cuda"):
        capsys.readouterr()
        assert main(["generate", str(tmp_path / "checkpoint.safetensors"), "--prompt", "ab", "--tokens", "12",
                     "--top-k", "3", "--device", dev]) == 0
        printed[dev] = capsys.readouterr().out
    assert printed["cpu"] == printed["cuda"] and printed["cuda"].startswith("ab") and len(printed["cuda"]) == 15


def test_detect_command_with_device_cuda(tmp_path, capsys):
    """`numtorch detect ... --device cuda`, called in process: the same detections as on the CPU."""
    pytest.importorskip("PIL")
    from PIL import Image
    from numtorch.cli.main import main
    from numtorch.cli.train_detect import save_detector_run
    numtorch.manual_seed(0)
    save_detector_run(tmp_path, {"model": "detector"}, {"model": _detector(), "history": {}})
    img = np.zeros((32, 40), np.uint8)
    img[8:20, 10:22] = 255
    Image.fromarray(img).save(tmp_path / "in.png")
    printed = {}
    for dev in ("cpu", "cuda"):
        capsys.readouterr()
        assert main(["detect", str(tmp_path / "checkpoint.safetensors"), str(tmp_path / "in.png"), "--score-thresh", "0.0",
                     "--device", dev, "--out", str(tmp_path / f"{dev}.png")]) == 0
        printed[dev] = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("boxes: ")]
        assert (tmp_path / f"{dev}.png").exists()
    assert printed["cpu"] == printed["cuda"] and "detections" in printed["cuda"][0]
    assert len(printed["cuda"]) > 3
