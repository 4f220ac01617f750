"""ONNX export checked by onnxruntime: the exported graph computes what numtorch computes.

Oracle: numtorch's own forward in float64-free float32 and onnxruntime's independent kernels; they
agree within 1e-4 x the output's scale (float32 rounding over a few hundred accumulated terms).
Dynamic axes: a model exported with batch 2 runs with batch 3 (and the GPT with another length).
"""
from __future__ import annotations

import io
import math

import numpy as np
import pytest

import numtorch
import numtorch.nn as nn
import numtorch.nn.functional as F
from numtorch import models

onnx = pytest.importorskip("onnx", reason="ONNX export tests need onnx (pip install numtorch[onnx])")
ort = pytest.importorskip("onnxruntime", reason="ONNX export tests need onnxruntime (pip install numtorch[onnx])")

RTOL_SCALE = 1e-4


def _randomize_norm_stats(model, rng) -> None:
    """Running statistics away from (0, 1), so that a BatchNorm that ignored them would show."""
    for m in model.modules():
        if isinstance(getattr(m, "running_var", None), numtorch.Tensor):
            m.running_mean.copy_(numtorch.from_numpy(rng.normal(0, 0.1, m.num_features).astype(np.float32)))
            m.running_var.copy_(numtorch.from_numpy(rng.uniform(0.5, 1.5, m.num_features).astype(np.float32)))


