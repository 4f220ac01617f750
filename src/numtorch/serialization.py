"""``numtorch.save`` / ``numtorch.load``: checkpoints as safetensors files, never pickle.

A file is a standard safetensors file: the tensors, stored by name, plus a metadata entry
``"numtorch"`` holding a JSON description of the saved object's structure (dicts, including
int keys, lists, tuples, str/int/float/bool/None), in which each tensor is a reference to its
name.  Saving a model's flat ``state_dict()`` therefore gives a file that
``safetensors.torch.load_file`` reads into the same keys, and a file written by
``safetensors.torch.save_file`` loads here as a dict of tensors.  numtorch reads and writes the
format itself (it is small: below), so the ``safetensors`` package is needed only to exchange files
with PyTorch's side.

Writes go to a temporary file in the target directory and are renamed into place, so an
error never leaves a half-written checkpoint; a temporary left by a killed process is removed by
the next save of the same file.  Saving streams the header and then each tensor's bytes in turn,
and loading checks the header against the file's size before reading each tensor straight into
its own array, so neither holds more than the tensors themselves in memory.

>>> import numtorch as torch
>>> ckpt = {"model": {"w": torch.ones(2)}, "epoch": 3, "optimizer": {"state": {0: {}}, "param_groups": []}}
>>> torch.save(ckpt, "/tmp/ckpt.safetensors")
>>> torch.load("/tmp/ckpt.safetensors")["epoch"]
3
"""
from __future__ import annotations

import json
import math
import os
import re
import socket
import stat
import struct
import tempfile
from collections import OrderedDict
from typing import Any

import numpy as np

from numtorch import _dtypes, _module_files
from numtorch._module_files import add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals  # noqa: F401 (torch.serialization names)
from numtorch._backend import CPU, as_device, device, to_device
from numtorch.tensor import Tensor, make_tensor

__all__ = ["save", "load"]

_META_KEY = "numtorch"
_FORMAT_VERSION = 1


# ---- save: object -> (JSON structure, named arrays) ----------------------------------------

class _Encoder:
    """Walks an object, replacing each tensor by a reference and collecting the arrays by name."""

    def __init__(self) -> None:
        self.arrays: dict[str, Any] = {}      # name -> the tensor's array, on its own device
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
        if isinstance(obj, np.ndarray):
            return self._ndarray(obj, path)
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
        raise TypeError(f"numtorch.save: cannot save an object of type {type(obj).__name__} at "
                        f"'{path or '<root>'}' (only tensors, NumPy arrays, dicts, lists, tuples, str, int, "
                        "float, bool and None are saved; numtorch never pickles)")

    def _key(self, k):
        if k is None or isinstance(k, (bool, int, float, str)):
            return k
        if isinstance(k, tuple):
            return {"__tuple__": [self._key(x) for x in k]}
        raise TypeError(f"numtorch.save: dict keys must be str, int, float, bool, None or tuples of them; "
                        f"got {type(k).__name__}")

    def _store(self, obj, arr, path: str) -> str:
        """The name under which ``arr`` (the data of ``obj``) is stored, new or reused."""
        name = self._names.get(id(obj))
        if name is None:
            name = path or "tensor"
            if name in self.arrays or name == "__metadata__":
                n = 1
                while f"{name}#{n}" in self.arrays:
                    n += 1
                name = f"{name}#{n}"
            self._names[id(obj)] = name
            self.arrays[name] = arr
        return name

    def _ndarray(self, a: np.ndarray, path: str) -> dict:
        """A NumPy array is stored like a tensor's data and comes back as a NumPy array."""
        if a.dtype.kind not in "biufc":
            raise TypeError(f"numtorch.save: cannot save a NumPy array of dtype {a.dtype} at "
                            f"'{path or '<root>'}' (only bool and numeric arrays are saved; numtorch "
                            "never pickles)")
        return {"__ndarray__": self._store(a, a, path)}

    def _tensor(self, t: Tensor, path: str) -> dict:
        name = self._store(t, t._data, path)
        node = {"__tensor__": name}
        if t.device != CPU:
            node["device"] = str(t.device)
        if t.requires_grad:
            node["requires_grad"] = True
        if type(t).__name__ == "Parameter":
            node["parameter"] = True
        return node


