"""torch.manual_seed makes random tensors, initialisation and dropout reproducible (within a framework:
the two frameworks' generators draw different numbers, so the test compares the equalities only)."""
import numpy as np


def main(torch, seed: int) -> dict:
    nn = torch.nn

    def draw():
        torch.manual_seed(seed)
        a = torch.randn(3, 4)
        b = torch.rand(5)
        c = torch.randint(0, 10, (6,))
        p = torch.randperm(7)
        model = nn.Linear(4, 2)
        drop = nn.Dropout(0.5)
        mask = drop(torch.ones(100)) == 0
        return a, b, c, p, model.weight.detach(), mask

    first, second = draw(), draw()
    torch.manual_seed(seed + 1)
    other = torch.randn(3, 4)
    g = torch.Generator().manual_seed(seed)
    g_first = torch.randn(3, 4, generator=g)
    g.manual_seed(seed)
    g_second = torch.randn(3, 4, generator=g)
    a, b, c, p, w, mask = first
    return {
        "reproducible": [bool(torch.equal(u, v)) for u, v in zip(first, second)],
        "other_seed_differs": not bool(torch.equal(first[0], other)),
        "generator_reproducible": bool(torch.equal(g_first, g_second)),
        "ranges": [bool(((b >= 0) & (b < 1)).all()), bool(((c >= 0) & (c < 10)).all()),
                   sorted(p.tolist()) == list(range(7))],
        "dtypes": [str(t.dtype).split(".")[-1] for t in (a, b, c, p, w)],
        "dropout_fraction_in_range": 0.3 < mask.float().mean().item() < 0.7,
        "init_bound_ok": bool((w.abs() <= 1 / np.sqrt(4) + 1e-6).all()),
    }
