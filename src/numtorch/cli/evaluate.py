"""``numtorch eval CHECKPOINT``: loss and accuracy of a trained model on its data set's held-out split.

For a GPT checkpoint (``numtorch train --model gpt``), ``--text FILE`` names the text: its last 10%
(the part training held out) is cut into consecutive windows of the model's context, and the mean
loss (nats per character) and its perplexity, ``exp(loss)``, are printed.
"""
from __future__ import annotations

import argparse
import math

import numpy as np

import numtorch
from numtorch.cli import common


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("eval", help="evaluate a checkpoint on the held-out split", description=__doc__)
    p.add_argument("checkpoint",
                   help="a checkpoint.safetensors written by `numtorch train` (or its run folder)")
    p.add_argument("--text", default=None, help="GPT checkpoints: the text file it was trained on")
    p.add_argument("--data-dir", default=None,
                   help="folder of the data files (default: the one used for training)")
    p.add_argument("--batch-size", type=int, default=1000, help="evaluation batch size (default 1000)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, ...")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    if args.batch_size < 1:
        raise common.CLIError(f"--batch-size must be at least 1, got {args.batch_size}")
    ckpt = common.load_checkpoint(args.checkpoint)
    if ckpt["config"].get("model") == "gpt":
        return _eval_text(ckpt, args)
    if ckpt["config"].get("model") == "detector":
        raise common.CLIError("eval is for classifiers and GPTs: a detector's held-out mAP is printed by "
                              "`numtorch train --model detector`; `numtorch detect CHECKPOINT IMAGE` runs it")
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


def _eval_text(ckpt: dict, args) -> int:
    """Held-out loss and perplexity of a GPT checkpoint on the last 10% of ``--text``."""
    from numtorch.cli.generate import model_and_tokenizer
    from numtorch.text import load_text, split_text
    if not args.text:
        raise common.CLIError("a GPT checkpoint is evaluated on text: numtorch eval CHECKPOINT --text FILE "
                              "(the file it was trained on); `numtorch generate` samples from it")
    model, tok = model_and_tokenizer(ckpt, args.device)
    try:
        ids = tok.encode_array(load_text(args.text))
    except KeyError as e:
        raise common.CLIError(f"--text {args.text}: {e.args[0]}") from None
    _, held_out = split_text(ids)
    T = ckpt["config"]["block_size"]
    n = (len(held_out) - 1) // T   # windows x = ids[i*T:(i+1)*T], targets shifted by one
    if n < 1:
        raise common.CLIError(f"--text {args.text}: the held-out 10% ({len(held_out)} characters) is shorter "
                              f"than the model's context ({T} + 1 characters)")
    loss = _text_loss(model, held_out, T, n, args.batch_size, args.device)
    print(f"gpt on {args.text} held-out 10%: {n * T:,} characters in {n} windows of {T}, "
          f"loss {loss:.4f} nats/char, perplexity {math.exp(loss):.3f}")
    return 0


def _text_loss(model, ids: np.ndarray, T: int, n: int, batch_size: int, device) -> float:
    """Mean next-character cross-entropy over ``n`` consecutive windows of ``T`` characters."""
    x_all = ids[:n * T].reshape(n, T)
    y_all = ids[1:n * T + 1].reshape(n, T)
    total = 0.0
    with numtorch.no_grad():
        for i in range(0, n, batch_size):
            x = numtorch.from_numpy(x_all[i:i + batch_size]).to(device)
            y = numtorch.from_numpy(y_all[i:i + batch_size]).to(device)
            total += float(model(x, y)[1].item()) * len(x)   # the model's loss is the mean over x's tokens
    return total / n


def _per_class_accuracy(model, split, n_classes: int, device) -> list:
    with numtorch.no_grad():
        pred = np.concatenate([model(split.x[i:i + 1000].to(device)).argmax(1).cpu().numpy()
                               for i in range(0, len(split), 1000)]) if len(split) else np.zeros(0, int)
    y = split.y.numpy()
    counts = np.bincount(y, minlength=n_classes)
    hits = np.bincount(y[pred == y], minlength=n_classes)
    return [(int(c), float(h / c) if c else float("nan")) for c, h in zip(counts, hits)]
