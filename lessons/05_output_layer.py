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
# # 5. The output layer: identity or softmax / 输出层：恒等函数或 softmax
#
# The last layer's activation depends on the task. **Regression** predicts a number, so the output
# is the affine layer's value as it is (the identity function). **Classification** predicts a class,
# and softmax turns the $n$ scores $a_k$ into probabilities
# $y_k = e^{a_k} / \sum_i e^{a_i}$: positive, summing to 1, in the same order as the scores.
#
# 最后一层的激活函数取决于任务。**回归**预测一个数值，所以输出就是仿射层的值本身（恒等函数）。
# **分类**预测类别，softmax 把 $n$ 个得分 $a_k$ 变成概率 $y_k = e^{a_k} / \sum_i e^{a_i}$：
# 都是正数，总和为 1，大小顺序与得分相同。

# %%
import numpy as np

import numtorch
import numtorch.nn.functional as F
from numtorch import nn, optim
from _lesson import save
from numtorch.viz import new_figure

numtorch.manual_seed(0)

# %% [markdown]
# ## Softmax, in NumPy and in numtorch / softmax 的 NumPy 写法与 numtorch 写法
#
# Written as in the formula, $e^{a}$ overflows for large scores: $e^{1010}$ is `inf` in float64.
# Subtracting the largest score first changes nothing mathematically
# ($e^{a_k - C} / \sum_i e^{a_i - C}$ is the same fraction) and keeps every exponent $\le 0$.
#
# 按公式直接写，得分很大时 $e^{a}$ 会溢出：float64 里 $e^{1010}$ 是 `inf`。
# 先减去最大得分在数学上什么也没改变（$e^{a_k - C} / \sum_i e^{a_i - C}$ 是同一个分数），
# 却让所有指数都 $\le 0$。

# %%
def softmax_naive(a):
    e = np.exp(a)
    return e / e.sum()


def softmax_np(a):
    e = np.exp(a - a.max())          # the same fraction, no overflow
    return e / e.sum()


a = np.array([0.3, 2.9, 4.0])
y = softmax_np(a)
print("scores", a, "-> softmax", y.round(4))
np.testing.assert_allclose(y, softmax_naive(a), rtol=1e-12)
np.testing.assert_allclose(F.softmax(numtorch.tensor(a), dim=0).numpy(), y, rtol=1e-12)
assert abs(y.sum() - 1) < 1e-12 and np.argmax(y) == np.argmax(a)

big = np.array([1010.0, 1000.0, 990.0])
with np.errstate(over="ignore", invalid="ignore"):
    assert np.isnan(softmax_naive(big)).all()         # inf / inf
np.testing.assert_allclose(F.softmax(numtorch.tensor(big), dim=0).numpy(), softmax_np(big), rtol=1e-12)
print("softmax of", big, "=", softmax_np(big).round(6))

# %% [markdown]
# Softmax keeps the order of the scores, so to **predict** a class the argmax of the scores is
# enough; softmax matters for **learning**, where the loss needs probabilities.
#
# softmax 不改变得分的大小顺序，所以只做**预测**时取得分的 argmax 就够了；softmax 在**学习**时才
# 重要，因为损失函数需要概率。

# %%
scores = numtorch.randn(100, 10)
assert (F.softmax(scores, dim=1).argmax(1) == scores.argmax(1)).all().item()

# %% [markdown]
# ## Identity output for regression / 回归用恒等输出
#
# A net that predicts $\sin x$ from $x$ ends in `nn.Linear` with nothing after it: the outputs are
# real numbers of any sign and size.
#
# 由 $x$ 预测 $\sin x$ 的网络以 `nn.Linear` 结尾，后面什么也不加：输出可以是任意正负、任意大小的实数。

# %%
x = numtorch.linspace(-3, 3, 128).reshape(-1, 1)
t = numtorch.sin(x)
reg = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))      # identity output
opt = optim.Adam(reg.parameters(), lr=0.02)
for step in range(300):
    loss = F.mse_loss(reg(x), t)
    opt.zero_grad()
    loss.backward()
    opt.step()
print(f"regression MSE after 300 steps: {loss.item():.5f}")
assert loss.item() < 0.01

# %%
fig, (ax_r, ax_c) = new_figure(1, 2, size=(11, 4))
with numtorch.no_grad():
    ax_r.plot(x.numpy(), t.numpy(), label="target sin x")
    ax_r.plot(x.numpy(), reg(x).numpy(), "--", label="net (identity output)")
ax_r.set(title="regression: the output is the number", xlabel="x")
ax_r.legend()
ax_c.bar(np.arange(3) - 0.2, a, width=0.4, label="scores a")
ax_c.bar(np.arange(3) + 0.2, y, width=0.4, label="softmax(a)")
ax_c.set(title="classification: scores → probabilities", xticks=range(3))
ax_c.legend()
save(fig, "05_identity_vs_softmax.png")
