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
# # 4. Activation functions / 激活函数
#
# Between two affine layers sits an activation function $h$. It must be **nonlinear**: with a linear
# $h(x) = cx$, the stack $y = c\,(c\,(x W_1) W_2) W_3$ is just $x W$ with $W = c^2 W_1 W_2 W_3$ —
# one layer, however deep. First we show that numerically.
#
# 两个仿射层之间是激活函数 $h$。它必须是**非线性**的：若 $h(x) = cx$ 是线性的，那么
# $y = c\,(c\,(x W_1) W_2) W_3$ 就只是 $x W$，其中 $W = c^2 W_1 W_2 W_3$——无论多深都等于一层。
# 我们先用数字验证这一点。

# %%
import numpy as np

import numtorch
from numtorch import nn
from _lesson import save
from numtorch.viz import new_figure

numtorch.manual_seed(0)

# %% [markdown]
# ## A deep linear net is one layer / 深层线性网络等于一层
#
# Four `nn.Linear` layers with no activation between them; their product-and-sum collapses into one
# weight matrix $W$ and bias $b$ that give the same outputs.
#
# 四个 `nn.Linear` 层，中间没有激活函数；把它们乘起来、加起来，得到一个权重矩阵 $W$ 和偏置 $b$，
# 输出完全一样。

# %%
deep = nn.Sequential(nn.Linear(6, 16), nn.Linear(16, 16), nn.Linear(16, 16), nn.Linear(16, 3)).double()
x = numtorch.randn(10, 6, dtype=numtorch.float64)
W = numtorch.eye(6, dtype=numtorch.float64)
b = numtorch.zeros(6, dtype=numtorch.float64)
with numtorch.no_grad():
    for layer in deep:                    # y = x W^T + b, layer after layer
        W = W @ layer.weight.t()
        b = b @ layer.weight.t() + layer.bias
    one_layer = x.mm(W) + b
    np.testing.assert_allclose(deep(x).numpy(), one_layer.numpy(), rtol=1e-10, atol=1e-12)
print("4 linear layers == 1 linear layer, W shape", tuple(W.shape))

# %% [markdown]
# With ReLU between the layers, no single matrix reproduces the net: the best linear fit (least
# squares) leaves a clear error.
#
# 在层与层之间加上 ReLU，就没有哪个矩阵能复现这个网络了：最好的线性拟合（最小二乘）仍有明显误差。

# %%
relu_net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3)).double()
xs = numtorch.randn(500, 6, dtype=numtorch.float64)
with numtorch.no_grad():
    ys = relu_net(xs).numpy()
X1 = np.hstack([xs.numpy(), np.ones((500, 1))])
fit, *_ = np.linalg.lstsq(X1, ys, rcond=None)
rel_err = np.linalg.norm(X1 @ fit - ys) / np.linalg.norm(ys - ys.mean(0))
print(f"best linear fit of the ReLU net: relative error {rel_err:.3f}")
assert rel_err > 0.05

# %% [markdown]
# ## Sigmoid, tanh, ReLU, Swish / 四种激活函数
#
# $\sigma(x) = 1/(1+e^{-x})$, $\tanh x$, $\mathrm{ReLU}(x) = \max(0, x)$, and
# $\mathrm{Swish}_\beta(x) = x\,\sigma(\beta x)$: close to linear for small $\beta$ ($x/2$ at $\beta = 0$),
# close to ReLU for large $\beta$. Their derivatives come from autograd: `y.sum().backward()` leaves
# $f'(x_i)$ in `x.grad`, because each $y_i$ depends only on $x_i$.
#
# $\sigma(x) = 1/(1+e^{-x})$、$\tanh x$、$\mathrm{ReLU}(x) = \max(0, x)$，以及
# $\mathrm{Swish}_\beta(x) = x\,\sigma(\beta x)$：$\beta$ 小时接近线性（$\beta = 0$ 时为 $x/2$），
# $\beta$ 大时接近 ReLU。导数由自动微分得到：`y.sum().backward()` 把 $f'(x_i)$ 放进 `x.grad`，
# 因为每个 $y_i$ 只依赖于 $x_i$。

# %%
def swish(beta):
    return lambda x: x * numtorch.sigmoid(beta * x)


functions = {"sigmoid": numtorch.sigmoid, "tanh": numtorch.tanh, "ReLU": numtorch.relu}
betas = (0.1, 1.0, 10.0)
functions.update({f"Swish β={b:g}": swish(b) for b in betas})
curves = {}
for name, f in functions.items():
    x = numtorch.linspace(-5, 5, 401, dtype=numtorch.float64).requires_grad_(True)
    y = f(x)
    y.sum().backward()
    curves[name] = (x.detach().numpy(), y.detach().numpy(), x.grad.numpy())

# %% [markdown]
# Each autograd derivative matches its closed form: $\sigma' = \sigma(1-\sigma)$,
# $\tanh' = 1 - \tanh^2$, $\mathrm{ReLU}' = [x > 0]$,
# $\mathrm{Swish}_\beta' = \sigma(\beta x) + \beta x\,\sigma(\beta x)(1 - \sigma(\beta x))$.
#
# 每个自动微分得到的导数都与解析式一致：$\sigma' = \sigma(1-\sigma)$，$\tanh' = 1 - \tanh^2$，
# $\mathrm{ReLU}' = [x > 0]$，
# $\mathrm{Swish}_\beta' = \sigma(\beta x) + \beta x\,\sigma(\beta x)(1 - \sigma(\beta x))$。

# %%
xv = curves["sigmoid"][0]
sig = 1 / (1 + np.exp(-xv))
np.testing.assert_allclose(curves["sigmoid"][2], sig * (1 - sig), atol=1e-12)
np.testing.assert_allclose(curves["tanh"][2], 1 - np.tanh(xv) ** 2, atol=1e-12)
np.testing.assert_array_equal(curves["ReLU"][2], (xv > 0).astype(float))
for b in betas:
    sb = 1 / (1 + np.exp(-b * xv))
    np.testing.assert_allclose(curves[f"Swish β={b:g}"][2], sb + b * xv * sb * (1 - sb), atol=1e-10)
# Swish's two limits: beta -> 0 gives x / 2, beta -> infinity gives ReLU
np.testing.assert_allclose(swish(0.0)(numtorch.tensor(xv)).numpy(), xv / 2, rtol=1e-12)
np.testing.assert_allclose(curves["Swish β=10"][1], np.maximum(xv, 0), atol=0.03)
print("all derivatives match their closed forms")

# %%
fig, (ax_f, ax_d) = new_figure(1, 2, size=(11, 4.5))
for name, (xv, yv, dv) in curves.items():
    ax_f.plot(xv, yv, label=name)
    ax_d.plot(xv, dv, label=name)
ax_f.set(title="activation f(x)", xlabel="x", ylim=(-1.5, 5))
ax_d.set(title="derivative f'(x) from numtorch autograd", xlabel="x", ylim=(-0.5, 1.5))
for ax in (ax_f, ax_d):
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
save(fig, "04_activations.png")

# %%
fig, ax = new_figure(size=(6, 4.5))
x = numtorch.linspace(-4, 4, 201)
for b in (0.0, 0.5, 1.0, 2.0, 5.0, 20.0):
    ax.plot(x.numpy(), swish(b)(x).numpy(), label=f"β={b:g}")
ax.set(title="Swish  x·σ(βx):  from x/2 (β=0) to ReLU (β→∞)", xlabel="x")
ax.grid(alpha=0.3)
ax.legend()
save(fig, "04_swish_beta.png")
