"""Writes the checkpoints that ``load_numtorch`` reads and prints what numtorch computes on them.

    python examples/cpp/make_checkpoints.py OUT_DIR

saves ``OUT_DIR/mlp.safetensors`` (the two-layer net 784-50-10) and ``OUT_DIR/simplecnn.safetensors``
(SimpleConvNet for 1x28x28 images) with ``numtorch.save(model.state_dict(), ...)``, runs both on
x[i] = sin(0.37 i) of shape (1, 1, 28, 28) and prints ``y[0][0]`` and the argmax, in the format the
C++ program prints them:

    ./build/load_numtorch OUT_DIR/mlp.safetensors mlp 1 28 28
"""
from __future__ import annotations

import sys
from pathlib import Path

import numtorch
from numtorch.models import SimpleConvNet, TwoLayerNet


def models() -> dict:
    """The two networks, with weights drawn from seed 0."""
    numtorch.manual_seed(0)
    return {"mlp": TwoLayerNet(784, 50, 10), "simplecnn": SimpleConvNet((1, 28, 28), hidden_size=50)}


def example_input(c: int = 1, h: int = 28, w: int = 28) -> numtorch.Tensor:
    """x[i] = sin(0.37 i), shaped (1, C, H, W): the same numbers in both languages, no file needed."""
    x = numtorch.sin(numtorch.arange(c * h * w, dtype=numtorch.float32) * 0.37).reshape(1, c, h, w)
    return x


def main(out: str) -> dict:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    x = example_input()
    print(f"x[0][0][0][1] = {x[0, 0, 0, 1].item():.9g}")
    results = {}
    for name, model in models().items():
        path = folder / f"{name}.safetensors"
        numtorch.save(model.state_dict(), str(path))
        model.load_state_dict(numtorch.load(str(path)))  # what the C++ program does with the same file
        with numtorch.no_grad():
            y = model.eval()(x)
        print(y[0])  # the whole row, as a tensor
        results[name] = (y[0, 0].item(), y.argmax(1)[0].item())
        print(f"{name}: y[0][0] = {results[name][0]:.9g}  argmax = {results[name][1]}")
    return results


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/cpp/make_checkpoints.py OUT_DIR")
    main(sys.argv[1])
