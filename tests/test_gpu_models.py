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
_INTERP = ("ops/conv.py interpolate: the resampling matrices are NumPy arrays wrapped by as_tensor on the "
           "CPU, then matmul'd with the cuda input (needs as_tensor(..., device=input.device))")
_ADAPTIVE = ("ops/pool.py adaptive_avg_pool2d: non-tiled bins build the averaging matrices with np.zeros + "
             "as_tensor on the CPU, then matmul them with the cuda input")
_OP_BUGS = {"AdaptiveAvgPool1d": _ADAPTIVE, "AdaptiveAvgPool2d": _ADAPTIVE, "Upsample": _INTERP,
            "UpsamplingBilinear2d": _INTERP, "UpsamplingNearest2d": _INTERP}


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
