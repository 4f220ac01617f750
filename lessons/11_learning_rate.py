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
# # 11. The learning rate, a hyperparameter / 学习率：一个超参数
#
# The learning rate $\eta$ is not learned: we choose it (a **hyperparameter**). Too large and each step
# overshoots the valley — the loss grows until it overflows (**diverges**). Too small and the weights
# barely move. In between, the loss falls fast. First on a parabola, where the numbers can be
# checked by hand, then on the two-layer net.
#
# 学习率 $\eta$ 不是学出来的，而是由我们选定的（**超参数**）。太大，每一步都越过谷底——损失越来越大直到
# 溢出（**发散**）；太小，权重几乎不动。介于两者之间时，损失下降很快。先在抛物线上看（数字可以手算验证），
# 再在两层网络上看。

# %%
import numpy as np

import numtorch
import numtorch.nn.functional as F
from numtorch import optim
from numtorch.models import TwoLayerNet
from _lesson import FAST, digits, save
from numtorch.viz import new_figure

# %% [markdown]
# ## On $f(w) = w^2$ / 在 $f(w) = w^2$ 上
#
# One step gives $w \leftarrow w - 2\eta w = (1 - 2\eta)\,w$: it shrinks when $|1 - 2\eta| < 1$, i.e.
# $0 < \eta < 1$, and grows for $\eta > 1$.
#
# 一步之后 $w \leftarrow w - 2\eta w = (1 - 2\eta)\,w$：当 $|1 - 2\eta| < 1$，即 $0 < \eta < 1$ 时 $w$ 缩小，
# $\eta > 1$ 时 $w$ 增大。

# %%
for lr in (1.1, 0.3, 0.001):
    w = numtorch.tensor([1.0], dtype=numtorch.float64, requires_grad=True)
    opt = optim.SGD([w], lr=lr)
    for _ in range(10):
        opt.zero_grad()
        (w ** 2).sum().backward()
        opt.step()
    print(f"lr {lr}: w after 10 steps {w.item():+.4f}  (formula {(1 - 2 * lr) ** 10:+.4f})")
    assert abs(w.item() - (1 - 2 * lr) ** 10) < 1e-12

# %% [markdown]
# ## On the two-layer net / 在两层网络上
#
# With $\eta = 50$ the first steps throw the loss up by orders of magnitude; the ReLUs then die
# (their inputs are negative for every image) and the net never recovers. With $\eta = 0.0005$ the
# loss after hundreds of steps is still close to $\ln 10 \approx 2.30$, the loss of guessing.
#
# $\eta = 50$ 时，最初几步就让损失上升好几个数量级；随后 ReLU 全部“死亡”（对每张图像输入都是负数），
# 网络再也恢复不过来。$\eta = 0.0005$ 时，几百步之后损失仍接近 $\ln 10 \approx 2.30$，也就是瞎猜的损失。

# %%
x_train, t_train, _, _ = digits()
x, t = numtorch.tensor(x_train), numtorch.tensor(t_train)
steps = 150 if FAST else 400
rates = {"lr = 50 (too large: diverges)": 50.0, "lr = 0.5 (learns)": 0.5, "lr = 0.0005 (too small)": 5e-4}


def train(lr):
    numtorch.manual_seed(0)
    net = TwoLayerNet(64, 50, 10)
    opt = optim.SGD(net.parameters(), lr=lr)
    g = numtorch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        idx = numtorch.randint(0, len(x), (64,), generator=g)
        loss = F.cross_entropy(net(x[idx]), t[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


curves = {name: train(lr) for name, lr in rates.items()}
for name, c in curves.items():
    print(f"{name:32s} loss {c[0]:.3f} -> {c[-1]:.3f}")
big, good, tiny = curves.values()
start = good[0]
assert np.nanmax(big) > 100 * start and big[-10:].mean() > 2 * start  # blew up, never learned
assert good[-10:].mean() < 0.2 * start                                # learned
assert 0.9 * start < tiny[-10:].mean() < 1.01 * start                 # barely moved

# %%
fig, ax = new_figure(size=(7, 4.5))
for name, c in curves.items():
    c = np.where(np.isfinite(c), c, np.nan)
    ax.plot(c, label=name)
ax.set(xlabel="step", ylabel="mini-batch loss", yscale="log", title="three learning rates, same net and data")
ax.grid(alpha=0.3)
ax.legend()
save(fig, "11_learning_rates.png")
