"""float32 accuracy table: numtorch's and PyTorch's maximum errors against float64, in float32 ulps.

    python bench/numerics.py

Runs the cases of ``tests/test_numerics.py`` (the same grids, references and bounds that the tests
assert) and prints the markdown table of ``docs/numerics.md``, then the exact GELU's errors by range
of x (where PyTorch's 1 + erf(x / sqrt 2) cancels) and the float32 GELU's time, numtorch against
PyTorch, as ``ratio gelu_f32 <numtorch / PyTorch>``.
"""
from __future__ import annotations

import os
import sys
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import numtorch  # noqa: E402
import numtorch.nn.functional as F  # noqa: E402
import test_numerics  # noqa: E402
import ulps  # noqa: E402


def gelu_by_range(torch) -> str:
    """Max ulps of the exact float32 GELU on ranges of x, numtorch and PyTorch."""
    x = test_numerics.unary_grid(-15, 10, specials=test_numerics._GELU_SPECIALS)
    ref = ulps.gelu_ref(x)[0]
    with np.errstate(all="ignore"):
        y = F.gelu(numtorch.tensor(x)).numpy()
        ty = None if torch is None else torch.nn.functional.gelu(torch.tensor(x)).numpy()
    lines = ["| x in | numtorch max ulps | PyTorch max ulps |", "| --- | --- | --- |"]
    for lo, hi in ((-15, -5), (-5, -2), (-2, 0), (0, 10)):
        m = (x >= lo) & (x < hi)
        e = ulps.max_ulps(y[m], ref[m], floor=2.0 ** -120)
        te = "n/a" if ty is None else "%.3g" % ulps.max_ulps(ty[m], ref[m], floor=2.0 ** -120)
        lines.append(f"| [{lo}, {hi}) | {e:.2f} | {te} |")
    return "\n".join(lines)


def gelu_time_ratio(torch) -> float:
    """numtorch's float32 GELU forward time over PyTorch's, 524288 elements (one GPT MLP activation)."""
    a = np.random.default_rng(0).standard_normal(16 * 64 * 512).astype(np.float32)
    x, tx = numtorch.tensor(a), torch.tensor(a)
    t_nt = min(timeit.repeat(lambda: F.gelu(x), number=5, repeat=7)) / 5
    t_th = min(timeit.repeat(lambda: torch.nn.functional.gelu(tx), number=5, repeat=7)) / 5
    return t_nt / t_th


def main() -> None:
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    print(test_numerics.table())
    print()
    print(gelu_by_range(torch))
    if torch is not None:
        print(f"\nratio gelu_f32 {gelu_time_ratio(torch):.2f}")


if __name__ == "__main__":
    main()