def _join(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


def save(obj: Any, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True) -> None:
    """Saves ``obj`` (a state_dict, a checkpoint dict, a tensor, ...) to a path or binary file.

    Args:
        obj: tensors and NumPy arrays, nested in dicts (str or int keys), lists and tuples, with
            str/int/float/bool/None.
        f: a path (``str``/``os.PathLike``) or a binary file object opened for writing.
        pickle_module, pickle_protocol: accepted for compatibility and ignored (nothing is pickled).
    """
    enc = _Encoder()
    structure = enc.encode(obj, "")
    meta = {"format": "pt", _META_KEY: json.dumps({"version": _FORMAT_VERSION, "object": structure})}
    if isinstance(f, (str, os.PathLike)):
        _atomic_write(os.fspath(f), lambda fh: _write_safetensors(fh, enc.arrays, meta))
    else:
        _write_safetensors(f, enc.arrays, meta)


# ---- the safetensors layout: 8-byte little-endian header length, JSON header, tensor bytes --------

# safetensors' dtype names <-> NumPy's (little-endian, as the format stores them)
_ST_DTYPES = {"BOOL": "|b1", "U8": "|u1", "I8": "|i1", "U16": "<u2", "I16": "<i2", "U32": "<u4", "I32": "<i4",
              "U64": "<u8", "I64": "<i8", "F16": "<f2", "F32": "<f4", "F64": "<f8", "C64": "<c8",
              "BF16": _dtypes.bfloat16.np}
_ST_NAMES = {np.dtype(v): k for k, v in _ST_DTYPES.items()}
_MAX_HEADER = 100_000_000   # bytes: safetensors' own limit on the JSON header


def _write_safetensors(fh, arrays: dict, metadata: dict | None) -> None:
    """Writes the header, then each array's bytes in turn (one array on the host at a time)."""
    header: dict[str, Any] = {"__metadata__": metadata} if metadata else {}
    offset = 0
    for name, a in arrays.items():
        st_dtype = _ST_NAMES.get(np.dtype(a.dtype).newbyteorder("<"))
        if st_dtype is None:
            held = ", ".join(str(np.dtype(v)) for v in _ST_DTYPES.values())
            raise TypeError(f"numtorch.save: tensor '{name}' has dtype {a.dtype}, which safetensors files "
                            f"cannot hold (they hold {held})")
        header[name] = {"dtype": st_dtype, "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)   # pad with spaces, as safetensors does: the data starts 8-aligned
    fh.write(struct.pack("<Q", len(text)))
    fh.write(text)
    for a in arrays.values():
        fh.write(_le_bytes(to_device(a, CPU)))


def _le_bytes(a: np.ndarray) -> memoryview:
    """A host array's bytes, C order, little-endian: a view when it already is (no copy)."""
    a = np.asarray(a)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    return memoryview(np.ascontiguousarray(a).reshape(-1).view(np.uint8))


def _atomic_write(path: str, write) -> None:
    """Calls ``write(file)`` on a temporary file beside ``path``, then renames it into place.

    The temporary's name tells which target, machine and process it belongs to; one left behind by
    a killed process (SIGKILL, power loss) is removed by the next save of the same target.
    """
    directory = os.path.dirname(os.path.abspath(path))
    prefix = _tmp_prefix(os.path.basename(path))
    _remove_stale_temporaries(directory, prefix)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f"{prefix}{_HOST}.{os.getpid()}.", suffix=".numtorch")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _default_file_mode())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def _tmp_prefix(target_name: str) -> str:
    return f".tmp-{target_name[:100]}."


def _remove_stale_temporaries(directory: str, prefix: str) -> None:
    """Removes ``<prefix><host>.<pid>.*.numtorch`` files of this machine whose process has ended."""
    pattern = re.compile(re.escape(prefix) + re.escape(_HOST) + r"\.(\d+)\.[^.]+\.numtorch\Z")
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        m = pattern.match(name)
        if m and not _process_alive(int(m.group(1))):
            try:
                os.remove(os.path.join(directory, name))
            except OSError:
                pass  # another process removed it first, or we may not: it stays, harmlessly


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of this process may be saving the same target right now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True  # exists (another user's) or cannot tell: keep the file
    return True


