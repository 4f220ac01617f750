"""``numtorch.save`` / ``numtorch.load``: checkpoints as safetensors files, never pickle.

A file is a standard safetensors file: the tensors, stored by name, plus a metadata entry
``"numtorch"`` holding a JSON description of the saved object's structure (dicts, including
int keys, lists, tuples, str/int/float/bool/None), in which each tensor is a reference to its
name.  Saving a model's flat ``state_dict()`` therefore gives a file that
``safetensors.torch.load_file`` reads into the same keys, and a file written by
``safetensors.torch.save_file`` loads here as a dict of tensors.

Writes go to a temporary file in the target directory and are renamed into place, so an
error never leaves a half-written checkpoint.

>>> import numtorch as torch
>>> ckpt = {"model": {"w": torch.ones(2)}, "epoch": 3, "optimizer": {"state": {0: {}}, "param_groups": []}}
>>> torch.save(ckpt, "/tmp/ckpt.safetensors")
>>> torch.load("/tmp/ckpt.safetensors")["epoch"]
3
"""
from __future__ import annotations

import json
import os
import struct
import tempfile
from collections import OrderedDict
from typing import Any

import numpy as np

from numtorch import _dtypes, _module_files
from numtorch._module_files import add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals
from numtorch._backend import CPU, as_device, device, to_device
from numtorch.tensor import Tensor, make_tensor

__all__ = ["save", "load", "add_safe_globals", "get_safe_globals", "clear_safe_globals", "safe_globals"]

_META_KEY = "numtorch"
_FORMAT_VERSION = 1


def _safetensors_numpy():
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError("numtorch.save/load need safetensors, which is not installed: "
                          "pip install numtorch[io]") from None
    return safetensors.numpy


# ---- save: object -> (JSON structure, named arrays) ----------------------------------------

