"""A custom nn.Module: Sequential, ModuleList, register_buffer, state_dict round trip, eval + no_grad."""
import numpy as np

from ._common import init_from_numpy, randn


def main(torch, seed: int) -> dict:
    nn = torch.nn
    F = torch.nn.functional

    class Net(nn.Module):
        def __init__(self, d_in, d_hidden, n_blocks, d_out):
            super().__init__()
            self.stem = nn.Sequential(nn.Linear(d_in, d_hidden), nn.Tanh())
            self.blocks = nn.ModuleList([nn.Linear(d_hidden, d_hidden) for _ in range(n_blocks)])
            self.norm = nn.LayerNorm(d_hidden)
            self.head = nn.Linear(d_hidden, d_out)
            self.register_buffer("scale", torch.ones(d_out) * 0.5)
            self.dropout = nn.Dropout(p=0.5)

        def forward(self, x):
            h = self.stem(x)
            for block in self.blocks:
                h = h + F.gelu(block(h))          # residual blocks
            h = self.dropout(self.norm(h))
            return self.head(h) * self.scale

    rng = np.random.default_rng(seed)
    model = Net(6, 8, 3, 4)
    init_from_numpy(torch, model, seed)
    x = randn(torch, rng, 5, 6)

    model.eval()
    with torch.no_grad():
        out = model(x)
    sd = model.state_dict()
    keys = list(sd.keys())

    clone = Net(6, 8, 3, 4)
    result = clone.load_state_dict(sd)
    clone.eval()
    with torch.no_grad():
        out_clone = clone(x)

    n_params = sum(p.numel() for p in model.parameters())
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "out": out.numpy(),
        "roundtrip_max_diff": (out - out_clone).abs().max().item(),
        "keys": keys,
        "missing": list(result.missing_keys), "unexpected": list(result.unexpected_keys),
        "n_params": n_params, "n_trainable": n_trainable,
        "buffers": [name for name, _ in model.named_buffers()],
        "modules": [name for name, _ in model.named_modules()],
        "training_flags": [m.training for m in model.modules()],
        "out_requires_grad": out.requires_grad,
    }
