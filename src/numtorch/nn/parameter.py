"""``Parameter``: a tensor that a ``Module`` learns, and ``Buffer``: a tensor it keeps but does not learn.

Assigning a ``Parameter`` as an attribute of a ``Module`` registers it: it then appears in
``module.parameters()`` (what an optimizer updates) and in ``module.state_dict()`` (what is saved).

>>> import numtorch as torch
>>> w = torch.nn.Parameter(torch.zeros(2))
>>> w
Parameter containing:
tensor([0., 0.], requires_grad=True)
"""
from __future__ import annotations

from numtorch.tensor import Tensor
from numtorch.creation import empty, tensor

__all__ = ["Parameter", "Buffer"]


def _typename(t: Tensor) -> str:
    return "numtorch." + type(t).__name__


class Parameter(Tensor):
    """A leaf tensor that requires grad by default and shares memory with ``data``.

    Args:
        data: the initial value (a tensor; its memory is shared, not copied). ``None`` gives an
            empty float tensor.
        requires_grad: whether the optimizer should see a gradient for it (default ``True``).
    """

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True):
        return Tensor.__new__(cls)

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        if data is None:
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter: expected a Tensor as data, got {type(data).__name__}")
        self._data = data._data
        self.requires_grad = False
        self.grad = None
        self.grad_fn = None
        self._output_nr = 0
        self._vc = data._version_counter()  # shares memory with data, so it shares the version too
        self._hooks = None
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict) -> "Parameter":
        if id(self) in memo:
            return memo[id(self)]
        result = Parameter(tensor(self.detach()), self.requires_grad)  # tensor() copies
        if self.grad is not None:
            result.grad = tensor(self.grad.detach())
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, protocol):
        raise TypeError("numtorch parameters are not pickled; use numtorch.save (safetensors + JSON)")


class Buffer(Tensor):
    """Marks a tensor as a buffer when assigned to a ``Module`` attribute (``torch.nn.Buffer``).

    ``module.x = Buffer(t)`` is ``module.register_buffer("x", t, persistent)``; the module keeps the
    tensor ``t`` itself (a plain ``Tensor``), as PyTorch does.
    """

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True):
        return Tensor.__new__(cls)

    def __init__(self, data: Tensor | None = None, *, persistent: bool = True) -> None:
        if data is None:
            data = empty(0)
        self._data = data._data
        self.requires_grad = False
        self.grad = None
        self.grad_fn = None
        self._output_nr = 0
        self._vc = data._version_counter()
        self._hooks = None
        self.persistent = persistent
        self._source = data