def _run(path_or_bytes, feeds: dict) -> list:
    sess = ort.InferenceSession(path_or_bytes, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _forward(model, args) -> np.ndarray:
    with numtorch.no_grad():
        y = model(*args)
    y = y[0] if isinstance(y, tuple) else y
    return y.numpy()


def _close(got, want) -> None:
    scale = max(float(np.abs(want).max()), 1e-6)
    assert got.shape == want.shape
    assert float(np.abs(got - want).max()) <= RTOL_SCALE * scale, float(np.abs(got - want).max()) / scale


def _check(model, args, *, dynamic=None, more=(), tmp_path=None, **kw):
    """Exports ``model`` on ``args``; onnxruntime must match numtorch on ``args`` and on each of ``more``."""
    model.eval()
    args = tuple(args)
    names = [f"x{i}" for i in range(len(args))]
    f = io.BytesIO() if tmp_path is None else tmp_path / "model.onnx"
    proto = numtorch.onnx.export(model, args, f, input_names=names, output_names=["y"], dynamic_axes=dynamic,
                                 **kw)
    data = f.getvalue() if tmp_path is None else str(f)
    for a in (args, *more):
        got = _run(data, {n: t.numpy() for n, t in zip(names, a)})[0]
        _close(got, _forward(model, a))
    return proto


def _images(rng, n, c=1, h=28, w=28):
    return numtorch.from_numpy(rng.standard_normal((n, c, h, w)).astype(np.float32))


BATCH = {"x0": {0: "batch"}, "y": {0: "batch"}}


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ---- the models of numtorch.models ----

def test_two_layer_net_and_mlp(rng, tmp_path):
    x = numtorch.from_numpy(rng.standard_normal((2, 784)).astype(np.float32))
    x3 = numtorch.from_numpy(rng.standard_normal((3, 784)).astype(np.float32))
    proto = _check(models.TwoLayerNet(784, 20, 10), [x], dynamic=BATCH, more=[[x3]], tmp_path=tmp_path)
    assert {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"} <= {i.name for i in proto.graph.initializer}
    _check(models.MLP([5, 7, 3], activation="gelu"), [x[:, :5]], dynamic=BATCH, more=[[x3[:, :5]]])


def test_parameters_are_initializers_named_by_state_dict_keys(rng):
    model = models.LeNet5()
    proto = _check(model, [_images(rng, 2)])
    names = {i.name for i in proto.graph.initializer}
    assert set(model.state_dict()) <= names
    w = next(i for i in proto.graph.initializer if i.name == "features.0.weight")
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(w), model.state_dict()["features.0.weight"].numpy())
    assert proto.opset_import[0].version == 18
    onnx.checker.check_model(proto, full_check=True)


@pytest.mark.parametrize("name", ["SimpleConvNet", "LeNet5"])
def test_small_cnns_dynamic_batch(name, rng):
    _check(getattr(models, name)(), [_images(rng, 2)], dynamic=BATCH, more=[[_images(rng, 3)]])


def test_resnet20_dynamic_batch(rng):
    model = models.resnet20()
    _randomize_norm_stats(model, rng)
    x2, x3 = _images(rng, 2, 3, 32, 32), _images(rng, 3, 3, 32, 32)
    _check(model, [x2], dynamic=BATCH, more=[[x3]])


def test_resnet18_bottleneck_free_imagenet_layout(rng):
    model = models.resnet18(num_classes=10)
    _randomize_norm_stats(model, rng)
    _check(model, [_images(rng, 1, 3, 32, 32)])


def test_densenet_dynamic_batch(rng):
    model = models.DenseNet(growth_rate=6, block_config=(2, 3), num_init_features=8, num_classes=10,
                            small_inputs=True)
    _randomize_norm_stats(model, rng)
    _check(model, [_images(rng, 2, 3, 16, 16)], dynamic=BATCH, more=[[_images(rng, 3, 3, 16, 16)]])


def test_gpt_dynamic_batch_and_length(rng):
    model = models.GPT(vocab_size=17, n_layer=2, n_head=2, n_embd=16, block_size=12)
    idx = lambda b, t: numtorch.from_numpy(rng.integers(0, 17, (b, t)).astype(np.int64))  # noqa: E731
    _check(model, [idx(2, 5)], dynamic={"x0": {0: "batch", 1: "T"}, "y": {0: "batch", 1: "T"}},
           more=[[idx(3, 5)], [idx(3, 9)], [idx(1, 1)]])


def test_gpt_without_the_fused_paths(rng, monkeypatch):
    """A GPT whose attention runs the composite scaled_dot_product_attention (not CausalAttention)."""
    from numtorch.ops import attention
    monkeypatch.setattr(attention, "_fused_causal", lambda *a: False)
    model = models.GPT(vocab_size=11, n_layer=1, n_head=2, n_embd=8, block_size=8, tie_weights=False)
    _check(model, [numtorch.from_numpy(rng.integers(0, 11, (2, 6)).astype(np.int64))])


@pytest.mark.parametrize("opset", [17, 18, 21])
def test_opset_versions(opset, rng):
    """Opset 17 (reductions take axes as an attribute) to newer ones: the same graph, checked and run."""
    if opset > onnx.defs.onnx_opset_version():
        pytest.skip(f"this onnx knows opsets up to {onnx.defs.onnx_opset_version()}")
    model = models.GPT(vocab_size=11, n_layer=1, n_head=2, n_embd=8, block_size=8)
    idx = numtorch.from_numpy(rng.integers(0, 11, (2, 6)).astype(np.int64))
    proto = _check(model, [idx], opset_version=opset)
    assert proto.opset_import[0].version == opset

    class Pooled(nn.Module):
        def forward(self, x):
            return x.mean((2, 3)) + x.amax(3).amin(2) + x.sum(1).mean(-1).mean(-1, keepdim=True)

    _check(Pooled(), [_images(rng, 2, 3, 4, 5)], opset_version=opset)


def test_seq2seq_dynamic_batch_and_lengths(rng):
    model = models.Seq2SeqTransformer(12, 13, d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                                      dim_feedforward=32)
    tok = lambda b, t: numtorch.from_numpy(rng.integers(0, 12, (b, t)).astype(np.int64))  # noqa: E731
    dyn = {"x0": {0: "batch", 1: "S"}, "x1": {0: "batch", 1: "T"}, "y": {0: "batch", 1: "T"}}
    _check(model, [tok(2, 7), tok(2, 5)], dynamic=dyn, more=[[tok(3, 4), tok(3, 6)]])


class _DetectorNet(nn.Module):
    """The detector's network without its post-processing: heatmap logits and box regression maps."""

    def __init__(self, detector) -> None:
        super().__init__()
        self.backbone, self.head = detector.backbone, detector.head
        self.cls_logits, self.bbox_pred = detector.cls_logits, detector.bbox_pred

    def forward(self, x):
        h = self.head(self.backbone(x))
        return numtorch.cat([self.cls_logits(h), self.bbox_pred(h)], 1)


def test_detector_network_dynamic_batch(rng):
    from numtorch.models.detection import centernet_digits
    net = _DetectorNet(centernet_digits())
    _randomize_norm_stats(net, rng)
    _check(net, [_images(rng, 2, 1, 32, 32)], dynamic=BATCH, more=[[_images(rng, 3, 1, 32, 32)]])


# ---- layers ----

LAYERS = {
    "conv_transpose": (lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), (2, 3, 5, 5)),
    "conv_groups_dilation": (lambda: nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2), (2, 4, 7, 7)),
    "adaptive_avg": (lambda: nn.AdaptiveAvgPool2d((2, 3)), (2, 3, 7, 8)),
    "adaptive_max": (lambda: nn.AdaptiveMaxPool2d((3, 2)), (2, 3, 7, 8)),
    "avg_pool_pad": (lambda: nn.AvgPool2d(3, stride=2, padding=1), (2, 3, 8, 8)),
    "avg_pool_no_pad_count": (lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), (2, 3, 8, 8)),
    "max_pool_ceil": (lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), (2, 3, 8, 8)),
    "batchnorm1d": (lambda: nn.BatchNorm1d(5), (2, 5)),
    "layernorm": (lambda: nn.LayerNorm([4, 5]), (2, 3, 4, 5)),
    "layernorm_no_affine": (lambda: nn.LayerNorm(5, elementwise_affine=False), (2, 3, 5)),
    "flatten": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(48, 3)), (2, 3, 4, 4)),
    "dropout_eval": (lambda: nn.Sequential(nn.Dropout(0.5), nn.Linear(5, 2)), (2, 5)),
}
for _name, _act in {"relu": nn.ReLU, "gelu": nn.GELU, "gelu_tanh": lambda: nn.GELU("tanh"), "silu": nn.SiLU,
                    "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "softmax": lambda: nn.Softmax(1),
                    "log_softmax": lambda: nn.LogSoftmax(-1), "leaky_relu": lambda: nn.LeakyReLU(0.2),
                    "elu": nn.ELU, "softplus": nn.Softplus, "hardtanh": nn.Hardtanh, "mish": nn.Mish,
                    "hardswish": nn.Hardswish, "hardsigmoid": nn.Hardsigmoid, "logsigmoid": nn.LogSigmoid}.items():
    LAYERS[_name] = (_act, (2, 3, 4))


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer(name, rng):
    make, shape = LAYERS[name]
    model = make()
    _randomize_norm_stats(model, rng)
    x = numtorch.from_numpy(rng.standard_normal(shape).astype(np.float32) * 3)
    x3 = numtorch.from_numpy(rng.standard_normal((3,) + shape[1:]).astype(np.float32) * 3)
    _check(model, [x], dynamic=BATCH, more=[[x3]])


