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
# # 13. The affine layer / Affine 层
#
# The affine layer computes $Y = X W + b$ for a batch $X$ of shape $(N, D)$. Its backward pass, from
# the upstream gradient $\partial L/\partial Y$ of shape $(N, M)$:
#
# $$\frac{\partial L}{\partial X} = \frac{\partial L}{\partial Y} W^\top, \qquad
#   \frac{\partial L}{\partial W} = X^\top \frac{\partial L}{\partial Y}, \qquad
#   \frac{\partial L}{\partial b} = \sum_{n} \frac{\partial L}{\partial Y_n}$$
#
# (the bias is added to every row, so its gradient sums over the batch). `nn.Linear` is this layer,
# storing $W^\top$ as `weight` with shape (out, in), as PyTorch does.
#
# Affine 层对形状为 $(N, D)$ 的批次 $X$ 计算 $Y = X W + b$。反向传播时，由上游梯度
# $\partial L/\partial Y$（形状 $(N, M)$）得到上面三个式子（偏置加到了每一行上，所以它的梯度要对批次求和）。
# `nn.Linear` 就是这一层，它和 PyTorch 一样把 $W^\top$ 存为形状 (out, in) 的 `weight`。

# %%
import numpy as np

import numtorch
import numtorch.nn.functional as F
from numtorch import optim
from numtorch.models import TwoLayerNet
from _lesson import FAST, digits, mnist, save
from numtorch.viz import new_figure


class Affine:
    """The notes' Affine layer in NumPy: forward keeps x, backward returns dx and sets dW, db."""

    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        return x.dot(self.W) + self.b

    def backward(self, dout):
        self.dW = self.x.T.dot(dout)
        self.db = dout.sum(axis=0)
        return dout.dot(self.W.T)


rng = np.random.default_rng(0)
X, W, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
dY = rng.standard_normal((4, 2))
layer = Affine(W, b)
Y = layer.forward(X)
dX = layer.backward(dY)

# the same with autograd: backward of sum(Y * dY) sends dY into the layer
Xt = numtorch.tensor(X, requires_grad=True)
Wt, bt = numtorch.tensor(W, requires_grad=True), numtorch.tensor(b, requires_grad=True)
Yt = Xt.mm(Wt) + bt
(Yt * numtorch.tensor(dY)).sum().backward()
np.testing.assert_allclose(Yt.detach().numpy(), Y, rtol=1e-12)
for mine, auto in ((dX, Xt.grad), (layer.dW, Wt.grad), (layer.db, bt.grad)):
    np.testing.assert_allclose(auto.numpy(), mine, rtol=1e-12)
# and nn.functional.linear, with weight = W^T
np.testing.assert_allclose(F.linear(numtorch.tensor(X), numtorch.tensor(W.T), numtorch.tensor(b)).numpy(), Y,
                           rtol=1e-12)
print("Affine forward/backward by hand == autograd == F.linear")

# %% [markdown]
# ## A real digit through the trained net / 一个真实的数字通过训练好的网络
#
# We train the two-layer net `Affine → ReLU → Affine` on MNIST (the first 8,000 images of the
# 10,000-image test file; the scikit-learn 8x8 digits where MNIST is absent), then follow one
# held-out digit: its 10 **scores** (the last affine layer's output), and the **softmax** that turns
# them into probabilities. A score far above the others becomes a probability near 1; the rest
# shrink towards 0.
#
# 在 MNIST 上训练两层网络 `Affine → ReLU → Affine`（使用 10,000 张测试文件中的前 8,000 张；
# 没有 MNIST 时使用 scikit-learn 的 8x8 数字），然后追踪一个未参与训练的数字：它的 10 个**得分**
# （最后一个 Affine 层的输出），以及把得分变成概率的 **softmax**。比其他得分高出很多的得分变成接近 1
# 的概率，其余的缩向 0。

# %%
data = mnist()
if data is not None:
    x_all, t_all = data
    x_train, t_train, x_test, t_test = x_all[:8000], t_all[:8000], x_all[8000:], t_all[8000:]
    side = 28
else:
    x_train, t_train, x_test, t_test = digits()
    side = 8
print(f"{len(x_train)} training images of {side}x{side} pixels")

numtorch.manual_seed(0)
net = TwoLayerNet(side * side, 100, 10)
opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
x, t = numtorch.tensor(x_train), numtorch.tensor(t_train)
g = numtorch.Generator().manual_seed(0)
for epoch in range(2 if FAST else 5):
    order = numtorch.randperm(len(x), generator=g)
    for i in range(0, len(x), 100):
        idx = order[i:i + 100]
        loss = F.cross_entropy(net(x[idx]), t[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
with numtorch.no_grad():
    test_acc = (net(numtorch.tensor(x_test)).argmax(1) == numtorch.tensor(t_test)).float().mean().item()
print(f"held-out accuracy {test_acc:.3f}")
assert test_acc > 0.9

# %%
k = int(np.flatnonzero(t_test == 2)[0])                    # the first held-out "2"
digit = numtorch.tensor(x_test[k:k + 1])
with numtorch.no_grad():
    hidden = net.relu(net.fc1(digit))                      # Affine -> ReLU
    scores = net.fc2(hidden)[0]                            # Affine: the scores
    probs = F.softmax(scores, dim=0)                       # softmax
scores_np, probs_np = scores.numpy(), probs.numpy()
for c in range(10):
    print(f"  class {c}: score {scores_np[c]:7.2f}  ->  softmax {probs_np[c]:.3f}")
print(f"{(hidden > 0).sum().item()} of 100 hidden units are active (ReLU > 0)")
# softmax by hand from the scores, in float64
e = np.exp(scores_np.astype(np.float64) - scores_np.max())
np.testing.assert_allclose(probs_np, e / e.sum(), rtol=1e-5, atol=1e-7)
assert probs_np.argmax() == scores_np.argmax() == 2 and probs_np[2] > 0.5

# %%
fig, (ax_img, ax_s, ax_p) = new_figure(1, 3, size=(13, 3.8))
ax_img.imshow(x_test[k].reshape(side, side), cmap="gray_r")
ax_img.set(title=f"held-out digit (label {t_test[k]})", xticks=[], yticks=[])
colors = ["tab:orange" if c == scores_np.argmax() else "tab:blue" for c in range(10)]
ax_s.bar(range(10), scores_np, color=colors)
ax_s.axhline(0, color="k", lw=0.5)
ax_s.set(title="scores: Affine → ReLU → Affine", xticks=range(10), xlabel="class")
for c, s in enumerate(scores_np):
    ax_s.text(c, s + (0.2 if s >= 0 else -0.2), f"{s:.1f}", ha="center", va="bottom" if s >= 0 else "top",
              fontsize=7)
ax_p.bar(range(10), probs_np, color=colors)
ax_p.set(title="softmax(scores): probabilities", xticks=range(10), xlabel="class", ylim=(0, 1.1))
for c, p in enumerate(probs_np):
    ax_p.text(c, p + 0.02, f"{p:.3f}", ha="center", fontsize=7, rotation=90 if p < 0.5 else 0)
save(fig, "13_affine_softmax_digit.png")
