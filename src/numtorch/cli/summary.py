"""``numtorch summary MODEL [--input-size C H W]``: layers, output shapes, parameters and FLOPs.

One forward pass of a single zero image (eval mode, no grad) with a forward hook on every leaf
module records each layer's output shape.  FLOPs count multiply-adds as two operations: a
convolution costs 2 * output elements * (C_in / groups) * KH * KW, a linear layer
2 * output elements * in_features; normalization, activation and pooling layers are counted as a
few operations per element (see ``_flops``).

    $ numtorch summary resnet20
    $ numtorch summary simplecnn --input-size 1 28 28
"""
from __future__ import annotations

import argparse

__all__ = ["add_parser", "run", "summarize"]

_ALIASES = {"simplecnn": "SimpleConvNet", "lenet5": "LeNet5", "lenet": "LeNet5", "mlp": "TwoLayerNet"}
_IMAGENET = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "densenet121", "densenet161",
             "densenet169", "densenet201")
_DEFAULT_INPUT = {"SimpleConvNet": (1, 28, 28), "LeNet5": (1, 28, 28), "TwoLayerNet": (784,)}


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("summary", help="print a model's layers, output shapes, parameters and FLOPs",
                              description=__doc__.splitlines()[0])
    p.add_argument("model",
                   help="a name in numtorch.models (resnet20, resnet18, densenet_bc_100, simplecnn, ...)")
    p.add_argument("--input-size", type=int, nargs="+", default=None, metavar="N",
                   help="one sample's shape, e.g. 3 32 32 (default: the model's usual input)")
    p.add_argument("--num-classes", type=int, default=None, help="passed to the model's constructor")
    p.set_defaults(run=run)
    return p


def _flops(module, inp, out) -> int:
    """Approximate floating-point operations of one leaf module's forward."""
    from numtorch import nn
    n_out = out.numel() if hasattr(out, "numel") else 0
    if isinstance(module, nn.Conv2d) or isinstance(module, nn.Conv1d):
        k = 1
        for s in module.kernel_size:
            k *= s
        return 2 * n_out * (module.in_channels // module.groups) * k
    if isinstance(module, nn.ConvTranspose2d):
        k = module.kernel_size[0] * module.kernel_size[1]
        return 2 * inp.numel() * (module.out_channels // module.groups) * k
    if isinstance(module, nn.Linear):
        return 2 * n_out * module.in_features
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)):
        return 2 * n_out  # one scale and one shift per element in eval
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        k = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
        return n_out * k * k
    if isinstance(module, (nn.AdaptiveAvgPool2d,)):
        return inp.numel()
    return n_out  # activations and the like: about one operation per element


def _build(name: str, num_classes):
    from numtorch import models
    attr = _ALIASES.get(name.lower(), name)
    if not hasattr(models, attr):
        from numtorch.cli.common import CLIError
        raise CLIError(f"summary: unknown model {name!r}; try one of resnet20, resnet56, resnet18, resnet50, "
                       f"densenet_bc_100, densenet121, simplecnn, lenet5")
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    return attr, getattr(models, attr)(**kwargs)


def summarize(model, input_size) -> list:
    """[(name, type, output shape, parameters, flops)] of every leaf module, in call order."""
    import numtorch
    rows, handles = [], []
    for name, m in model.named_modules():
        if name and not list(m.children()):
            def hook(mod, args, out, name=name):
                o = out[0] if isinstance(out, tuple) else out
                n_params = sum(p.numel() for p in mod.parameters(recurse=False))
                rows.append((name, type(mod).__name__, tuple(o.shape), n_params, _flops(mod, args[0], o)))
            handles.append(m.register_forward_hook(hook))
    model.eval()
    try:
        with numtorch.no_grad():
            model(numtorch.zeros((1,) + tuple(input_size)))
    finally:
        for h in handles:
            h.remove()
    return rows


def _fmt(n: float) -> str:
    for unit, v in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= v:
            return f"{n / v:.2f}{unit}"
    return str(int(n))


def run(args) -> int:
    attr, model = _build(args.model, args.num_classes)
    size = tuple(args.input_size) if args.input_size else _DEFAULT_INPUT.get(attr, (3, 32, 32))
    if attr in _IMAGENET and not args.input_size:
        size = (3, 224, 224)
    try:
        rows = summarize(model, size)
    except RuntimeError as e:
        from numtorch.cli.common import CLIError
        raise CLIError(f"summary: {attr} does not accept input of size {list(size)}: {e}") from None
    width = max([len(r[0]) for r in rows] + [10])
    print(f"{attr}  input (1, {', '.join(map(str, size))})")
    print(f"{'layer':<{width}}  {'type':<18} {'output shape':<20} {'params':>10} {'FLOPs':>10}")
    print("-" * (width + 63))
    for name, kind, shape, n_params, flops in rows:
        print(f"{name:<{width}}  {kind:<18} {str(shape):<20} {n_params:>10,} {_fmt(flops):>10}")
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print("-" * (width + 63))
    print(f"total parameters: {total:,} (trainable {trainable:,})")
    print(f"total FLOPs per sample: {_fmt(sum(r[4] for r in rows))}")
    return 0