class _Encoder:
    """Walks an object, replacing each tensor by a reference and collecting the arrays by name."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self._names: dict[int, str] = {}      # id(tensor) -> name: a tensor saved twice is stored once

    def encode(self, obj, path: str):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, (int, float)):
            return obj
        if isinstance(obj, np.generic) and obj.dtype.kind in "biuf":
            return obj.item()
        if isinstance(obj, Tensor):
            return self._tensor(obj, path)
        if isinstance(obj, dict):
            pairs = [[self._key(k), self.encode(v, _join(path, k))] for k, v in obj.items()]
            node = {"__dict__": pairs}
            if isinstance(obj, OrderedDict):
                node["ordered"] = True
            return node
        if isinstance(obj, tuple):
            return {"__tuple__": [self.encode(v, _join(path, i)) for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [self.encode(v, _join(path, i)) for i, v in enumerate(obj)]
        if isinstance(obj, _dtypes.dtype):
            return {"__dtype__": str(obj).split(".")[-1]}
        if isinstance(obj, device):
            return {"__device__": str(obj)}
        node = _module_files.encode_object(self, obj, path)  # nn.Modules, allow-listed objects, sets
        if node is not None:
            return node
        raise TypeError(f"numtorch.save: cannot save an object of type {type(obj).__name__} at '{path or '<root>'}' "
                        "(only tensors, dicts, lists, tuples, str, int, float, bool and None are saved; "
                        "numtorch never pickles)")

    def _key(self, k):
        if k is None or isinstance(k, (bool, int, float, str)):
            return k
        if isinstance(k, tuple):
            return {"__tuple__": [self._key(x) for x in k]}
        raise TypeError(f"numtorch.save: dict keys must be str, int, float, bool, None or tuples of them; "
                        f"got {type(k).__name__}")

    def _tensor(self, t: Tensor, path: str) -> dict:
        name = self._names.get(id(t))
        if name is None:
            name = path or "tensor"
            if name in self.arrays or name == "__metadata__":
                n = 1
                while f"{name}#{n}" in self.arrays:
                    n += 1
                name = f"{name}#{n}"
            self._names[id(t)] = name
            self.arrays[name] = _host_array(t)
        node = {"__tensor__": name}
        if t.device != CPU:
            node["device"] = str(t.device)
        if t.requires_grad:
            node["requires_grad"] = True
        if type(t).__name__ == "Parameter":
            node["parameter"] = True
        return node


def _host_array(t: Tensor) -> np.ndarray:
    """The tensor's data as a C-contiguous NumPy array (0-d stays 0-d, unlike np.ascontiguousarray)."""
    arr = to_device(t._data, CPU)
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def _join(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


def save(obj: Any, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True) -> None:
    """Saves ``obj`` (a state_dict, a checkpoint dict, a tensor, ...) to a path or binary file.

    Args:
        obj: tensors, nested in dicts (str or int keys), lists and tuples, with str/int/float/bool/None.
        f: a path (``str``/``os.PathLike``) or a binary file object opened for writing.
        pickle_module, pickle_protocol: accepted for compatibility and ignored (nothing is pickled).
    """
    st = _safetensors_numpy()
    enc = _Encoder()
    structure = enc.encode(obj, "")
    meta = {"format": "pt", _META_KEY: json.dumps({"version": _FORMAT_VERSION, "object": structure})}
    data = st.save(enc.arrays, metadata=meta)
    if isinstance(f, (str, os.PathLike)):
        _atomic_write(os.fspath(f), data)
    else:
        f.write(data)


def _atomic_write(path: str, data: bytes) -> None:
    """Writes to a temporary file beside ``path``, then renames it into place."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".numtorch")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# ---- load: bytes -> object -----------------------------------------------------------------

def _read_header(data: bytes, where: str) -> dict:
    """The safetensors JSON header (8-byte little-endian length, then JSON), checked for sanity."""
    if len(data) < 8:
        raise RuntimeError(f"numtorch.load: {where} is not a numtorch/safetensors file (only {len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8 or n == 0:
        raise RuntimeError(f"numtorch.load: {where} is truncated or not a numtorch/safetensors file "
                           f"(header of {n} bytes in a file of {len(data)} bytes; files written by torch.save "
                           "are pickles and are not read)")
    try:
        return json.loads(data[8:8 + n])
    except (UnicodeDecodeError, ValueError) as e:
        raise RuntimeError(f"numtorch.load: {where} has a corrupted header ({e})") from None


def load(f, map_location=None, pickle_module=None, *, weights_only: bool | None = None, mmap=None, **kwargs) -> Any:
    """Loads an object saved by ``numtorch.save`` (or any safetensors file, as a dict of tensors).

    Args:
        f: a path or a binary file object opened for reading.
        map_location: where tensors go: ``None`` (the device each was saved from), ``"cpu"``,
            ``"cuda:0"``, a ``numtorch.device``, a dict mapping saved locations to new ones
            (``{"cuda:0": "cpu"}``) or a callable ``fn(tensor, location) -> tensor``.
        weights_only: loading never unpickles; whole objects (``torch.save(model, f)``) are rebuilt
            only from allow-listed classes (see ``numtorch._module_files``); ``False`` also trusts
            classes of modules the program has already imported.
    """
    where = repr(os.fspath(f)) if isinstance(f, (str, os.PathLike)) else "the given file object"
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            data = fh.read()
    else:
        data = f.read()
    header = _read_header(data, where)
    _check_dtypes(header, where)
    st = _safetensors_numpy()
    try:
        arrays = st.load(data)
    except Exception as e:  # safetensors raises its own error type for malformed files
        raise RuntimeError(f"numtorch.load: {where} is truncated or corrupted ({e})") from None
    meta = header.get("__metadata__") or {}
    placer = _Placer(map_location)
    if _META_KEY not in meta:   # a plain safetensors file: a dict of tensors, in file order
        names = sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])
        return {name: placer(arrays[name], None) for name in names}
    try:
        structure = json.loads(meta[_META_KEY])["object"]
    except (ValueError, KeyError, TypeError) as e:
        raise RuntimeError(f"numtorch.load: {where} has a corrupted numtorch structure ({e})") from None
    decoder = _Decoder(arrays, placer, where)
    decoder.weights_only = weights_only is not False  # None (PyTorch's default) means True
    return decoder.decode(structure)


_NUMPY_DTYPES = {"BOOL", "U8", "I8", "U16", "I16", "U32", "I32", "U64", "I64", "F16", "F32", "F64", "C64"}


def _check_dtypes(header: dict, where: str) -> None:
    """NumPy has no bfloat16 or float8: say so by name instead of failing obscurely."""
    for name, info in header.items():
        if name != "__metadata__" and isinstance(info, dict) and info.get("dtype") not in _NUMPY_DTYPES:
            raise RuntimeError(f"numtorch.load: {where} holds tensor '{name}' of dtype {info.get('dtype')}, which "
                               "numtorch (NumPy) cannot represent; convert it to float32 before saving "
                               "(e.g. {k: v.float() for k, v in state_dict.items()} in PyTorch)")


class _Placer:
    """Applies ``map_location`` to one loaded array: returns the tensor on its target device."""

    def __init__(self, map_location) -> None:
        self.map_location = map_location

    def __call__(self, arr: np.ndarray, saved_device: str | None) -> Tensor:
        loc = saved_device or "cpu"
        ml = self.map_location
        if callable(ml) and not isinstance(ml, (str, device)):
            t = make_tensor(arr)
            out = ml(t, loc)
            return t if out is None else out
        if isinstance(ml, dict):
            target = ml.get(loc, loc)
        elif ml is None:
            target = loc
        else:
            target = ml
        target = as_device(target)
        if target.type == "cuda":
            from numtorch._backend import cuda_is_available
            if not cuda_is_available():
                raise RuntimeError("Attempting to deserialize object on a CUDA device but CUDA is not available. "
                                   "If you are running on a CPU-only machine, please use numtorch.load with "
                                   "map_location='cpu' to map your tensors to the CPU.")
        return make_tensor(to_device(arr, target))


class _Decoder:
    def __init__(self, arrays: dict, placer: _Placer, where: str) -> None:
        self.arrays, self.placer, self.where = arrays, placer, where
        self._done: dict[str, Tensor] = {}    # a tensor saved twice comes back as one object

    def decode(self, node):
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict):
            return node
        if "__tensor__" in node:
            return self._tensor(node)
        if "__dict__" in node:
            d = OrderedDict() if node.get("ordered") else {}
            for k, v in node["__dict__"]:
                d[self._key(k)] = self.decode(v)
            return d
        if "__tuple__" in node:
            return tuple(self.decode(v) for v in node["__tuple__"])
        if "__dtype__" in node:
            return getattr(_dtypes, node["__dtype__"]) if node["__dtype__"] != "bool" else _dtypes.bool_
        if "__device__" in node:
            return device(node["__device__"])
        obj = _module_files.decode_object(self, node)
        if obj is not NotImplemented:
            return obj
        raise RuntimeError(f"numtorch.load: {self.where} has an unknown structure entry {sorted(node)}")

    def _key(self, k):
        if isinstance(k, dict) and "__tuple__" in k:
            return tuple(self._key(x) for x in k["__tuple__"])
        return k

    def _tensor(self, node: dict) -> Tensor:
        name = node["__tensor__"]
        if name in self._done:
            return self._done[name]
        if name not in self.arrays:
            raise RuntimeError(f"numtorch.load: {self.where} is corrupted: tensor '{name}' is missing")
        t = self.placer(self.arrays[name], node.get("device"))
        if node.get("parameter"):
            from numtorch.nn.parameter import Parameter
            t = Parameter(t, requires_grad=node.get("requires_grad", False))
        elif node.get("requires_grad"):
            t.requires_grad_(True)
        self._done[name] = t
        return t


# ---- flat helpers, as in safetensors.torch ---------------------------------------------------

def save_file(tensors: dict[str, Tensor], filename, metadata: dict[str, str] | None = None) -> None:
    """Saves a flat ``{name: tensor}`` dict as a plain safetensors file (no numtorch structure)."""
    st = _safetensors_numpy()
    arrays = {k: _host_array(v) for k, v in tensors.items()}
    _atomic_write(os.fspath(filename), st.save(arrays, metadata=metadata))


def load_file(filename, device="cpu") -> dict[str, Tensor]:
    """Loads a safetensors file as a flat ``{name: tensor}`` dict on ``device``."""
    obj = load(filename, map_location=device)
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise RuntimeError(f"numtorch.serialization.load_file: {os.fspath(filename)!r} does not hold a flat dict "
                           "of tensors; use numtorch.load")
    return obj
