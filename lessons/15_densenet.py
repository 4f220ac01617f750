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
# # 15. DenseNet: concatenation and the growth rate / DenseNet：拼接与增长率
#
# ResNet **adds** a block's input to its output. DenseNet **concatenates**: inside a dense block,
# layer $\ell$ sees the feature maps of *all* earlier layers,
# $x_\ell = H_\ell([x_0, x_1, \dots, x_{\ell-1}])$,
# and contributes $k$ new maps — $k$ is the **growth rate**. After $L$ layers a block that started with
# $c_0$ channels has $c_0 + L k$. Every layer reaches the block's input directly (and the loss, through
# the concatenations), so features are reused instead of recomputed, and $k$ can be small.
#
# ResNet 把块的输入**加**到输出上；DenseNet 则是**拼接**：在一个稠密块（dense block）里，第 $\ell$ 层
# 能看到*之前所有层*的特征图，$x_\ell = H_\ell([x_0, x_1, \dots, x_{\ell-1}])$，并贡献 $k$ 张新的特征图——
# $k$ 就是**增长率**。经过 $L$ 层后，一个起始有 $c_0$ 个通道的块就有 $c_0 + L k$ 个通道。每一层都能直接
# 拿到块的输入（通过拼接也能直接连到损失），所以特征被重复利用而不是重新计算，$k$ 可以很小。

# %%
import numpy as np

import numtorch
import numtorch.nn.functional as F
from numtorch import nn, optim
from _lesson import FAST, digits, save
from numtorch.viz import new_figure

numtorch.manual_seed(0)

# %% [markdown]
# ## A dense block by hand / 手写一个稠密块
#
# Each layer is `BN → ReLU → conv3x3` producing $k$ maps; `numtorch.cat(..., dim=1)` joins them along
# the channel axis.
#
# 每一层是 `BN → ReLU → conv3x3`，产生 $k$ 张特征图；`numtorch.cat(..., dim=1)` 沿通道维把它们拼接起来。

# %%
class DenseBlock(nn.Module):
    def __init__(self, in_channels, growth_rate, num_layers):
        super().__init__()
        self.layers = nn.ModuleList([
            nn.Sequential(nn.BatchNorm2d(in_channels + i * growth_rate), nn.ReLU(),
                          nn.Conv2d(in_channels + i * growth_rate, growth_rate, 3, padding=1, bias=False))
            for i in range(num_layers)])

    def forward(self, x):
        features = [x]
        for layer in self.layers:
            features.append(layer(numtorch.cat(features, 1)))      # sees everything so far
        return numtorch.cat(features, 1)


c0, k, L = 8, 4, 5
block = DenseBlock(c0, k, L)
x = numtorch.randn(2, c0, 8, 8)
y = block(x)
print("channels:", c0, "->", y.shape[1], f"= {c0} + {L} x {k}")
assert y.shape == (2, c0 + L * k, 8, 8)
assert numtorch.equal(y[:, :c0], x)                 # the input passes through untouched
channels_seen = [layer[2].in_channels for layer in block.layers]
assert channels_seen == [c0 + i * k for i in range(L)]

# %% [markdown]
# The gradient reaches the block's input along $L + 1$ paths — directly, and through every layer.
#
# 梯度沿 $L + 1$ 条路径到达块的输入——直接的一条，加上经过每一层的各一条。

# %%
x.requires_grad_(True)
block(x)[:, :c0].sum().backward()                   # only the pass-through part of the output
np.testing.assert_array_equal(x.grad.numpy(), np.ones(x.shape, dtype=np.float32))

# %% [markdown]
# ## numtorch's DenseNet / numtorch 的 DenseNet
#
# `numtorch.models.DenseNet` is torchvision's DenseNet-BC (each layer a 1x1 "bottleneck" conv to
# $4k$ maps, then the 3x3 conv to $k$; transitions halve channels and resolution). Its channel
# counts follow the rule above.
#
# `numtorch.models.DenseNet` 就是 torchvision 的 DenseNet-BC（每层先用 1x1 “瓶颈”卷积得到 $4k$ 张图，
# 再用 3x3 卷积得到 $k$ 张；过渡层把通道数和分辨率减半）。它的通道数符合上面的规律。

# %%
from numtorch.models import DenseNet

growth, blocks, init = 6, (3, 3), 12
net = DenseNet(growth_rate=growth, block_config=blocks, num_init_features=init, small_inputs=True,
               num_classes=10)
after1 = init + blocks[0] * growth                   # 12 + 3*6 = 30
after2 = after1 // 2 + blocks[1] * growth            # 15 + 18 = 33
assert net.classifier.in_features == after2
print(f"DenseNet channels: stem {init} -> block1 {after1} -> transition {after1 // 2} -> block2 {after2}")

# %% [markdown]
# Trained on the 8x8 digits (the grey image repeated on 3 channels), it learns in a few epochs.
#
# 在 8x8 数字上训练（灰度图复制到 3 个通道），几个 epoch 就能学会。

# %%
x_train, t_train, x_test, t_test = digits(flat=False)
xs, ts = numtorch.tensor(x_train).expand(-1, 3, -1, -1), numtorch.tensor(t_train)
xt, tt = numtorch.tensor(x_test).expand(-1, 3, -1, -1), numtorch.tensor(t_test)
opt = optim.Adam(net.parameters(), lr=3e-3)
g = numtorch.Generator().manual_seed(0)
epochs, losses, accs = (2 if FAST else 5), [], []
for _ in range(epochs):
    net.train()
    order = numtorch.randperm(len(xs), generator=g)
    for i in range(0, len(xs) - 31, 32):          # whole batches only (BatchNorm needs several samples)
        idx = order[i:i + 32]
        loss = F.cross_entropy(net(xs[idx]), ts[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    net.eval()
    with numtorch.no_grad():
        accs.append((net(xt).argmax(1) == tt).float().mean().item())
    print(f"epoch {len(accs)}: held-out accuracy {accs[-1]:.3f}")
print("loss", np.round(losses[:5], 3), np.round(losses[-5:], 3))
assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5]) and accs[-1] > 0.7

# %%
fig, (ax_c, ax_l) = new_figure(1, 2, size=(11, 4))
ax_c.bar(range(1, L + 1), [c0] * L, color="0.6", label=f"block input ({c0})")
for j in range(L - 1):
    ax_c.bar(range(j + 2, L + 1), [k] * (L - 1 - j), bottom=c0 + j * k,
             label=f"from layer {j + 1}" if j < 4 else None)
ax_c.set(title=f"channels each layer sees (growth rate k = {k})", xlabel="layer", ylabel="input channels")
ax_c.legend(fontsize=7)
ax_l.plot(losses)
ax_l.set(title="DenseNet on 8x8 digits", xlabel="step", ylabel="mini-batch loss")
ax_l.grid(alpha=0.3)
save(fig, "15_densenet_growth.png")
