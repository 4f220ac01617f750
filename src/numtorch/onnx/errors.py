"""The exceptions of ``numtorch.onnx`` (the names of ``torch.onnx.errors``)."""
from __future__ import annotations


class OnnxExporterError(RuntimeError):
    """An error of the ONNX exporter."""


class UnsupportedOperatorError(OnnxExporterError):
    """An op the exporter has no converter for; the message names the op and the module that ran it."""
