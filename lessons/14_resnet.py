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
# # 14. ResNet: residual connections / ResNet：残差连接
#
# Stacking more layers should never hurt — a deeper net could copy the shallower one and make the
# extra layers the identity. Yet plain deep nets train *worse*: the gradient shrinks (or grows) by a
# factor at every layer on its way back, and after tens of layers almost nothing reaches the first
# ones. ResNet's block adds its input to its output, $y = \mathrm{ReLU}(x + F(x))$: the block only has
# to learn the **residual** $F(x)$, and the gradient has a path $\partial y/\partial x \ni I$ that
# skips $F$ entirely.
#
# 层数越多本不应该越差——更深的网络完全可以复制较浅的网络，再让多出来的层变成恒等映射。可是普通的深层网络
# 反而训练得*更差*：梯度在反向传播经过每一层时都要乘上一个因子而缩小（或放大），经过几十层后几乎什么也传不到
# 最前面的层。ResNet 的残差块把输入加到输出上：$y = \mathrm{ReLU}(x + F(x))$。这样每个块只需学习**残差**
# $F(x)$，而且梯度有一条完全绕过 $F$ 的通路（$\partial y/\partial x$ 中含有单位矩阵 $I$）。

# %%
import numpy as np

import numtorch
import numtorch.nn.functional as F
from numtorch import nn, optim
from _lesson import FAST, digits, save
from numtorch.viz import new_figure

x_train, t_train, x_test, t_test = digits()
x, t = numtorch.tensor(x_train), numtorch.tensor(t_train)
xt, tt = numtorch.tensor(x_test), numtorch.tensor(t_test)

# %% [markdown]
# ## A plain block and a residual block / 普通块与残差块
#
# Both blocks compute $F(h) = W_2\,\mathrm{ReLU}(W_1 h)$; the only difference is `h +`.
#
# 两种块都计算 $F(h) = W_2\,\mathrm{ReLU}(W_1 h)$；唯一的区别是 `h +`。

# %%
class Block(nn.Module):
    def __init__(self, width, residual):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)
        self.residual = residual

    def forward(self, h):
        f = self.fc2(F.relu(self.fc1(h)))
        return F.relu(h + f) if self.residual else F.relu(f)


class DeepNet(nn.Module):
    """64 pixels -> 32 -> `depth` blocks (2 layers each) -> 10 scores."""

    def __init__(self, depth, residual, width=32):
        super().__init__()
        self.inp = nn.Linear(64, width)
        self.blocks = nn.Sequential(*[Block(width, residual) for _ in range(depth)])
        self.out = nn.Linear(width, 10)

    def forward(self, x):
        return self.out(self.blocks(F.relu(self.inp(x))))


depth = 15                                              # 30 hidden layers + 2


def train(residual, epochs):
    numtorch.manual_seed(0)
    net = DeepNet(depth, residual)
    opt = optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    g = numtorch.Generator().manual_seed(0)
    losses, first_grad = [], None
    for _ in range(epochs):
        order = numtorch.randperm(len(x), generator=g)
        for i in range(0, len(x) - 31, 32):
            idx = order[i:i + 32]
            loss = F.cross_entropy(net(x[idx]), t[idx])
            opt.zero_grad()
            loss.backward()
            if first_grad is None:                        # the gradient that reaches block 1
                first_grad = net.blocks[0].fc1.weight.grad.norm().item()
            opt.step()
            losses.append(loss.item())
    with numtorch.no_grad():
        acc = (net(xt).argmax(1) == tt).float().mean().item()
    return np.array(losses), first_grad, acc


epochs = 3 if FAST else 6
plain, res = train(False, epochs), train(True, epochs)
for name, (losses, g1, acc) in (("plain", plain), ("residual", res)):
    print(f"{name:9s} gradient at block 1: {g1:.1e}   "
          f"loss {losses[:20].mean():.3f} -> {losses[-20:].mean():.3f}   held-out accuracy {acc:.3f}")

# %% [markdown]
# The plain net's first block receives a gradient some ten orders of magnitude smaller: it cannot
# learn, and the loss stays at $\ln 10 \approx 2.30$ (guessing). The residual net of the same depth
# learns.
#
# 普通网络的第一个块收到的梯度要小十几个数量级：它学不动，损失停在 $\ln 10 \approx 2.30$（瞎猜）。
# 同样深度的残差网络则能学会。

# %%
assert plain[1] < 1e-6 * res[1]
assert abs(plain[0][-20:].mean() - np.log(10)) < 0.05 and plain[2] < 0.2
assert res[0][-20:].mean() < 0.6 and res[2] > 0.8

# %%
fig, ax = new_figure(size=(7, 4.5))
steps = np.arange(1, len(plain[0]) + 1)
ax.plot(steps, plain[0], lw=0.8, label=f"plain, {2 * depth + 2} layers")
ax.plot(steps, res[0], lw=0.8, label=f"residual, {2 * depth + 2} layers")
ax.axhline(np.log(10), color="k", ls=":", lw=0.8, label="ln 10 (guessing)")
ax.set(xlabel="step", ylabel="mini-batch loss", title="a deep plain net does not train; a residual one does")
ax.grid(alpha=0.3)
ax.legend()
save(fig, "14_plain_vs_residual.png")

# %% [markdown]
# ## ResNet's `BasicBlock` / ResNet 的 `BasicBlock`
#
# `numtorch.models.BasicBlock` is torchvision's: `conv3x3 → BN → ReLU → conv3x3 → BN`, plus the input,
# then ReLU. Recomposing it from its parts gives the same output.
#
# `numtorch.models.BasicBlock` 与 torchvision 的相同：`conv3x3 → BN → ReLU → conv3x3 → BN`，加上输入，
# 再经过 ReLU。用它的各个部件重新组装，得到同样的输出。

# %%
from numtorch.models import BasicBlock, resnet18

block = BasicBlock(16, 16).eval()
z = numtorch.randn(2, 16, 8, 8)
with numtorch.no_grad():
    by_parts = F.relu(block.bn2(block.conv2(F.relu(block.bn1(block.conv1(z))))) + z)
    np.testing.assert_allclose(block(z).numpy(), by_parts.numpy(), rtol=1e-5, atol=1e-6)
assert block(z).shape == z.shape
print("BasicBlock = ReLU(x + BN(conv(ReLU(BN(conv(x))))))")
print(f"resnet18 has {sum(p.numel() for p in resnet18().parameters()):,} parameters")
