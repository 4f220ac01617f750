"""GPU workloads W1, W2, W4, W5 on one NVIDIA GPU: numtorch (CuPy) against PyTorch eager.

    python bench/gpu.py [--iters 50]

Each framework runs in its own process on "cuda:0"; a step is forward + backward + optimizer
update on a batch already on the GPU, timed with a device synchronisation around it; the median
step is compared.  Prints ``ratio <workload> <numtorch time / PyTorch time>`` (targets: W1 <= 1.5,
W4 <= 2.0, W5 <= 2.0).  The PyTorch models here have the same architectures (see
../shared/BENCHMARKS.md); their weights are PyTorch's own initialisation, which does not change the
timing.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("NUMTORCH_TUNE_MALLOC", "1")  # numtorch's opt-in malloc tuning (=0 to measure without)
WORKLOADS = ("W1_mlp", "W2_simplecnn", "W4_resnet20", "W5_gpt")


def _batch(lib, name, device):
    g = lib.Generator().manual_seed(0) if lib.__name__ == "numtorch" else None
    kw = {"generator": g} if g is not None else {}
    if name == "W1_mlp":
        return lib.rand(100, 784, **kw).to(device), lib.randint(0, 10, (100,)).to(device)
    if name == "W2_simplecnn":
        return lib.rand(100, 1, 28, 28, **kw).to(device), lib.randint(0, 10, (100,)).to(device)
    if name == "W4_resnet20":
        return lib.randn(32, 3, 32, 32, **kw).to(device), lib.randint(0, 10, (32,)).to(device)
    idx = lib.randint(0, 65, (16, 65)).to(device)
    return idx[:, :-1], idx[:, 1:]


# ---- numtorch ---------------------------------------------------------------------------------

def numtorch_step(name):
    sys.path.insert(0, str(ROOT / "src"))
    import numtorch
    import numtorch.nn.functional as F
    from numtorch import models
    dev = "cuda:0"
    if name == "W1_mlp":
        model = models.TwoLayerNet(784, 100, 10)
    elif name == "W2_simplecnn":
        model = models.SimpleConvNet()
    elif name == "W4_resnet20":
        model = models.resnet20(num_classes=10)
    else:
        model = models.GPT(vocab_size=65, n_layer=4, n_head=4, n_embd=128, block_size=64)
    model = model.to(dev)
    opt = (numtorch.optim.AdamW(model.parameters(), lr=1e-3) if name == "W5_gpt" else
           numtorch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9 if name == "W4_resnet20" else 0.0))
    x, y = _batch(numtorch, name, dev)

    def step():
        out = model(x)
        logits = out[0] if isinstance(out, tuple) else out
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step, numtorch.cuda.synchronize


# ---- PyTorch ------------------------------------------------------------------------------------

def torch_model(name):
    import torch
    from torch import nn
    if name == "W1_mlp":
        return nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))
    if name == "W2_simplecnn":
        return nn.Sequential(nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(4320, 100), nn.ReLU(), nn.Linear(100, 10))
    if name == "W4_resnet20":
        class Block(nn.Module):
            def __init__(self, cin, cout, stride):
                super().__init__()
                self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
                self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
                self.short = (nn.Sequential() if stride == 1 and cin == cout else
                              nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout)))

            def forward(self, x):
                h = torch.relu(self.b1(self.c1(x)))
                return torch.relu(self.b2(self.c2(h)) + self.short(x))
        layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
        cin = 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(3):
                layers.append(Block(cin, cout, stride if i == 0 else 1))
                cin = cout
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
        return nn.Sequential(*layers)

    class GPTBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(128), nn.LayerNorm(128)
            self.qkv, self.proj = nn.Linear(128, 384), nn.Linear(128, 128)
            self.mlp = nn.Sequential(nn.Linear(128, 512), nn.GELU(), nn.Linear(512, 128))

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, 4, C // 4).transpose(1, 2) for t in (q, k, v))
            a = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(a.transpose(1, 2).reshape(B, T, C))
            return x + self.mlp(self.ln2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(65, 128), nn.Embedding(64, 128)
            self.blocks = nn.Sequential(*[GPTBlock() for _ in range(4)])
            self.ln, self.head = nn.LayerNorm(128), nn.Linear(128, 65, bias=False)
            self.head.weight = self.tok.weight

        def forward(self, idx):
            x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
            return self.head(self.ln(self.blocks(x)))
    return GPT()


def torch_step(name):
    import torch
    import torch.nn.functional as F
    dev = "cuda:0"
    model = torch_model(name).to(dev)
    opt = (torch.optim.AdamW(model.parameters(), lr=1e-3) if name == "W5_gpt" else
           torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9 if name == "W4_resnet20" else 0.0))
    torch.manual_seed(0)
    x, y = _batch(torch, name, dev)

    def step():
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step, torch.cuda.synchronize


def worker(framework: str, iters: int) -> None:
    res = {}
    for name in WORKLOADS:
        try:
            step, sync = (numtorch_step if framework == "numtorch" else torch_step)(name)
            for _ in range(5):
                step()
            sync()
            times = []
            for _ in range(iters):
                t0 = time.perf_counter()
                step()
                sync()
                times.append(time.perf_counter() - t0)
            res[name] = statistics.median(times)
        except Exception as e:  # report and go on with the next workload
            res[name] = None
            print(f"{framework} {name} failed: {type(e).__name__}: {e}", file=sys.stderr)
    print(json.dumps(res), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--worker")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.iters)
        return
    out = {}
    for fw in ("numtorch", "torch"):
        r = subprocess.run([sys.executable, __file__, "--worker", fw, "--iters", str(args.iters)],
                           capture_output=True, text=True, env=dict(os.environ))
        sys.stderr.write(r.stderr[-2000:])
        out[fw] = (json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 and r.stdout.strip()
                   else {})
    failed = []
    for name in WORKLOADS:
        a, b = out["numtorch"].get(name), out["torch"].get(name)
        if a and b:
            print(f"# {name}: numtorch {a * 1e3:.2f} ms, torch {b * 1e3:.2f} ms per step")
            print(f"ratio {name} {a / b:.3f}")
        else:
            print(f"# {name}: FAILED (numtorch {a}, torch {b})")
            failed.append(name)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
