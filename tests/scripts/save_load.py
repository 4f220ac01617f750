"""torch.save / torch.load of a state_dict (and a checkpoint dict) to a file, then resume training.

Each framework reads back its own files (numtorch writes safetensors + JSON, PyTorch its zip/pickle
format); the test compares the values each one reloads.
"""
import os
import tempfile

import numpy as np

from ._common import init_from_numpy, randn


def main(torch, seed: int) -> dict:
    nn = torch.nn
    rng = np.random.default_rng(seed)
    x = randn(torch, rng, 12, 5)
    y = randn(torch, rng, 12, 2)

    def make():
        return nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7), nn.ReLU(), nn.Linear(7, 2))

    def train(model, optimizer, steps):
        losses = []
        for _ in range(steps):
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses

    model = make()
    init_from_numpy(torch, model, seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    first = train(model, optimizer, 3)

    with tempfile.TemporaryDirectory() as tmp:
        weights_path = os.path.join(tmp, "model.pt")
        ckpt_path = os.path.join(tmp, "ckpt.pt")
        torch.save(model.state_dict(), weights_path)
        torch.save({"epoch": 3, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "losses": first}, ckpt_path)
        weights = torch.load(weights_path)
        ckpt = torch.load(ckpt_path, weights_only=True)

    momentum_buffer = ckpt["optimizer"]["state"][0]["momentum_buffer"].numpy().copy()
    resumed = make()
    resumed.load_state_dict(ckpt["model"])
    resumed_opt = torch.optim.SGD(resumed.parameters(), lr=0.1, momentum=0.9)
    resumed_opt.load_state_dict(ckpt["optimizer"])
    continued = train(model, optimizer, 2)
    from_ckpt = train(resumed, resumed_opt, 2)
    return {"first": np.array(first), "continued": np.array(continued), "from_ckpt": np.array(from_ckpt),
            "keys": list(weights.keys()), "running_var": weights["1.running_var"].numpy(),
            "num_batches_tracked": int(weights["1.num_batches_tracked"]),
            "weight": weights["0.weight"].numpy(), "epoch": ckpt["epoch"], "saved_losses": ckpt["losses"],
            "momentum_buffer": momentum_buffer,
            "param_groups_params": ckpt["optimizer"]["param_groups"][0]["params"]}
