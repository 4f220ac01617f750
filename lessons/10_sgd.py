# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10. Stochastic gradient descent (SGD) / 随机梯度下降法（SGD）
#
# SGD updates every weight against its gradient: $W \leftarrow W - \eta\, \partial L / \partial W$.
# "Stochastic" because the gradient is computed on a small random **mini-batch**, not on the whole
# training set: a noisy but unbiased estimate that costs a fraction of the full gradient.
#
# SGD 让每个权重沿梯度的反方向更新：$W \leftarrow W - \eta\, \partial L / \partial W$。
# 之所以叫“随机”，是因为梯度在随机选取的小**批次**（mini-batch）上计算，而不是在整个训练集上：
# 这是一个有噪声但无偏的估计，代价只是完整梯度的一小部分。

# %%
import numpy as np

import numtorch
import numtorch.nn.functional as F
from numtorch import optim
from numtorch.models import TwoLayerNet
from _lesson import FAST, digits, save
from numtorch.viz import new_figure

x_train, t_train, x_test, t_test = digits()
x, t = numtorch.tensor(x_train), numtorch.tensor(t_train)

# %% [markdown]
# ## SGD by hand equals `optim.SGD` / 手写 SGD 等于 `optim.SGD`

# %%
class HandSGD:
    """The notes' SGD class: params[key] -= lr * grads[key]."""

    def __init__(self, params, lr=0.01):
        self.params, self.lr = list(params), lr

    def step(self):
        with numtorch.no_grad():
            for p in self.params:
                p -= self.lr * p.grad


def run(make_opt, steps=20, seed=0):
    numtorch.manual_seed(seed)
    net = TwoLayerNet(64, 30, 10)
    opt = make_opt(net.parameters())
    losses = []
    for i in range(steps):
        xb, tb = x[i * 32:(i + 1) * 32], t[i * 32:(i + 1) * 32]
        for p in net.parameters():
            p.grad = None
        loss = F.cross_entropy(net(xb), tb)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, net


hand, net_hand = run(lambda p: HandSGD(p, lr=0.5))
lib, net_lib = run(lambda p: optim.SGD(p, lr=0.5))
np.testing.assert_allclose(hand, lib, rtol=1e-6)
for a, b in zip(net_hand.parameters(), net_lib.parameters()):
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-7)
print("hand-written SGD and optim.SGD take the same steps; loss", round(hand[0], 3), "->", round(hand[-1], 3))

# %% [markdown]
# ## A mini-batch gradient is the full gradient plus noise / 批次梯度 = 完整梯度 + 噪声
#
# Averaged over all the mini-batches of an epoch (equal sizes), the mini-batch gradients give
# exactly the full-batch gradient; each single one scatters around it.
#
# 对一个 epoch 中所有（大小相同的）批次取平均，批次梯度恰好等于完整梯度；单个批次的梯度则散布在它周围。

# %%
numtorch.manual_seed(1)
net = TwoLayerNet(64, 30, 10)
n = 1440                                       # 45 batches of 32
W = net.fc1.weight


def grad_of(xb, tb):
    net.zero_grad()
    F.cross_entropy(net(xb), tb).backward()
    return W.grad.numpy().copy()


full = grad_of(x[:n], t[:n])
batches = [grad_of(x[i:i + 32], t[i:i + 32]) for i in range(0, n, 32)]
np.testing.assert_allclose(np.mean(batches, axis=0), full, rtol=1e-4, atol=1e-7)
cos = [float((g * full).sum() / np.linalg.norm(g) / np.linalg.norm(full)) for g in batches]
print(f"cosine between a batch gradient and the full gradient: {np.mean(cos):.2f} on average")
assert 0 < np.mean(cos) < 0.999

# %% [markdown]
# ## Full-batch GD vs SGD for the same work / 同样的计算量：全批次梯度下降与 SGD
#
# One epoch of SGD with batches of 32 costs about as much as one full-batch step, but takes 45 steps.
#
# 批次大小为 32 的 SGD 跑一个 epoch 的计算量大约等于一次全批次梯度下降，却走了 45 步。

# %%
def epochs_of(batch, epochs, lr=0.5, seed=0):
    numtorch.manual_seed(seed)
    net = TwoLayerNet(64, 30, 10)
    opt = optim.SGD(net.parameters(), lr=lr)
    g = numtorch.Generator().manual_seed(seed)
    curve = []
    for _ in range(epochs):
        order = numtorch.randperm(n, generator=g)
        for i in range(0, n, batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            F.cross_entropy(net(x[idx]), t[idx]).backward()
            opt.step()
        with numtorch.no_grad():
            curve.append(F.cross_entropy(net(x[:n]), t[:n]).item())
    return curve


epochs = 5 if FAST else 15
gd, sgd = epochs_of(n, epochs), epochs_of(32, epochs)
print(f"after {epochs} epochs: full-batch GD loss {gd[-1]:.3f}, SGD loss {sgd[-1]:.3f}")
assert sgd[-1] < 0.5 * gd[-1]

# %%
fig, ax = new_figure(size=(6, 4))
ax.plot(range(1, epochs + 1), gd, "o-", label="gradient descent (whole set per step)")
ax.plot(range(1, epochs + 1), sgd, "s-", label="SGD (mini-batches of 32)")
ax.set(xlabel="epoch (same number of gradient evaluations)", ylabel="training loss", yscale="log",
       title="SGD learns more per epoch")
ax.grid(alpha=0.3)
ax.legend()
save(fig, "10_gd_vs_sgd.png")
