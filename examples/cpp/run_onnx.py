"""The third way to run a numtorch model: export it to ONNX and run it with onnxruntime.

    python examples/cpp/run_onnx.py OUT_DIR

reads ``OUT_DIR/simplecnn.safetensors`` (written by make_checkpoints.py), exports the network to
``OUT_DIR/simplecnn.onnx`` with ``numtorch.onnx.export`` (any batch size), runs it with onnxruntime
on the same input x[i] = sin(0.37 i) and prints ``y[0][0]`` and the argmax as the other two programs do.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import numtorch
from numtorch.models import SimpleConvNet


def export(folder: Path) -> Path:
    model = SimpleConvNet((1, 28, 28), hidden_size=50)
    model.load_state_dict(numtorch.load(str(folder / "simplecnn.safetensors")))
    onnx_path = folder / "simplecnn.onnx"
    numtorch.onnx.export(model, (numtorch.zeros(1, 1, 28, 28),), str(onnx_path), input_names=["input"],
                         output_names=["logits"],
                         dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return onnx_path


def main(out: str) -> tuple:
    import onnxruntime as ort
    path = str(export(Path(out)))
    c, h, w = 1, 28, 28
    x = np.sin(np.arange(c * h * w, dtype=np.float32) * np.float32(0.37)).reshape(1, c, h, w)
    print(f"x[0][0][0][1] = {x[0, 0, 0, 1]:.9g}")
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    y = sess.run(None, {"input": x})[0]
    print(y[0])  # the whole row, a NumPy array
    result = (float(y[0, 0]), int(y.argmax(1)[0]))
    print(f"simplecnn: y[0][0] = {result[0]:.9g}  argmax = {result[1]}")
    return result


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/cpp/run_onnx.py OUT_DIR")
    main(sys.argv[1])
