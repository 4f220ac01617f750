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
# # 12. The four steps of mini-batch learning / 小批量学习的四个步骤
#
# 1. **Mini-batch**: pick a few training samples at random.
# 2. **Gradient**: compute the loss on them and the gradient of every weight.
# 3. **Update**: move each weight a little against its gradient.
# 4. **Repeat** 1–3.
#
# 1. **小批量**：从训练数据中随机选出一部分样本。
# 2. **计算梯度**：在这些样本上计算损失，以及每个权重的梯度。
# 3. **更新参数**：把每个权重沿梯度的反方向移动一点。
# 4. **重复** 1–3。
#
# First everything by hand — weights in a dict, as in the notes — then the same with numtorch's
# `nn`, `optim` and `DataLoader`, the way PyTorch code is written.
#
# 先全部手写——像笔记里那样把权重放在字典里——再用 numtorch 的 `nn`、`optim` 和 `DataLoader`
# 写同样的东西，也就是 PyTorch 代码通常的写法。

# %%
import numpy as np

import numtorch
import numtorch.nn.functional as F
from numtorch import nn, optim
from numtorch.utils.data import DataLoader, TensorDataset
from _lesson import FAST, digits, save
from numtorch.viz import new_figure

x_train, t_train, x_test, t_test = digits()
x, t = numtorch.tensor(x_train), numtorch.tensor(t_train)
xt, tt = numtorch.tensor(x_test), numtorch.tensor(t_test)
batch_size, lr = 32, 0.5
epochs = 4 if FAST else 12
iters_per_epoch = len(x) // batch_size

# %% [markdown]
# ## By hand / 手写版

# %%
numtorch.manual_seed(0)
params = {"W1": (0.1 * numtorch.randn(64, 50)).requires_grad_(), "b1": numtorch.zeros(50, requires_grad=True),
          "W2": (0.1 * numtorch.randn(50, 10)).requires_grad_(), "b2": numtorch.zeros(10, requires_grad=True)}


def predict(x):
    h = (x.mm(params["W1"]) + params["b1"]).clamp(min=0)          # Affine -> ReLU
    return h.mm(params["W2"]) + params["b2"]                       # Affine (scores)


def loss_fn(x, t):
    y = F.softmax(predict(x), dim=1)                               # softmax -> cross-entropy
    return -numtorch.log(y[numtorch.arange(len(t)), t] + 1e-7).mean()


def accuracy(f, x, t):
    with numtorch.no_grad():
        return (f(x).argmax(1) == t).float().mean().item()


rng = np.random.default_rng(0)
hand = {"step_loss": [], "train_acc": [], "test_acc": []}
for epoch in range(epochs):
    for _ in range(iters_per_epoch):
        idx = numtorch.tensor(rng.choice(len(x), batch_size))      # 1. mini-batch
        loss = loss_fn(x[idx], t[idx])
        for p in params.values():
            p.grad = None
        loss.backward()                                            # 2. gradient
        with numtorch.no_grad():
            for p in params.values():
                p -= lr * p.grad                                   # 3. update
        hand["step_loss"].append(loss.item())                      # 4. repeat
    hand["train_acc"].append(accuracy(predict, x, t))
    hand["test_acc"].append(accuracy(predict, xt, tt))
    print(f"by hand, epoch {epoch + 1}: train acc {hand['train_acc'][-1]:.3f}  "
          f"test acc {hand['test_acc'][-1]:.3f}")

# %% [markdown]
# ## With `nn`, `optim` and `DataLoader` / 用 `nn`、`optim` 和 `DataLoader`
#
# `DataLoader(..., shuffle=True)` does step 1 (each epoch visits every sample once, in a new order),
# `loss.backward()` step 2, `optimizer.step()` step 3.
#
# `DataLoader(..., shuffle=True)` 完成第 1 步（每个 epoch 以新的顺序把每个样本各取一次），
# `loss.backward()` 完成第 2 步，`optimizer.step()` 完成第 3 步。

# %%
numtorch.manual_seed(0)
model = nn.Sequential(nn.Linear(64, 50), nn.ReLU(), nn.Linear(50, 10))
optimizer = optim.SGD(model.parameters(), lr=lr)
loader = DataLoader(TensorDataset(x, t), batch_size=batch_size, shuffle=True, drop_last=True)
assert len(loader) == iters_per_epoch
lib = {"step_loss": [], "train_acc": [], "test_acc": []}
for epoch in range(epochs):
    model.train()
    for xb, tb in loader:                                          # 1.
        loss = F.cross_entropy(model(xb), tb)
        optimizer.zero_grad()
        loss.backward()                                            # 2.
        optimizer.step()                                           # 3.
        lib["step_loss"].append(loss.item())
    model.eval()
    lib["train_acc"].append(accuracy(model, x, t))
    lib["test_acc"].append(accuracy(model, xt, tt))
    print(f"optim + DataLoader, epoch {epoch + 1}: train acc {lib['train_acc'][-1]:.3f}  "
          f"test acc {lib['test_acc'][-1]:.3f}")

# %%
for h in (hand, lib):
    assert h["test_acc"][-1] > 0.85 and h["test_acc"][-1] > h["test_acc"][0] - 0.02
    assert np.mean(h["step_loss"][-20:]) < 0.5 * np.mean(h["step_loss"][:20])

# %%
fig, (ax_l, ax_a) = new_figure(1, 2, size=(11, 4))
for h, name in ((hand, "by hand"), (lib, "optim + DataLoader")):
    steps = np.arange(1, len(h["step_loss"]) + 1) / iters_per_epoch
    ax_l.plot(steps, h["step_loss"], lw=0.6, alpha=0.8, label=name)
    ax_a.plot(range(1, epochs + 1), h["test_acc"], "o-", label=f"{name}: test")
    ax_a.plot(range(1, epochs + 1), h["train_acc"], "x--", label=f"{name}: train")
ax_l.set(xlabel="epoch", ylabel="mini-batch loss", title="loss per step")
ax_a.set(xlabel="epoch", ylabel="accuracy", title="accuracy per epoch", ylim=(0.5, 1.01))
for ax in (ax_l, ax_a):
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
save(fig, "12_minibatch_learning.png")
