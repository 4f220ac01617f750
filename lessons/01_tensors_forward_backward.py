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
# # 1. Tensors, forward and backward / 张量、前向传播与反向传播
#
# A **tensor** is an n-dimensional array (like a NumPy `ndarray`) that can also remember how it was
# computed. The **forward** pass computes outputs from inputs; the **backward** pass computes, by the
# chain rule, how much each input changed the output — its gradient.
#
# **张量**（Tensor）是多维数组（就像 NumPy 的 `ndarray`），但它还能记住自己是怎样算出来的。
# **前向传播**（forward）由输入算出输出；**反向传播**（backward）用链式法则算出每个输入对输出的
# 影响有多大，也就是梯度。
#
# The notes list the big ideas this course builds up to: ResNet, DenseNet, object detection and
# the Transformer each get a lesson at the end (14–17); this one starts from the ground.
#
# 笔记列出的大概念——ResNet、DenseNet、目标检测、Transformer——在最后几课（14–17）各有一课；
# 这一课从最基础的地方开始。

# %%
import numpy as np

import numtorch
from _lesson import out_dir

# %% [markdown]
# ## NumPy arrays and numtorch tensors / NumPy 数组与 numtorch 张量
#
# A tensor is made from a list or a NumPy array; `.numpy()` gives the array back.
#
# 张量可以由列表或 NumPy 数组创建；`.numpy()` 把数组取回来。

# %%
a = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
t = numtorch.tensor(a)
print(t, t.shape, t.dtype)
assert t.shape == (2, 2) and t.dtype == numtorch.float32
assert np.array_equal(t.numpy(), a)
assert np.array_equal((t * 2 + 1).numpy(), a * 2 + 1)   # the same arithmetic as NumPy

# %% [markdown]
# ## Forward and backward by hand / 手算前向与反向
#
# Take $y = (w x + b)^2$ with $x = 3$, $w = 2$, $b = 1$. Forward: $u = wx + b = 7$, $y = u^2 = 49$.
# Backward (chain rule): $\partial y/\partial u = 2u = 14$, so
# $\partial y/\partial w = 14 \cdot x = 42$, $\partial y/\partial b = 14$,
# $\partial y/\partial x = 14 \cdot w = 28$.
#
# 取 $y = (wx + b)^2$，$x = 3$，$w = 2$，$b = 1$。前向：$u = wx + b = 7$，$y = u^2 = 49$。
# 反向（链式法则）：$\partial y/\partial u = 2u = 14$，于是 $\partial y/\partial w = 14x = 42$，
# $\partial y/\partial b = 14$，$\partial y/\partial x = 14w = 28$。

# %%
x_, w_, b_ = 3.0, 2.0, 1.0
u_ = w_ * x_ + b_            # forward
y_ = u_ ** 2
dy_du = 2 * u_               # backward: from the output towards the inputs
by_hand = {"w": dy_du * x_, "b": dy_du, "x": dy_du * w_}
print("y =", y_, "gradients by hand:", by_hand)

# %% [markdown]
# ## The same by autograd / 用自动微分算同样的东西
#
# With `requires_grad=True` numtorch records each op; `y.backward()` runs the chain rule for us and
# leaves each gradient in `.grad`.
#
# 设置 `requires_grad=True` 后 numtorch 会记录每一步运算；`y.backward()` 替我们执行链式法则，
# 把梯度放进 `.grad`。

# %%
x = numtorch.tensor(3.0, requires_grad=True)
w = numtorch.tensor(2.0, requires_grad=True)
b = numtorch.tensor(1.0, requires_grad=True)
y = (w * x + b) ** 2
y.backward()
print("y =", y.item(), "x.grad", x.grad.item(), "w.grad", w.grad.item(), "b.grad", b.grad.item())
assert y.item() == y_
assert (w.grad.item(), b.grad.item(), x.grad.item()) == (by_hand["w"], by_hand["b"], by_hand["x"])

# %% [markdown]
# ## The graph autograd recorded / 自动微分记录下的计算图
#
# Every result knows the backward node that made it (`grad_fn`); `next_functions` points to the nodes
# of its inputs. `numtorch.viz.make_dot` walks these links and writes the graph as Graphviz DOT text;
# with Graphviz's `dot` installed it is drawn as a PNG.
#
# 每个结果都知道产生它的反向节点（`grad_fn`）；`next_functions` 指向其输入的节点。
# `numtorch.viz.make_dot` 沿着这些链接走一遍，把计算图写成 Graphviz 的 DOT 文本；
# 装了 Graphviz 的 `dot` 程序时还会画成 PNG。

# %%
from numtorch.viz import make_dot
from numtorch.viz.graph import dot_available

print(y.grad_fn.name(), [f.name() for f, _ in y.grad_fn.next_functions if f is not None])
assert y.grad_fn.name() == "PowBackward0"
dot = make_dot(y, params={"x": x, "w": w, "b": b})
print(dot.source)
for name in ("PowBackward0", "AddBackward0", "MulBackward0", "x\\n()", "w\\n()", "b\\n()"):
    assert name in dot.source, name
(out_dir() / "01_graph.dot").write_text(dot.source)
if dot_available():
    print("figure:", dot.render(str(out_dir() / "01_graph"), format="png", cleanup=True))

# %% [markdown]
# The two-layer net of the later lessons draws the same way: `Linear → ReLU → Linear` and the loss.
#
# 后面几课的两层网络也这样画：`Linear → ReLU → Linear` 再加损失函数。

# %%
from numtorch.models import TwoLayerNet
from numtorch.nn.functional import cross_entropy

net = TwoLayerNet(784, 100, 10)
loss = cross_entropy(net(numtorch.randn(4, 784)), numtorch.tensor([0, 1, 2, 3]))
dot = make_dot(loss, params=dict(net.named_parameters()))
for name in ("CrossEntropyBackward0", "ReluBackward0", "LinearBackward0", "fc1.weight\\n(100, 784)"):
    assert name in dot.source, name
(out_dir() / "01_two_layer_graph.dot").write_text(dot.source)
if dot_available():
    print("figure:", dot.render(str(out_dir() / "01_two_layer_graph"), format="png", cleanup=True))

# %% [markdown]
# ## A larger tensor: the gradient of a sum of squares / 更大的张量：平方和的梯度
#
# For $L = \sum_i x_i^2$ the gradient is $2x$ — autograd agrees with the formula for every element.
#
# 对 $L = \sum_i x_i^2$，梯度是 $2x$——自动微分对每个元素都与公式一致。

# %%
v = numtorch.randn(5, 3, requires_grad=True)
(v ** 2).sum().backward()
np.testing.assert_allclose(v.grad.numpy(), 2 * v.detach().numpy(), rtol=1e-6)
print("d/dv sum(v^2) == 2v: ok")
