"""``numtorch eval CHECKPOINT``: loss and accuracy of a trained model on its data set's held-out split."""
from __future__ import annotations

import argparse

import numpy as np

import numtorch
from numtorch.cli import common


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("eval", help="evaluate a checkpoint on the held-out split", description=__doc__)
    p.add_argument("checkpoint", help="a checkpoint.pt written by `numtorch train`")
    p.add_argument("--data-dir", default=None, help="folder of the data files (default: the one used for training)")
    p.add_argument("--batch-size", type=int, default=1000, help="evaluation batch size (default 1000)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, ...")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    if args.batch_size < 1:
        raise common.CLIError(f"--batch-size must be at least 1, got {args.batch_size}")
    ckpt = common.load_checkpoint(args.checkpoint)
    model = common.model_from_checkpoint(ckpt, args.device)
    config = ckpt["config"]
    data = common.load_data(config["data"], args.data_dir or config.get("data_dir"))
    loss, acc = common.evaluate(model, data.test, args.batch_size, device=args.device)
    print(f"{config['model']} on {config['data']} held-out split: {len(data.test)} images, "
          f"loss {loss:.4f}, accuracy {acc:.4f}")
    per_class = _per_class_accuracy(model, data.test, len(data.classes), args.device)
    for name, (n, a) in zip(data.classes, per_class):
        print(f"  {name:>12}: {a:.4f} of {n}")
    return 0


def _per_class_accuracy(model, split, n_classes: int, device) -> list:
    with numtorch.no_grad():
        pred = np.concatenate([model(split.x[i:i + 1000].to(device)).argmax(1).cpu().numpy()
                               for i in range(0, len(split), 1000)]) if len(split) else np.zeros(0, int)
    y = split.y.numpy()
    counts = np.bincount(y, minlength=n_classes)
    hits = np.bincount(y[pred == y], minlength=n_classes)
    return [(int(c), float(h / c) if c else float("nan")) for c, h in zip(counts, hits)]
