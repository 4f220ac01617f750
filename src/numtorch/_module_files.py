"""Whole objects in checkpoints: ``torch.save(model, f)`` / ``torch.load(f)`` without pickle.

``numtorch.save`` describes an object it does not know otherwise -- an ``nn.Module`` (numtorch's
or the program's own subclass), or an object of a class allow-listed by
:func:`add_safe_globals` -- as JSON::

    {"__object__": "model.RNNModel", "state": <its __dict__, described the same way>}

Parameters and buffers inside ``__dict__`` go to the safetensors part like any tensor; a function
or class held as a value (``self.activation = F.relu``) is ``{"__global__": "module.qualname"}``;
a set is ``{"__set__": [...]}``; an object met twice is ``{"__ref__": n}`` (the n-th object
described), so shared submodules stay shared.

``numtorch.load`` rebuilds an object without running its constructor: ``cls.__new__(cls)``, then
its ``__dict__`` (through ``__setstate__`` where the class has one), as pickle does -- but only
for classes it may trust, and it never imports a module the file names:

- numtorch's own ``nn.Module`` classes and functions;
- whatever the program allow-lists with ``torch.serialization.add_safe_globals([...])`` or
  ``with torch.serialization.safe_globals([...]):`` (its own ``nn.Module`` subclasses, say);
- with ``weights_only=False``, any class or function of a module the program has already imported.

Anything else is refused with PyTorch's ``pickle.UnpicklingError`` wording, naming the class and
``safe_globals``.
"""
from __future__ import annotations

import contextlib
import importlib
import pickle  # only for the exception type PyTorch raises (pickle.UnpicklingError); nothing is unpickled
import sys
import types
from typing import Any, Iterable

__all__ = ["add_safe_globals", "get_safe_globals", "clear_safe_globals", "safe_globals", "encode_object",
           "decode_object"]

_SAFE: list = []  # what the program allow-listed: objects, or (object, "module.qualname") pairs


def add_safe_globals(safe_globals: Iterable) -> None:
    """Allow-lists classes and functions for :func:`numtorch.load` (objects, or ``(obj, "name")`` pairs)."""
    _SAFE.extend(safe_globals)


def get_safe_globals() -> list:
    """The allow-listed classes and functions."""
    return list(_SAFE)


def clear_safe_globals() -> None:
    """Forgets every allow-listed class and function."""
    _SAFE.clear()


class safe_globals(contextlib.ContextDecorator):
    """``with torch.serialization.safe_globals([Net]):`` allow-lists ``Net`` inside the block only."""

    def __init__(self, safe_globals: Iterable) -> None:
        self.safe_globals = list(safe_globals)

    def __enter__(self) -> None:
        self._start = len(_SAFE)
        _SAFE.extend(self.safe_globals)

    def __exit__(self, *exc) -> None:
        del _SAFE[self._start:]


def _qualified(obj) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


# ---- save: object -> JSON --------------------------------------------------------------------

def _is_module(obj) -> bool:
    from numtorch.nn.modules.module import Module
    return isinstance(obj, Module)


def _savable_global(obj) -> bool:
    """A module-level function or class: saved by name (``<lambda>`` and ``<locals>`` cannot be)."""
    return (isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType))
            and "<" not in obj.__qualname__)


def encode_object(encoder, obj, path: str):
    """The JSON node of ``obj`` (``encoder`` describes its parts), or None when ``obj`` is not
    an object this module saves."""
    if isinstance(obj, (set, frozenset)):
        return {"__set__": [encoder.encode(v, path) for v in sorted(obj, key=repr)]}
    if _savable_global(obj):
        return {"__global__": _qualified(obj)}
    if not (_is_module(obj) or _allowed(type(obj))) or not hasattr(obj, "__dict__"):
        return None
    seen = encoder.__dict__.setdefault("_objects", {})  # id(obj) -> n: one description per object
    if id(obj) in seen:
        return {"__ref__": seen[id(obj)]}
    seen[id(obj)] = len(seen)
    state = encoder.encode(dict(vars(obj)), path)
    return {"__object__": _qualified(type(obj)), "state": state}


# ---- load: JSON -> object --------------------------------------------------------------------

def _allowed(obj) -> bool:
    return any((entry[0] if isinstance(entry, tuple) else entry) is obj for entry in _SAFE)


