"""Summary values: scalars, histograms, images and text as TensorBoard stores them."""
from __future__ import annotations

import io

import numpy as np

from numtorch.utils.tensorboard import _proto


def to_numpy(x) -> np.ndarray:
    """A tensor, array, number or list as a NumPy array (a tensor is detached and brought to the CPU)."""
    if hasattr(x, "detach") and hasattr(x, "numpy"):
        x = x.detach()
        if x.dtype.name == "bfloat16":
            x = x.float()
        return x.cpu().numpy() if hasattr(x, "cpu") else x.numpy()
    return np.asarray(x)


def scalar(tag: str, value, new_style: bool = False, double_precision: bool = False) -> bytes:
    """A Summary with one simple_value (a float32 in the file); ``new_style``: a tensor for the
    scalars plugin instead (float64 with ``double_precision``)."""
    a = to_numpy(value).squeeze()
    if a.ndim != 0:
        raise AssertionError(f"Tensor should contain one element (0 dimensions). Was given size: {a.size} "
                             f"and {a.ndim} dimensions.")
    if new_style:
        t = _proto.scalar_tensor_proto(float(a), double_precision)
        return _proto.summary(_proto.value_tensor(tag, t, "scalars"))
    return _proto.summary(_proto.value_simple(tag, float(a)))


def default_bins() -> list[float]:
    """TensorFlow's histogram bins: +-1e-12 growing by 10% up to 1e20, and 0."""
    pos = []
    v = 1e-12
    while v < 1e20:
        pos.append(v)
        v *= 1.1
    return [-x for x in reversed(pos)] + [0.0] + pos


def histogram(tag: str, values, bins, max_bins: int | None = None) -> bytes:
    """A Summary with a HistogramProto of ``values`` (``bins`` as for ``np.histogram``)."""
    v = to_numpy(values).astype(np.float64).reshape(-1)
    if v.size == 0:
        raise ValueError("The input has no element.")
    counts, limits = np.histogram(v, bins=bins)
    if max_bins is not None and len(counts) > max_bins:
        counts, limits = _merge_bins(counts, limits, max_bins)
    limits_kept, counts_kept = _support(counts, limits)
    histo = _proto.histogram_proto(float(v.min()), float(v.max()), float(v.size), float(v.sum()),
                                   float(v @ v), limits_kept, counts_kept)
    return _proto.summary(_proto.value_histo(tag, histo))


def _merge_bins(counts, limits, max_bins):
    """Groups of k = len // max_bins neighbouring bins summed into one (zero-padded at the end)."""
    k = len(counts) // max_bins
    pad = (-len(counts)) % k
    counts = np.pad(counts, (0, pad)).reshape(-1, k).sum(axis=1)
    limits = np.append(limits[:-1:k], limits[-1])
    return counts, limits


def _support(counts, limits):
    """The bins from the first to the last non-empty one, as TensorBoard stores them: right limits
    only, with one empty bin in front so that the leftmost limit is kept too."""
    nonzero = np.flatnonzero(counts)
    first, last = (nonzero[0], nonzero[-1]) if nonzero.size else (0, len(counts) - 1)
    kept_counts = np.concatenate([[0], counts[first:last + 1]]) if first == 0 else counts[first - 1:last + 1]
    kept_limits = limits[first:last + 2]
    return kept_limits.tolist(), kept_counts.astype(np.float64).tolist()


def _to_hwc(a: np.ndarray, dataformats: str) -> np.ndarray:
    """An image as (H, W, C) with C in {1, 3, 4}; a batch (N in the format) as a grid of 8 a row."""
    fmt = dataformats.upper()
    if len(fmt) != a.ndim or sorted(fmt) != sorted(set(fmt)) or not set(fmt) <= set("NCHW"):
        raise AssertionError(f"size of input tensor and input format are different. tensor shape: {a.shape}, "
                             f"input_format: {dataformats}")
    if "N" in fmt:
        a = _grid(a.transpose([fmt.index(c) for c in "NCHW"]))
        return a.transpose(1, 2, 0)
    if "C" not in fmt:
        a, fmt = a[..., None], fmt + "C"
    a = a.transpose([fmt.index(c) for c in "HWC"])
    if a.shape[2] == 1:
        a = np.concatenate([a, a, a], axis=2)   # grayscale written as RGB, as PyTorch does
    return a


def _grid(nchw: np.ndarray, ncols: int = 8) -> np.ndarray:
    """(N, C, H, W) -> (C, rows*H, cols*W): images side by side, 8 a row (grey ones made RGB)."""
    if nchw.shape[1] == 1:
        nchw = np.concatenate([nchw] * 3, axis=1)
    n, c, h, w = nchw.shape
    cols = min(n, ncols)
    rows = -(-n // cols)
    out = np.zeros((c, rows * h, cols * w), dtype=nchw.dtype)
    for i in range(n):
        r, q = divmod(i, cols)
        out[:, r * h:(r + 1) * h, q * w:(q + 1) * w] = nchw[i]
    return out


def image(tag: str, img, dataformats: str = "CHW") -> bytes:
    """A Summary with one PNG image: uint8 values as they are, floats (in [0, 1]) times 255."""
    a = _to_hwc(to_numpy(img), dataformats)
    scale = 1 if a.dtype == np.uint8 else 255
    a = (a.astype(np.float32) * scale).clip(0, 255).astype(np.uint8)
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("SummaryWriter.add_image needs pillow to encode PNG: "
                          "pip install numtorch[images]") from None
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    h, w, c = a.shape
    return _proto.summary(_proto.value_image(tag, _proto.image_proto(h, w, c, buf.getvalue())))


def text(tag: str, text_string: str) -> bytes:
    """A Summary with a string tensor for the text plugin (its tag: ``tag + "/text_summary"``)."""
    t = _proto.string_tensor_proto([text_string.encode("utf-8")])
    return _proto.summary(_proto.value_tensor(tag + "/text_summary", t, "text"))


def figure_to_image(figure) -> np.ndarray:
    """A matplotlib figure rendered as an (H, W, 4) uint8 RGBA array."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()
