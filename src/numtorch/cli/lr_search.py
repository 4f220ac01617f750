"""``numtorch lr-search``: random search of the learning rate and the weight decay.

As in the notes' section on hyperparameters: 20% of the training split is set aside as a
validation split (the held-out split stays untouched), each trial draws its learning rate and
weight decay log-uniformly (``10 ** uniform(a, b)``), trains briefly, and the trials are ranked by
validation accuracy.  Narrow the ranges around the best trials and search again.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import numtorch
from numtorch.cli import common
from numtorch.cli.common import CLIError


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("lr-search", help="random search of learning rate and weight decay",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=20, help="random trials (default 20)")
    p.add_argument("--epochs", type=int, default=10, help="epochs per trial (default 10)")
    p.add_argument("--lr-range", nargs=2, type=float, default=(1e-3, 1.0), metavar=("LO", "HI"),
                   help="learning-rate range, sampled log-uniformly (default 1e-3 1)")
    p.add_argument("--wd-range", nargs=2, type=float, default=(1e-8, 1e-3), metavar=("LO", "HI"),
                   help="weight-decay range, sampled log-uniformly (default 1e-8 1e-3)")
    p.add_argument("--data", default="digits", choices=tuple(common.DATA_DEFAULTS), help="default digits")
    p.add_argument("--data-dir", default=None, help="folder of the data files")
    p.add_argument("--model", default="mlp",
                   choices=[m for m in common.MODELS if m not in ("gpt", "detector")])
    p.add_argument("--hidden", type=int, default=100, help="hidden units of the two-layer net (default 100)")
    p.add_argument("--batch-size", type=int, default=None, help="mini-batch size (default per data set)")
    p.add_argument("--optimizer", default="sgd", choices=common.OPTIMIZERS, help="default sgd")
    p.add_argument("--seed", type=common.seed_int, default=0,
                   help="random seed, 0 <= seed < 2**64 (default 0)")
    p.add_argument("--out", default="lr_search.png", help="PNG of validation curves (default lr_search.png)")
    p.set_defaults(run=run)
    return p


def _check(args) -> None:
    for name in ("trials", "epochs"):
        if getattr(args, name) < 1:
            raise CLIError(f"--{name} must be at least 1, got {getattr(args, name)}")
    for name in ("lr_range", "wd_range"):
        lo, hi = getattr(args, name)
        if not 0 < lo <= hi < float("inf"):
            raise CLIError(f"--{name.replace('_', '-')} needs 0 < LO <= HI, got {lo} {hi}")


def validation_split(data: common.DataBundle, fraction: float, seed: int) -> common.DataBundle:
    """The training split shuffled once and cut: the last ``fraction`` becomes the validation split."""
    perm = np.random.default_rng(seed).permutation(len(data.train))
    n_val = max(1, int(round(len(perm) * fraction)))
    tr, va = numtorch.from_numpy(perm[:-n_val]), numtorch.from_numpy(perm[-n_val:])
    x, y = data.train.x, data.train.y
    return common.DataBundle(data.name, common.Split(x[tr], y[tr]), common.Split(x[va], y[va]), data.classes)


def run(args) -> int:
    from numtorch.cli.train import train
    _check(args)
    data = common.load_data(args.data, args.data_dir)
    search = validation_split(data, 0.2, args.seed)
    rng = np.random.default_rng(args.seed)
    batch_size = args.batch_size or common.DATA_DEFAULTS[args.data][1]
    trials = []
    for i in range(args.trials):
        lr, wd = common.log_uniform(rng, *args.lr_range), common.log_uniform(rng, *args.wd_range)
        config = {"model": args.model, "data": args.data, "image_shape": list(data.image_shape),
                  "hidden": args.hidden, "classes": data.classes, "epochs": args.epochs,
                  "batch_size": batch_size, "lr": lr, "optimizer": args.optimizer, "weight_decay": wd,
                  "seed": args.seed, "augment": False}
        try:
            history = train(config, search, progress=False, log=lambda *a, **k: None)["history"]
        except common.NonFiniteLoss:  # this learning rate diverged: it scores 0
            history = {"test_acc": [0.0], "test_loss": [float("nan")], "train_acc": [0.0]}
        val = [a if np.isfinite(l) else 0.0 for a, l in zip(history["test_acc"], history["test_loss"])]
        trials.append({"lr": lr, "weight_decay": wd, "val_acc": val, "train_acc": history["train_acc"]})
        note = " (diverged)" if not np.isfinite(history["test_loss"][-1]) else ""
        print(f"trial {i + 1}/{args.trials}: lr {lr:.3e} weight decay {wd:.3e} -> validation accuracy "
              f"{val[-1]:.4f}{note}")
    ranked = sorted(trials, key=lambda t: -t["val_acc"][-1])
    print(f"\n{'rank':>4} {'lr':>10} {'weight decay':>13} {'val acc':>8} {'train acc':>9}")
    for rank, t in enumerate(ranked, 1):
        print(f"{rank:>4} {t['lr']:10.3e} {t['weight_decay']:13.3e} {t['val_acc'][-1]:8.4f} "
              f"{t['train_acc'][-1]:9.4f}")
    try:
        from numtorch.viz import plot_lr_search
        print(f"validation curves: {plot_lr_search(trials, Path(args.out))}")
    except RuntimeError as e:
        print(f"note: no plot ({e})")
    return 0
