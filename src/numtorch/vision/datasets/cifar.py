"""CIFAR-10 and CIFAR-100 (32x32 colour images), with torchvision's signature.

Two releases are read:

- the binary release (``cifar-10-batches-bin/*.bin``, ``cifar-100-binary/*.bin``): fixed-size
  records, one label byte (two for CIFAR-100: coarse, fine) then 3072 pixel bytes (R, G, B planes);
- the Python release (``cifar-10-batches-py/``, ``cifar-100-python/``): pickled dicts.  They are
  read by ``safe_unpickle``, a small interpreter of the pickle opcode stream that builds only dicts,
  lists, tuples, strings, bytes, numbers and NumPy arrays.  It never imports or calls anything the
  file names, so a malicious file cannot run code (a general unpickler is never used).
"""
from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from numtorch.vision.datasets._image import to_item
from numtorch.vision.datasets.vision import VisionDataset

__all__ = ["CIFAR10", "CIFAR100", "safe_unpickle"]


# ---- a restricted pickle reader ------------------------------------------------------------

class UnpicklingError(RuntimeError):
    """A pickle stream that uses anything beyond plain data and NumPy arrays."""


_ALLOWED_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                    ("numpy", "ndarray"), ("numpy", "dtype"),
                    ("_codecs", "encode"),  # protocol 2 spells bytes as _codecs.encode(text, "latin1")
                    # protocol 5:
                    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")}


class _Global:
    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name


class _PendingArray:
    """What ``_reconstruct(ndarray, ...)`` returns until BUILD gives it shape, dtype and bytes."""

    def __init__(self) -> None:
        self.array = None


class _Mark:
    pass


def safe_unpickle(data: bytes):
    """Reads a pickle of dicts/lists/tuples/str/bytes/numbers/NumPy arrays; refuses anything else."""
    stack, memo, pos = [], {}, 0
    mark = _Mark()

    def read(n):
        nonlocal pos
        out = data[pos:pos + n]
        if len(out) != n:
            raise UnpicklingError("safe_unpickle: the pickle stream ends early")
        pos += n
        return out

    def pop_mark():
        items = []
        while True:
            v = stack.pop()
            if v is mark:
                return items[::-1]
            items.append(v)

    def line():
        nonlocal pos
        end = data.index(b"\n", pos)
        out = data[pos:end].decode("ascii")
        pos = end + 1
        return out

    while True:
        op = read(1)
        if op == b"\x80":                                   # PROTO
            read(1)
        elif op == b"\x95":                                 # FRAME
            read(8)
        elif op == b".":                                    # STOP
            return _finish(stack.pop())
        elif op == b"}":
            stack.append({})
        elif op == b"]":
            stack.append([])
        elif op == b")":
            stack.append(())
        elif op == b"(":
            stack.append(mark)
        elif op == b"t":
            stack.append(tuple(pop_mark()))
        elif op in (b"\x85", b"\x86", b"\x87"):             # TUPLE1/2/3
            n = b"\x85\x86\x87".index(op) + 1
            items = stack[-n:]
            del stack[-n:]
            stack.append(tuple(items))
        elif op == b"N":
            stack.append(None)
        elif op == b"\x88":
            stack.append(True)
        elif op == b"\x89":
            stack.append(False)
        elif op == b"J":
            stack.append(struct.unpack("<i", read(4))[0])
        elif op == b"K":
            stack.append(read(1)[0])
        elif op == b"M":
            stack.append(struct.unpack("<H", read(2))[0])
        elif op == b"\x8a":                                 # LONG1
            n = read(1)[0]
            stack.append(int.from_bytes(read(n), "little", signed=True))
        elif op == b"G":
            stack.append(struct.unpack(">d", read(8))[0])
        elif op == b"X":
            stack.append(read(struct.unpack("<I", read(4))[0]).decode("utf-8"))
        elif op == b"\x8c":
            stack.append(read(read(1)[0]).decode("utf-8"))
        elif op == b"\x8d":
            stack.append(read(struct.unpack("<Q", read(8))[0]).decode("utf-8"))
        elif op == b"C":
            stack.append(read(read(1)[0]))
        elif op == b"B":
            stack.append(read(struct.unpack("<I", read(4))[0]))
        elif op == b"\x8e":
            stack.append(read(struct.unpack("<Q", read(8))[0]))
        elif op == b"\x96":                                 # BYTEARRAY8
            stack.append(bytearray(read(struct.unpack("<Q", read(8))[0])))
        elif op == b"U":                                    # SHORT_BINSTRING (Python 2 str)
            stack.append(read(read(1)[0]))
        elif op == b"T":                                    # BINSTRING
            stack.append(read(struct.unpack("<i", read(4))[0]))
        elif op == b"q":
            memo[read(1)[0]] = stack[-1]
        elif op == b"r":
            memo[struct.unpack("<I", read(4))[0]] = stack[-1]
        elif op == b"\x94":                                 # MEMOIZE
            memo[len(memo)] = stack[-1]
        elif op == b"h":
            stack.append(memo[read(1)[0]])
        elif op == b"j":
            stack.append(memo[struct.unpack("<I", read(4))[0]])
        elif op == b"s":
            v, k = stack.pop(), stack.pop()
            stack[-1][k] = v
        elif op == b"u":
            items = pop_mark()
            d = stack[-1]
            for i in range(0, len(items), 2):
                d[items[i]] = items[i + 1]
        elif op == b"a":
            v = stack.pop()
            stack[-1].append(v)
        elif op == b"e":
            items = pop_mark()
            stack[-1].extend(items)
        elif op in (b"c", b"\x93"):                         # GLOBAL, STACK_GLOBAL
            if op == b"c":
                module, name = line(), line()
            else:
                name, module = stack.pop(), stack.pop()
            if (module, name) not in _ALLOWED_GLOBALS:
                raise UnpicklingError(f"safe_unpickle: refusing to load global {module}.{name} "
                                      f"(only plain data and NumPy arrays are allowed)")
            stack.append(_Global(module, name))
        elif op == b"R":                                    # REDUCE
            args, fn = stack.pop(), stack.pop()
            stack.append(_reduce(fn, args))
        elif op == b"b":                                    # BUILD
            state = stack.pop()
            _build(stack[-1], state)
        else:
            raise UnpicklingError(f"safe_unpickle: unsupported pickle opcode {op!r} at byte {pos - 1}")