def _from_safe_list(name: str):
    for entry in _SAFE:
        obj, entry_name = entry if isinstance(entry, tuple) else (entry, None)
        if (entry_name or _qualified(obj)) == name:
            return obj
    return None


def _lookup(module, qualname: str):
    obj = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj


def _find(name: str, weights_only: bool):
    """The class or function ``name`` (``module.qualname``) may refer to, or None."""
    obj = _from_safe_list(name)
    if obj is not None:
        return obj
    modules = sorted((m for m in sys.modules if name.startswith(m + ".")), key=len, reverse=True)
    if name.startswith("numtorch."):
        parts = name.split(".")
        for n in range(len(parts) - 1, 0, -1):  # numtorch's own modules may be imported
            with contextlib.suppress(ImportError):
                obj = _lookup(importlib.import_module(".".join(parts[:n])), ".".join(parts[n:]))
                if obj is not None and _trusted_numtorch(obj):
                    return obj
        return None
    if not weights_only:
        for m in modules:  # already imported modules only: a file never makes numtorch import one
            obj = _lookup(sys.modules[m], name[len(m) + 1:])
            if obj is not None and (isinstance(obj, type) or callable(obj)):
                return obj
    return None


def _trusted_numtorch(obj) -> bool:
    """numtorch's nn.Module classes and its functions."""
    from numtorch.nn.modules.module import Module
    if isinstance(obj, type):
        return issubclass(obj, Module) and obj.__module__.startswith("numtorch.")
    return isinstance(obj, types.FunctionType) and obj.__module__.startswith("numtorch.")


def _refuse(name: str, where: str):
    shown = name if not name.startswith("numtorch.") else "torch." + name[len("numtorch."):]
    return pickle.UnpicklingError(
        f"Weights only load failed. numtorch.load: {where} holds an object of {shown}. Unsupported global: "
        f"GLOBAL {shown} was not an allowed global by default. Please use "
        f"`torch.serialization.add_safe_globals([{shown}])` or the "
        f"`torch.serialization.safe_globals([{shown}])` context manager to allowlist this global if you "
        "trust this class/function. (Re-running numtorch.load with `weights_only=False` trusts the classes "
        "of modules the program has already imported: do it only if you trust the file's source; "
        "numtorch never unpickles.)")


def _corrupted(decoder, reason: str) -> RuntimeError:
    return RuntimeError(f"numtorch.load: {decoder.where} has a corrupted numtorch structure ({reason})")


def decode_object(decoder, node: dict) -> Any:
    """Rebuilds the object of an ``__object__`` / ``__global__`` / ``__set__`` / ``__ref__`` node;
    ``NotImplemented`` for any other node."""
    weights_only = getattr(decoder, "weights_only", True)
    objects = decoder.__dict__.setdefault("_objects", [])
    if "__set__" in node:
        if not isinstance(node["__set__"], list):
            raise _corrupted(decoder, "a __set__ entry is not a list")
        return set(decoder.decode(v) for v in node["__set__"])
    if "__ref__" in node:
        n = node["__ref__"]
        if not (isinstance(n, int) and 0 <= n < len(objects)):
            raise _corrupted(decoder, f"a __ref__ to object {n!r} of {len(objects)}")
        return objects[n]
    name = node.get("__global__", node.get("__object__"))
    if name is None:
        return NotImplemented
    if not isinstance(name, str) or "__object__" in node and not isinstance(node.get("state"), dict):
        raise _corrupted(decoder, f"an object entry {sorted(node)} without a class name and state")
    obj = _find(name, weights_only)
    if "__global__" in node:
        if obj is None:
            raise _refuse(name, decoder.where)
        return obj
    if not isinstance(obj, type):
        raise _refuse(name, decoder.where)
    return _rebuild(decoder, obj, node["state"], objects)


def _rebuild(decoder, cls: type, state_node: dict, objects: list):
    """``cls.__new__(cls)`` and its saved ``__dict__`` (by ``__setstate__`` where the class has one)."""
    obj = cls.__new__(cls)  # no constructor runs, as in unpickling
    objects.append(obj)
    state = decoder.decode(state_node)
    if not isinstance(state, dict):
        raise _corrupted(decoder, f"the state of a {cls.__qualname__} is not a dict")
    setstate = getattr(cls, "__setstate__", None)
    if setstate is not None and setstate is not getattr(object, "__setstate__", None):
        obj.__setstate__(state)
    else:
        obj.__dict__.update(state)
    return obj