def _default_file_mode() -> int:
    """0666 less the umask: the mode ``open(path, "w")`` would give a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


# ---- load: file -> object -----------------------------------------------------------------

class _Source:
    """A safetensors file on disk (or a seekable file object): its checked header and, per tensor,
    its bytes read straight into a new array (or memory-mapped, copy-on-write)."""

    def __init__(self, fh, where: str, path: str | None = None, mmap: bool = False) -> None:
        self.fh, self.where, self.path, self.mmap = fh, where, path, mmap
        self.base = fh.tell()
        size = fh.seek(0, os.SEEK_END) - self.base
        fh.seek(self.base)
        self.header, n = _read_header(fh, size, where)
        self.data_start = self.base + 8 + n
        self.entries = _check_entries(self.header, size - (self.data_start - self.base), where)

    def names(self) -> list:
        """The tensors' names in file order."""
        return sorted(self.entries, key=lambda k: self.entries[k][2])

    def __contains__(self, name) -> bool:
        return name in self.entries

    def array(self, name: str) -> np.ndarray:
        dtype, shape, begin, nbytes = self.entries[name]
        if self.mmap and self.path is not None and nbytes:
            return np.memmap(self.path, dtype=dtype, mode="c", offset=self.data_start + begin, shape=shape)
        out = np.empty(shape, dtype=dtype)
        self.fh.seek(self.data_start + begin)
        if nbytes and _read_into(self.fh, memoryview(out.reshape(-1).view(np.uint8))) != nbytes:
            raise RuntimeError(f"numtorch.load: {self.where} is truncated: tensor '{name}' is incomplete")
        return out


def _read_into(fh, buf: memoryview) -> int:
    """Fills ``buf`` from ``fh``; returns how many bytes came (fewer only at the end of the file)."""
    done = 0
    while done < len(buf):
        if hasattr(fh, "readinto"):
            n = fh.readinto(buf[done:])
        else:
            chunk = fh.read(len(buf) - done)
            n = len(chunk)
            buf[done:done + n] = chunk
        if not n:
            break
        done += n
    return done


def _read_header(fh, size: int, where: str) -> tuple:
    """``(JSON header, its length)``, the length checked against the file's size before reading on."""
    not_ours = "files written by torch.save are pickles and are not read"
    if size < 8:
        raise RuntimeError(f"numtorch.load: {where} is not a numtorch/safetensors file (only {size} bytes)")
    (n,) = struct.unpack("<Q", fh.read(8))
    if n == 0 or n > size - 8 or n > _MAX_HEADER:
        raise RuntimeError(f"numtorch.load: {where} is truncated or not a numtorch/safetensors file "
                           f"(header of {n} bytes in a file of {size} bytes; {not_ours})")
    raw = fh.read(n)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        reason = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise RuntimeError(f"numtorch.load: {where} has a corrupted header ({reason}; {not_ours})") from None
    if not isinstance(header, dict):
        raise RuntimeError(f"numtorch.load: {where} has a corrupted header (a JSON {type(header).__name__}, "
                           "not an object)")
    meta = header.get("__metadata__")
    if meta is not None and not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        raise RuntimeError(f"numtorch.load: {where} has a corrupted header (__metadata__ is not a "
                           "string-to-string object)")
    return header, n


def _check_entries(header: dict, data_size: int, where: str) -> dict:
    """``{name: (numpy dtype, shape, begin, nbytes)}``, each entry checked to lie inside the data."""
    _check_dtypes(header, where)
    entries = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        bad = f"numtorch.load: {where} has a corrupted header entry for tensor '{name}'"
        shape, offsets = info.get("shape"), info.get("data_offsets")
        if not (isinstance(shape, list) and all(_is_index(d) for d in shape)
                and isinstance(offsets, list) and len(offsets) == 2 and all(_is_index(o) for o in offsets)):
            raise RuntimeError(f"{bad} (shape {shape!r}, data_offsets {offsets!r})")
        dtype = np.dtype(_ST_DTYPES[info["dtype"]])
        begin, end = offsets
        nbytes = math.prod(shape) * dtype.itemsize
        if not begin <= end <= data_size or end - begin != nbytes:
            raise RuntimeError(f"{bad} (bytes {begin}..{end} for {nbytes} bytes of data, in a data section "
                               f"of {data_size} bytes: truncated or corrupted)")
        entries[name] = (dtype, tuple(shape), begin, nbytes)
    return entries