def _reduce(fn, args):
    if not isinstance(fn, _Global):
        raise UnpicklingError("safe_unpickle: REDUCE of something that is not an allowed global")
    if fn.name == "encode":
        if len(args) != 2 or not isinstance(args[0], str) or args[1] not in ("latin1", "latin-1"):
            raise UnpicklingError("safe_unpickle: _codecs.encode is only allowed as (text, 'latin1')")
        return args[0].encode("latin-1")
    if fn.name == "dtype":
        return np.dtype(str(args[0]))
    if fn.name == "_frombuffer":
        buf, dtype, shape, order = args
        if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(buf, (bytes, bytearray)):
            raise UnpicklingError("safe_unpickle: only arrays of plain numeric dtypes are allowed")
        return np.frombuffer(bytes(buf), dtype=dtype).reshape(shape, order=order)
    if fn.name == "_reconstruct":
        return _PendingArray()
    raise UnpicklingError(f"safe_unpickle: refusing to call {fn.module}.{fn.name}")


def _build(obj, state) -> None:
    if isinstance(obj, np.dtype):
        return  # the dtype's state (byte order etc.) is implied by its name for the plain dtypes used
    if isinstance(obj, _PendingArray):
        _, shape, dtype, fortran, raw = state
        if not isinstance(dtype, np.dtype) or dtype.hasobject:
            raise UnpicklingError("safe_unpickle: only arrays of plain numeric dtypes are allowed")
        if isinstance(raw, str):
            raw = raw.encode("latin-1")
        arr = np.frombuffer(raw, dtype=dtype)
        obj.array = arr.reshape(shape, order="F" if fortran else "C")
        return
    raise UnpicklingError("safe_unpickle: BUILD is only allowed for NumPy arrays")


