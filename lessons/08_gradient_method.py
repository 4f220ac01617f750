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
# # 8. The gradient method: minima, saddle points, plateaus / 梯度法：极小值、鞍点与平台
#
# Gradient descent repeats $x \leftarrow x - \eta \nabla f(x)$: a step downhill. It stops wherever the
# gradient is zero — at a minimum, but also at a **saddle point** (a minimum along one direction, a
# maximum along another). Near such points the gradient is tiny and learning crawls: a **plateau**.
#
# 梯度下降反复执行 $x \leftarrow x - \eta \nabla f(x)$：朝下坡走一步。它在梯度为零的地方停下——
# 可能是极小值，也可能是**鞍点**（沿一个方向是极小、沿另一个方向是极大）。在这些点附近梯度很小，
# 学习几乎停滞：这就是**平台**（plateau）。
#
# Our function: $f(x, y) = (x^2 - 1)^2 + y^2$. Its gradient $(4x(x^2-1),\ 2y)$ is zero at
# $(\pm 1, 0)$ — the two minima, $f = 0$ — and at $(0, 0)$, a saddle: $f$ rises along $y$ and
# falls along $x$.
#
# 我们的函数：$f(x, y) = (x^2 - 1)^2 + y^2$。它的梯度 $(4x(x^2-1),\ 2y)$ 在 $(\pm 1, 0)$ 处为零
# ——两个极小值，$f = 0$——在 $(0, 0)$ 处也为零，那是鞍点：沿 $y$ 方向 $f$ 上升，沿 $x$ 方向下降。

# %%
import numpy as np

import numtorch
from numtorch import optim
from _lesson import save
from numtorch.viz import new_figure


def f(p):
    x, y = p[0], p[1]
    return (x ** 2 - 1) ** 2 + y ** 2


# %% [markdown]
# ## Gradient descent with autograd and `optim.SGD` / 用自动微分和 `optim.SGD` 做梯度下降

# %%
def descend(start, lr=0.05, steps=200):
    p = numtorch.tensor(start, dtype=numtorch.float64, requires_grad=True)
    opt = optim.SGD([p], lr=lr)
    path, values, grad_norms = [p.detach().numpy().copy()], [], []
    for _ in range(steps):
        loss = f(p)
        opt.zero_grad()
        loss.backward()
        values.append(loss.item())
        grad_norms.append(float(np.linalg.norm(p.grad.numpy())))
        opt.step()
        path.append(p.detach().numpy().copy())
    return np.array(path), np.array(values), np.array(grad_norms)


# the gradient by autograd equals the formula
p = numtorch.tensor([0.5, -2.0], dtype=numtorch.float64, requires_grad=True)
f(p).backward()
np.testing.assert_allclose(p.grad.numpy(), [4 * 0.5 * (0.25 - 1), 2 * -2.0], rtol=1e-12)

starts = {"(0, 1.5): onto the saddle": [0.0, 1.5], "(1e-8, 1.5): plateau, then a minimum": [1e-8, 1.5],
          "(-1.8, -1.2): straight to a minimum": [-1.8, -1.2]}
runs = {name: descend(s) for name, s in starts.items()}
for name, (path, values, g) in runs.items():
    print(f"{name:40s} ends at {path[-1].round(4)}  f = {values[-1]:.2e}")

# %% [markdown]
# * Starting exactly on $x = 0$, the gradient never points sideways: descent ends **on the saddle**,
#   where the gradient is zero but $f = 1$ is not a minimum.
# * Starting a hair's width beside it, descent first slides to the saddle, lingers on a plateau
#   (the loss stuck near 1, the gradient tiny), then escapes to a minimum.
# * From elsewhere it goes straight to a minimum.
#
# * 恰好从 $x = 0$ 出发，梯度永远不会指向侧面：下降**停在鞍点上**，那里梯度为零，但 $f = 1$ 并不是极小值。
# * 从旁边一丝一毫处出发，下降先滑到鞍点附近，在平台上停留（损失卡在 1 附近，梯度很小），然后才逃向极小值。
# * 从别处出发则直接走向极小值。

# %%
path, values, g = runs["(0, 1.5): onto the saddle"]
assert np.allclose(path[-1], [0, 0], atol=1e-6) and abs(values[-1] - 1) < 1e-6 and g[-1] < 1e-6
path, values, g = runs["(1e-8, 1.5): plateau, then a minimum"]
plateau = np.sum(np.abs(values - 1) < 0.01)
print(f"plateau: {plateau} steps with f within 0.01 of the saddle's value 1")
assert plateau >= 20 and np.allclose(path[-1], [1, 0], atol=1e-3) and values[-1] < 1e-6
path, values, g = runs["(-1.8, -1.2): straight to a minimum"]
assert np.allclose(path[-1], [-1, 0], atol=1e-3) and np.sum(np.abs(values - 1) < 0.01) < 5

# %%
fig, (ax_p, ax_l) = new_figure(1, 2, size=(12, 4.8))
gx, gy = np.meshgrid(np.linspace(-2, 2, 201), np.linspace(-1.7, 1.7, 171))
ax_p.contour(gx, gy, (gx ** 2 - 1) ** 2 + gy ** 2, levels=np.linspace(0, 8, 25), cmap="viridis",
             linewidths=0.7)
for name, (path, values, g) in runs.items():
    ax_p.plot(path[:, 0], path[:, 1], ".-", ms=3, lw=1, label=name)
    ax_l.semilogy(values + 1e-16, label=name)
ax_p.plot([0], [0], "kx", ms=10, mew=2)
ax_p.annotate("saddle", (0, 0), (0.15, -0.35))
ax_p.plot([-1, 1], [0, 0], "k*", ms=10)
ax_p.set(title="gradient descent on (x²−1)² + y²", xlabel="x", ylabel="y")
ax_p.legend(fontsize=8, loc="lower right")
ax_l.set(title="f along each path (plateau at f = 1)", xlabel="step", ylabel="f")
ax_l.grid(alpha=0.3)
ax_l.legend(fontsize=8)
save(fig, "08_gradient_descent_saddle.png")
