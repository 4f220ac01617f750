"""``numtorch.onnx``: export a model to ONNX, as ``torch.onnx`` does.

>>> import numtorch as torch
>>> model = torch.nn.Linear(3, 2).eval()
>>> torch.onnx.export(model, (torch.randn(1, 3),), "linear.onnx",
...                   input_names=["x"], output_names=["y"],
...                   dynamic_axes={"x": {0: "batch"}})  # doctest: +SKIP

The graph is built by running one forward pass in eval mode while a tape records every op
(``numtorch.autograd.function.recording``); each recorded op is then written as ONNX nodes by a
small converter (``numtorch.onnx.converters``).  Needs ``pip install numtorch[onnx]``.
"""
from __future__ import annotations

from numtorch.onnx.errors import UnsupportedOperatorError, OnnxExporterError  # noqa: F401

__all__ = ["export", "is_in_onnx_export", "UnsupportedOperatorError", "OnnxExporterError"]

_exporting = False


def is_in_onnx_export() -> bool:
    """True while ``export`` runs the model's forward."""
    return _exporting


def export(model, args=(), f=None, *, kwargs=None, input_names=None, output_names=None,
           dynamic_axes=None, opset_version=None, export_params=True, do_constant_folding=True,
           verbose=False):
    """Exports ``model`` (a ``Module``) to the ONNX file ``f`` (a path or a binary file object).

    Args:
        model: the module; it runs once, in eval mode, on ``args`` (a tensor or a tuple of them).
        args: the example inputs; ``kwargs``: example keyword inputs.
        f: where to write the model (a path, or an object with ``write``).
        input_names, output_names: the graph's input/output names (default ``input_0``, ...).
        dynamic_axes: ``{name: {axis: "label"}}`` or ``{name: [axis, ...]}``: axes left symbolic.
        opset_version: the ONNX opset (default 18).
        export_params: write parameters and buffers as initializers (named by their state_dict keys).
        do_constant_folding: accepted for compatibility (constants are folded as they are recorded).
        verbose: print the graph.
    Returns:
        the ``onnx.ModelProto`` written (PyTorch returns None or a program; this one is handy for tests).
    """
    from numtorch.onnx._export import export_model
    global _exporting
    _exporting = True
    try:
        return export_model(model, args, f, kwargs=kwargs, input_names=input_names,
                            output_names=output_names, dynamic_axes=dynamic_axes,
                            opset_version=opset_version, export_params=export_params, verbose=verbose)
    finally:
        _exporting = False