def _finish(obj):
    """Replaces the placeholders by their arrays, recursively."""
    if isinstance(obj, _PendingArray):
        return obj.array
    if isinstance(obj, dict):
        return {_finish(k): _finish(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finish(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_finish(v) for v in obj)
    return obj


def _key(d: dict, name: str):
    """A dict entry by its str or (Python 2) bytes key."""
    if name in d:
        return d[name]
    return d[name.encode()]


# ---- the datasets --------------------------------------------------------------------------

class CIFAR10(VisionDataset):
    """CIFAR-10: 50,000 training and 10,000 test images, 32x32x3 uint8, 10 classes.

    Args:
        root: the folder holding ``cifar-10-batches-bin/`` or ``cifar-10-batches-py/``.
        train: the five training batches when True, the test batch when False.
        transform: applied to each image (a 32x32 RGB PIL image, as torchvision's; a uint8 tensor
            3 x 32 x 32 without Pillow); ``ToTensor()`` makes it a float C x H x W tensor.
        target_transform: applied to each label (an int).
        download: fetch and unpack the binary release into ``root`` (MD5 checked) if it is missing.

    Attributes:
        data: uint8 ndarray (N, 32, 32, 3).  targets: list of ints.  classes: the class names.
    """

    base_bin, base_py = "cifar-10-batches-bin", "cifar-10-batches-py"
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
    tgz_md5 = "c32a1d4ab5d03f1284b67883e8d87530"
    train_bin = [f"data_batch_{i}.bin" for i in range(1, 6)]
    test_bin = ["test_batch.bin"]
    train_py = [f"data_batch_{i}" for i in range(1, 6)]
    test_py = ["test_batch"]
    label_bytes = 1
    label_key = "labels"
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    def __init__(self, root, train: bool = True, transform: Optional[Callable] = None,
                 target_transform: Optional[Callable] = None, download: bool = False) -> None:
        super().__init__(Path(root), transform=transform, target_transform=target_transform)
        self.train = train
        if download:
            self.download()
        if (self.root / self.base_bin).is_dir():
            self.data, self.targets = self._read_bin()
        elif (self.root / self.base_py).is_dir():
            self.data, self.targets = self._read_py()
        else:
            raise RuntimeError(f"{type(self).__name__}: dataset not found: neither "
                               f"{self.root / self.base_bin} nor {self.root / self.base_py} exists. "
                               "You can use download=True to download it")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def _read_bin(self) -> tuple:
        rec = self.label_bytes + 3072
        images, labels = [], []
        for name in (self.train_bin if self.train else self.test_bin):
            raw = np.fromfile(self.root / self.base_bin / name, dtype=np.uint8)
            if raw.size % rec:
                raise RuntimeError(f"{type(self).__name__}: {name} is not a whole number of "
                                   f"{rec}-byte records")
            raw = raw.reshape(-1, rec)
            labels.append(raw[:, self.label_bytes - 1])      # CIFAR-100: the fine label is the second byte
            images.append(raw[:, self.label_bytes:].reshape(-1, 3, 32, 32))
        data = np.concatenate(images).transpose(0, 2, 3, 1).copy()
        return data, np.concatenate(labels).astype(np.int64).tolist()

    def _read_py(self) -> tuple:
        images, labels = [], []
        for name in (self.train_py if self.train else self.test_py):
            d = safe_unpickle((self.root / self.base_py / name).read_bytes())
            images.append(np.asarray(_key(d, "data"), dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(int(v) for v in _key(d, self.label_key))
        return np.concatenate(images).transpose(0, 2, 3, 1).copy(), labels

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple:
        return self._transform_item(to_item(self.data[index]), self.targets[index])  # a PIL image

    def download(self) -> None:
        """Downloads the binary release (atomic write, MD5 check) and unpacks it into ``root``."""
        if (self.root / self.base_bin).is_dir() or (self.root / self.base_py).is_dir():
            return
        import tarfile
        import urllib.request
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / Path(self.url).name
        tmp = target.with_suffix(".part")
        with urllib.request.urlopen(self.url) as r, open(tmp, "wb") as f:  # noqa: S310 (fixed https URL)
            while chunk := r.read(1 << 20):
                f.write(chunk)
        md5 = hashlib.md5(tmp.read_bytes()).hexdigest()
        if md5 != self.tgz_md5:
            tmp.unlink()
            raise RuntimeError(f"{type(self).__name__}: checksum mismatch for {self.url} (got {md5}, "
                               f"expected {self.tgz_md5}); the bad download was deleted")
        os.replace(tmp, target)
        with tarfile.open(target) as tar:
            tar.extractall(self.root, filter="data")

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train else 'Test'}"


class CIFAR100(CIFAR10):
    """CIFAR-100: as CIFAR-10 with 100 fine classes (the label used) grouped into 20 coarse ones."""

    base_bin, base_py = "cifar-100-binary", "cifar-100-python"
    url = "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz"
    tgz_md5 = "03b5dce01913d631647c71ecec9e9cb8"
    train_bin, test_bin = ["train.bin"], ["test.bin"]
    train_py, test_py = ["train"], ["test"]
    label_bytes = 2
    label_key = "fine_labels"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.classes = self._read_classes()
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def _read_classes(self) -> list:
        txt = self.root / self.base_bin / "fine_label_names.txt"
        if txt.is_file():
            return [s for s in txt.read_text().split("\n") if s]
        meta = self.root / self.base_py / "meta"
        if meta.is_file():
            return [v.decode() if isinstance(v, bytes) else v
                    for v in _key(safe_unpickle(meta.read_bytes()), "fine_label_names")]
        return [str(i) for i in range(100)]
