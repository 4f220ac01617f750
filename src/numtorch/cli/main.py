"""The ``numtorch`` command (also ``python -m numtorch``).

Subcommands: ``train``, ``eval``, ``predict``, ``plot``, ``gradcheck``, ``lr-search``, plus those
that optional modules add when they are present (``summary``, ``generate``, ``detect``): each such
module ``numtorch.cli.<name>`` has ``add_parser(subparsers)`` and ``run(args) -> int``.

Errors the user can fix (bad arguments, missing data, an unreadable checkpoint) print one line on
stderr and exit non-zero; set ``NUMTORCH_DEBUG=1`` to see the full traceback instead.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Optional, Sequence

import numpy as np

from numtorch.backends import cpu as cpu_backend
from numtorch.cli.common import CLIError

BUILTIN = ("train", "evaluate", "predict", "plot", "gradcheck_cmd", "lr_search", "run")
OPTIONAL = ("summary", "generate", "detect", "export")


class OneLineParser(argparse.ArgumentParser):
    """argparse, with usage errors as one line: ``numtorch train: error: ... (see --help)``."""

    def error(self, message: str):
        # under mpiexec every rank parses the same arguments: only the first one says what is wrong
        rank = next((os.environ[k] for k in _RANK_VARS if k in os.environ), "0")
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n" if rank == "0" else None)


_RANK_VARS = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "RANK")


def build_parser() -> argparse.ArgumentParser:
    from numtorch import __version__
    parser = OneLineParser(prog="numtorch", description="numtorch: train, evaluate and inspect networks.")
    parser.add_argument("--version", action="version", version=f"numtorch {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in BUILTIN:
        importlib.import_module(f"numtorch.cli.{name}").add_parser(subparsers)
    for name in OPTIONAL:
        try:
            module = importlib.import_module(f"numtorch.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"numtorch.cli.{name}":
                continue  # not part of this numtorch
            raise
        module.add_parser(subparsers)
    return parser


def _run(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]]) -> int:
    args = parser.parse_args(argv)
    if getattr(args, "command", None) is None:
        parser.print_help()
        return 2
    run = getattr(args, "run", None)
    if run is None:  # a subcommand module that does not set_defaults(run=...)
        run = importlib.import_module(f"numtorch.cli.{args.command.replace('-', '_')}").run
    return int(run(args) or 0)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parses ``argv`` (default ``sys.argv[1:]``), runs the subcommand and returns its exit status."""
    command = "numtorch"
    cpu_backend.tune_allocator()  # a training program owns its process: keep freed memory (opt-in)
    try:
        parser = build_parser()
        args_list = list(sys.argv[1:] if argv is None else argv)
        command = "numtorch " + next((a for a in args_list if not a.startswith("-")), "").strip()
        # PyTorch computes inf and NaN silently; a run that diverges is stopped by its own check
        with np.errstate(all="ignore"):
            return _run(parser, args_list)
    except BrokenPipeError:  # `numtorch eval ... | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print(f"{command.strip()}: interrupted", file=sys.stderr)
        return 130
    except SystemExit as e:  # argparse's --help, --version and usage errors
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except Exception as e:  # noqa: BLE001 - the top of the program: one line, not a traceback
        if os.environ.get("NUMTORCH_DEBUG"):
            raise
        print(f"{command.strip()}: error: {_one_line(e)}", file=sys.stderr)
        return 1


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    if isinstance(e, CLIError):
        return text
    if isinstance(e, (FileNotFoundError, PermissionError, IsADirectoryError)) and e.filename:
        return f"{e.strerror}: {e.filename}"
    return text if isinstance(e, (RuntimeError, ValueError, OSError)) else f"{type(e).__name__}: {text}"


if __name__ == "__main__":
    sys.exit(main())
