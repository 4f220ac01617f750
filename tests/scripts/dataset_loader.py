"""A custom Dataset + DataLoader(shuffle=False), trained for one epoch with Adam and CosineAnnealingLR."""
import numpy as np

from ._common import init_from_numpy


def main(torch, seed: int) -> dict:
    nn = torch.nn
    from_numpy = torch.from_numpy

    class RegressionSet(torch.utils.data.Dataset):
        def __init__(self, n):
            rng = np.random.default_rng(seed)
            self.x = rng.standard_normal((n, 4)).astype(np.float32)
            self.y = (self.x @ np.array([1.0, -2.0, 0.5, 3.0], np.float32) + 0.1).astype(np.float32)

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return from_numpy(self.x[i]), torch.tensor(self.y[i])

    dataset = RegressionSet(50)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    loader = torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=False, drop_last=False,
                                         pin_memory=device.type == "cuda")
    model = nn.Linear(4, 1).to(device)
    init_from_numpy(torch, model, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=len(loader))
    loss_fn = nn.MSELoss()

    losses, batch_sizes = [], []
    model.train()
    for xb, yb in loader:
        xb, yb = xb.to(device, non_blocking=True), yb.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(xb).squeeze(1), yb)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        batch_sizes.append(len(xb))

    ds = torch.utils.data.TensorDataset(from_numpy(dataset.x), from_numpy(dataset.y))
    train, held_out = torch.utils.data.random_split(ds, [40, 10])
    return {"losses": np.array(losses), "batch_sizes": batch_sizes, "n_batches": len(loader),
            "first_batch_x": next(iter(loader))[0].numpy(), "split": [len(train), len(held_out)],
            "weight": model.weight.detach().numpy(), "lr": optimizer.param_groups[0]["lr"]}