def test_embedding(rng):
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2))
    idx = numtorch.from_numpy(rng.integers(0, 10, (2, 5)).astype(np.int64))
    _check(model, [idx], dynamic=BATCH, more=[[numtorch.from_numpy(rng.integers(0, 10, (3, 5)).astype(np.int64))]])


@pytest.mark.parametrize("need_weights", [False, True])
def test_multihead_attention(need_weights, rng):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, q, kv):
            return self.mha(q, kv, kv, need_weights=need_weights)[0]

    q = lambda b, t: numtorch.from_numpy(rng.standard_normal((b, t, 8)).astype(np.float32))  # noqa: E731
    _check(M(), [q(2, 3), q(2, 5)], dynamic={"x0": {0: "b"}, "x1": {0: "b"}, "y": {0: "b"}},
           more=[[q(3, 3), q(3, 5)]])


@pytest.mark.parametrize("kind", ["causal", "bool_mask", "float_mask", "none"])
def test_scaled_dot_product_attention(kind, rng):
    mask = {"bool_mask": numtorch.from_numpy(rng.random((4, 4)) > 0.3) | numtorch.eye(4, dtype=numtorch.bool),
            "float_mask": numtorch.from_numpy(rng.standard_normal((4, 4)).astype(np.float32))}.get(kind)

    class M(nn.Module):
        def forward(self, q, k, v):
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=kind == "causal")

    t = lambda b: numtorch.from_numpy(rng.standard_normal((b, 2, 4, 8)).astype(np.float32))  # noqa: E731
    dyn = {f"x{i}": {0: "b"} for i in range(3)}
    _check(M(), [t(2), t(2), t(2)], dynamic=dyn, more=[[t(3), t(3), t(3)]])