def _is_index(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def load(f, map_location=None, pickle_module=None, *, weights_only: bool | None = None, mmap=None,
         **kwargs) -> Any:
    """Loads an object saved by ``numtorch.save`` (or any safetensors file, as a dict of tensors).

    Args:
        f: a path or a binary file object opened for reading.
        map_location: where tensors go: ``None`` (the device each was saved from), ``"cpu"``,
            ``"cuda:0"``, a ``numtorch.device``, a dict mapping saved locations to new ones
            (``{"cuda:0": "cpu"}``) or a callable ``fn(tensor, location) -> tensor``.
        weights_only: loading never unpickles; whole objects (``torch.save(model, f)``) are rebuilt
            only from allow-listed classes (see ``numtorch._module_files``); ``False`` also trusts
            classes of modules the program has already imported.
        mmap: ``True`` memory-maps a path's tensors (copy-on-write) instead of reading them.
    """
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        with open(path, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # /dev/zero, a pipe: no size to check
                raise RuntimeError(f"numtorch.load: {path!r} is not a regular file (a checkpoint is a "
                                   "numtorch/safetensors file)")
            return _load(_Source(fh, repr(path), path, bool(mmap)), map_location, weights_only)
    fh = f if _seekable(f) else _BufferedCopy(f)
    return _load(_Source(fh, "the given file object"), map_location, weights_only)


def _seekable(f) -> bool:
    try:
        return bool(f.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _BufferedCopy(f):
    """A pipe or socket cannot seek: its bytes, in memory."""
    import io
    return io.BytesIO(f.read())


def _load(src: _Source, map_location, weights_only=None) -> Any:
    meta = src.header.get("__metadata__") or {}
    placer = _Placer(map_location)
    if _META_KEY not in meta:   # a plain safetensors file: a dict of tensors, in file order
        return {name: placer(src.array(name), None) for name in src.names()}
    try:
        structure = json.loads(meta[_META_KEY])["object"]
    except (ValueError, KeyError, TypeError, RecursionError) as e:
        reason = "nested too deeply" if isinstance(e, RecursionError) else f"{type(e).__name__}: {e}"
        raise RuntimeError(f"numtorch.load: {src.where} has a corrupted numtorch structure "
                           f"({reason})") from None
    decoder = _Decoder(src, placer, src.where)
    decoder.weights_only = weights_only is not False  # None (PyTorch's default) means True
    try:
        return decoder.decode(structure)
    except RecursionError:
        raise RuntimeError(f"numtorch.load: {src.where} has a corrupted numtorch structure "
                           "(nested too deeply)") from None


_NUMPY_DTYPES = frozenset(_ST_DTYPES)


def _check_dtypes(header: dict, where: str) -> None:
    """NumPy has no bfloat16 or float8: say so by name instead of failing obscurely."""
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict):
            raise RuntimeError(f"numtorch.load: {where} has a corrupted header entry for tensor '{name}' "
                               f"(a JSON {type(info).__name__}, not an object)")
        if not (isinstance(info.get("dtype"), str) and info["dtype"] in _NUMPY_DTYPES):
            raise RuntimeError(f"numtorch.load: {where} holds tensor '{name}' of dtype {info.get('dtype')}, "
                               "which numtorch (NumPy) cannot represent; convert it to float32 before "
                               "saving (e.g. {k: v.float() for k, v in state_dict.items()} in PyTorch)")


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
                raise RuntimeError("Attempting to deserialize object on a CUDA device but CUDA is not "
                                   "available. If you are running on a CPU-only machine, please use "
                                   "numtorch.load with map_location='cpu' to map your tensors to the CPU.")
        return make_tensor(to_device(arr, target))


_DTYPES_BY_NAME = {d.name: d for d in _dtypes.ALL}   # the only objects a "__dtype__" entry may name


class _Decoder:
    """Rebuilds the saved object from its JSON structure; anything but the shapes ``_Encoder`` writes
    is a corrupted file (a ``RuntimeError`` naming it); a whole object is rebuilt only from an allow-listed
    class (``numtorch._module_files``), never from a module the file names."""

    def __init__(self, src: _Source, placer: _Placer, where: str) -> None:
        self.src, self.placer, self.where = src, placer, where
        self._done: dict[str, Tensor] = {}    # a tensor saved twice comes back as one object
        self._arrays: dict[str, np.ndarray] = {}  # and so does a NumPy array

    def decode(self, node):
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict):
            return node
        if "__tensor__" in node:
            return self._tensor(node)
        if "__ndarray__" in node:
            return self._ndarray(node["__ndarray__"])
        if "__dict__" in node:
            return self._dict(node)
        if "__tuple__" in node:
            return tuple(self.decode(v) for v in self._list(node["__tuple__"], "__tuple__"))
        if "__dtype__" in node:
            return self._lookup(node["__dtype__"], _DTYPES_BY_NAME, "dtype")
        if "__device__" in node:
            return self._device(node["__device__"])
        obj = _module_files.decode_object(self, node)  # whole objects of allow-listed classes, sets
        if obj is not NotImplemented:
            return obj
        raise self._corrupted(f"unknown structure entry {sorted(node)}")

    def _dict(self, node: dict) -> dict:
        d = OrderedDict() if node.get("ordered") else {}
        for pair in self._list(node["__dict__"], "__dict__"):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise self._corrupted(f"a __dict__ item is {_short(pair)}, not a [key, value] pair")
            d[self._key(pair[0])] = self.decode(pair[1])
        return d

    def _key(self, k):
        if isinstance(k, dict) and "__tuple__" in k:
            return tuple(self._key(x) for x in self._list(k["__tuple__"], "__tuple__"))
        if k is None or isinstance(k, (bool, int, float, str)):
            return k
        raise self._corrupted(f"a dict key is {_short(k)}")

    def _list(self, v, what: str) -> list:
        if not isinstance(v, list):
            raise self._corrupted(f"{what} holds {_short(v)}, not a list")
        return v

    def _lookup(self, name, table: dict, what: str):
        if not isinstance(name, str) or name not in table:
            raise self._corrupted(f"unknown {what} {_short(name)}")
        return table[name]

    def _device(self, name):
        try:
            return device(name)
        except (RuntimeError, TypeError, ValueError) as e:
            raise self._corrupted(f"bad device {_short(name)} ({e})") from None

    def _corrupted(self, reason: str) -> RuntimeError:
        return RuntimeError(f"numtorch.load: {self.where} has a corrupted numtorch structure ({reason})")

    def _tensor(self, node: dict) -> Tensor:
        name = node["__tensor__"]
        if not isinstance(name, str):
            raise self._corrupted(f"a tensor reference is {_short(name)}")
        if name in self._done:
            return self._done[name]
        if name not in self.src:
            raise RuntimeError(f"numtorch.load: {self.where} is corrupted: tensor '{name}' is missing")
        saved_device = node.get("device")
        if saved_device is not None and not isinstance(saved_device, str):
            raise self._corrupted(f"tensor '{name}' has device {_short(saved_device)}")
        t = self.placer(self.src.array(name), saved_device)
        if node.get("parameter"):
            from numtorch.nn.parameter import Parameter
            t = Parameter(t, requires_grad=bool(node.get("requires_grad", False)))
        elif node.get("requires_grad"):
            t.requires_grad_(True)
        self._done[name] = t
        return t


    def _ndarray(self, name) -> np.ndarray:
        """A saved NumPy array, back as a NumPy array on the host (``map_location`` is for tensors)."""
        if not isinstance(name, str) or name not in self.src:
            raise RuntimeError(f"numtorch.load: {self.where} is corrupted: array {_short(name)} is missing")
        if name not in self._arrays:
            self._arrays[name] = self.src.array(name)
        return self._arrays[name]


def _short(v) -> str:
    """A value of a corrupted file, for an error message: its repr, cut to 60 characters."""
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


# ---- flat helpers, as in safetensors.torch ---------------------------------------------------

def save_file(tensors: dict[str, Tensor], filename, metadata: dict[str, str] | None = None) -> None:
    """Saves a flat ``{name: tensor}`` dict as a plain safetensors file (no numtorch structure)."""
    arrays = {k: v._data for k, v in tensors.items()}
    _atomic_write(os.fspath(filename), lambda fh: _write_safetensors(fh, arrays, metadata))


def load_file(filename, device="cpu") -> dict[str, Tensor]:
    """Loads a safetensors file as a flat ``{name: tensor}`` dict on ``device``."""
    obj = load(filename, map_location=device)
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise RuntimeError(f"numtorch.serialization.load_file: {os.fspath(filename)!r} does not hold a "
                           "flat dict of tensors; use numtorch.load")
    return obj
