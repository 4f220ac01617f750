"""``numtorch train --model gpt --text FILE``: a character-level GPT on a plain-text file.

The text's first 90% trains, the last 10% is held out.  Each step draws ``--batch-size`` random
windows of ``--block-size`` characters and takes one AdamW step; every ``--eval-interval`` steps the
held-out loss (nats per character) is measured on fixed held-out windows.  The run folder gets
``checkpoint.safetensors`` (weights, model config and the tokenizer, via ``numtorch.save``),
``history.json``, ``loss.png`` and ``sample.txt``.

    numtorch train --model gpt --text ../shared/data/tinyshakespeare/input.txt --steps 2000
    numtorch generate runs/<date-time>/checkpoint.safetensors --prompt "ROMEO:" --tokens 300
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numtorch
from numtorch.cli.common import CLIError, check_finite_loss, dump_json, progress_bar

GPT_DEFAULTS = dict(block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0)
DEFAULT_STEPS, DEFAULT_BATCH, DEFAULT_LR, DEFAULT_EVAL_ITERS = 2000, 16, 1e-3, 20
SAMPLE_TOKENS = 300   # characters sampled into sample.txt at the end of a run


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The GPT-specific flags of ``numtorch train`` (the common ones live in ``numtorch.cli.train``)."""
    g = parser.add_argument_group("GPT shape (--model gpt)")
    g.add_argument("--block-size", type=int, default=GPT_DEFAULTS["block_size"],
                   help="context length (default 64)")
    g.add_argument("--n-layer", type=int, default=GPT_DEFAULTS["n_layer"],
                   help="Transformer blocks (default 4)")
    g.add_argument("--n-head", type=int, default=GPT_DEFAULTS["n_head"], help="attention heads (default 4)")
    g.add_argument("--n-embd", type=int, default=GPT_DEFAULTS["n_embd"], help="width (default 128)")
    g.add_argument("--dropout", type=float, default=GPT_DEFAULTS["dropout"], help="dropout (default 0)")
    g.add_argument("--eval-iters", type=int, default=DEFAULT_EVAL_ITERS,
                   help="held-out batches per evaluation (default 20)")


def _opt(args, name: str, default):
    value = getattr(args, name, None)
    return default if value is None else value


