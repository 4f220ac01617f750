"""``numtorch plot activations``: sigmoid, tanh, ReLU and Swish (beta 0.1, 1, 10) with their derivatives.

The derivatives are not written by hand: numtorch's autograd computes them (``y.sum().backward()``
leaves f'(x) in ``x.grad``), so the plot is also a picture of what backward does.
"""
from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("plot", help="draw learning aids (activation functions)", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("activations",), help="what to draw")
    p.add_argument("--out", default="activations.png", help="PNG file to write (default activations.png)")
    p.add_argument("--range", nargs=2, type=float, default=(-5.0, 5.0), metavar=("LO", "HI"),
                   help="x range (default -5 5)")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from numtorch.cli.common import CLIError
    from numtorch.viz import plot_activations
    lo, hi = args.range
    if not lo < hi:
        raise CLIError(f"--range needs LO < HI, got {lo} {hi}")
    print(f"activations: {plot_activations(args.out, lo, hi)}")
    return 0
