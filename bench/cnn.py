"""W2 SimpleConvNet, W4 ResNet-20 and DenseNet-BC-100 training steps, numtorch vs PyTorch; W4 peak RSS.

A step is forward + cross-entropy + backward + SGD update on a batch already in memory.  Both
frameworks start from the same weights (made by numtorch from seed 0, saved to an .npz) and see the
same batches; each runs in its own process with one BLAS thread, alternating A B A B.  Printed:

    ratio simplecnn_step  <numtorch / PyTorch median step>   W2, batch 100, SGD lr 0.1   (target <= 1.0)
    ratio resnet20_step   <...>                              W4, batch 32, SGD momentum 0.9 (target <= 1.5)
    ratio densenet_bc_100_step <...>                         batch 16, SGD momentum 0.9  (reported)
    ratio resnet20_peak_rss <numtorch / PyTorch peak RSS of a W4 run, each in its own process> (target <= 1.5)

and for each step a ``*_step_cpu`` ratio of median CPU (process) time, steadier on a loaded machine,
and ``loss_diff <name>``: the largest difference of the first three losses (same weights, same batch).

Usage: python bench/cnn.py [--rounds 2] [--quick] [--profile]
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import ONE_THREAD, compare, emit, limit_torch_threads  # noqa: E402

N_LOSSES = 3
ITERS = {"simplecnn": (5, 30), "resnet20": (3, 15), "densenet_bc_100": (1, 3)}
BATCH = {"simplecnn": (100, (1, 28, 28)), "resnet20": (32, (3, 32, 32)), "densenet_bc_100": (16, (3, 32, 32))}


def make_inputs(path: str) -> None:
    """Initial weights of the three models (numtorch's init, seed 0) and random batches, in one .npz."""
    sys.path.insert(0, str(ROOT / "src"))
    import numtorch
    from numtorch import models
    numtorch.manual_seed(0)
    arrays = {}
    for name, m in (("simplecnn", models.SimpleConvNet()), ("resnet20", models.resnet20(shortcut="B")),
                    ("densenet_bc_100", models.densenet_bc_100())):
        for k, v in m.state_dict().items():
            arrays[f"{name}/{k}"] = v.numpy()
        n, shape = BATCH[name]
        rng = np.random.default_rng(1)
        arrays[f"{name}/x"] = rng.random((n,) + shape).astype(np.float32)
        arrays[f"{name}/y"] = rng.integers(0, 10, n).astype(np.int64)
    np.savez(path, **arrays)


# ---- PyTorch models with numtorch's module names ----------------------------------------------

def torch_models(torch):
    tnn = torch.nn

    class Simple(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.relu1, self.pool1 = tnn.Conv2d(1, 30, 5), tnn.ReLU(), tnn.MaxPool2d(2, 2)
            self.flatten = tnn.Flatten()
            self.fc1, self.relu2, self.fc2 = tnn.Linear(4320, 100), tnn.ReLU(), tnn.Linear(100, 10)

        def forward(self, x):
            return self.fc2(self.relu2(self.fc1(self.flatten(self.pool1(self.relu1(self.conv1(x)))))))

    class Block(tnn.Module):
        def __init__(self, inp, planes, stride):
            super().__init__()
            self.conv1 = tnn.Conv2d(inp, planes, 3, stride, 1, bias=False)
            self.bn1, self.relu = tnn.BatchNorm2d(planes), tnn.ReLU(inplace=True)
            self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(planes)
            self.downsample = None
            if stride != 1 or inp != planes:
                self.downsample = tnn.Sequential(tnn.Conv2d(inp, planes, 1, stride, bias=False),
                                                 tnn.BatchNorm2d(planes))

        def forward(self, x):
            idt = x if self.downsample is None else self.downsample(x)
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(out + idt)

    class ResNet20(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = tnn.Conv2d(3, 16, 3, 1, 1, bias=False), tnn.BatchNorm2d(16)
            self.relu = tnn.ReLU(inplace=True)
            self.layer1 = tnn.Sequential(Block(16, 16, 1), Block(16, 16, 1), Block(16, 16, 1))
            self.layer2 = tnn.Sequential(Block(16, 32, 2), Block(32, 32, 1), Block(32, 32, 1))
            self.layer3 = tnn.Sequential(Block(32, 64, 2), Block(64, 64, 1), Block(64, 64, 1))
            self.avgpool, self.fc = tnn.AdaptiveAvgPool2d((1, 1)), tnn.Linear(64, 10)

        def forward(self, x):
            x = self.layer3(self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x))))))
            return self.fc(self.avgpool(x).flatten(1))

    class Layer(tnn.Module):
        def __init__(self, nin, k=12):
            super().__init__()
            self.norm1, self.relu1 = tnn.BatchNorm2d(nin), tnn.ReLU(inplace=True)
            self.conv1 = tnn.Conv2d(nin, 4 * k, 1, bias=False)
            self.norm2, self.relu2 = tnn.BatchNorm2d(4 * k), tnn.ReLU(inplace=True)
            self.conv2 = tnn.Conv2d(4 * k, k, 3, padding=1, bias=False)

        def forward(self, feats):
            return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(torch.cat(feats, 1)))))))

    class DenseBlock(tnn.ModuleDict):
        def __init__(self, n, nin, k=12):
            super().__init__()
            for i in range(n):
                self.add_module(f"denselayer{i + 1}", Layer(nin + i * k))

        def forward(self, x):
            feats = [x]
            for layer in self.values():
                feats.append(layer(feats))
            return torch.cat(feats, 1)

    class DenseNetBC100(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(OrderedDict([("conv0", tnn.Conv2d(3, 24, 3, 1, 1, bias=False))]))
            nf = 24
            for i in range(3):
                self.features.add_module(f"denseblock{i + 1}", DenseBlock(16, nf))
                nf += 16 * 12
                if i != 2:
                    self.features.add_module(f"transition{i + 1}", tnn.Sequential(OrderedDict([
                        ("norm", tnn.BatchNorm2d(nf)), ("relu", tnn.ReLU(inplace=True)),
                        ("conv", tnn.Conv2d(nf, nf // 2, 1, bias=False)), ("pool", tnn.AvgPool2d(2, 2))])))
                    nf //= 2
            self.features.add_module("norm5", tnn.BatchNorm2d(nf))
            self.classifier = tnn.Linear(nf, 10)

        def forward(self, x):
            out = torch.nn.functional.adaptive_avg_pool2d(torch.relu(self.features(x)), (1, 1))
            return self.classifier(out.flatten(1))

    return {"simplecnn": Simple, "resnet20": ResNet20, "densenet_bc_100": DenseNetBC100}


# ---- workers ------------------------------------------------------------------------------

def _setup(fw, d, name):
    """(model, optimizer, x, y) of one workload in framework ``fw`` (numtorch or torch)."""
    if fw.__name__ == "numtorch":
        from numtorch import models
        model = {"simplecnn": models.SimpleConvNet, "resnet20": lambda: models.resnet20(shortcut="B"),
                 "densenet_bc_100": models.densenet_bc_100}[name]()
    else:
        model = torch_models(fw)[name]()
    prefix = name + "/"
    model.load_state_dict({k[len(prefix):]: fw.from_numpy(d[k].copy()) for k in d.files
                           if k.startswith(prefix) and k not in (prefix + "x", prefix + "y")})
    model.train()
    momentum = 0.0 if name == "simplecnn" else 0.9
    opt = fw.optim.SGD(model.parameters(), lr=0.1, momentum=momentum)
    return model, opt, fw.from_numpy(d[prefix + "x"]), fw.from_numpy(d[prefix + "y"])


def _step_fn(fw, model, opt, x, y):
    def step():
        loss = fw.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return step


def worker(role: str, path: str, names) -> None:
    if role.startswith("numtorch"):
        sys.path.insert(0, str(ROOT / "src"))
        import numtorch as fw
    else:
        fw = limit_torch_threads()
    d = np.load(path)
    if role.endswith("_rss"):  # peak memory of a W4 run, nothing else in this process
        step = _step_fn(fw, *_setup(fw, d, "resnet20"))
        for _ in range(5):
            step()
        emit({"resnet20_peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024})
        return
    if role.endswith("_profile"):
        _profile(fw, d, names)
        return
    result = {}
    for name in names:
        step = _step_fn(fw, *_setup(fw, d, name))
        warmup, iters = ITERS[name]
        for i in range(N_LOSSES):  # the first steps from the same weights: their losses are compared
            result[f"{name}_loss{i}"] = float(step().item())
        result[name + "_step"], result[name + "_step_cpu"] = _median_times(step, warmup, iters)
    emit(result)


def _profile(fw, d, names) -> None:
    """cProfile of the timed steps of each workload, the 25 functions with the most own time."""
    import cProfile
    import pstats
    for name in names:
        step = _step_fn(fw, *_setup(fw, d, name))
        warmup, iters = ITERS[name]
        for _ in range(warmup):
            step()
        prof = cProfile.Profile()
        prof.runcall(lambda: [step() for _ in range(iters)])
        print(f"# {name}: {iters} steps")
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(25)


def _median_times(step, warmup: int, iters: int) -> tuple:
    """Median wall-clock and median CPU (process) seconds per step after ``warmup`` steps.

    On a shared, loaded machine the CPU time of a one-thread process is the steadier figure: it
    does not count the time the scheduler gives to other processes.
    """
    for _ in range(warmup):
        step()
    wall, cpu = [], []
    for _ in range(iters):
        w0, c0 = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="skip DenseNet-BC-100")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile numtorch's steps (one thread) instead of timing against PyTorch")
    ap.add_argument("--worker")
    ap.add_argument("--inputs")
    ap.add_argument("--names", default="simplecnn,resnet20,densenet_bc_100")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.inputs, args.names.split(","))
        return
    names = "simplecnn,resnet20" if args.quick else args.names
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cnn_inputs.npz")
        make_inputs(path)
        extra = ("--inputs", path, "--names", names)
        if args.profile:
            subprocess.run([sys.executable, __file__, "--worker", "numtorch_profile", *extra],
                           env=dict(os.environ, **ONE_THREAD), check=True)
            return
        res = compare(__file__, ("numtorch", "torch"), args.rounds, extra)
        rss = compare(__file__, ("numtorch_rss", "torch_rss"), 1, extra)
    for name in names.split(","):
        losses = [[res[fw][f"{name}_loss{i}"] for i in range(N_LOSSES)] for fw in ("numtorch", "torch")]
        print(f"# {name} first losses: numtorch {losses[0]}, PyTorch {losses[1]}")
        print(f"loss_diff {name} {max(abs(a - b) for a, b in zip(*losses)):.2e}")
        for k in (name + "_step", name + "_step_cpu"):
            a, b = res["numtorch"][k], res["torch"][k]
            print(f"# {k}: numtorch {a * 1e3:.1f} ms, PyTorch {b * 1e3:.1f} ms")
            print(f"ratio {k} {res['numtorch'][k] / res['torch'][k]:.3f}")
    a, b = rss["numtorch_rss"]["resnet20_peak_rss"], rss["torch_rss"]["resnet20_peak_rss"]
    print(f"# resnet20 peak RSS: numtorch {a / 2**20:.0f} MiB, PyTorch {b / 2**20:.0f} MiB")
    print(f"ratio resnet20_peak_rss {a / b:.3f}")


if __name__ == "__main__":
    main()
