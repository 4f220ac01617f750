"""``numtorch.cpu``: the CPU's counterpart of ``numtorch.cuda`` (``numtorch.cpu.amp``)."""
from __future__ import annotations


def is_available() -> bool:
    return True


def device_count() -> int:
    return 1


def current_device() -> str:
    return "cpu"


def synchronize(device=None) -> None:
    """Nothing to wait for: CPU ops finish before they return."""
