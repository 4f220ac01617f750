"""W5: the character-level GPT (4 layers, 4 heads, width 128, context 64, vocab 65), numtorch vs PyTorch.

Timed in CPU time (user + system: on a shared machine wall time also counts waiting for a core), each
framework in its own process with one BLAS thread, alternating A B A B:

* ``gpt_step``: forward + cross-entropy + backward + AdamW (lr 1e-3) on a batch of 16 x 64
  random tokens already in memory (the same weights and batches in both, so losses agree);
* ``gpt_generate_cache`` / ``gpt_generate_nocache``: seconds per generated token, greedy decoding of
  63 tokens after a 1-token prompt, with and without the key/value cache (both frameworks run the
  same loop; their generated tokens are compared).

Printed: medians, the largest loss difference, and ``ratio <name> <numtorch / PyTorch>`` lines
(target for gpt_step: <= 1.2), plus the cache speed-up and the minor page faults per training step
of each framework (a process whose allocator returns freed memory to the OS pays ~1 ms per MB
touched again: on this workload a large share of numtorch's step).

Usage: python bench/transformer.py [--rounds 3] [--iters 30] [--warmup 5] [--profile]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness  # noqa: E402

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
CFG = dict(vocab_size=65, n_layer=4, n_head=4, n_embd=128, block_size=64)
BATCH, N_BATCHES, LR, GEN_TOKENS = 16, 8, 1e-3, 63


def make_inputs(path: Path, seed: int = 0) -> None:
    """GPT weights (numtorch's init from a fixed seed) and token batches, written to an .npz file."""
    sys.path.insert(0, str(ROOT / "src"))
    import numtorch
    from numtorch.models import GPT
    numtorch.manual_seed(seed)
    sd = GPT(**CFG).state_dict()
    rng = np.random.default_rng(seed)
    toks = rng.integers(0, CFG["vocab_size"], (N_BATCHES, BATCH, CFG["block_size"] + 1))
    np.savez(path, tokens=toks.astype(np.int64), **{"w:" + k: v.numpy() for k, v in sd.items()})


def _weights(d: dict) -> dict:
    return {k[2:]: v for k, v in d.items() if k.startswith("w:")}


def _time(fn, warmup: int, iters: int) -> list:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return times


def _time_step(fn, warmup: int, iters: int, res: dict) -> None:
    """``res["gpt_step"]``: the step times; ``res["faults"]``: minor page faults per step (memory the
    process had returned to the OS and touches again: each costs the kernel a fresh zeroed page)."""
    import resource
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    res["gpt_step"] = _time(fn, warmup, iters)
    res["faults"] = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / max(warmup + iters, 1)


# ---- numtorch worker -----------------------------------------------------------------------------

def worker_numtorch(d, warmup: int, iters: int) -> dict:
    sys.path.insert(0, str(ROOT / "src"))
    import numtorch
    from numtorch.models import GPT
    model = GPT(**CFG)
    model.load_state_dict({k: numtorch.from_numpy(v) for k, v in _weights(d).items()})
    opt = numtorch.optim.AdamW(model.parameters(), lr=LR)
    batches = [(numtorch.from_numpy(t[:, :-1].copy()), numtorch.from_numpy(t[:, 1:].copy()))
               for t in d["tokens"]]
    losses, it = [], iter(range(10 ** 9))

    def step():
        x, y = batches[next(it) % len(batches)]
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())

    res = {"losses": losses}
    _time_step(step, warmup, iters, res)
    prompt = numtorch.tensor([[0]])
    for cache in (True, False):
        out = []
        res[f"gpt_generate_{'cache' if cache else 'nocache'}"] = [
            t / GEN_TOKENS for t in _time(lambda: out.append(
                model.generate(prompt, GEN_TOKENS, temperature=0.0, use_cache=cache)), 1, 3)]
        res["tokens_" + str(cache)] = out[-1][0].tolist()
    return res


# ---- PyTorch worker: the same network, same parameter names ----------------------------------------

