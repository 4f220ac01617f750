"""The four-step training loop: a two-layer MLP on random data, SGD with momentum, StepLR."""
import numpy as np

from ._common import init_from_numpy, randn


def main(torch, seed: int) -> dict:
    nn = torch.nn
    rng = np.random.default_rng(seed)
    x = randn(torch, rng, 32, 10)
    y = torch.from_numpy(rng.integers(0, 3, size=32)).long()

    model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 3))
    init_from_numpy(torch, model, seed)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)

    losses, lrs = [], []
    for epoch in range(8):
        optimizer.zero_grad()                # 1. clear old gradients
        loss = criterion(model(x), y)        # 2. forward
        loss.backward()                      # 3. backward
        optimizer.step()                     # 4. update
        scheduler.step()
        losses.append(loss.item())
        lrs.append(scheduler.get_last_lr()[0])

    with torch.no_grad():
        pred = model(x).argmax(dim=1)
    acc = (pred == y).float().mean().item()
    return {"losses": np.array(losses), "lrs": np.array(lrs), "accuracy": acc,
            "weight0": model[0].weight.detach().numpy()}
