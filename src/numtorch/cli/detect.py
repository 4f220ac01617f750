"""``numtorch detect CHECKPOINT IMAGE --out boxes.png``: finds digits in an image and draws them.

The checkpoint is one written by ``numtorch train --model detector``.  The image is read as
grayscale, light-on-dark like the training canvases (a light background is inverted), scaled to
[0, 1]; the detector's boxes with score >= ``--score-thresh`` are printed (``label score x1 y1 x2
y2``) and, with ``--out``, drawn on the image with their labels and scores.

Images of more than ``MAX_PIXELS`` (2048 x 2048) are refused with a one-line error before they are
decoded: the network's feature maps grow with the image (a 9000 x 9000 image would take over 6 GB),
and shrinking the image would shrink the digits below the 20-40 pixels the detector was trained on,
so cropping is the user's choice.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import numtorch
from numtorch.cli import common

MAX_PIXELS = 2048 * 2048


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("detect", help="detect digits in an image and draw the boxes",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="a checkpoint.safetensors written by `numtorch train --model detector`")
    p.add_argument("image", help="an image file (PNG, JPEG, ...)")
    p.add_argument("--out", default=None, metavar="PNG", help="write the image with the boxes drawn")
    p.add_argument("--score-thresh", type=float, default=0.3, help="smallest score shown (default 0.3)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, ...")
    p.add_argument("--invert", default="auto", choices=("auto", "yes", "no"),
                   help="invert grey levels: auto (default) when the image's border is light")
    p.set_defaults(run=run)
    return p


def load_detector(path):
    """The CenterNet of a detector checkpoint, in eval mode, and the class names."""
    from numtorch.models.detection import CenterNet
    ckpt = common.load_checkpoint(path)
    cfg = ckpt["config"].get("detector") if isinstance(ckpt["config"], dict) else None
    if cfg is None:
        raise common.CLIError(f"{path} is not a detector checkpoint "
                              "(train one with `numtorch train --model detector`)")
    model = CenterNet(**cfg)
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError, ValueError) as e:
        raise common.CLIError(f"checkpoint does not fit the detector: {common.reason(e)}") from None
    return model.eval(), list(ckpt.get("classes", [str(i) for i in range(model.num_classes)]))


def read_image(path: Path, invert: str = "auto") -> np.ndarray:
    """A grayscale image as float32 (1, H, W) in [0, 1], light strokes on a dark background."""
    with common.open_image(path) as im:   # the header only: the size is known before decoding
        _check_size(path, *im.size)
        a = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if invert == "yes" or (invert == "auto" and border.mean() > 0.5):
        a = 1.0 - a
    return a[None]


def _check_size(path: Path, width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise common.CLIError(f"image {path} is {width}x{height} ({width * height / 1e6:.1f} M pixels); "
                              f"detect takes at most {MAX_PIXELS / 1e6:.1f} M pixels (e.g. 2048x2048): crop "
                              "it, keeping digits about 20-40 pixels tall")


def draw_detections(image: np.ndarray, detections: dict, classes, out: Path, scale: int = 4) -> Path:
    """Draws boxes with "label score" captions on an enlarged copy of the (1, H, W) image."""
    from PIL import Image, ImageDraw
    gray = (np.clip(image[0], 0, 1) * 255).astype(np.uint8)
    img = Image.fromarray(gray).convert("RGB").resize((gray.shape[1] * scale, gray.shape[0] * scale),
                                                      Image.NEAREST)
    draw = ImageDraw.Draw(img)
    colours = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
               "#bcf60c", "#fabebe"]
    for box, label, score in zip(detections["boxes"].numpy(), detections["labels"].numpy(),
                                 detections["scores"].numpy()):
        x1, y1, x2, y2 = (box * scale).tolist()
        colour = colours[int(label) % len(colours)]
        draw.rectangle([x1, y1, x2, y2], outline=colour, width=2)
        draw.text((x1 + 2, max(0, y1 - 12)), f"{classes[int(label)]} {score:.2f}", fill=colour)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.png")
    img.save(tmp)
    tmp.replace(out)
    return out


def run(args) -> int:
    image = read_image(Path(args.image), args.invert)   # a bad image fails before the model loads
    model, classes = load_detector(args.checkpoint)
    model.score_thresh = args.score_thresh
    device = getattr(args, "device", None) or "cpu"
    with numtorch.no_grad():
        det = model.to(device)([numtorch.from_numpy(image).to(device)])[0]
    det = {k: v.cpu() for k, v in det.items()}  # printed and drawn on the host
    print(f"{len(det['labels'])} detections (score >= {args.score_thresh})")
    for box, label, score in zip(det["boxes"].numpy(), det["labels"].numpy(), det["scores"].numpy()):
        print(f"{classes[int(label)]} {score:.3f} " + " ".join(f"{v:.1f}" for v in box))
    if args.out:
        print(f"boxes: {draw_detections(image, det, classes, Path(args.out))}")
    return 0
