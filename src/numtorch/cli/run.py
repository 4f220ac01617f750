"""``numtorch run SCRIPT.py [ARGS...]``: runs an unmodified PyTorch program with ``torch`` and
``torchvision`` resolved to numtorch (see :mod:`numtorch.run`)."""
from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "run", help="run an unmodified PyTorch program on numtorch",
        description="Runs SCRIPT.py as `python SCRIPT.py ARGS` would, with `import torch` / "
                    "`import torchvision` (and all their submodules) resolved to numtorch / "
                    "numtorch.vision. A PyTorch name numtorch lacks ends the program with one line naming "
                    "it and the program's file:line.")
    p.add_argument("script", metavar="SCRIPT.py", help="the program to run")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS",
                   help="its arguments, passed on unchanged")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from numtorch.run import run_script
    return run_script(args.script, args.args)
