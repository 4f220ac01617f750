"""The exporter: record one forward pass, convert the tape to an ONNX graph, check and write it."""
from __future__ import annotations


def _require_onnx():
    try:
        import onnx  # noqa: F401
    except ImportError as e:
        raise ImportError("numtorch.onnx.export needs the onnx package: pip install numtorch[onnx]") from e


def export_model(model, args, f, **options):
    _require_onnx()
    raise NotImplementedError("numtorch.onnx.export: the exporter is being written")
