"""Plots for learners: activation functions and their derivatives, training curves, softmax bars.

Every function draws with matplotlib's object-oriented API on the Agg (PNG) canvas -- no pyplot, no
window, no change to a user's interactive backend -- and writes the PNG atomically: to a temporary
file in the target folder, renamed into place only once it is complete.

matplotlib is imported inside the functions that draw; without it they raise one clear
``RuntimeError`` naming ``pip install numtorch[plot]``.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence

import numpy as np

import numtorch

__all__ = ["new_figure", "save_figure", "activation_curves", "plot_activations", "plot_training_curves",
           "plot_softmax_bars", "plot_lr_search"]


def new_figure(*subplots: int, size=(6.4, 4.8)):
    """A matplotlib ``Figure`` on the Agg canvas and its axes: ``fig, axes = new_figure(1, 2)``."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError:
        raise RuntimeError("plotting needs matplotlib: pip install numtorch[plot]") from None
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(*subplots) if subplots else fig.subplots()
    return fig, axes


def save_figure(fig, path) -> Path:
    """Writes ``fig`` as a PNG at ``path`` via a temporary file and a rename; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format="png", dpi=100)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's file is 0600: give the mode open() would
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


# ---- activation functions ----------------------------------------------------------------

def _swish(beta: float):
    return lambda x: x * numtorch.sigmoid(beta * x)  # swish(x) = x * sigmoid(beta x)


def activation_curves(lo: float = -5.0, hi: float = 5.0, n: int = 501) -> Dict[str, tuple]:
    """Each activation's values and derivative on ``linspace(lo, hi, n)``, computed by numtorch.

    The derivative comes from autograd: ``y.sum().backward()`` leaves dy_i/dx_i in ``x.grad``
    (each y_i depends only on x_i).
    Returns:
        ``{name: (x, y, dy/dx)}`` as NumPy arrays, for sigmoid, tanh, ReLU and Swish (beta 0.1, 1, 10).
    """
    functions = {"sigmoid": numtorch.sigmoid, "tanh": numtorch.tanh, "ReLU": numtorch.relu,
                 "Swish β=0.1": _swish(0.1), "Swish β=1": _swish(1.0), "Swish β=10": _swish(10.0)}
    curves = {}
    for name, f in functions.items():
        x = numtorch.linspace(lo, hi, n, dtype=numtorch.float64).requires_grad_(True)
        y = f(x)
        y.sum().backward()
        curves[name] = (x.detach().numpy(), y.detach().numpy(), x.grad.numpy())
    return curves


def plot_activations(path, lo: float = -5.0, hi: float = 5.0) -> Path:
    """One PNG: activations on the left, their autograd derivatives on the right."""
    fig, (ax_f, ax_d) = new_figure(1, 2, size=(11, 4.5))
    for name, (x, y, dy) in activation_curves(lo, hi).items():
        ax_f.plot(x, y, label=name)
        ax_d.plot(x, dy, label=name)
    ax_f.set(title="activation f(x)", xlabel="x", ylim=(-1.5, 5))
    ax_d.set(title="derivative f'(x) (numtorch autograd)", xlabel="x", ylim=(-0.5, 2.5))
    for ax in (ax_f, ax_d):
        ax.grid(alpha=0.3)
        ax.axhline(0, color="k", lw=0.5)
        ax.legend(fontsize=8)
    return save_figure(fig, path)


# ---- training --------------------------------------------------------------------------

def plot_training_curves(history: Mapping[str, Sequence[float]], path, title: Optional[str] = None) -> Path:
    """Loss (left) and accuracy (right) per epoch.

    Args:
        history: lists keyed ``train_loss``, and optionally ``test_loss``, ``train_acc``, ``test_acc``
            (one value per epoch); ``step_loss`` (one per step) is drawn faintly when present.
        path: the PNG to write.
    """
    fig, (ax_l, ax_a) = new_figure(1, 2, size=(11, 4.5))
    epochs = np.arange(1, len(history.get("train_loss", ())) + 1)
    steps = history.get("step_loss")
    if steps:
        ax_l.plot(np.linspace(0, len(epochs), len(steps) + 1)[1:], steps, color="0.75", lw=0.7,
                  label="train loss (per step)")
    for key, label in (("train_loss", "train loss"), ("test_loss", "held-out loss")):
        if history.get(key):
            ax_l.plot(epochs, history[key], marker="o", label=label)
    for key, label in (("train_acc", "train accuracy"), ("test_acc", "held-out accuracy")):
        if history.get(key):
            ax_a.plot(epochs, history[key], marker="o", label=label)
    ax_l.set(title="loss", xlabel="epoch")
    ax_a.set(title="accuracy", xlabel="epoch", ylim=(0, 1.02))
    for ax in (ax_l, ax_a):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_softmax_bars(probs: Sequence[float], classes: Sequence[str], path,
                      title: Optional[str] = None) -> Path:
    """A bar per class with its softmax probability; the most likely class stands out."""
    probs = np.asarray(probs, dtype=np.float64)
    fig, ax = new_figure(size=(max(4.0, 0.6 * len(probs) + 1), 3.5))
    colors = ["tab:orange" if i == probs.argmax() else "tab:blue" for i in range(len(probs))]
    ax.bar(range(len(probs)), probs, color=colors)
    ax.set_xticks(range(len(probs)), [str(c) for c in classes], rotation=45 if len(probs) > 10 else 0)
    ax.set(ylim=(0, 1), ylabel="probability", title=title or "softmax output")
    for i, p in enumerate(probs):
        ax.text(i, p + 0.01, f"{p:.3f}", ha="center", fontsize=7)
    return save_figure(fig, path)


def plot_lr_search(trials: Sequence[Mapping], path) -> Path:
    """Validation accuracy per epoch for each trial of a learning-rate / weight-decay search.

    Args:
        trials: mappings with ``lr``, ``weight_decay`` and ``val_acc`` (a list, one per epoch).
    """
    fig, ax = new_figure(size=(7, 4.5))
    ranked = sorted(trials, key=lambda t: -t["val_acc"][-1])
    for rank, t in enumerate(ranked):
        epochs = np.arange(1, len(t["val_acc"]) + 1)
        ax.plot(epochs, t["val_acc"], lw=2 if rank == 0 else 1, alpha=1 if rank < 5 else 0.4,
                label=f"lr={t['lr']:.2e} wd={t['weight_decay']:.1e}" if rank < 8 else None)
    ax.set(title="random search: validation accuracy", xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, path)
