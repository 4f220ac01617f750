"""``Optimizer``: the base class every optimizer shares (PyTorch's ``torch.optim.Optimizer``).

An optimizer holds the tensors it updates in ``param_groups`` (a list of dicts: ``"params"`` plus
the group's hyperparameters, so two groups may use different learning rates) and what it
remembers between steps in ``state`` (a dict keyed by the parameter tensor itself, e.g.
``state[p]["exp_avg"]``).

Updates run on the raw arrays (``p._data`` and ``p.grad._data``) in place, with the array module
of the parameter (NumPy or CuPy): no graph is recorded and float32 stays float32.  The state
tensors are numtorch Tensors on the parameter's device, so ``state_dict()`` can be saved with
``numtorch.save``.

>>> import numtorch as torch
>>> w = torch.tensor([1.0, 2.0], requires_grad=True)
>>> opt = torch.optim.SGD([w], lr=0.1)
>>> (w * w).sum().backward()          # grad = 2w
>>> opt.step()                        # w <- w - lr * grad
>>> w
tensor([0.8000, 1.6000], requires_grad=True)
"""
from __future__ import annotations

import copy
import warnings
from collections import defaultdict
from typing import Any, Callable, Iterable

import numpy as np

from numtorch import _dtypes
from numtorch._backend import elsewhere, to_device, xp_of
from numtorch.autograd.grad_mode import enable_grad
from numtorch.tensor import Tensor, make_tensor

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks a hyperparameter that has no default (SGD's ``lr`` in old PyTorch versions)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


class Optimizer:
    """Base class of all optimizers.

    Args:
        params: an iterable of tensors (``model.parameters()``), of ``(name, tensor)`` pairs
            (``model.named_parameters()``), or of dicts, each a parameter group:
            ``[{"params": [w1]}, {"params": [w2], "lr": 1e-3}]``.
        defaults: the hyperparameters a group gets when it does not name them.
    """

    def __init__(self, params: Iterable, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._work: dict = {}
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or "
                            f"dicts, but got numtorch.{type(params).__name__}")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # ---- groups ---------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Adds a group of parameters (e.g. layers unfrozen while fine-tuning) with its own options."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        param_group = dict(param_group)
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the "
                            "ordering of tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)
        if params and isinstance(params[0], tuple):  # named_parameters(): (name, tensor) pairs
            param_group["param_names"] = [name for name, _ in params]
            params = [p for _, p in params]
        param_group["params"] = params
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if p.grad_fn is not None:
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        if len({id(p) for p in params}) != len(params):   # PyTorch warns (a future error); so do we
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will "
                          "cause an error", UserWarning, stacklevel=3)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ---- gradients ------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clears every parameter's ``.grad``: to ``None`` (default, frees memory) or to zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.grad_fn, p.grad.requires_grad = None, False
                    p.grad._data[...] = 0
                    p.grad._bump_version()

    def step(self, closure: Callable[[], Any] | None = None):
        """Performs one update of every parameter that has a gradient; returns ``closure()``'s loss.

        The loop is written once, here; each optimizer writes only ``_update(p, group)``, the rule
        for one parameter ``p`` with its group's hyperparameters.  The version bump tells autograd
        that ``p`` changed in place (a graph that saved the old ``p`` then refuses to backward).
        """
        loss = self._begin_step(closure)
        for group in self.param_groups:
            for p in self._params_with_grad(group):
                self._update(p, group)
                p._bump_version()
        return loss

    def _update(self, p: Tensor, group: dict[str, Any]) -> None:
        """Updates one parameter in place from ``p.grad`` (each optimizer defines it)."""
        raise NotImplementedError(f"{type(self).__name__} defines neither step() nor _update()")

    def _begin_step(self, closure):
        """Starts a step: notes it (schedulers warn when stepped before any optimizer step) and
        evaluates the closure (which recomputes the loss and calls backward) with grad enabled."""
        self._opt_called = True
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _scratch(self, like, slot: int = 0):
        """A reusable work array shaped and typed like array ``like``.

        One flat buffer per (slot, dtype, device), as large as the largest parameter, serves every
        parameter in turn: a step allocates no per-parameter temporaries (allocating large arrays
        costs page faults), and the memory overhead is one largest parameter per slot.
        """
        work = self.__dict__.setdefault("_work", {})
        key = (slot, like.dtype, type(like))
        buf = work.get(key)
        if buf is None or buf.size < like.size:
            buf = xp_of(like).empty(like.size, dtype=like.dtype)
            work[key] = buf
        return buf[:like.size].reshape(like.shape)

    def _params_with_grad(self, group):
        """The group's parameters that received a gradient (the others are skipped, as in PyTorch)."""
        for p in group["params"]:
            if p.grad is not None:
                on_its_gpu = elsewhere(p._data)
                if on_its_gpu is None:
                    yield p
                else:  # updated on its own GPU, when that is not the current one
                    with on_its_gpu:
                        yield p

    # ---- state_dict -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in PyTorch's layout.

        ``{"state": {0: {...}, 1: {...}}, "param_groups": [{"lr": ..., "params": [0, 1]}, ...]}``:
        parameters are numbered in the order the groups list them; the state tensors are the
        optimizer's own (not copies), as in PyTorch.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {(index[id(p)] if isinstance(p, Tensor) else p): v for p, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores a ``state_dict()`` into an optimizer built over the same parameters.

        State tensors are copied onto each parameter's device (and, except ``step``, into its
        floating dtype); the hyperparameters of each group come from ``state_dict``.
        """
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for group, saved in zip(self.param_groups, saved_groups):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                                 f"optimizer's group ({len(saved['params'])} != {len(group['params'])} parameters)")
        id_map = {i: p for group, saved in zip(self.param_groups, saved_groups)
                  for i, p in zip(saved["params"], group["params"])}
        state: defaultdict = defaultdict(dict)
        for key, value in state_dict["state"].items():
            key = int(key) if isinstance(key, str) and key.isdigit() else key
            param = id_map.get(key)
            if param is None:
                state[key] = value
            else:
                state[param] = {k: _cast_state(param, k, v) for k, v in value.items()}
        for group, saved in zip(self.param_groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
        self.state = state
        self.param_groups = saved_groups

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        lines = [self.__class__.__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {group[k]}" for k in sorted(group) if k != "params")
        return "\n".join(lines) + "\n)"


def _cast_state(param: Tensor, key: str, value):
    """A copy of a loaded state value on the parameter's device (floating state in its dtype)."""
    if isinstance(value, Tensor):
        arr = value._data
        if key != "step":  # the step counter stays a CPU scalar, as PyTorch keeps it
            if param._data.dtype.kind in "fcV" and arr.dtype.kind in "fcV":
                arr = arr.astype(param._data.dtype, copy=False)
            arr = to_device(arr, param.device)
        return make_tensor(arr.copy())
    if isinstance(value, dict):
        return {k: _cast_state(param, k, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_state(param, key, v) for v in value)
    return value


# ---- helpers shared by the optimizers ------------------------------------------------------

def step_tensor() -> Tensor:
    """A fresh step counter: a 0-d float CPU tensor, as PyTorch keeps it (float64 only when the
    default dtype is float64)."""
    dt = np.float64 if _dtypes.get_default_dtype() is _dtypes.float64 else np.float32
    return make_tensor(np.zeros((), dtype=dt))


def next_step(state: dict) -> float:
    """Adds one to ``state["step"]`` in place and returns the new count as a Python float."""
    s = state["step"]._data
    s += 1
    return float(s)


def zeros_state(p: Tensor) -> Tensor:
    """A state tensor of zeros shaped, typed and placed like parameter ``p``."""
    return make_tensor(xp_of(p._data).zeros_like(p._data))


def grad_for_update(p: Tensor, maximize: bool, weight_decay: float, out):
    """The gradient array an update uses: ``g = ±grad + weight_decay * p`` (L2 penalty).

    ``p.grad`` is never changed: when maximize or weight decay change the gradient, the result
    is written into ``out`` (a work array shaped like ``p``) and returned.
    """
    g = p.grad._data
    if not maximize and weight_decay == 0:
        return g
    xp = xp_of(g)
    if weight_decay == 0:
        return xp.negative(g, out=out)            # ascend: follow +grad
    xp.multiply(p._data, weight_decay, out=out)   # d/dp (wd/2 * p^2) = wd * p
    if maximize:
        out -= g
    else:
        out += g
    return out


def check_nonnegative(name: str, value: float, label: str | None = None) -> None:
    """PyTorch's hyperparameter check: ``ValueError: Invalid learning rate: -1``."""
    if not 0.0 <= value:
        raise ValueError(f"Invalid {label or name}: {value}")
