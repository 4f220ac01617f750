"""Runs an unmodified PyTorch program on numtorch: ``numtorch run SCRIPT.py [ARGS...]``.

In the program's process ``torch`` *is* ``numtorch`` and ``torchvision`` is ``numtorch.vision``, with
all their submodules: a finder first in ``sys.meta_path`` answers ``import torch.nn.functional`` with
the module object ``numtorch.nn.functional`` itself (so ``torch.nn is numtorch.nn``).  The program
then runs as ``python SCRIPT.py ARGS`` would run it: ``sys.argv``, ``__name__ == "__main__"``,
``__file__`` and ``sys.path[0]`` (the script's directory) are set the same way.

When the program reaches a PyTorch name numtorch lacks (an attribute of a numtorch module or class,
or a ``torch`` submodule), it stops with one line naming it and the program's line::

    numtorch run: torch.fft.rfft is not in numtorch (main.py:42)

and exit status 1.  Any other exception prints its traceback and exits 1, as Python does;
``sys.exit`` passes through.  Also ``python -m numtorch.run SCRIPT.py [ARGS...]``.

Processes the program starts with the ``spawn`` method import ``torch`` afresh: a directory of two
small stand-in packages (``torch``, ``torchvision``) placed after the script's directory in
``sys.path`` installs the same aliases there.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import re
import runpy
import sys
import traceback
import types
from typing import Optional, Sequence

import numpy as np

__all__ = ["install_aliases", "run_script", "torch_name", "main"]

# (PyTorch's top-level package, numtorch's module that plays it); the longer prefix first
ALIASES = (("torchvision", "numtorch.vision"), ("torch", "numtorch"))
_SHIMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_run_shims")
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def numtorch_name(name: str) -> Optional[str]:
    """``torch.nn.functional`` -> ``numtorch.nn.functional``, ``torchvision.x`` -> ``numtorch.vision.x``;
    None for a name outside PyTorch."""
    for theirs, ours in ALIASES:
        if name == theirs or name.startswith(theirs + "."):
            return ours + name[len(theirs):]
    return None


def torch_name(name: str) -> str:
    """The inverse of :func:`numtorch_name`: ``numtorch.vision.models`` -> ``torchvision.models``."""
    for theirs, ours in ALIASES:
        if name == ours or name.startswith(ours + "."):
            return theirs + name[len(ours):]
    return name


# ---- the aliasing finder -----------------------------------------------------------------------

class _AliasLoader(importlib.abc.Loader):
    """Hands the import system an already imported numtorch module as the ``torch.*`` module."""

    def __init__(self, module) -> None:
        self.module = module
        self.spec = getattr(module, "__spec__", None)

    def create_module(self, spec):
        return self.module

    def exec_module(self, module) -> None:
        module.__spec__ = self.spec  # the import system set it to the alias's spec: keep numtorch's own


class AliasFinder(importlib.abc.MetaPathFinder):
    """``sys.meta_path`` entry mapping ``torch[.x]`` / ``torchvision[.x]`` to numtorch's modules."""

    def find_spec(self, fullname: str, path=None, target=None):
        ours = numtorch_name(fullname)
        if ours is None:
            return None
        module = _import_ours(fullname, ours)
        return importlib.util.spec_from_loader(fullname, _AliasLoader(module),
                                               is_package=hasattr(module, "__path__"))


def _import_ours(fullname: str, ours: str):
    """numtorch's module ``ours``, or else what its parent holds under that name when it is a module or
    an object standing for one (``numtorch.backends.cudnn``, a namespace of flags); ModuleNotFoundError
    named ``fullname`` (the PyTorch name) when numtorch has neither."""
    try:
        return importlib.import_module(ours)
    except ModuleNotFoundError as e:
        if e.name is None or not (ours == e.name or ours.startswith(e.name + ".")):
            raise  # a module numtorch itself needs is missing: that is a different story
    parent, _, child = ours.rpartition(".")
    value = getattr(sys.modules.get(parent), child, None)
    if isinstance(value, types.ModuleType) or _namespace_object(value):
        return value
    raise ModuleNotFoundError(f"No module named '{fullname}'", name=fullname)


def _namespace_object(value) -> bool:
    """An instance of one of numtorch's classes that is not callable: a module-like namespace."""
    return (value is not None and not callable(value) and not isinstance(value, type)
            and _is_ours(type(value).__module__))