def _settings(args, n_train: int) -> dict:
    """Every hyper-parameter of the run, from the flags or their defaults."""
    s = {k: _opt(args, k, v) for k, v in GPT_DEFAULTS.items()}
    s["batch_size"] = _opt(args, "batch_size", DEFAULT_BATCH)
    s["lr"] = _opt(args, "lr", DEFAULT_LR)
    s["weight_decay"] = _opt(args, "weight_decay", 0.0)
    s["eval_iters"] = _opt(args, "eval_iters", DEFAULT_EVAL_ITERS)
    s["seed"] = _opt(args, "seed", 0)
    steps = getattr(args, "steps", None)
    epochs = getattr(args, "epochs", None)
    if steps is None:
        steps = epochs * max(n_train // (s["batch_size"] * s["block_size"]), 1) if epochs else DEFAULT_STEPS
    s["steps"] = steps
    s["eval_interval"] = _opt(args, "eval_interval", max(steps // 10, 1))
    for k in ("steps", "batch_size", "block_size", "n_layer", "n_head", "n_embd", "eval_iters",
              "eval_interval"):
        if s[k] < 1:
            raise CLIError(f"--{k.replace('_', '-')} must be at least 1, got {s[k]}")
    if not s["lr"] > 0:
        raise CLIError(f"--lr must be positive, got {s['lr']}")
    if s["n_embd"] % s["n_head"]:
        raise CLIError(f"--n-embd ({s['n_embd']}) must be divisible by --n-head ({s['n_head']})")
    return s


def held_out_loss(model, windows, batch_size: int, iters: int, seed: int = 1234, device=None) -> float:
    """Mean loss (nats per token) over ``iters`` batches of windows drawn with a fixed seed."""
    gen = numtorch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    total = 0.0
    with numtorch.no_grad():
        for _ in range(iters):
            x, y = windows.sample_batch(batch_size, gen)
            total += model(x.to(device), y.to(device))[1].item()
    model.train(was_training)
    return total / iters


def train_gpt(text: str, settings: dict, device: str = "cpu", progress: bool = True, log=print) -> dict:
    """Trains a GPT on ``text``; returns the model, tokenizer, optimizer and history."""
    from numtorch.models import GPT
    from numtorch.text import CharTokenizer, TextWindows, split_text
    s = settings
    numtorch.manual_seed(s["seed"])
    tok = CharTokenizer().fit(text)
    train_ids, val_ids = split_text(tok.encode_array(text))
    train, val = TextWindows(train_ids, s["block_size"]), TextWindows(val_ids, s["block_size"])
    model = GPT(tok.vocab_size, s["n_layer"], s["n_head"], s["n_embd"], s["block_size"],
                s["dropout"]).to(device)
    opt = numtorch.optim.AdamW(model.parameters(), lr=s["lr"], weight_decay=s["weight_decay"])
    gen = numtorch.Generator().manual_seed(s["seed"])
    history = {"step": [], "train_loss": [], "val_loss": [], "step_loss": []}
    bar = progress_bar(s["steps"], "gpt", progress)
    start, window = time.perf_counter(), []
    for step in range(1, s["steps"] + 1):
        x, y = train.sample_batch(s["batch_size"], gen)
        _, loss = model(x.to(device), y.to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        value = check_finite_loss(loss.item(), f"step {step}")
        history["step_loss"].append(value)
        window.append(value)
        bar.update(1)
        bar.set_postfix_str(f"loss={value:.3f}")
        if step % s["eval_interval"] == 0 or step == s["steps"]:
            val_loss = held_out_loss(model, val, s["batch_size"], s["eval_iters"], device=device)
            for k, v in (("step", step), ("train_loss", sum(window) / len(window)), ("val_loss", val_loss)):
                history[k].append(v)
            window = []
            log(f"step {step}: train loss {history['train_loss'][-1]:.4f} | held-out loss {val_loss:.4f} "
                f"nats/char | {time.perf_counter() - start:.0f}s")
    bar.close()
    history["seconds"] = time.perf_counter() - start
    return {"model": model, "tokenizer": tok, "optimizer": opt, "history": history}


def plot_loss(history: dict, path: Path, title: str) -> Path:
    """Training loss per step (faint), its average and the held-out loss per evaluation."""
    from numtorch.viz.plots import new_figure, save_figure
    fig, ax = new_figure(1, 1, size=(7, 4.5))
    ax.plot(range(1, len(history["step_loss"]) + 1), history["step_loss"], color="0.75", lw=0.7,
            label="train loss (per step)")
    ax.plot(history["step"], history["train_loss"], marker="o", label="train loss (mean since last eval)")
    ax.plot(history["step"], history["val_loss"], marker="o", label="held-out loss")
    ax.set(title=title, xlabel="step", ylabel="nats per character")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def save_text_run(out: Path, settings: dict, result: dict, sample: str) -> dict:
    """Writes checkpoint.safetensors, history.json, sample.txt and loss.png into ``out``; returns their
    paths."""
    out.mkdir(parents=True, exist_ok=True)
    model, tok = result["model"], result["tokenizer"]
    config = {"model": "gpt", "vocab_size": tok.vocab_size, **{k: settings[k] for k in GPT_DEFAULTS}}
    ckpt = {"model": model.state_dict(), "config": config, "tokenizer": tok.to_dict(), "settings": settings,
            "history": {k: v for k, v in result["history"].items() if k != "step_loss"}}
    paths = {"checkpoint": out / "checkpoint.safetensors", "history": out / "history.json",
             "sample": out / "sample.txt"}
    numtorch.save(ckpt, str(paths["checkpoint"]))
    paths["history"].write_text(dump_json(result["history"]))
    paths["sample"].write_text(sample, encoding="utf-8")
    try:
        title = f"GPT {settings['n_layer']}x{settings['n_embd']} on text (AdamW, lr {settings['lr']})"
        paths["loss curve"] = plot_loss(result["history"], out / "loss.png", title)
    except RuntimeError as e:  # matplotlib missing: the checkpoint still counts
        print(f"note: no plot ({e})")
    return paths


def sample_text(model, tok, prompt: str = "\n", tokens: int = SAMPLE_TOKENS, temperature: float = 0.8,
                top_k: int | None = None, seed: int = 0, device=None) -> str:
    """``prompt`` followed by ``tokens`` sampled characters."""
    idx = numtorch.tensor([tok.encode(prompt)], dtype=numtorch.int64, device=device)
    gen = numtorch.Generator().manual_seed(seed)
    out = model.generate(idx, tokens, temperature=temperature, top_k=top_k, generator=gen)
    return tok.decode(out[0].tolist())


def run(args) -> int:
    """Entry point for ``numtorch train --model gpt``."""
    from numtorch.text import load_text
    if not getattr(args, "text", None):
        raise CLIError("--model gpt needs --text FILE (a plain-text file, e.g. tinyshakespeare/input.txt)")
    text = load_text(args.text)
    settings = _settings(args, int(len(text) * 0.9))
    device = _opt(args, "device", "cpu")
    print(f"text: {args.text} ({len(text):,} characters, {len(set(text))} distinct); "
          f"{settings['steps']} steps of {settings['batch_size']} x {settings['block_size']}")
    result = train_gpt(text, settings, device=device, progress=not getattr(args, "quiet", False))
    sample = sample_text(result["model"], result["tokenizer"], tokens=SAMPLE_TOKENS, seed=settings["seed"],
                         device=device)
    out = Path(args.out) if getattr(args, "out", None) else Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    paths = save_text_run(out, settings, result, sample)
    print(f"held-out loss {result['history']['val_loss'][-1]:.4f} nats/char after {settings['steps']} steps "
          f"({result['history']['seconds']:.0f}s)")
    print("sample:\n" + sample)
    for what, path in paths.items():
        print(f"{what}: {path}")
    return 0
