"""torch.autograd.grad with create_graph=True: a WGAN-GP gradient penalty trained one step."""
import numpy as np

from ._common import init_from_numpy, randn


def main(torch, seed: int) -> dict:
    nn = torch.nn
    rng = np.random.default_rng(seed)
    critic = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 16), nn.Softplus(), nn.Linear(16, 1))
    init_from_numpy(torch, critic, seed)
    real = randn(torch, rng, 8, 3)
    fake = randn(torch, rng, 8, 3) + 1.0
    alpha = torch.from_numpy(rng.uniform(size=(8, 1)).astype(np.float32))
    optimizer = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.9))

    losses, penalties = [], []
    for step in range(3):
        interp = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        scores = critic(interp)
        grads, = torch.autograd.grad(outputs=scores, inputs=interp,
                                     grad_outputs=torch.ones_like(scores),
                                     create_graph=True, retain_graph=True)
        penalty = ((grads.norm(2, dim=1) - 1) ** 2).mean()
        loss = critic(fake).mean() - critic(real).mean() + 10.0 * penalty
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        penalties.append(penalty.item())

    # Hessian-vector product by double backward
    w = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    f = (w ** 3).sum() + (w[0] * w[1]).exp()
    g, = torch.autograd.grad(f, w, create_graph=True)
    hvp, = torch.autograd.grad(g, w, grad_outputs=torch.tensor([1.0, 0.0, 1.0]))
    return {"losses": np.array(losses), "penalties": np.array(penalties), "hvp": hvp.numpy(),
            "grad": g.detach().numpy(), "last_weight": critic[-1].weight.detach().numpy()}