def _torch_gpt():
    import torch
    import torch.nn as tnn
    import torch.nn.functional as TF

    class Block(tnn.Module):
        def __init__(self, C, H):
            super().__init__()
            self.ln_1 = tnn.LayerNorm(C)
            self.attn = tnn.Module()
            self.attn.c_attn, self.attn.c_proj = tnn.Linear(C, 3 * C), tnn.Linear(C, C)
            self.ln_2 = tnn.LayerNorm(C)
            self.mlp = tnn.Module()
            self.mlp.c_fc, self.mlp.c_proj = tnn.Linear(C, 4 * C), tnn.Linear(4 * C, C)
            self.H = H

        def forward(self, x, cache=None):
            B, T, C = x.shape
            q, k, v = self.attn.c_attn(self.ln_1(x)).split(C, 2)
            q, k, v = (t.view(B, T, self.H, C // self.H).transpose(1, 2) for t in (q, k, v))
            past = 0
            if cache is not None:
                if cache:
                    past = cache[0].shape[2]
                    k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
                cache[:] = [k, v]
            if past == 0:
                y = TF.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                keep = torch.arange(past + T)[None, :] <= (past + torch.arange(T))[:, None]
                y = TF.scaled_dot_product_attention(q, k, v, attn_mask=keep)
            x = x + self.attn.c_proj(y.transpose(1, 2).reshape(B, T, C))
            return x + self.mlp.c_proj(TF.gelu(self.mlp.c_fc(self.ln_2(x))))

    class TorchGPT(tnn.Module):
        def __init__(self, vocab_size, n_layer, n_head, n_embd, block_size):
            super().__init__()
            self.transformer = tnn.ModuleDict(dict(
                wte=tnn.Embedding(vocab_size, n_embd), wpe=tnn.Embedding(block_size, n_embd),
                h=tnn.ModuleList([Block(n_embd, n_head) for _ in range(n_layer)]),
                ln_f=tnn.LayerNorm(n_embd)))
            self.lm_head = tnn.Linear(n_embd, vocab_size, bias=False)
            self.lm_head.weight = self.transformer.wte.weight

        def forward(self, idx, targets=None, caches=None, offset=0):
            B, T = idx.shape
            x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(offset, offset + T))
            for i, b in enumerate(self.transformer.h):
                x = b(x, None if caches is None else caches[i])
            logits = self.lm_head(self.transformer.ln_f(x))
            loss = None if targets is None else TF.cross_entropy(logits.view(B * T, -1), targets.view(-1))
            return logits, loss

        @torch.no_grad()
        def generate(self, idx, n, use_cache):
            caches = [[] for _ in self.transformer.h] if use_cache else None
            for _ in range(n):
                if caches is None:
                    logits = self(idx)[0]
                else:
                    cached = caches[0][0].shape[2] if caches[0] else 0
                    logits = self(idx[:, cached:], caches=caches, offset=cached)[0]
                idx = torch.cat([idx, logits[:, -1].argmax(-1, keepdim=True)], 1)
            return idx

    return torch, TorchGPT


def worker_torch(d, warmup: int, iters: int) -> dict:
    torch, TorchGPT = _torch_gpt()
    torch.set_num_threads(1)
    model = TorchGPT(**CFG)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in _weights(d).items()})
    opt = torch.optim.AdamW(model.parameters(), lr=LR)
    batches = [(torch.from_numpy(t[:, :-1].copy()), torch.from_numpy(t[:, 1:].copy())) for t in d["tokens"]]
    losses, it = [], iter(range(10 ** 9))

    def step():
        x, y = batches[next(it) % len(batches)]
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())

    res = {"losses": losses}
    _time_step(step, warmup, iters, res)
    model.eval()
    prompt = torch.tensor([[0]])
    for cache in (True, False):
        out = []
        res[f"gpt_generate_{'cache' if cache else 'nocache'}"] = [
            t / GEN_TOKENS
            for t in _time(lambda: out.append(model.generate(prompt, GEN_TOKENS, cache)), 1, 3)]
        res["tokens_" + str(cache)] = out[-1][0].tolist()
    return res


WORKERS = {"numtorch": worker_numtorch, "torch": worker_torch}
NAMES = ("gpt_step", "gpt_generate_cache", "gpt_generate_nocache")


def run_worker(name: str, data: Path, warmup: int, iters: int, profile: bool) -> None:
    d = dict(np.load(data, allow_pickle=False))
    if profile:
        import cProfile
        import pstats
        prof = cProfile.Profile()
        prof.enable()
        res = WORKERS[name](d, warmup, iters)
        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(30)
    else:
        res = WORKERS[name](d, warmup, iters)
    print(json.dumps(res))


def launch(name: str, data: Path, warmup: int, iters: int, profile: bool = False) -> dict:
    return _harness.launch(__file__, name, data, warmup, iters, profile)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="also print a cProfile of the numtorch worker")
    ap.add_argument("--worker", choices=tuple(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        run_worker(args.worker, Path(args.data), args.warmup, args.iters, args.profile)
        return
    times = {f: {n: [] for n in NAMES} for f in WORKERS}
    last = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "w5.npz"
        make_inputs(data)
        for _ in range(args.rounds):  # A B A B ...
            for f in WORKERS:
                res = launch(f, data, args.warmup, args.iters)
                for n in NAMES:
                    times[f][n] += res[n]
                last[f] = res
        if args.profile:
            launch("numtorch", data, args.warmup, args.iters, profile=True)
    med = {f: {n: statistics.median(v) for n, v in d.items()} for f, d in times.items()}
    for f in WORKERS:
        print(f"{f:>9}: step {med[f]['gpt_step'] * 1e3:.2f} ms; generation "
              f"{1 / med[f]['gpt_generate_cache']:.0f} tokens/s with KV cache, "
              f"{1 / med[f]['gpt_generate_nocache']:.0f} tokens/s without "
              f"(cache speed-up {med[f]['gpt_generate_nocache'] / med[f]['gpt_generate_cache']:.2f}x); "
              f"{last[f]['faults']:.0f} page faults per step")
    ln, lt = last["numtorch"]["losses"], last["torch"]["losses"]
    print(f"largest |loss numtorch - loss torch| over {min(len(ln), len(lt))} steps: "
          f"{max(abs(a - b) for a, b in zip(ln, lt)):.2e}")
    same = all(last["numtorch"]["tokens_" + c] == last["torch"]["tokens_" + c] for c in ("True", "False"))
    cached_same = last['numtorch']['tokens_True'] == last['numtorch']['tokens_False']
    print(f"greedy tokens identical across frameworks and cache modes: {same and cached_same}")
    for n in NAMES:
        print(f"ratio {n} {med['numtorch'][n] / med['torch'][n]:.3f}")


if __name__ == "__main__":
    main()