def test_causal_attention_with_a_dynamic_length(rng):
    """The causal mask that sdpa builds from the length becomes Trilu of a -inf matrix of that length."""
    class M(nn.Module):
        def forward(self, q):
            return F.scaled_dot_product_attention(q, q * 0.5, q, is_causal=True)

    t = lambda b, n: numtorch.from_numpy(rng.standard_normal((b, 2, n, 8)).astype(np.float32))  # noqa: E731
    _check(M(), [t(2, 4)], dynamic={"x0": {0: "b", 2: "T"}, "y": {0: "b", 2: "T"}}, more=[[t(3, 7)], [t(1, 1)]])


def test_tensor_ops_shapes_and_indexing(rng):
    class M(nn.Module):
        def forward(self, x):
            a = x.permute(0, 2, 1)                       # (B, 4, 3)
            b = numtorch.cat([a, a * 2], dim=-1)         # (B, 4, 6)
            c = numtorch.stack([b, b + 1], dim=1)        # (B, 2, 4, 6)
            d = c[:, 1, 1:3, ::2]                        # (B, 2, 3)
            e = d.reshape(d.shape[0], -1) + x[:, 0:1, -1]  # (B, 6)
            f = e.unsqueeze(1).transpose(1, 2).flatten(1)  # (B, 6)
            f = numtorch.clamp(f, min=f[:, :1] * 0.5)                  # a tensor bound
            return numtorch.clamp(f, -1.0, 2.5).sum(1, keepdim=True) + f.mean(-1, keepdim=True) * f.amax(1, True)

    x = numtorch.from_numpy(rng.standard_normal((2, 3, 4)).astype(np.float32))
    _check(M(), [x], dynamic=BATCH, more=[[numtorch.from_numpy(rng.standard_normal((3, 3, 4)).astype(np.float32))]])


def test_elementwise_gather_and_reduce_ops(rng):
    idx = numtorch.tensor([2, 0, 1])

    class M(nn.Module):
        def forward(self, x):
            a = numtorch.where(x > 0, x.pow(2), numtorch.exp(x) - 1)            # (B, 3, 4)
            b = numtorch.einsum("bij,bkj->bik", a, x)                            # (B, 3, 3)
            c = b.index_select(2, idx) + numtorch.gather(b, 1, idx.expand(b.shape[0], 3, 3)[:, :1, :])
            d = c.flip(1) + x[:, :, :1].expand(-1, -1, 3) + numtorch.log(x.abs() + 1).logsumexp(-1, keepdim=True)
            return d.to(numtorch.float64).sqrt().float() + d.clone().sigmoid()

    x2 = numtorch.from_numpy(rng.standard_normal((2, 3, 4)).astype(np.float32))
    x3 = numtorch.from_numpy(rng.standard_normal((3, 3, 4)).astype(np.float32))
    _check(M(), [x2.abs() + 0.1], dynamic=BATCH, more=[[x3.abs() + 0.1]])


