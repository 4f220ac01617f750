"""``numtorch gradcheck``: the notes' gradient check of the two-layer net.

Backpropagation is fast but easy to get wrong; numerical differentiation (central differences,
``(L(w + h) - L(w - h)) / 2h`` for one weight at a time) is slow but simple.  Both are computed
for every parameter of a small two-layer net on a small batch in float64, and the largest
``|numerical - backprop|`` per parameter is printed.  The exit status is 1 when one exceeds
``--tol``.
"""
from __future__ import annotations

import argparse

import numtorch
from numtorch.cli import common


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("gradcheck", help="compare backprop with numerical gradients (two-layer net)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input-size", type=int, default=64, help="inputs of the net (default 64)")
    p.add_argument("--hidden", type=int, default=10, help="hidden units (default 10)")
    p.add_argument("--classes", type=int, default=10, help="outputs (default 10)")
    p.add_argument("--batch", type=int, default=3, help="samples in the batch (default 3)")
    p.add_argument("--eps", type=float, default=1e-6, help="finite-difference step h (default 1e-6)")
    p.add_argument("--tol", type=float, default=1e-7, help="largest accepted difference (default 1e-7)")
    p.add_argument("--seed", type=common.seed_int, default=0,
                   help="random seed, 0 <= seed < 2**64 (default 0)")
    p.set_defaults(run=run)
    return p


def gradient_differences(input_size: int = 64, hidden: int = 10, classes: int = 10, batch: int = 3,
                         eps: float = 1e-6, seed: int = 0) -> dict:
    """``{parameter name: max |numerical - backprop|}`` for a float64 two-layer net."""
    import numtorch.nn.functional as F
    from numtorch.autograd import numerical_grad
    from numtorch.models import TwoLayerNet
    numtorch.manual_seed(seed)
    net = TwoLayerNet(input_size, hidden, classes).double()
    x = numtorch.rand(batch, input_size, dtype=numtorch.float64)
    t = numtorch.randint(0, classes, (batch,))
    names, params = zip(*net.named_parameters())

    def loss(*_params):  # numerical_grad nudges the parameters' own arrays in place
        return F.cross_entropy(net(x), t)

    net.zero_grad()
    loss().backward()
    numerical = numerical_grad(loss, *params, eps=eps)
    return {name: float((num - p.grad).abs().max().item()) for name, p, num in zip(names, params, numerical)}


def run(args) -> int:
    from numtorch.cli.common import CLIError
    for name in ("input_size", "hidden", "classes", "batch"):
        if getattr(args, name) < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    diffs = gradient_differences(args.input_size, args.hidden, args.classes, args.batch, args.eps, args.seed)
    print(f"two-layer net {args.input_size}-{args.hidden}-{args.classes}, batch {args.batch}, float64")
    print(f"  {'parameter':<12} max |numerical - backprop|")
    for name, d in diffs.items():
        print(f"  {name:<12} {d:.3e}")
    worst = max(diffs.values())
    if worst > args.tol:
        print(f"FAILED: largest difference {worst:.3e} > tolerance {args.tol:.1e}")
        return 1
    print(f"OK: largest difference {worst:.3e} <= tolerance {args.tol:.1e}")
    return 0
