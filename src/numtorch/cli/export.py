"""``numtorch export CHECKPOINT --format onnx --out model.onnx``: a trained model as an ONNX file.

The checkpoint of ``numtorch train`` names its model and sizes; the model is rebuilt, its weights
loaded, and one forward pass on an example input is recorded and written by ``numtorch.onnx.export``.

- classifiers (mlp, simplecnn, lenet5, resnet20, densenet_bc_100): input ``input`` (N, C, H, W) in
  [0, 1] as ``numtorch predict`` prepares images; outputs ``logits`` and ``probabilities`` (softmax);
- GPT (``--model gpt``): input ``idx`` (N, T) token ids; output ``logits`` (N, T, vocab);
- the detector: input ``images`` (N, C, S, S) at the training canvas size; outputs ``heatmap``
  (class logits per cell) and ``boxes`` (box regression per cell), before decoding and NMS.

``--dynamic-batch`` leaves N symbolic (and T, up to the block size, for a GPT).  The file is
written to a temporary name and renamed into place: a failed export leaves nothing behind.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numtorch
from numtorch.cli import common
from numtorch.cli.common import CLIError


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("export", help="write a trained model as an ONNX file", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint",
                   help="a checkpoint.safetensors written by `numtorch train` (or its run folder)")
    p.add_argument("--format", default="onnx", choices=("onnx",), help="onnx (default)")
    p.add_argument("--out", required=True, help="the file to write, e.g. model.onnx")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset version (default 18)")
    p.add_argument("--dynamic-batch", action="store_true",
                   help="any batch size (and any sequence length up to the block size for a GPT)")
    p.set_defaults(run=run)
    return p


class _Wrapped(numtorch.nn.Module):
    """``net`` with ``post`` applied to its output; it shares net's parameters, buffers and submodules, so
    its state_dict keys -- the initializer names in the ONNX file -- are the checkpoint's own."""

    def __init__(self, net, post) -> None:
        super().__init__()
        self._parameters, self._buffers, self._modules = net._parameters, net._buffers, net._modules
        self.__dict__["_net"], self.__dict__["_post"] = net, post

    def forward(self, x):
        return self._post(self._net, x)


# logits and p_i = exp(s_i) / sum_j exp(s_j), the probabilities `numtorch predict` prints
def _classifier(net, x):
    logits = net(x)
    return logits, numtorch.nn.functional.softmax(logits, dim=1)


def _gpt_logits(gpt, idx):
    return gpt(idx)[0]


# the network without its post-processing (decoding and NMS run outside the graph)
def _detector_maps(det, x):
    h = det.head(det.backbone(x))
    return det.cls_logits(h), det.bbox_pred(h)


def export_spec(ckpt: dict, path):
    """(module, example inputs, input names, output names, dynamic axes names) of a checkpoint."""
    config = ckpt["config"]
    kind = config.get("model") if isinstance(config, dict) else None
    if kind == "gpt":
        from numtorch.cli.generate import model_and_tokenizer
        gpt, _ = model_and_tokenizer(ckpt, "cpu")
        T = min(8, gpt.block_size - 1) if gpt.block_size > 1 else 1  # shorter than the block: T can grow
        return (_Wrapped(gpt, _gpt_logits), numtorch.zeros(1, max(T, 1), dtype=numtorch.int64), "idx",
                ["logits"], (0, 1))
    if kind == "detector":
        from numtorch.cli.detect import load_detector
        det, _ = load_detector(path)
        size = int(config.get("canvas_size", 96))
        x = numtorch.zeros(1, det.in_channels, size, size)
        return _Wrapped(det, _detector_maps), x, "images", ["heatmap", "boxes"], (0,)
    model = common.model_from_checkpoint(ckpt)
    c, h, w = config["image_shape"]
    x = numtorch.zeros(1, c, h, w)
    return _Wrapped(model, _classifier), x, "input", ["logits", "probabilities"], (0,)


def run(args) -> int:
    try:
        import numtorch.onnx._export as onnx_export
        onnx_export._require_onnx()
    except ImportError as e:
        raise CLIError(str(e)) from None
    out = Path(args.out)
    if out.is_dir():
        raise CLIError(f"--out {out}: is a folder; give a file name such as {out / 'model.onnx'}")
    if not out.parent.exists():
        raise CLIError(f"--out {out}: the folder {out.parent} does not exist")
    ckpt = common.load_checkpoint(args.checkpoint)
    model, x, input_name, output_names, axes = export_spec(ckpt, args.checkpoint)
    dynamic = None
    if args.dynamic_batch:
        labels = {0: "batch", 1: "sequence"}
        dynamic = {name: {a: labels[a] for a in axes} for name in [input_name] + output_names}
        if input_name != "idx":  # the batch only: a classifier's outputs are (N, classes)
            dynamic = {name: {0: "batch"} for name in [input_name] + output_names}
    try:
        numtorch.onnx.export(model, (x,), out, input_names=[input_name], output_names=output_names,
                             dynamic_axes=dynamic, opset_version=args.opset)
    except (numtorch.onnx.OnnxExporterError, ValueError) as e:
        raise CLIError(f"cannot export {args.checkpoint}: {e}") from None
    print(f"wrote {out} (ONNX opset {args.opset or 18}; input {input_name} {list(x.shape)}"
          f"{' with a dynamic batch' if args.dynamic_batch else ''}; outputs {', '.join(output_names)})")
    return 0
