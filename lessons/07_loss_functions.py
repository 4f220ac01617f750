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
# # 7. Loss functions / 损失函数
#
# A loss says, in one number, how bad the net's output $y$ is for the label $t$. The notes use two:
#
# * sum of squared errors $E = \frac12 \sum_k (y_k - t_k)^2$;
# * cross-entropy $E = -\sum_k t_k \ln y_k$ with $t$ one-hot: only the true class's term is left,
#   $E = -\ln y_{\text{true}}$.
#
# 损失函数用一个数说明网络输出 $y$ 对标签 $t$ 来说有多差。笔记用到两种：
#
# * 均方误差（平方和）$E = \frac12 \sum_k (y_k - t_k)^2$；
# * 交叉熵 $E = -\sum_k t_k \ln y_k$，$t$ 为 one-hot：只剩下正确类别那一项，$E = -\ln y_{\text{正确}}$。

# %%
import numpy as np

import numtorch
import numtorch.nn.functional as F
from _lesson import save
from numtorch.viz import new_figure

# %% [markdown]
# ## The notes' example / 笔记中的例子
#
# The label is "2"; one output puts 0.6 on "2", the other puts 0.6 on "7".
#
# 标签是“2”；一个输出在“2”上给出 0.6，另一个在“7”上给出 0.6。

# %%
t = np.zeros(10)
t[2] = 1                                                     # one-hot label "2"
y_good = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
y_bad = np.array([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0])


def sum_squared_error(y, t):
    return 0.5 * np.sum((y - t) ** 2)


def cross_entropy_error(y, t, delta=1e-7):
    return -np.sum(t * np.log(y + delta))          # delta keeps log(0) finite


for name, yv in (("good", y_good), ("bad", y_bad)):
    print(f"{name}: SSE {sum_squared_error(yv, t):.4f}  CE {cross_entropy_error(yv, t):.4f}")
assert abs(sum_squared_error(y_good, t) - 0.0975) < 1e-12
assert abs(sum_squared_error(y_bad, t) - 0.5975) < 1e-12
assert abs(cross_entropy_error(y_good, t) - (-np.log(0.6 + 1e-7))) < 1e-12
assert cross_entropy_error(y_bad, t) > cross_entropy_error(y_good, t)

# %% [markdown]
# ## The same losses in numtorch / numtorch 中的同样的损失
#
# `F.mse_loss(y, t, reduction="sum") / 2` is the sum of squared errors. `F.cross_entropy` takes the
# raw scores (logits) and the class index, applies log-softmax itself and equals
# $-\sum_k t_k \ln \mathrm{softmax}(a)_k$ with the one-hot $t$ — averaged over the batch.
#
# `F.mse_loss(y, t, reduction="sum") / 2` 就是平方和误差。`F.cross_entropy` 接收原始得分（logits）
# 和类别下标，自己做 log-softmax，等于对 one-hot $t$ 计算的 $-\sum_k t_k \ln \mathrm{softmax}(a)_k$
# ——再对批次取平均。

# %%
sse = F.mse_loss(numtorch.tensor(y_good), numtorch.tensor(t), reduction="sum") / 2
assert abs(sse.item() - sum_squared_error(y_good, t)) < 1e-12

rng = np.random.default_rng(0)
logits = rng.standard_normal((8, 10))
labels = rng.integers(0, 10, 8)
one_hot = np.eye(10)[labels]
p = np.exp(logits - logits.max(1, keepdims=True))
p /= p.sum(1, keepdims=True)
ce_np = -(one_hot * np.log(p)).sum(1).mean()
ce_nt = F.cross_entropy(numtorch.tensor(logits), numtorch.tensor(labels))
print(f"cross-entropy NumPy {ce_np:.6f}  numtorch {ce_nt.item():.6f}")
assert abs(ce_nt.item() - ce_np) < 1e-12
# and as log_softmax + nll_loss, PyTorch's two-step spelling
log_probs = F.log_softmax(numtorch.tensor(logits), dim=1)
assert abs(F.nll_loss(log_probs, numtorch.tensor(labels)).item() - ce_np) < 1e-12

# %% [markdown]
# ## Why accuracy cannot be the loss / 为什么不能用识别精度作损失
#
# Learning follows the gradient. Accuracy counts correct answers: nudging a weight a little almost
# never flips an answer, so accuracy stays flat — its derivative is 0 almost everywhere, and jumps
# where it isn't. The cross-entropy changes smoothly with every weight, so its gradient always
# says which way to go. Below: both, as one weight of a small classifier moves.
#
# 学习沿着梯度进行。识别精度数的是答对的个数：权重稍微动一点，几乎不会改变任何一个答案，所以精度
# 保持不变——它的导数几乎处处为 0，不为 0 的地方又是跳变。交叉熵随每个权重平滑变化，
# 它的梯度总能指出该往哪边走。下面画出一个小分类器的某个权重变化时两者的样子。

# %%
from _lesson import digits

x_tr, t_tr, _, _ = digits()
x, tt = numtorch.tensor(x_tr[:300]), numtorch.tensor(t_tr[:300])
numtorch.manual_seed(0)
W = numtorch.randn(64, 10) * 0.1
ws = np.linspace(-3, 3, 601)
losses, accs = [], []
for w in ws:
    W[10, 3] = float(w)                      # move one weight, keep the rest
    scores = x.mm(W)
    losses.append(F.cross_entropy(scores, tt).item())
    accs.append((scores.argmax(1) == tt).float().mean().item())
losses, accs = np.array(losses), np.array(accs)
d_acc, d_loss = np.diff(accs) / np.diff(ws), np.diff(losses) / np.diff(ws)
flat = np.mean(d_acc == 0)
print(f"accuracy's slope is exactly 0 on {flat:.0%} of the steps; "
      f"the loss's slope on {np.mean(d_loss == 0):.0%}")
assert flat > 0.8 and np.mean(d_loss == 0) < 0.01

# autograd agrees: accuracy has no gradient at all (argmax is not differentiable), the loss has one
W.requires_grad_(True)
F.cross_entropy(x.mm(W), tt).backward()
assert W.grad.abs().sum().item() > 0
assert not (x.mm(W).argmax(1) == tt).float().mean().requires_grad

# %%
fig, (ax_l, ax_a) = new_figure(1, 2, size=(11, 4))
ax_l.plot(ws, losses)
ax_l.set(title="cross-entropy: smooth in the weight", xlabel="W[10, 3]", ylabel="loss")
ax_a.plot(ws, accs, drawstyle="steps-mid", color="tab:orange")
ax_a.set(title="accuracy: flat steps (gradient 0)", xlabel="W[10, 3]", ylabel="accuracy")
for ax in (ax_l, ax_a):
    ax.grid(alpha=0.3)
save(fig, "07_loss_vs_accuracy.png")
