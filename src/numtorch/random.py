"""Random numbers: ``manual_seed`` and ``Generator``.

All random numbers are drawn on the CPU with NumPy's PCG64 and then moved to the tensor's
device, so one seed gives the same initial weights and dropout masks on every device.
"""
from __future__ import annotations

import numpy as np

from numtorch._backend import as_device as _device, pinned_empty, to_device
from numtorch.tensor import make_tensor


class Generator:
    """A source of random numbers: ``g = numtorch.Generator().manual_seed(0)``."""

    def __init__(self, device="cpu") -> None:
        self.device = _device(device)  # (the numbers are drawn on the CPU whatever the device)
        self._seed = 67280421310721
        self.rng = np.random.Generator(np.random.PCG64(self._seed))

    def manual_seed(self, seed: int) -> "Generator":
        seed = int(seed)
        if not -(1 << 63) <= seed < (1 << 64):  # PyTorch's seeds are 64-bit, signed or not
            raise ValueError(f"Overflow when unpacking long long: manual_seed({seed}) takes a seed from "
                             "-2**63 to 2**64 - 1")
        if seed < 0:
            seed &= (1 << 64) - 1
        self._seed = seed
        self.rng = np.random.Generator(np.random.PCG64(seed))
        return self

    def seed(self) -> int:
        s = int(np.random.SeedSequence().entropy % (1 << 63))
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self):
        """The generator's state as a uint8 tensor (40 bytes: PCG64 state, increment, buffer)."""
        st = self.rng.bit_generator.state
        raw = (st["state"]["state"].to_bytes(16, "little") + st["state"]["inc"].to_bytes(16, "little")
               + int(st["has_uint32"]).to_bytes(4, "little") + int(st["uinteger"]).to_bytes(4, "little"))
        return make_tensor(np.frombuffer(raw, dtype=np.uint8).copy())

    def set_state(self, new_state) -> "Generator":
        raw = bytes(np.asarray(new_state, dtype=np.uint8).tobytes())
        if len(raw) != 40:
            raise RuntimeError(f"Generator.set_state: expected a 40-byte state, got {len(raw)} bytes")
        self.rng.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": int.from_bytes(raw[:16], "little"),
                      "inc": int.from_bytes(raw[16:32], "little")},
            "has_uint32": int.from_bytes(raw[32:36], "little"),
            "uinteger": int.from_bytes(raw[36:40], "little"),
        }
        return self


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seeds the default generator (and so every random op that is not given its own)."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(new_state) -> None:
    default_generator.set_state(new_state)


def rng_of(generator) -> np.random.Generator:
    return (default_generator if generator is None else generator).rng


def uniform_array(shape: tuple, dev, dtype=np.float32, rng=None):
    """Draws in [0, 1) from the default generator (or ``rng``), on device ``dev``."""
    rng = rng_of(None) if rng is None else rng
    if dev.type == "cpu":
        return rng.random(shape, dtype=dtype)
    buf = pinned_empty(shape, dtype)  # page-locked, so the copy below need not wait
    rng.random(shape, dtype=dtype, out=buf)
    return to_device(buf, dev, non_blocking=True)
