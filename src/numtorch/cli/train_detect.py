"""``numtorch train --model detector``: trains the CenterNet digit detector on ``DigitCanvases``.

Training canvases are drawn from MNIST test images 0..7999, a fresh set every epoch (new
positions and sizes of the same digits: augmentation for free); the held-out canvases from images
8000..9999, the same ones every epoch.  Each epoch reports the held-out Pascal VOC mAP@0.5 and COCO
mAP@[.5:.95], and the run writes ``checkpoint.safetensors`` (model state, config, history) and
``history.json`` into ``--out``.

Optimizer: Adam (AdamW with ``--optimizer adamw``; ``sgd``, the command's default for classifiers,
is taken as "not chosen" and gives Adam, which trains this detector far faster), a linear warm-up
over the first 100 steps and a cosine decay to 0.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

import numtorch
from numtorch.cli import common

# epochs, batch size, learning rate
DEFAULTS = (4, 16, 2e-3)
CANVASES_PER_EPOCH = 2000
HELD_OUT_CANVASES = 500
HELD_OUT_SEED = 1_000_003


def default_config(**overrides) -> dict:
    epochs, batch, lr = DEFAULTS
    config = {"model": "detector", "data": "digit-canvases", "epochs": epochs, "batch_size": batch, "lr": lr,
              "optimizer": "adam", "weight_decay": 0.0, "seed": 0, "canvases_per_epoch": CANVASES_PER_EPOCH,
              "held_out_canvases": HELD_OUT_CANVASES, "canvas_size": 96, "digits": [1, 5],
              "digit_size": [20, 40], "data_dir": common.DEFAULT_DATA_DIR}
    config.update(overrides)
    return config


def _config_from_args(args) -> dict:
    epochs, batch, lr = DEFAULTS
    for name in ("epochs", "batch_size"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise common.CLIError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.lr is not None and not args.lr > 0:
        raise common.CLIError(f"--lr must be positive, got {args.lr}")
    optimizer = args.optimizer if args.optimizer in ("adam", "adamw") else "adam"
    if args.optimizer not in ("sgd", "adam", "adamw"):
        print(f"note: the detector trains with adam; --optimizer {args.optimizer} is not used")
    return default_config(epochs=args.epochs or epochs, batch_size=args.batch_size or batch, lr=args.lr or lr,
                          optimizer=optimizer, weight_decay=args.weight_decay, seed=args.seed,
                          data_dir=args.data_dir or common.DEFAULT_DATA_DIR)


def _canvases(config: dict, split: str, n: int, seed: int):
    from numtorch.vision.datasets import DigitCanvases
    try:
        return DigitCanvases(config["data_dir"], split=split, num_canvases=n,
                             canvas_size=config["canvas_size"], digits=tuple(config["digits"]),
                             digit_size=tuple(config["digit_size"]), seed=seed)
    except RuntimeError as e:
        raise common.CLIError(str(e)) from None


def _schedule(total_steps: int, warmup: int = 100):
    """Linear warm-up, then cosine decay to 0: the factor on the base learning rate at each step."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    return factor


def _model_device(model):
    return next(model.parameters()).device


def evaluate_detector(model, images: np.ndarray, targets: list, batch_size: int = 50) -> dict:
    """Held-out VOC mAP@0.5 and COCO mAP@[.5:.95] (plus the detections, on the CPU), without recording
    a graph.  The images go to the model's device."""
    from numtorch.vision.evaluation import coco_map, voc_map
    model.eval()
    device = _model_device(model)
    detections = []
    with numtorch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = numtorch.from_numpy(images[start:start + batch_size]).to(device)
            detections.extend({k: v.cpu() for k, v in d.items()} for d in model(batch))
    voc = voc_map(detections, targets, classes=list(range(model.num_classes)))
    coco = coco_map(detections, targets, classes=list(range(model.num_classes)))
    return {"map_50": voc["map"], "coco_map": coco["map"], "ap_per_class": voc["map_per_class"],
            "recall_per_class": voc["mar_per_class"], "detections": detections}


