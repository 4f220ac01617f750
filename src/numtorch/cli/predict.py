"""``numtorch predict CHECKPOINT IMAGE...``: the class probabilities a trained model gives images.

Each image (PNG, JPEG, ...) is turned into the model's input as the training data was made:
grayscale (RGB for colour models), dark background (a light background is inverted, as the
training digits are light on dark), cropped to the ink and resized to the training size, scaled
to [0, 1].  The model's scores (logits) go through softmax, ``p_i = exp(s_i) / sum_j exp(s_j)``:
a score of 10.1 against smaller ones becomes a probability near 1.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import numtorch
from numtorch.cli import common


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("predict", help="class probabilities for image files", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="a checkpoint.safetensors written by `numtorch train`")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    p.add_argument("--invert", default="auto", choices=("auto", "yes", "no"),
                   help="invert grey levels: auto (default) when the image's border is light")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="draw the probabilities as a bar chart (one file per image: name_2.png, ...)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, ...")
    p.set_defaults(run=run)
    return p


def _open_image(path: Path, channels: int):
    with common.open_image(path) as im:
        from PIL import Image                                  # present: open_image imported it
        if "A" in im.getbands() or "transparency" in im.info:  # transparent means white paper
            rgba = im.convert("RGBA")
            im = Image.new("RGBA", rgba.size, "white")
            im.alpha_composite(rgba)
        return im.convert("L" if channels == 1 else "RGB"), Image


def image_to_input(path, image_shape: tuple, invert: str = "auto") -> np.ndarray:
    """An image file as a float32 array (C, H, W) in [0, 1], prepared like the training images."""
    c, h, w = image_shape
    img, Image = _open_image(Path(path), c)
    a = np.asarray(img, dtype=np.float32)
    a = a[..., None] if a.ndim == 2 else a
    border = np.concatenate([a[0].ravel(), a[-1].ravel(), a[:, 0].ravel(), a[:, -1].ravel()])
    if invert == "yes" or (invert == "auto" and c == 1 and border.mean() > 127):
        a = 255 - a
    if a.shape[:2] != (h, w):
        if c == 1:
            a = _crop_to_ink(a, h)
        img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8).squeeze(-1) if c == 1
                              else a.astype(np.uint8))
        a = np.asarray(img.resize((w, h), Image.Resampling.LANCZOS), dtype=np.float32)
        a = a[..., None] if a.ndim == 2 else a
    return np.ascontiguousarray((np.clip(a, 0, 255) / 255).transpose(2, 0, 1), dtype=np.float32)


def _crop_to_ink(a: np.ndarray, size: int) -> np.ndarray:
    """A square around the ink with a margin like the training images' (MNIST: 20 of 28 pixels)."""
    ink = a[..., 0] > 0.2 * a.max() if a.max() > 0 else None
    if ink is None or not ink.any():
        return a
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    side = max(bottom - top, right - left)
    fill = 20 / 28 if size >= 16 else 1.0  # the 8x8 digits fill their frame
    full = int(np.ceil(side / fill))
    out = np.zeros((full, full, a.shape[2]), dtype=a.dtype)
    oy, ox = (full - (bottom - top)) // 2, (full - (right - left)) // 2
    out[oy:oy + bottom - top, ox:ox + right - left] = a[top:bottom, left:right]
    return out


def run(args) -> int:
    ckpt = common.load_checkpoint(args.checkpoint)
    model = common.model_from_checkpoint(ckpt, args.device)
    config = ckpt["config"]
    classes = list(ckpt.get("classes") or config["classes"])
    shape = tuple(config["image_shape"])
    x = numtorch.from_numpy(np.stack([image_to_input(p, shape, args.invert) for p in args.images]))
    with numtorch.no_grad():
        scores = model(x.to(args.device))
        probs = numtorch.nn.functional.softmax(scores, dim=1)
    scores, probs = scores.cpu().numpy(), probs.cpu().numpy()
    for i, path in enumerate(args.images):
        best = int(probs[i].argmax())
        print(f"{path}: {classes[best]} (probability {probs[i, best]:.4f})")
        print(f"  {'class':>12} {'score':>9} {'probability':>12}")
        for name, s, p in zip(classes, scores[i], probs[i]):
            print(f"  {name:>12} {s:9.3f} {p:12.4f}")
        if args.plot:
            from numtorch.viz import plot_softmax_bars
            target = Path(args.plot)
            if len(args.images) > 1:
                target = target.with_name(f"{target.stem}_{i + 1}{target.suffix or '.png'}")
            plot_softmax_bars(probs[i], classes, target, title=f"{Path(path).name}: {classes[best]}")
            print(f"  bar chart: {target}")
    return 0