# ---- errors and files ----

def test_unsupported_op_names_the_op_and_the_module(tmp_path):
    class Inverse(nn.Module):
        def forward(self, x):
            return numtorch.linalg.inv(x)

    model = nn.Sequential(nn.Linear(3, 3), Inverse())
    out = tmp_path / "bad.onnx"
    with pytest.raises(numtorch.onnx.UnsupportedOperatorError, match=r"Inv.*module '1' \(Inverse\)"):
        numtorch.onnx.export(model, (numtorch.randn(3, 3),), out)
    assert not out.exists() and not list(tmp_path.iterdir())  # nothing half-written


def test_export_to_path_and_file_object_agree(tmp_path):
    model = nn.Linear(3, 2)
    x = numtorch.randn(4, 3)
    numtorch.onnx.export(model, (x,), tmp_path / "a.onnx")
    with open(tmp_path / "b.onnx", "wb") as fh:
        numtorch.onnx.export(model, x, fh)
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()
    got = _run(str(tmp_path / "a.onnx"), {"input_0": x.numpy()})[0]
    np.testing.assert_allclose(got, x.numpy() @ model.weight.detach().numpy().T + model.bias.detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_keyword_tensors_are_inputs_too(rng):
    model = models.Seq2SeqTransformer(9, 9, d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                                      dim_feedforward=16)
    tok = lambda b, t: numtorch.from_numpy(rng.integers(0, 9, (b, t)).astype(np.int64))  # noqa: E731
    f = io.BytesIO()
    numtorch.onnx.export(model.eval(), (tok(2, 5),), f, kwargs={"tgt": tok(2, 4)}, input_names=["src", "tgt"],
                         dynamic_axes={"src": {0: "b"}, "tgt": {0: "b"}})
    src, tgt = tok(3, 5), tok(3, 4)
    got = _run(f.getvalue(), {"src": src.numpy(), "tgt": tgt.numpy()})[0]
    _close(got, _forward(model, (src, tgt)))


def test_export_params_false_makes_parameters_inputs():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = numtorch.randn(5, 3)
    f = io.BytesIO()
    proto = numtorch.onnx.export(model, (x,), f, input_names=["x"], export_params=False)
    assert not proto.graph.initializer or all(i.name not in model.state_dict() for i in proto.graph.initializer)
    feeds = {"x": x.numpy(), **{k: v.numpy() for k, v in model.state_dict().items()}}
    assert sorted(i.name for i in proto.graph.input) == sorted(feeds)
    _close(_run(f.getvalue(), feeds)[0], _forward(model, (x,)))


def test_export_keeps_training_mode_and_is_in_onnx_export():
    seen = []

    class M(nn.Module):
        def forward(self, x):
            seen.append((numtorch.onnx.is_in_onnx_export(), self.training))
            return x * 2

    m = M().train()
    numtorch.onnx.export(m, (numtorch.ones(2),), io.BytesIO())
    assert seen == [(True, False)] and m.training and not numtorch.onnx.is_in_onnx_export()


def test_bad_arguments():
    with pytest.raises(TypeError, match="Module"):
        numtorch.onnx.export(lambda x: x, (numtorch.ones(2),), io.BytesIO())
    with pytest.raises(ValueError, match="opset_version"):
        numtorch.onnx.export(nn.ReLU(), (numtorch.ones(2),), io.BytesIO(), opset_version=9)


def test_recording_hook_is_inactive_outside_export():
    from numtorch.autograd import function
    assert function._tape is None
    numtorch.onnx.export(nn.ReLU(), (numtorch.ones(2),), io.BytesIO())
    assert function._tape is None
    assert math.isclose(float(nn.ReLU()(numtorch.tensor([-1.0, 2.0])).sum()), 2.0)
