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
# # 9. Numerical differentiation vs backpropagation / 数值微分与误差反向传播
#
# The **numerical** gradient perturbs one weight at a time:
# $\partial L/\partial w \approx \frac{L(w + h) - L(w - h)}{2h}$ (the central difference).
# It is simple and almost always right — and costs two forward passes *per weight*.
# **Backpropagation** gets every weight's gradient from one forward and one backward pass.
# We check that they agree, time both, and see how the numerical error depends on $h$.
#
# **数值微分**每次扰动一个权重：$\partial L/\partial w \approx \frac{L(w + h) - L(w - h)}{2h}$（中心差分）。
# 它简单、几乎总是对的——但*每个权重*都要两次前向传播。**误差反向传播**只用一次前向和一次反向传播
# 就得到所有权重的梯度。我们检查两者一致，分别计时，再看数值误差怎样随 $h$ 变化。

# %%
import time

import numpy as np

import numtorch
import numtorch.nn.functional as F
from numtorch.models import TwoLayerNet
from _lesson import digits, save
from numtorch.viz import new_figure

x_train, t_train, _, _ = digits()
x = numtorch.tensor(x_train[:100], dtype=numtorch.float64)
t = numtorch.tensor(t_train[:100])
numtorch.manual_seed(0)
net = TwoLayerNet(64, 10, 10).double()
params = dict(net.named_parameters())


def loss_fn():
    return F.cross_entropy(net(x), t)


# %% [markdown]
# ## The numerical gradient, as the notes write it / 笔记里的数值梯度写法

# %%
def numerical_gradient(f, w, h=1e-4):
    """Central differences, one element of ``w`` at a time (``w`` is changed and restored in place)."""
    grad = np.zeros(w.shape)
    flat = w.data.reshape(-1)
    with numtorch.no_grad():
        for i in range(flat.numel()):
            old = flat[i].item()
            flat[i] = old + h
            f_plus = f().item()
            flat[i] = old - h
            f_minus = f().item()
            flat[i] = old
            grad.reshape(-1)[i] = (f_plus - f_minus) / (2 * h)
    return grad


t0 = time.perf_counter()
numeric = {name: numerical_gradient(loss_fn, p) for name, p in params.items()}
t_numeric = time.perf_counter() - t0

t0 = time.perf_counter()
net.zero_grad()
loss_fn().backward()
backprop = {name: p.grad.numpy() for name, p in params.items()}
t_backprop = time.perf_counter() - t0

n = sum(p.numel() for p in params.values())
print(f"{n} weights: numerical {t_numeric:.2f} s, backprop {t_backprop * 1e3:.1f} ms "
      f"({t_numeric / t_backprop:.0f}x faster)")
for name in params:
    diff = np.abs(numeric[name] - backprop[name]).max()
    print(f"  {name:10s} max |numerical - backprop| = {diff:.2e}")
    assert diff < 1e-8, name
assert t_numeric > 20 * t_backprop

# %% [markdown]
# numtorch has the same check built in: `numtorch.autograd.gradcheck` compares the two for any
# function of float64 tensors.
#
# numtorch 内置了同样的检查：`numtorch.autograd.gradcheck` 对任意 float64 张量函数比较两者。

# %%
w = numtorch.randn(5, 3, dtype=numtorch.float64, requires_grad=True)
assert numtorch.autograd.gradcheck(lambda w: (w.tanh() ** 2).sum(), (w,))

# %% [markdown]
# ## The error against $h$: a V / 误差随 $h$ 的变化：V 字形
#
# The central difference has a **truncation** error $\approx \frac{h^2}{6} f'''$ that shrinks with $h$,
# and a **rounding** error $\approx \varepsilon |f| / h$ that grows as $h$ shrinks (the two values of $f$
# agree in more and more digits). On a log-log plot the total is a V; its bottom sits near
# $h \approx \varepsilon^{1/3}$ — about $10^{-5}$ in float64, $10^{-2}$ in float32. The forward
# difference $(f(w+h) - f(w))/h$ has a larger truncation error $\frac{h}{2} f''$, so its V is higher.
# In float32 a step below about $10^{-7}|w|$ is lost altogether ($w + h = w$): the numerical
# gradient is then 0 and the error is the whole gradient — the flat line on the left.
#
# 中心差分有**截断误差** $\approx \frac{h^2}{6} f'''$，随 $h$ 减小而减小；还有**舍入误差**
# $\approx \varepsilon |f| / h$，随 $h$ 减小而增大（$f$ 的两个值前面越来越多的位数相同）。
# 在双对数坐标中总误差呈 V 字形；谷底在 $h \approx \varepsilon^{1/3}$ 附近——float64 约为 $10^{-5}$，
# float32 约为 $10^{-2}$。前向差分 $(f(w+h) - f(w))/h$ 的截断误差 $\frac{h}{2} f''$ 更大，所以它的 V 更高。
# 在 float32 中，小于约 $10^{-7}|w|$ 的步长会完全丢失（$w + h = w$）：数值梯度变成 0，
# 误差就是整个梯度——左边那条水平线。

# %%
hs = np.logspace(-14, 0, 57)
k = int(np.abs(backprop["fc1.weight"]).argmax())        # a weight whose pixel is not always blank
exact = backprop["fc1.weight"].reshape(-1)[k]


def errors(dtype, forward=False):
    out = []
    net_d = TwoLayerNet(64, 10, 10).to(dtype)
    net_d.load_state_dict({k: v.to(dtype) for k, v in net.state_dict().items()})
    xd = x.to(dtype)
    flat = net_d.fc1.weight.data.reshape(-1)
    old = flat[k].item()
    with numtorch.no_grad():
        f = lambda: F.cross_entropy(net_d(xd), t).item()  # noqa: E731
        f0 = f()
        for h in hs:
            flat[k] = old + h
            fp = f()
            flat[k] = old - h
            fm = f()
            flat[k] = old
            g = (fp - f0) / h if forward else (fp - fm) / (2 * h)
            out.append(abs(g - exact) + 1e-18)
    return np.array(out)


err64, err64_fwd = errors(numtorch.float64), errors(numtorch.float64, forward=True)
err32 = errors(numtorch.float32)
best = hs[np.argmin(err64)]
print(f"float64 central: smallest error {err64.min():.1e} at h = {best:.0e}; "
      f"float32: smallest {err32.min():.1e} at h = {hs[np.argmin(err32)]:.0e}")
# the V: large at both ends, its bottom in the middle
assert 1e-8 <= best <= 1e-3
assert err64[0] > 100 * err64.min() and err64[-1] > 100 * err64.min()
assert err64_fwd.min() > 10 * err64.min()            # forward differences are worse
assert hs[np.argmin(err32)] > best and err32.min() > 100 * err64.min()

# %%
fig, ax = new_figure(size=(6.5, 4.5))
ax.loglog(hs, err64, "o-", ms=3, label="central, float64")
ax.loglog(hs, err64_fwd, "s-", ms=3, label="forward, float64")
ax.loglog(hs, err32, "^-", ms=3, label="central, float32")
ax.set(xlabel="h", ylabel="|numerical − backprop|", title="numerical gradient error against h")
ax.grid(alpha=0.3, which="both")
ax.legend()
save(fig, "09_error_vs_h.png")

# %%
fig, ax = new_figure(size=(5, 3.5))
ax.bar(["numerical", "backprop"], [t_numeric, t_backprop], color=["tab:orange", "tab:blue"])
ax.set_yscale("log")
ax.set(ylabel="seconds (log)", title=f"gradient of {n} weights")
save(fig, "09_time.png")
