"""``numtorch generate CHECKPOINT``: sample text from a GPT trained by ``numtorch train --model gpt``.

    numtorch generate runs/<date-time>/checkpoint.safetensors --prompt "ROMEO:" --tokens 300 \
        --temperature 0.8 --top-k 20
"""
from __future__ import annotations

import argparse

import numtorch
from numtorch.cli import common
from numtorch.cli.common import CLIError, load_checkpoint

MAX_TOKENS = 100_000   # one run's output: minutes of sampling, a few hundred kB of text


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("generate", help="sample text from a trained GPT checkpoint",
                              description="Sample text from a GPT checkpoint written by "
                                          "`numtorch train --model gpt`.")
    p.add_argument("checkpoint", help="checkpoint.safetensors of a GPT run")
    p.add_argument("--prompt", default="\n", help="text to continue (default: a newline)")
    p.add_argument("--tokens", type=int, default=300,
                   help=f"characters to generate, at most {MAX_TOKENS:,} (default 300)")
    p.add_argument("--temperature", type=common.non_negative_finite_float, default=0.8,
                   help="sampling temperature >= 0; 0 always picks the most likely character (greedy) "
                        "(default 0.8)")
    p.add_argument("--top-k", type=int, default=None, help="sample among the k most likely characters only")
    p.add_argument("--seed", type=common.seed_int, default=0,
                   help="random seed, 0 <= seed < 2**64 (default 0)")
    p.add_argument("--no-cache", action="store_true", help="recompute every position (no key/value cache)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, ...")
    p.set_defaults(run=run)
    return p


def model_and_tokenizer(ckpt: dict, device=None):
    """The GPT (eval mode) and CharTokenizer stored in a text checkpoint."""
    from numtorch.models import GPT
    from numtorch.text import CharTokenizer
    config = ckpt["config"]
    if config.get("model") != "gpt" or "tokenizer" not in ckpt:
        raise CLIError(f"not a GPT checkpoint (model {config.get('model')!r}); train one with "
                       f"`numtorch train --model gpt --text FILE`")
    model = GPT(config["vocab_size"], config["n_layer"], config["n_head"], config["n_embd"],
                config["block_size"], config.get("dropout", 0.0))
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), CharTokenizer.from_dict(ckpt["tokenizer"])


def run(args) -> int:
    if not 0 <= args.tokens <= MAX_TOKENS:
        raise CLIError(f"--tokens must be from 0 to {MAX_TOKENS:,}, got {args.tokens:,}")
    if args.top_k is not None and args.top_k < 1:
        raise CLIError(f"--top-k must be at least 1, got {args.top_k}")
    model, tok = model_and_tokenizer(load_checkpoint(args.checkpoint), args.device)
    try:
        ids = tok.encode(args.prompt or "\n")
    except KeyError as e:
        raise CLIError(f"--prompt: {e.args[0]}") from None
    idx = numtorch.tensor([ids], dtype=numtorch.int64, device=args.device)
    gen = numtorch.Generator().manual_seed(args.seed)
    out = model.generate(idx, args.tokens, temperature=args.temperature, top_k=args.top_k,
                         use_cache=not args.no_cache, generator=gen)
    print(tok.decode(out[0].tolist()))
    return 0
