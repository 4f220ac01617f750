"""``numtorch train``: train a network and save a checkpoint and a plot of its learning curves.

With no arguments it trains the notes' two-layer net (64-100-10, ReLU) on the 8x8 digits with
mini-batch SGD -- the four steps of the notes, repeated:

1. mini-batch: take a random batch of training samples;
2. gradient: forward, loss, ``loss.backward()``;
3. update: ``optimizer.step()`` moves each weight a small step against its gradient;
4. repeat, measuring train and held-out accuracy after each epoch.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import numtorch
from numtorch.cli import common
from numtorch.cli.common import CLIError


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train a model (default: the two-layer net on the 8x8 digits)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="mlp", choices=common.MODELS,
                   help="mlp (the two-layer net, default), simplecnn, lenet5, resnet20, densenet_bc_100, "
                        "gpt (text), detector")
    p.add_argument("--data", default="digits", choices=tuple(common.DATA_DEFAULTS),
                   help="data set (default digits: scikit-learn's 8x8 digits, no download)")
    p.add_argument("--data-dir", default=None, help=f"folder of the data files (default ./{common.DEFAULT_DATA_DIR})")
    p.add_argument("--epochs", type=int, default=None, help="passes over the training split (default per data set)")
    p.add_argument("--batch-size", type=int, default=None, help="mini-batch size (default per data set)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default per data set)")
    p.add_argument("--optimizer", default="sgd", choices=common.OPTIMIZERS, help="default sgd")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty (default 0)")
    p.add_argument("--hidden", type=int, default=100, help="hidden units of the two-layer net (default 100)")
    p.add_argument("--augment", action="store_true", help="random shifts (and flips for cifar10) of training images")
    p.add_argument("--seed", type=int, default=0, help="random seed for weights and batch order (default 0)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")
    p.add_argument("--out", default=None, help="output folder (default runs/<date-time>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    text = p.add_argument_group("text models (--model gpt)")
    text.add_argument("--text", default=None, help="a plain-text file to train on")
    text.add_argument("--steps", type=int, default=None, help="optimizer steps")
    text.add_argument("--eval-interval", type=int, default=None, help="steps between held-out evaluations")
    p.set_defaults(run=run)
    return p


def _dispatch(module: str, args) -> int:
    """Hands text and detection training to the modules that own them."""
    import importlib
    try:
        mod = importlib.import_module(f"numtorch.cli.{module}")
    except ModuleNotFoundError as e:
        if e.name != f"numtorch.cli.{module}":
            raise
        raise CLIError(f"--model {args.model} needs numtorch.cli.{module}, which this numtorch does not have") from None
    return mod.run(args)


def _check(args) -> None:
    for name in ("epochs", "batch_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.lr is not None and not args.lr > 0:
        raise CLIError(f"--lr must be positive, got {args.lr}")
    if args.weight_decay < 0:
        raise CLIError(f"--weight-decay must be >= 0, got {args.weight_decay}")
    if args.hidden < 1:
        raise CLIError(f"--hidden must be at least 1, got {args.hidden}")


def default_out_dir() -> Path:
    return Path("runs") / time.strftime("%Y%m%d-%H%M%S")


def run(args) -> int:
    if args.model == "gpt":
        return _dispatch("train_text", args)
    if args.model == "detector":
        return _dispatch("train_detect", args)
    _check(args)
    epochs, batch_size, lr = (given if given is not None else default for given, default in
                              zip((args.epochs, args.batch_size, args.lr), common.DATA_DEFAULTS[args.data]))
    data = common.load_data(args.data, args.data_dir)
    if data.note:
        print(f"note: {data.note}")
    data_dir = str(Path(args.data_dir).resolve()) if args.data_dir else None
    config = {"model": args.model, "data": args.data, "data_dir": data_dir, "image_shape": list(data.image_shape),
              "hidden": args.hidden, "classes": data.classes, "epochs": epochs, "batch_size": batch_size,
              "lr": lr, "optimizer": args.optimizer, "weight_decay": args.weight_decay, "seed": args.seed,
              "augment": args.augment, "input_scale": "pixels / 255"}
    result = train(config, data, device=args.device, progress=not args.quiet)
    out = Path(args.out) if args.out else default_out_dir()
    paths = save_run(out, config, result)
    print(f"held-out accuracy {result['history']['test_acc'][-1]:.4f}")
    for what, path in paths.items():
        print(f"{what}: {path}")
    return 0


def train(config: dict, data: common.DataBundle, device: str = "cpu", progress: bool = True,
          log=print) -> dict:
    """Trains the configured model on ``data``; returns the model, optimizer and per-epoch history."""
    numtorch.manual_seed(config["seed"])
    model = common.build_model(dict(config, image_shape=tuple(config["image_shape"]))).to(device)
    optimizer = common.build_optimizer(config["optimizer"], model.parameters(), config["lr"],
                                       config["weight_decay"])
    generator = numtorch.Generator().manual_seed(config["seed"])  # the batch order
    rng = np.random.default_rng(config["seed"])                     # the augmentation
    history = {k: [] for k in ("train_loss", "train_acc", "test_loss", "test_acc", "step_loss")}
    n_batches = -(-len(data.train) // config["batch_size"])
    for epoch in range(1, config["epochs"] + 1):
        bar = common.progress_bar(n_batches, f"epoch {epoch}/{config['epochs']}", progress)
        batches = common.batches(data.train, config["batch_size"], shuffle=True, generator=generator)
        if config["augment"]:
            flip = config["data"] == "cifar10"
            batches = ((common.augment_batch(x, rng, flip), y) for x, y in batches)
        train_loss, train_acc = train_epoch(model, optimizer, batches, device, bar, history["step_loss"])
        test_loss, test_acc = common.evaluate(model, data.test, device=device)
        for key, value in zip(("train_loss", "train_acc", "test_loss", "test_acc"),
                              (train_loss, train_acc, test_loss, test_acc)):
            history[key].append(value)
        log(f"epoch {epoch}: train loss {train_loss:.4f} acc {train_acc:.4f} | "
            f"held-out loss {test_loss:.4f} acc {test_acc:.4f}")
    return {"model": model, "optimizer": optimizer, "history": history}


def train_epoch(model, optimizer, batches, device, bar, step_losses: list) -> tuple:
    """One pass of mini-batch training; returns the epoch's mean loss and accuracy."""
    import numtorch.nn.functional as F
    model.train()
    seen, loss_sum, correct = 0, 0.0, 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        logits = model(x)                      # forward: class scores
        loss = F.cross_entropy(logits, y)      # softmax + cross-entropy, mean over the batch
        optimizer.zero_grad()
        loss.backward()                        # backward: d loss / d parameter for every parameter
        optimizer.step()                       # the update, e.g. W <- W - lr * dL/dW
        batch_loss = float(loss.item())
        seen, loss_sum = seen + len(y), loss_sum + batch_loss * len(y)
        correct += int((logits.argmax(1) == y).sum().item())
        step_losses.append(batch_loss)
        bar.update(1)
        bar.set_postfix_str(f"loss={loss_sum / seen:.4f} acc={correct / seen:.4f}")
    bar.close()
    return loss_sum / max(seen, 1), correct / max(seen, 1)


def save_run(out: Path, config: dict, result: dict) -> dict:
    """Writes ``checkpoint.pt`` (numtorch.save), ``history.json`` and ``curves.png`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    ckpt = {"model": result["model"].state_dict(), "optimizer": result["optimizer"].state_dict(),
            "config": config, "classes": config["classes"], "history": {
                k: v for k, v in result["history"].items() if k != "step_loss"}}
    paths = {"checkpoint": out / "checkpoint.pt"}
    numtorch.save(ckpt, str(paths["checkpoint"]))
    paths["history"] = common.write_text_atomic(out / "history.json", json.dumps(result["history"]))
    try:
        from numtorch.viz import plot_training_curves
        paths["curves"] = plot_training_curves(
            result["history"], out / "curves.png",
            title=f"{config['model']} on {config['data']} ({config['optimizer']}, lr {config['lr']})")
    except RuntimeError as e:  # matplotlib missing: the checkpoint still counts
        print(f"note: no plot ({e})")
    return paths
