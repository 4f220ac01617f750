"""Detection: one CenterNet training step and inference, numtorch vs the same network in PyTorch.

The workload is the detector of ``numtorch.models.detection.centernet_digits`` (tiny FPN backbone,
stride-4 heatmap + box head) on 96x96 DigitCanvases:

* train step: forward + target assignment + losses (heatmap focal, GIoU, L1) + backward + Adam
  (lr 1e-3) on a batch of 16 canvases already in memory;
* inference: forward + decoding (sigmoid, 3x3 peak test, top-100, class-wise NMS) on 50 canvases.

PyTorch runs a transcription of the same module tree (same state_dict keys, same initial weights,
same batches; the target assignment and NMS are the same NumPy code in both), each framework in
its own one-thread process, alternating A B A B; the median after warm-up is reported.  Printed:

    ratio detection_train_step <numtorch / PyTorch>
    ratio detection_inference <numtorch / PyTorch>     (time per image)
    numtorch inference images/s ..., PyTorch inference images/s ...

Usage: python bench/detection.py [--rounds 2] [--iters 8] [--warmup 2]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness  # noqa: E402

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
BATCH, N_BATCHES, INFER_BATCH, LR = 16, 4, 50, 1e-3
sys.path.insert(0, str(ROOT / "src"))


def make_inputs(path: Path) -> None:
    """Initial weights (numtorch's init, seed 0), training batches and an inference batch, as .npz."""
    import numtorch
    from numtorch.models.detection import centernet_digits
    from numtorch.vision.datasets import DigitCanvases
    numtorch.manual_seed(0)
    model = centernet_digits()
    weights = {f"w:{k}": v.numpy() for k, v in model.state_dict().items()}
    if (DATA / "mnist").exists():
        ds = DigitCanvases(DATA, split="train", num_canvases=BATCH * N_BATCHES + INFER_BATCH)
    else:  # no MNIST: random blobs give the same timing
        rng = np.random.default_rng(0)
        ds = DigitCanvases(images=(rng.random((100, 28, 28)) * 255).astype(np.uint8),
                           labels=rng.integers(0, 10, 100), num_canvases=BATCH * N_BATCHES + INFER_BATCH)
    images, targets = ds.arrays()
    boxes = np.concatenate([t["boxes"].numpy() for t in targets])
    labels = np.concatenate([t["labels"].numpy() for t in targets])
    counts = np.array([len(t["labels"]) for t in targets])
    np.savez(path, images=images, boxes=boxes, labels=labels, counts=counts, **weights)


def _targets(d, lo: int, hi: int, wrap):
    ends = np.cumsum(d["counts"])
    starts = ends - d["counts"]
    return [{"boxes": wrap(d["boxes"][starts[i]:ends[i]]), "labels": wrap(d["labels"][starts[i]:ends[i]])}
            for i in range(lo, hi)]


def _time(step, n_warmup: int, n_iters: int, n_batches: int) -> tuple:
    times, losses = [], []
    for i in range(n_warmup + n_iters):
        t0 = time.perf_counter()
        loss = step(i % n_batches)
        t1 = time.perf_counter()
        losses.append(loss)
        if i >= n_warmup:
            times.append(t1 - t0)
    return times, losses


# ---- numtorch worker ---------------------------------------------------------------------------

def worker_numtorch(d, warmup: int, iters: int) -> dict:
    import numtorch
    from numtorch.models.detection import centernet_digits
    model = centernet_digits()
    model.load_state_dict({k[2:]: numtorch.from_numpy(v) for k, v in d.items() if k.startswith("w:")})
    opt = numtorch.optim.Adam(model.parameters(), lr=LR)
    batches = [(numtorch.from_numpy(d["images"][i * BATCH:(i + 1) * BATCH]),
                _targets(d, i * BATCH, (i + 1) * BATCH, numtorch.from_numpy)) for i in range(N_BATCHES)]

    def step(i):
        model.train()
        loss = sum(model(*batches[i]).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.item())

    train_times, losses = _time(step, warmup, iters, N_BATCHES)
    x = numtorch.from_numpy(d["images"][BATCH * N_BATCHES:])
    model.eval()

    def infer(_):
        with numtorch.no_grad():
            return float(len(model(x)))

    infer_times, _ = _time(infer, 1, max(2, iters // 3), 1)
    return {"train": train_times, "losses": losses, "infer": infer_times}


# ---- PyTorch worker: the same network, transcribed -------------------------------------------

def _torch_model():
    from torch import nn
    import torch.nn.functional as F

    def cbr(i, o, k=3, s=1):
        return nn.Sequential(nn.Conv2d(i, o, k, s, k // 2, bias=False), nn.BatchNorm2d(o), nn.ReLU())

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)
            self.conv2, self.bn2 = nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)

        def forward(self, x):
            return F.relu(x + self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))

    class Backbone(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = cbr(1, 16, 3, 2)
            self.layer1 = nn.Sequential(cbr(16, 32, 3, 2), Block(32))
            self.layer2 = nn.Sequential(cbr(32, 64, 3, 2), Block(64))
            self.lateral = cbr(64, 32, 1)

        def forward(self, x):
            c4 = self.layer1(self.stem(x))
            return c4 + F.interpolate(self.lateral(self.layer2(c4)), scale_factor=2, mode="nearest")

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = Backbone()
            self.head = nn.Sequential(nn.Conv2d(32, 32, 3, 1, 1), nn.ReLU())
            self.cls_logits, self.bbox_pred = nn.Conv2d(32, 10, 1), nn.Conv2d(32, 4, 1)

        def forward(self, x):
            h = self.head(self.backbone(x))
            return self.cls_logits(h), self.bbox_pred(h)

    return Net()


def _torch_giou_loss(b1, b2, eps=1e-7):
    import torch
    x1, y1, x2, y2 = b1.unbind(-1)
    x1g, y1g, x2g, y2g = b2.unbind(-1)
    xk1, yk1, xk2, yk2 = torch.max(x1, x1g), torch.max(y1, y1g), torch.min(x2, x2g), torch.min(y2, y2g)
    inter = torch.where((yk2 > yk1) & (xk2 > xk1), (xk2 - xk1) * (yk2 - yk1), torch.zeros_like(x1))
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    area_c = (torch.max(x2, x2g) - torch.min(x1, x1g)) * (torch.max(y2, y2g) - torch.min(y1, y1g))
    return (1 - (inter / (union + eps) - (area_c - union) / (area_c + eps))).mean()


def worker_torch(d, warmup: int, iters: int) -> dict:
    import torch
    import torch.nn.functional as F
    from numtorch.models.detection import encode_targets
    from numtorch.vision.ops import _nms_array
    torch.set_num_threads(1)
    model = _torch_model()
    model.load_state_dict({k[2:]: torch.from_numpy(v) for k, v in d.items() if k.startswith("w:")})
    opt = torch.optim.Adam(model.parameters(), lr=LR)

    class _Wrap:  # encode_targets reads ``t["boxes"]._data``
        def __init__(self, a):
            self._data = a

        def __len__(self):
            return len(self._data)

    batches = [(torch.from_numpy(d["images"][i * BATCH:(i + 1) * BATCH]),
                _targets(d, i * BATCH, (i + 1) * BATCH, _Wrap)) for i in range(N_BATCHES)]

    def losses(cls, reg, targets):
        enc = encode_targets(targets, 10, tuple(cls.shape[-2:]), 4)
        heat = torch.from_numpy(enc["heatmap"])
        p = torch.sigmoid(cls)
        pos = (heat == 1).float()
        hm = -((F.logsigmoid(cls) * (1 - p) ** 2 * pos).sum()
               + (F.logsigmoid(-cls) * p ** 2 * (1 - heat) ** 4 * (1 - pos)).sum()) \
            / max(len(enc["batch"]), 1)
        b, cy, cx = (torch.from_numpy(enc[k]) for k in ("batch", "cy", "cx"))
        r = reg[b, :, cy, cx]
        off, lwh = r[:, :2], r[:, 2:].clamp(-6, 6)
        centre = (torch.from_numpy(np.stack([enc["cx"], enc["cy"]], 1).astype(np.float32)) + off) * 4
        half = lwh.exp() * 2
        gt = torch.from_numpy(enc["boxes"])
        giou = _torch_giou_loss(torch.cat([centre - half, centre + half], 1), gt)
        gt_lwh = torch.from_numpy(np.log((enc["boxes"][:, 2:] - enc["boxes"][:, :2]) / 4).astype(np.float32))
        return (hm + giou + (off - torch.from_numpy(enc["offset"])).abs().mean()
                + 0.5 * (lwh - gt_lwh).abs().mean())

    def step(i):
        model.train()
        x, t = batches[i]
        loss = losses(*model(x), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.item())

    train_times, train_losses = _time(step, warmup, iters, N_BATCHES)
    x = torch.from_numpy(d["images"][BATCH * N_BATCHES:])
    model.eval()

    def infer(_):
        with torch.no_grad():
            cls, reg = model(x)
            heat = torch.sigmoid(cls)
            peaks = torch.where(heat == F.max_pool2d(heat, 3, 1, 1), heat, torch.zeros_like(heat)).flatten(1)
            scores, top = peaks.topk(100, dim=1)
            n, _, h, w = cls.shape
            labels, pix = top // (h * w), top % (h * w)
            ys, xs = pix // w, pix % w
            box = reg[torch.arange(n)[:, None], :, ys, xs]
            cxy = (torch.stack([xs, ys], -1) + box[..., :2]) * 4
            half = box[..., 2:].clamp(-6, 6).exp() * 2
            boxes = torch.cat([cxy - half, cxy + half], -1).clamp(0, 96)
            for i in range(n):
                keep = scores[i] > 0.05
                bb, ss, ll = boxes[i][keep].numpy(), scores[i][keep].numpy(), labels[i][keep].numpy()
                _nms_array(bb + ll[:, None] * 97.0, ss, 0.5)
        return float(n)

    infer_times, _ = _time(infer, 1, max(2, iters // 3), 1)
    return {"train": train_times, "losses": train_losses, "infer": infer_times}


WORKERS = {"numtorch": worker_numtorch, "torch": worker_torch}


def launch(name: str, data: Path, warmup: int, iters: int) -> dict:
    return _harness.launch(__file__, name, data, warmup, iters)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--iters", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--worker", choices=tuple(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        d = dict(np.load(args.data, allow_pickle=False))
        print(json.dumps(WORKERS[args.worker](d, args.warmup, args.iters)))
        return
    res = {f: {"train": [], "infer": [], "losses": []} for f in WORKERS}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "detection.npz"
        make_inputs(data)
        for _ in range(args.rounds):  # A B A B
            for f in WORKERS:
                r = launch(f, data, args.warmup, args.iters)
                for k in r:
                    res[f][k] += r[k] if k != "losses" else []
                res[f]["losses"] = r["losses"]
    med = {f: {k: float(np.median(res[f][k])) for k in ("train", "infer")} for f in WORKERS}
    for f in WORKERS:
        print(f"{f:>9}: train step {med[f]['train'] * 1e3:.1f} ms (batch {BATCH}), inference "
              f"{INFER_BATCH / med[f]['infer']:.1f} images/s")
    n = min(len(res["numtorch"]["losses"]), len(res["torch"]["losses"]))
    diff = max(abs(a - b) for a, b in zip(res["numtorch"]["losses"][:n], res["torch"]["losses"][:n]))
    print(f"largest |loss numtorch - loss torch| over the {n} steps of the last round: {diff:.2e}")
    print(f"ratio detection_train_step {med['numtorch']['train'] / med['torch']['train']:.3f}")
    print(f"ratio detection_inference {med['numtorch']['infer'] / med['torch']['infer']:.3f}")


if __name__ == "__main__":
    main()
