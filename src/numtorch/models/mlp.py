"""Multi-layer perceptrons: the notes' two-layer net and a general ``MLP``.

The two-layer net is the network the notes build by hand -- ``Affine -> ReLU -> Affine`` -- and
train on MNIST: 784 input pixels, 100 hidden units, 10 class scores (logits).  Softmax and the
cross-entropy loss are not part of the model: ``nn.functional.cross_entropy`` takes the logits,
as in PyTorch.

>>> import numtorch
>>> from numtorch.models import TwoLayerNet
>>> net = TwoLayerNet()
>>> net(numtorch.randn(5, 784)).shape
numtorch.Size([5, 10])
"""
from __future__ import annotations

from typing import Callable, Sequence, Union

from numtorch import nn
from numtorch.tensor import Tensor

__all__ = ["TwoLayerNet", "MLP"]

_ACTIVATIONS = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "gelu": "GELU", "silu": "SiLU",
                "swish": "SiLU", "leaky_relu": "LeakyReLU", "elu": "ELU"}


class TwoLayerNet(nn.Module):
    """``Linear(input_size, hidden_size) -> ReLU -> Linear(hidden_size, output_size)``.

    Args:
        input_size: features per sample (784 for flattened 28x28 images).
        hidden_size: hidden units.
        output_size: classes.
    Shapes:
        input (N, input_size) -> logits (N, output_size).  Inputs with more dims (N, 1, 28, 28)
        are flattened from dim 1.
    State dict keys: ``fc1.weight``, ``fc1.bias``, ``fc2.weight``, ``fc2.bias``.
    """

    def __init__(self, input_size: int = 784, hidden_size: int = 100, output_size: int = 10) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden_size, output_size)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim > 2:
            x = x.flatten(1)
        return self.fc2(self.relu(self.fc1(x)))


def _activation(activation: Union[str, Callable]) -> nn.Module:
    """A fresh activation module from a name ("relu", "tanh", ...) or a module class / factory."""
    if isinstance(activation, str):
        name = _ACTIVATIONS.get(activation.lower())
        if name is None:
            raise ValueError(f"MLP: unknown activation {activation!r}; choose one of {sorted(_ACTIVATIONS)}")
        return getattr(nn, name)()
    if isinstance(activation, nn.Module):
        return activation
    return activation()


class MLP(nn.Sequential):
    """Fully connected layers of the given sizes with an activation between them (none after the last).

    Args:
        sizes: ``[in, hidden..., out]``, at least two numbers.
        activation: a name ("relu", "sigmoid", "tanh", "gelu", "silu", ...) or a module class.
    Shapes:
        input (N, sizes[0]) -> output (N, sizes[-1]).
    State dict keys are those of the same ``nn.Sequential`` in PyTorch (``0.weight``, ``2.weight``, ...).

    >>> MLP([784, 100, 10])                                   # doctest: +SKIP
    MLP(
      (0): Linear(in_features=784, out_features=100, bias=True)
      (1): ReLU()
      (2): Linear(in_features=100, out_features=10, bias=True)
    )
    """

    def __init__(self, sizes: Sequence[int], activation: Union[str, Callable] = "relu") -> None:
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs at least an input and an output size, got {sizes}")
        if isinstance(activation, str) and activation.lower() not in _ACTIVATIONS:
            raise ValueError(f"MLP: unknown activation {activation!r}; choose one of {sorted(_ACTIVATIONS)}")
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(sizes) - 2:
                layers.append(_activation(activation))
        super().__init__(*layers)
        self.sizes = sizes
