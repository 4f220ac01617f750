"""Parameter groups, AdamW, clip_grad_norm_, a OneCycleLR / ReduceLROnPlateau pair, freezing a layer."""
import numpy as np

from ._common import init_from_numpy, randn


def main(torch, seed: int) -> dict:
    nn = torch.nn
    rng = np.random.default_rng(seed)
    x = randn(torch, rng, 20, 6)
    y = torch.from_numpy(rng.integers(0, 4, size=20)).long()
    model = nn.Sequential(nn.Linear(6, 10), nn.LeakyReLU(0.1), nn.Linear(10, 10), nn.SiLU(), nn.Linear(10, 4))
    init_from_numpy(torch, model, seed)
    for p in model[0].parameters():
        p.requires_grad = False                       # freeze the first layer
    decay = [p for n, p in model.named_parameters() if p.requires_grad and n.endswith("weight")]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and n.endswith("bias")]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                                   {"params": no_decay, "weight_decay": 0.0, "lr": 3e-3}], lr=1e-2)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[2e-2, 5e-3], total_steps=6)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)

    losses, norms, lrs = [], [], []
    for step in range(6):
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(x), y)
        loss.backward()
        total_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        norms.append(float(total_norm))
        lrs.append([group["lr"] for group in optimizer.param_groups])

    sgd = torch.optim.SGD(model.parameters(), lr=0.1, nesterov=True, momentum=0.9)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(sgd, mode="min", factor=0.5, patience=1)
    plateau_lrs = []
    for val_loss in [1.0, 0.9, 0.95, 0.96, 0.97, 0.5]:
        plateau.step(val_loss)
        plateau_lrs.append(sgd.param_groups[0]["lr"])
    return {"losses": np.array(losses), "norms": np.array(norms), "lrs": np.array(lrs),
            "plateau_lrs": np.array(plateau_lrs), "frozen_grad_is_none": model[0].weight.grad is None,
            "frozen_weight": model[0].weight.detach().numpy(), "last_weight": model[4].weight.detach().numpy()}
