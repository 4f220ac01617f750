"""A small CNN: Conv2d / BatchNorm2d / MaxPool2d / Dropout, one training step, then an eval forward."""
import numpy as np

from ._common import init_from_numpy, randn


def main(torch, seed: int) -> dict:
    nn = torch.nn
    F = torch.nn.functional

    class SmallCNN(nn.Module):
        def __init__(self, n_classes=10):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 4, kernel_size=3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
                nn.Conv2d(4, 8, 3, stride=1, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                nn.AdaptiveAvgPool2d((2, 2)),
            )
            self.dropout = nn.Dropout(0.3)
            self.fc = nn.Linear(8 * 2 * 2, n_classes)

        def forward(self, x):
            x = self.features(x)
            x = torch.flatten(x, 1)
            return self.fc(self.dropout(x))

    rng = np.random.default_rng(seed)
    model = SmallCNN()
    init_from_numpy(torch, model, seed)
    x = randn(torch, rng, 6, 1, 8, 8)
    y = torch.from_numpy(rng.integers(0, 10, size=6)).long()

    model.train()
    model.dropout.p = 0.0                    # no random mask, so both frameworks agree
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    conv_grad = model.features[0].weight.grad.numpy().copy()
    optimizer.step()

    model.eval()
    model.dropout.p = 0.3                    # eval: dropout is the identity whatever p is
    with torch.no_grad():
        logits = model(x)
        probs = F.softmax(logits, dim=1)
    bn = model.features[1]
    return {"loss": loss.item(), "conv_grad": conv_grad, "logits": logits.numpy(),
            "probs_sum": probs.sum(dim=1).numpy(), "running_mean": bn.running_mean.numpy(),
            "running_var": bn.running_var.numpy(), "num_batches_tracked": int(bn.num_batches_tracked),
            "state_keys": list(model.state_dict().keys()),
            "repr": repr(model)}
