"""``numtorch plot activations``: sigmoid, tanh, ReLU and Swish (beta 0.1, 1, 10) with their derivatives.

The derivatives are not written by hand: numtorch's autograd computes them (``y.sum().backward()``
leaves f'(x) in ``x.grad``), so the plot is also a picture of what backward does.

``numtorch plot graph``: the autograd graph of the two-layer net's loss (Linear -> ReLU -> Linear ->
cross-entropy), as ``viz.make_dot`` draws it: PNG/SVG/PDF through Graphviz's ``dot``, or the DOT
text itself for an ``--out`` ending in .dot or .gv (no Graphviz needed).
"""
from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("plot", help="draw learning aids (activation functions, autograd graph)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("activations", "graph"), help="what to draw")
    p.add_argument("--out", default=None, help="file to write (default activations.png / graph.png)")
    p.add_argument("--range", nargs=2, type=float, default=(-5.0, 5.0), metavar=("LO", "HI"),
                   help="x range (default -5 5)")
    p.add_argument("--show-saved", action="store_true",
                   help="graph: also draw the tensors saved for backward")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from numtorch.cli.common import CLIError
    from numtorch.viz import plot_activations
    if args.what == "graph":
        return _graph(args)
    lo, hi = args.range
    if not lo < hi:
        raise CLIError(f"--range needs LO < HI, got {lo} {hi}")
    print(f"activations: {plot_activations(args.out or 'activations.png', lo, hi)}")
    return 0


def _graph(args) -> int:
    """The two-layer net's loss graph, drawn (by suffix: .png, .svg, .pdf) or as DOT text (.dot, .gv)."""
    from pathlib import Path
    import numtorch
    from numtorch.cli.common import CLIError
    from numtorch.models import TwoLayerNet
    from numtorch.nn.functional import cross_entropy
    from numtorch.viz import make_dot
    from numtorch.viz.graph import _write_atomic
    out = Path(args.out or "graph.png")
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in ("png", "svg", "pdf", "dot", "gv"):
        raise CLIError(f"--out must end in .png, .svg, .pdf, .dot or .gv, got {out.name!r}")
    net = TwoLayerNet()
    loss = cross_entropy(net(numtorch.randn(4, 784)), numtorch.tensor([0, 1, 2, 3]))
    dot = make_dot(loss, params=dict(net.named_parameters()), show_saved=args.show_saved)
    try:
        data = dot.source.encode() if fmt in ("dot", "gv") else dot.pipe(fmt)
    except RuntimeError as e:
        raise CLIError(f"{e} (or write --out graph.dot)") from None
    _write_atomic(out, data)
    print(f"graph: {out}")
    return 0
