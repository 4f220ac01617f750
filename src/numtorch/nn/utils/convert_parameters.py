"""``parameters_to_vector`` and ``vector_to_parameters``: all parameters as one flat vector and back."""
from __future__ import annotations

from typing import Iterable

from numtorch.tensor import Tensor
from numtorch.ops import cat

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _check_same_device(param: Tensor, old_device):
    if old_device is not None and param.device != old_device:
        raise TypeError("Found two parameters on different devices, this is currently not supported.")
    return param.device


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """The parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    device = None
    flat = []
    for p in parameters:
        device = _check_same_device(p, device)
        flat.append(p.reshape(-1))
    return cat(flat)


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copies consecutive slices of the 1-D ``vec`` into the parameters (replacing their data)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    device = None
    pointer = 0
    data = vec.detach()._data
    for p in parameters:
        device = _check_same_device(p, device)
        if vec.device != p.device:  # PyTorch refuses to set a parameter's data from another device
            raise RuntimeError(f"vector_to_parameters: the vector is on {vec.device} but the parameters are "
                               f"on {p.device}; move it first, e.g. vec.to(\"{p.device}\")")
        n = p.numel()
        p._data = data[pointer:pointer + n].reshape(tuple(p.shape)).astype(p._data.dtype, copy=True)
        pointer += n