def install_aliases() -> None:
    """Puts the aliasing finder first in ``sys.meta_path`` (once)."""
    if not any(isinstance(f, AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, AliasFinder())


# ---- names numtorch lacks -----------------------------------------------------------------------

def _public_class_name(cls: type) -> str:
    """The shortest PyTorch path of a numtorch class: ``numtorch.tensor.Tensor`` -> ``torch.Tensor``."""
    parts = cls.__module__.split(".")
    for n in range(1, len(parts) + 1):
        if getattr(sys.modules.get(".".join(parts[:n])), cls.__name__, None) is cls:
            return torch_name(".".join(parts[:n]) + "." + cls.__name__)
    return torch_name(f"{cls.__module__}.{cls.__qualname__}")


def _is_ours(name: str) -> bool:
    return name == "numtorch" or name.startswith("numtorch.")


_NO_ATTR = re.compile(r"^module '([\w.]+)' has no attribute '(\w+)'")
_NO_IMPORT = re.compile(r"^cannot import name '(\w+)' from '([\w.]+)'")


def missing_name(exc: BaseException) -> Optional[str]:
    """The PyTorch name (``torch.fft.rfft``) behind an exception that says numtorch lacks it, else None."""
    if isinstance(exc, ModuleNotFoundError):
        return exc.name if exc.name and numtorch_name(exc.name) else None
    if isinstance(exc, ImportError):
        m = _NO_IMPORT.match(str(exc))
        return f"{torch_name(m.group(2))}.{m.group(1)}" if m and _is_ours(m.group(2)) else None
    if not isinstance(exc, AttributeError):
        return None
    obj, name = getattr(exc, "obj", None), getattr(exc, "name", None)
    if name is None:  # raised by a module's own __getattr__: only the message tells
        m = _NO_ATTR.match(str(exc))
        return f"{torch_name(m.group(1))}.{m.group(2)}" if m and _is_ours(m.group(1)) else None
    if isinstance(obj, types.ModuleType):
        return f"{torch_name(obj.__name__)}.{name}" if _is_ours(obj.__name__) else None
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{_public_class_name(cls)}.{name}" if _is_ours(cls.__module__) else None


# ---- running the program ------------------------------------------------------------------------

class _Program:
    """Where the user's program lives, to tell its frames from numtorch's and Python's."""

    def __init__(self, script: str) -> None:
        self.path = os.path.abspath(script)
        self.dir = os.path.dirname(os.path.realpath(script))

    def owns(self, filename: str) -> bool:
        """Whether a frame's file is part of the program (its directory), not numtorch."""
        f = os.path.realpath(filename) if filename and not filename.startswith("<") else ""
        return f.startswith(self.dir + os.sep) and not f.startswith(_PACKAGE_DIR + os.sep)

    def frames(self, tb) -> list:
        return [(frame, lineno) for frame, lineno in traceback.walk_tb(tb)]

    def raised_at(self, exc: BaseException):
        """(file, line) of the program's frame that raised ``exc`` directly -- the frames after it are
        only the import system, this module or a ``__getattr__`` -- else None."""
        frames = self.frames(exc.__traceback__)
        last = max((i for i, (f, _) in enumerate(frames) if self.owns(f.f_code.co_filename)), default=None)
        if last is None:
            return None
        for frame, _ in frames[last + 1:]:
            code = frame.f_code
            if not (code.co_filename.startswith("<frozen importlib") or code.co_name == "__getattr__"
                    or os.path.abspath(code.co_filename) == os.path.abspath(__file__)):
                return None
        frame, lineno = frames[last]
        return os.path.relpath(os.path.realpath(frame.f_code.co_filename), self.dir), lineno

    def user_traceback(self, tb):
        """The traceback from the program's first frame on (as ``python SCRIPT.py`` prints it)."""
        start = tb
        while start is not None and not self.owns(start.tb_frame.f_code.co_filename):
            start = start.tb_next
        return start or tb


def _exit_code(e: SystemExit) -> int:
    """What Python's own ``sys.exit(code)`` makes of ``code`` (a message goes to stderr)."""
    if e.code is None or isinstance(e.code, bool) and not e.code:
        return 0
    if isinstance(e.code, int):
        return e.code
    print(e.code, file=sys.stderr)
    return 1


def run_script(script: str, args: Sequence[str] = ()) -> int:
    """Runs ``script`` with ``args`` as ``python script args`` would, ``torch`` being numtorch; returns
    the exit status."""
    if not os.path.isfile(script):
        print(f"numtorch run: can't open file {script!r}: [Errno 2] No such file or directory",
              file=sys.stderr)
        return 2
    program = _Program(script)
    install_aliases()
    sys.argv = [script, *args]
    sys.path[0:1] = [program.dir, _SHIMS]  # the script's directory, as Python sets it; then the stand-ins
    try:
        with np.errstate(all="ignore"):  # PyTorch computes inf and NaN silently, so does the program here
            runpy.run_path(program.path, run_name="__main__")
    except SystemExit as e:
        return _exit_code(e)
    except BaseException as e:  # noqa: BLE001 - the top of the program
        return _report(program, e)
    finally:
        sys.stdout.flush()
    return 0


def _report(program: _Program, e: BaseException) -> int:
    """One line for a name numtorch lacks; otherwise Python's traceback. Returns the exit status."""
    name, where = missing_name(e), program.raised_at(e)
    if name is not None and where is not None:
        print(f"numtorch run: {name} is not in numtorch ({where[0]}:{where[1]})", file=sys.stderr)
        return 1
    traceback.print_exception(type(e), e, program.user_traceback(e.__traceback__))
    return 130 if isinstance(e, KeyboardInterrupt) else 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m numtorch.run SCRIPT.py [ARGS...]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m numtorch.run SCRIPT.py [ARGS...]\n\n" + __doc__.split("\n\n")[1],
              file=sys.stderr)
        return 0 if argv else 2
    return run_script(argv[0], argv[1:])


if __name__ == "__main__":
    sys.exit(main())
