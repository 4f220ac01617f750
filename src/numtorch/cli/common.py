"""What the subcommands of ``numtorch`` share: data sets in memory, models, optimizers, progress bars,
checkpoints and the one-line error.

Every data set is loaded once into two tensors -- images scaled to [0, 1] (float32, N x C x H x W)
and int64 labels -- and batches are slices of them: the whole pipeline of the notes, with no
per-sample Python work.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional

import numpy as np

import numtorch

DEFAULT_DATA_DIR = "data"
# data set -> (default epochs, default batch size, default learning rate) for the two-layer net
DATA_DEFAULTS = {"digits": (30, 32, 0.1), "mnist": (5, 100, 0.1), "fashion-mnist": (5, 100, 0.1),
                 "cifar10": (10, 100, 0.05)}
MODELS = ("mlp", "simplecnn", "lenet5", "resnet20", "densenet_bc_100", "gpt", "detector")
OPTIMIZERS = ("sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw")


class CLIError(Exception):
    """A user-facing error: ``main`` prints its message as one line and exits with status 1."""


# ---- data -------------------------------------------------------------------------------

@dataclass
class Split:
    """A data split in memory: ``x`` float32 (N, C, H, W) in [0, 1], ``y`` int64 (N,)."""

    x: numtorch.Tensor
    y: numtorch.Tensor

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class DataBundle:
    """The training split, the held-out split, and what a model and ``predict`` need to know."""

    name: str
    train: Split
    test: Split
    classes: List[str]
    note: str = ""

    @property
    def image_shape(self) -> tuple:
        return tuple(self.train.x.shape[1:])


def _split(data: numtorch.Tensor, targets: numtorch.Tensor) -> Split:
    """uint8 images (N, H, W) or (N, H, W, C) -> float32 (N, C, H, W) in [0, 1]."""
    a = data._data if isinstance(data, numtorch.Tensor) else np.asarray(data)
    a = a[:, None] if a.ndim == 3 else a.transpose(0, 3, 1, 2)
    x = np.ascontiguousarray(a, dtype=np.float32) / np.float32(255)
    y = targets._data if isinstance(targets, numtorch.Tensor) else np.asarray(targets)
    return Split(numtorch.from_numpy(x), numtorch.from_numpy(np.asarray(y, dtype=np.int64)))


def load_data(name: str, data_dir: Optional[str]) -> DataBundle:
    """The named data set's training and held-out splits.

    For MNIST / Fashion-MNIST without the 60,000-image training files, the 10,000-image test
    files are split as the project does: the first 8,000 images train, the last 2,000 are held out.
    """
    from numtorch.vision import datasets
    from numtorch.vision.datasets.mnist import DatasetNotFoundError
    root = data_dir or DEFAULT_DATA_DIR
    if name == "digits":
        train, test = datasets.Digits(train=True), datasets.Digits(train=False)
        return DataBundle(name, _split(train.data, train.targets), _split(test.data, test.targets),
                          list(train.classes))
    if name in ("mnist", "fashion-mnist"):
        cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
        try:
            train, test = cls(root, train=True), cls(root, train=False)
        except DatasetNotFoundError:
            test = cls(root, train=False)  # still missing: its error names the files
            x, y = test.data, test.targets
            return DataBundle(name, _split(x[:8000], y[:8000]), _split(x[8000:], y[8000:]),
                              list(test.classes),
                              note="no training files: using the test files' first 8000 images to train, "
                                   "the last 2000 held out")
        return DataBundle(name, _split(train.data, train.targets), _split(test.data, test.targets),
                          list(train.classes))
    if name == "cifar10":
        cls = getattr(datasets, "CIFAR10", None)
        if cls is None:
            raise CLIError("the CIFAR-10 data set is not available in this numtorch "
                           "(vision.datasets.CIFAR10)")
        train, test = cls(root, train=True), cls(root, train=False)
        return DataBundle(name, _split(train.data, train.targets), _split(test.data, test.targets),
                          list(train.classes))
    raise CLIError(f"unknown data set {name!r}; choose digits, mnist, fashion-mnist or cifar10")


def batches(split: Split, batch_size: int, shuffle: bool, generator=None, sampler=None) -> Iterable:
    """``(x, y)`` mini-batches of a split, through ``utils.data.DataLoader`` over a ``TensorDataset``.

    ``sampler`` (e.g. a ``DistributedSampler``: this rank's share of the data) replaces ``shuffle``.
    """
    from numtorch.utils.data import DataLoader, TensorDataset
    return DataLoader(TensorDataset(split.x, split.y), batch_size=batch_size,
                      shuffle=shuffle and sampler is None, sampler=sampler, generator=generator)


def shard(split: Split, rank: int, world_size: int) -> Split:
    """Rank ``rank``'s contiguous slice of a split (views, no copy): sizes differ by at most one."""
    n = len(split)
    lo, hi = rank * n // world_size, (rank + 1) * n // world_size
    return Split(split.x[lo:hi], split.y[lo:hi])


def augment_batch(x: numtorch.Tensor, rng: np.random.Generator, flip: bool, pad: int = 2) -> numtorch.Tensor:
    """Random shifts by up to ``pad`` pixels (zero padding) and, if ``flip``, random horizontal flips.

    Vectorised over the batch: every sliding window of the padded batch is a view, and one fancy
    index picks each sample's own window.
    """
    a = x._data
    n, _, h, w = a.shape
    padded = np.pad(a, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    # (N, C, 2p+1, 2p+1, H, W)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(2, 3))
    dy, dx = rng.integers(0, 2 * pad + 1, n), rng.integers(0, 2 * pad + 1, n)
    out = windows[np.arange(n), :, dy, dx]  # (N, C, H, W)
    if flip:
        flipped = rng.random(n) < 0.5
        out[flipped] = out[flipped, :, :, ::-1]
    return numtorch.from_numpy(np.ascontiguousarray(out))


# ---- models and optimizers ---------------------------------------------------------------

def _model_factory(attr: str, name: str):
    import numtorch.models as models
    factory = getattr(models, attr, None)
    if factory is None:
        raise CLIError(f"model {name!r} is not available in this numtorch "
                       f"(numtorch.models.{attr} is missing)")
    return factory


def build_model(config: dict):
    """The model a config names, sized for its images and classes.

    ``mlp`` is the two-layer net (``--hidden`` units); ``simplecnn`` the notes' convolutional net
    (conv-ReLU-pool, then the same two affine layers); ``lenet5``; ``resnet20`` and
    ``densenet_bc_100`` are CIFAR networks for 3-channel images.
    """
    name = config["model"]
    c, h, w = config["image_shape"]
    n = len(config["classes"])
    if name == "mlp":
        return _model_factory("TwoLayerNet", name)(c * h * w, config["hidden"], n)
    if name == "simplecnn":
        return _model_factory("SimpleConvNet", name)(input_dim=(c, h, w), hidden_size=config["hidden"],
                                                     output_size=n)
    if name == "lenet5":
        if min(h, w) < 28:
            raise CLIError(f"--model lenet5 needs images of at least 28x28 (these are {h}x{w}); "
                           "use --data mnist")
        return _model_factory("LeNet5", name)(num_classes=n, in_channels=c)
    if name in ("resnet20", "densenet_bc_100"):
        if c != 3:
            raise CLIError(f"--model {name} is a CIFAR network for 3-channel images; "
                           "use it with --data cifar10")
        return _model_factory(name, name)(num_classes=n)
    raise CLIError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")


def build_optimizer(name: str, params, lr: float, weight_decay: float):
    """One of ``OPTIMIZERS``; ``momentum`` is SGD with momentum 0.9."""
    from numtorch import optim
    if name in ("sgd", "momentum"):
        return optim.SGD(params, lr=lr, momentum=0.9 if name == "momentum" else 0.0,
                         weight_decay=weight_decay)
    classes = {"adagrad": "Adagrad", "rmsprop": "RMSprop", "adam": "Adam", "adamw": "AdamW"}
    if name not in classes:
        raise CLIError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return getattr(optim, classes[name])(params, lr=lr, weight_decay=weight_decay)


def evaluate(model, split: Split, batch_size: int = 1000, device=None) -> tuple:
    """``(mean cross-entropy loss, accuracy)`` of ``model`` on a split, without recording a graph."""
    total_loss, correct, n = evaluate_sums(model, split, batch_size, device)
    return total_loss / max(n, 1), correct / max(n, 1)


def evaluate_sums(model, split: Split, batch_size: int = 1000, device=None) -> tuple:
    """``(summed cross-entropy loss, number correct, number of samples)``: sums, so that the ranks of a
    data-parallel job can add up their shares of a split."""
    import numtorch.nn.functional as F
    model.eval()
    total_loss, correct = 0.0, 0
    with numtorch.no_grad():
        for start in range(0, len(split), batch_size):
            x, y = split.x[start:start + batch_size], split.y[start:start + batch_size]
            if device is not None:
                x, y = x.to(device), y.to(device)
            logits = model(x)
            total_loss += float(F.cross_entropy(logits, y, reduction="sum").item())
            correct += int((logits.argmax(1) == y).sum().item())
    return total_loss, correct, len(split)


# ---- checkpoints ---------------------------------------------------------------------------

CHECKPOINT_NAME = "checkpoint.safetensors"   # what `numtorch train` writes into its run folder
OLD_CHECKPOINT_NAME = "checkpoint.pt"        # the same format, as earlier versions named it


def checkpoint_path(path) -> Path:
    """The checkpoint file a command line names: the file itself, or a run folder holding one."""
    path = Path(path)
    if path.is_dir():
        for name in (CHECKPOINT_NAME, OLD_CHECKPOINT_NAME):
            if (path / name).is_file():
                return path / name
        raise CLIError(f"no {CHECKPOINT_NAME} (or {OLD_CHECKPOINT_NAME}) in the folder {path}")
    if not path.is_file():
        renamed = path.with_name(CHECKPOINT_NAME) if path.name == OLD_CHECKPOINT_NAME else None
        hint = f" (did you mean {renamed}?)" if renamed is not None and renamed.is_file() else ""
        raise CLIError(f"checkpoint not found: {path}{hint}")
    return path


def load_checkpoint(path) -> dict:
    """A checkpoint written by ``numtorch train``; any failure becomes one clear ``CLIError``."""
    path = checkpoint_path(path)
    try:
        ckpt = numtorch.load(str(path), map_location="cpu")  # a GPU run's checkpoint opens anywhere
    except Exception as e:  # noqa: BLE001 - whatever the loader raises, the user gets one line
        raise CLIError(f"cannot read checkpoint {path}: {e}") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise CLIError(f"{path} is not a checkpoint written by `numtorch train` (no model/config entries)")
    return ckpt


def model_from_checkpoint(ckpt: dict, device=None):
    """The trained model of a checkpoint, in eval mode."""
    config = dict(ckpt["config"])
    config["image_shape"] = tuple(config["image_shape"])
    model = build_model(config)
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError, ValueError) as e:
        raise CLIError(f"checkpoint does not fit model {config['model']!r}: {reason(e)}") from None
    if device is not None:
        model.to(device)
    return model.eval()


def reason(e: BaseException) -> str:
    """An exception's whole message on one line (load_state_dict's lists every missing key and
    every shape that differs, line by line: all of it is the reason)."""
    return "; ".join(line.strip() for line in str(e).splitlines() if line.strip()) or type(e).__name__


def write_text_atomic(path: Path, text: str) -> Path:
    """Writes ``text`` to a temporary file next to ``path`` and renames it into place, with the mode
    a plain ``open(path, "w")`` gives (mkstemp's own is 0600)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def default_file_mode() -> int:
    """0666 less the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def check_out_dir(out: Path, option: str = "--out") -> Optional[Path]:
    """Makes sure the output folder exists (or can be made) and is writable, before any training:
    a run must not end in an error after hours of work.  Returns the folder if this made it, else None."""
    out = Path(out)
    made = None if out.exists() else out
    if out.exists() and not out.is_dir():
        raise CLIError(f"{option} {out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-test-")
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise CLIError(f"{option} {out}: cannot write there ({e.strerror or e})") from None
    return made


def dump_json(obj) -> str:
    """JSON without NaN or Infinity (which JSON does not have): they become ``null``."""
    return json.dumps(_finite_or_none(obj))


def _finite_or_none(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    return obj


@contextlib.contextmanager
def open_image(path: Path):
    """The Pillow image at ``path`` (only its header read yet); every failure is one CLIError line."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise CLIError("reading images needs Pillow: pip install numtorch[images]") from None
    if not path.is_file():
        raise CLIError(f"image not found: {path}")
    try:
        with Image.open(path) as im:
            yield im
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise CLIError(f"cannot read image {path}: {e}") from None


def _parse(text: str, convert, what: str):
    """``convert(text)``, or argparse's error "expected <what>, got <text>"."""
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def positive_finite_float(text: str) -> float:
    """argparse type: a float > 0 that is finite (``--lr inf`` or ``nan`` trains nothing)."""
    value = _parse(text, float, "a number")
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def non_negative_finite_float(text: str) -> float:
    """argparse type: a finite float >= 0."""
    value = _parse(text, float, "a number")
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def seed_int(text: str) -> int:
    """argparse type: a random seed, an integer in [0, 2**64) (argparse names the option in its error)."""
    value = _parse(text, int, "an integer")
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to 2**64 - 1, got {text}")
    return value


@contextlib.contextmanager
def removed_if_left_empty(folder: Optional[Path]):
    """Removes ``folder`` (one ``check_out_dir`` made, or None) again if the block fails and leaves it
    empty."""
    try:
        yield
    except BaseException:
        remove_if_empty(folder)
        raise


def remove_if_empty(folder: Optional[Path]) -> None:
    """Removes ``folder`` if it is there and empty; None or anything else is left alone."""
    if folder is not None:
        try:
            folder.rmdir()   # only an empty folder goes
        except OSError:
            pass


class NonFiniteLoss(CLIError):
    """Training diverged: the loss became NaN or infinite."""


def check_finite_loss(value: float, where: str) -> float:
    """Stops a run whose loss is NaN or infinite (diverged: lower the learning rate)."""
    if not math.isfinite(value):
        raise NonFiniteLoss(f"the loss became {value} at {where}: training diverged (try a smaller --lr); "
                            "no checkpoint written")
    return value


# ---- progress --------------------------------------------------------------------------------

class PlainBar:
    """A one-line progress bar for terminals without tqdm: ``desc [#####.....] 12/30 loss=0.31``."""

    def __init__(self, total: int, desc: str = "", stream=None, width: int = 30) -> None:
        self.total, self.desc, self.width, self.n = total, desc, width, 0
        self.stream = stream or sys.stderr
        self.postfix = ""
        self.start = time.perf_counter()
        self._last = 0.0

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.perf_counter()
        if now - self._last > 0.1 or self.n >= self.total:
            self._last = now
            self._draw()

    def set_postfix_str(self, s: str) -> None:
        self.postfix = s

    def _draw(self) -> None:
        done = int(self.width * self.n / max(self.total, 1))
        bar = "#" * done + "." * (self.width - done)
        elapsed = time.perf_counter() - self.start
        self.stream.write(f"\r{self.desc} [{bar}] {self.n}/{self.total} {elapsed:.1f}s {self.postfix}")
        self.stream.flush()

    def close(self) -> None:
        self._draw()
        self.stream.write("\n")
        self.stream.flush()


class _NullBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, desc: str, enabled: bool = True, even_without_terminal: bool = False):
    """tqdm when it is installed, else ``PlainBar``; nothing when disabled or stderr is not a terminal
    (a log file gets the per-epoch lines only).  ``even_without_terminal``: draw on a pipe too (the
    ranks of an mpiexec job write to mpiexec's pipes, whatever mpiexec itself writes to)."""
    if not enabled or not (even_without_terminal or sys.stderr.isatty()):
        return _NullBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return PlainBar(total, desc)
    return tqdm(total=total, desc=desc, leave=True, dynamic_ncols=True, file=sys.stderr)


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A sample whose logarithm is uniform on [log lo, log hi] (the notes' 10 ** uniform(a, b))."""
    return float(10 ** rng.uniform(math.log10(lo), math.log10(hi)))