def train_detector(config: dict, progress: bool = True, log=print, device: str = "cpu") -> dict:
    """Trains ``centernet_digits`` on ``device`` as ``config`` says; returns model, optimizer, history
    and timing."""
    from numtorch import optim
    from numtorch.models.detection import centernet_digits
    numtorch.manual_seed(config["seed"])
    model = centernet_digits().to(device)
    opt_cls = optim.AdamW if config["optimizer"] == "adamw" else optim.Adam
    optimizer = opt_cls(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    steps_per_epoch = -(-config["canvases_per_epoch"] // config["batch_size"])
    scheduler = optim.lr_scheduler.LambdaLR(optimizer, _schedule(steps_per_epoch * config["epochs"]))
    held = _canvases(config, "test", config["held_out_canvases"], HELD_OUT_SEED)
    held_images, held_targets = held.arrays()
    history = {"loss": [], "map_50": [], "coco_map": [], "epoch_seconds": []}
    start = time.perf_counter()
    for epoch in range(1, config["epochs"] + 1):
        t0 = time.perf_counter()
        loss = _train_epoch(model, optimizer, scheduler, config, epoch, steps_per_epoch, progress)
        result = evaluate_detector(model, held_images, held_targets)
        history["loss"].append(loss)
        history["map_50"].append(result["map_50"])
        history["coco_map"].append(result["coco_map"])
        history["epoch_seconds"].append(time.perf_counter() - t0)
        log(f"epoch {epoch}: loss {loss:.4f} | held-out mAP@0.5 {result['map_50']:.4f} "
            f"mAP@[.5:.95] {result['coco_map']:.4f} | {time.perf_counter() - t0:.0f}s")
    return {"model": model, "optimizer": optimizer, "history": history, "final": result,
            "seconds": time.perf_counter() - start}


def _train_epoch(model, optimizer, scheduler, config, epoch, steps, progress) -> float:
    """One pass over a fresh set of training canvases; returns the mean total loss."""
    data = _canvases(config, "train", config["canvases_per_epoch"], config["seed"] * 1000 + epoch)
    images, targets = data.arrays()
    order = np.random.default_rng([config["seed"], epoch]).permutation(len(images))
    bs = config["batch_size"]
    model.train()
    device = _model_device(model)
    bar = common.progress_bar(steps, f"epoch {epoch}/{config['epochs']}", progress)
    total = 0.0
    for i in range(steps):
        idx = order[i * bs:(i + 1) * bs]
        # images go to the model's device; the targets stay on the host, where they are encoded
        losses = model(numtorch.from_numpy(images[idx]).to(device), [targets[j] for j in idx])
        loss = sum(losses.values())
        value = common.check_finite_loss(float(loss.item()), f"epoch {epoch} step {i + 1}")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        total += value
        bar.update(1)
        bar.set_postfix_str(" ".join(f"{k}={float(v.item()):.3f}" for k, v in losses.items()))
    bar.close()
    return total / steps


def save_detector_run(out: Path, config: dict, result: dict) -> dict:
    """Writes ``checkpoint.safetensors`` (numtorch.save: model, config, classes, history) and
    ``history.json``."""
    out.mkdir(parents=True, exist_ok=True)
    model = result["model"]
    ckpt = {"model": model.state_dict(), "config": dict(config, detector=model.config()),
            "classes": [str(d) for d in range(model.num_classes)], "history": result["history"]}
    paths = {"checkpoint": out / "checkpoint.safetensors", "history": out / "history.json"}
    numtorch.save(ckpt, str(paths["checkpoint"]))
    paths["history"].write_text(common.dump_json(result["history"]))
    return paths


def run(args) -> int:
    """Entry point of ``numtorch train --model detector`` (the args namespace of ``numtorch train``)."""
    from numtorch.cli.train import default_out_dir
    config = _config_from_args(args)
    result = train_detector(config, progress=not args.quiet, device=args.device or "cpu")
    out = Path(args.out) if args.out else default_out_dir()
    paths = save_detector_run(out, config, result)
    print(f"held-out mAP@0.5 {result['history']['map_50'][-1]:.4f} "
          f"mAP@[.5:.95] {result['history']['coco_map'][-1]:.4f} ({result['seconds']:.0f}s)")
    for what, path in paths.items():
        print(f"{what}: {path}")
    return 0
