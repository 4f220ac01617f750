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
# # 2. NumPy vs numtorch: the same idioms / NumPy 与 numtorch 的对应写法
#
# numtorch speaks PyTorch's language. Most NumPy idioms have a one-to-one PyTorch spelling; this
# lesson runs every pair from the notes' table and checks that both give the same numbers.
#
# numtorch 使用 PyTorch 的接口。大多数 NumPy 写法在 PyTorch 里都有一一对应的写法；本课把笔记表格里的
# 每一对都运行一遍，并检查两边得到的数完全相同。
#
# | NumPy | numtorch / PyTorch | meaning / 含义 |
# | --- | --- | --- |
# | `x.dot(y)` | `x.mm(y)` | matrix product / 矩阵乘法 |
# | `np.square(a)` | `a.pow(2)` | element-wise square / 逐元素平方 |
# | `x.T` | `x.t()` | transpose / 转置 |
# | `np.maximum(h, 0)` | `h.clamp(min=0)` | ReLU |
# | `float(x)` | `x.item()` | a Python number / 取出 Python 数值 |
# | `x.copy()` | `x.clone()` | an independent copy / 独立的副本 |
# | `cupy.asarray(x)` | `x.to("cuda:0")` | move to the GPU / 搬到 GPU |

# %%
import numpy as np

import numtorch
from _lesson import save
from numtorch.viz import new_figure

rng = np.random.default_rng(0)
x_np = rng.standard_normal((4, 3)).astype(np.float32)
y_np = rng.standard_normal((3, 5)).astype(np.float32)
x, y = numtorch.tensor(x_np), numtorch.tensor(y_np)

# %% [markdown]
# ## Each idiom, side by side / 每种写法并排对照

# %%
np.testing.assert_allclose(x.mm(y).numpy(), x_np.dot(y_np), rtol=1e-6)       # matrix product
np.testing.assert_array_equal(x.pow(2).numpy(), np.square(x_np))             # square
np.testing.assert_array_equal(x.t().numpy(), x_np.T)                          # transpose
assert x.T.shape == x_np.T.shape                                              # numtorch has .T too
np.testing.assert_array_equal(x.clamp(min=0).numpy(), np.maximum(x_np, 0))   # ReLU
s = x.sum()
assert isinstance(s.item(), float) and abs(s.item() - float(x_np.sum())) < 1e-5   # .item()
print("mm, pow, t, clamp, item: identical to NumPy")

# %% [markdown]
# `clone()` is a real copy, as `copy()` is in NumPy: changing the copy leaves the original alone.
# A plain assignment is not a copy — both names see the same data.
#
# `clone()` 和 NumPy 的 `copy()` 一样是真正的副本：改副本不影响原来的张量。
# 直接赋值不是复制——两个名字指向同一份数据。

# %%
a_np, a = x_np.copy(), x.clone()
a_np[0, 0] = 100.0
a[0, 0] = 100.0
assert x_np[0, 0] != 100.0 and x[0, 0].item() != 100.0
alias = x
alias[1, 1] = -7.0
assert x[1, 1].item() == -7.0           # an alias, not a copy / 别名而不是副本
x_np[1, 1] = -7.0

# %% [markdown]
# `x.to("cuda:0")` moves a tensor to the first GPU (numtorch computes there with CuPy). Without a
# GPU, this machine stays on the CPU; the code is the same either way.
#
# `x.to("cuda:0")` 把张量搬到第一块 GPU（numtorch 在那里用 CuPy 计算）。没有 GPU 时就留在 CPU 上；
# 代码都一样。

# %%
device = "cuda:0" if numtorch.cuda.is_available() else "cpu"
xd = x.to(device)
print("device:", xd.device)
np.testing.assert_allclose(xd.mm(y.to(device)).cpu().numpy(), x_np.dot(y_np), rtol=1e-5)

# %% [markdown]
# ## The two-layer net, in NumPy and in numtorch / 两层网络：NumPy 版与 numtorch 版
#
# The notes' warm-up: fit random data with `h = relu(x W1)`, `y = h W2` and the loss
# $\sum (y - t)^2$, gradients written by hand. The numtorch version is the NumPy one with the
# idioms above swapped in; from the same start it follows the same path.
#
# 笔记里的热身练习：用 `h = relu(x W1)`、`y = h W2` 和损失 $\sum (y - t)^2$ 拟合随机数据，梯度手写。
# numtorch 版就是把上面的写法换进 NumPy 版；从同一个起点出发，走的是同一条路。

# %%
N, D_in, H, D_out, lr, steps = 32, 50, 30, 5, 1e-4, 200
X = rng.standard_normal((N, D_in)).astype(np.float32)
T = rng.standard_normal((N, D_out)).astype(np.float32)
W1_0 = rng.standard_normal((D_in, H)).astype(np.float32)
W2_0 = rng.standard_normal((H, D_out)).astype(np.float32)


def train_numpy():
    w1, w2, losses = W1_0.copy(), W2_0.copy(), []
    for _ in range(steps):
        h = X.dot(w1)
        h_relu = np.maximum(h, 0)
        y = h_relu.dot(w2)
        losses.append(float(np.square(y - T).sum()))
        grad_y = 2.0 * (y - T)
        grad_w2 = h_relu.T.dot(grad_y)
        grad_h = grad_y.dot(w2.T)
        grad_h[h < 0] = 0
        w1 -= lr * X.T.dot(grad_h)
        w2 -= lr * grad_w2
    return losses


def train_numtorch():
    x, t = numtorch.tensor(X), numtorch.tensor(T)
    w1, w2, losses = numtorch.tensor(W1_0).clone(), numtorch.tensor(W2_0).clone(), []
    for _ in range(steps):
        h = x.mm(w1)
        h_relu = h.clamp(min=0)
        y = h_relu.mm(w2)
        losses.append((y - t).pow(2).sum().item())
        grad_y = 2.0 * (y - t)
        grad_w2 = h_relu.t().mm(grad_y)
        grad_h = grad_y.mm(w2.t())
        grad_h[h < 0] = 0
        w1 -= lr * x.t().mm(grad_h)
        w2 -= lr * grad_w2
    return losses


loss_np, loss_nt = train_numpy(), train_numtorch()
print(f"loss: start {loss_np[0]:.1f}, end NumPy {loss_np[-1]:.3f} numtorch {loss_nt[-1]:.3f}")
np.testing.assert_allclose(loss_nt, loss_np, rtol=1e-3)
assert loss_np[-1] < 0.01 * loss_np[0]

# %%
fig, ax = new_figure(size=(6, 4))
ax.semilogy(loss_np, lw=3, alpha=0.5, label="NumPy")
ax.semilogy(loss_nt, "--", label="numtorch")
ax.set(xlabel="step", ylabel="loss  Σ(y − t)²", title="same net, same start: same losses")
ax.legend()
save(fig, "02_numpy_vs_numtorch.png")
