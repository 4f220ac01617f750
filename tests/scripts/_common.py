"""Helpers the scripts share: identical weights and data in both frameworks, drawn from NumPy."""
from __future__ import annotations

import numpy as np


def init_from_numpy(torch, model, seed: int) -> None:
    """Overwrite every parameter of ``model`` with values drawn from NumPy (the same in both frameworks).

    Weights (ndim >= 2) get N(0, 1/fan_in), vectors N(0, 0.01), so activations stay moderate.
    Parameters are visited in ``named_parameters()`` order, which PyTorch and numtorch share.
    """
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            shape = tuple(p.shape)
            fan_in = int(np.prod(shape[1:])) if len(shape) >= 2 else 100
            p.copy_(torch.from_numpy((rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)))


def randn(torch, rng: np.random.Generator, *shape: int):
    """A float32 tensor of N(0, 1) values drawn from the NumPy generator ``rng``."""
    return torch.from_numpy(rng.standard_normal(shape).astype(np.float32))


def to_numpy(t) -> np.ndarray:
    """A tensor's values as a NumPy array (detached, on the CPU)."""
    return t.detach().cpu().numpy()
