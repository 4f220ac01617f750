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
# # 6. Training: learning from data / 训练：从数据中学习
#
# A net **learns** when its weights are set from data instead of by hand. The data is split in two:
# **training data** to set the weights, and **test data** the net never sees while learning, to
# measure what we care about — how well it does on new inputs (**generalization**). A net that
# only memorizes its training data does well there and badly on test data: it **overfits**.
#
# 网络的权重由数据决定、而不是手工设定时，我们说网络在**学习**。数据分成两部分：**训练数据**用来
# 确定权重；**测试数据**在学习时不给网络看，用来衡量我们真正关心的东西——它对新输入表现如何
# （**泛化能力**）。只会记住训练数据的网络在训练数据上表现很好，在测试数据上却很差：这叫**过拟合**。

# %%
import numtorch
import numtorch.nn.functional as F
from numtorch import optim
from numtorch.models import TwoLayerNet
from _lesson import FAST, digits, save
from numtorch.viz import new_figure

x_train, t_train, x_test, t_test = digits()
print(f"training images {len(x_train)}, test images {len(x_test)}, pixels {x_train.shape[1]}")

# %% [markdown]
# ## One training run / 一次训练
#
# The two-layer net (64 pixels → 50 hidden → 10 scores) is trained on a given number of training
# images; after every epoch we measure accuracy on the training images and on the test images.
#
# 两层网络（64 个像素 → 50 个隐藏单元 → 10 个得分）在给定数量的训练图像上训练；
# 每个 epoch 之后分别测量训练图像和测试图像上的准确率。

# %%
def accuracy(net, x, t):
    with numtorch.no_grad():
        return (net(x).argmax(1) == t).float().mean().item()


def train(n_train, epochs, seed=0):
    numtorch.manual_seed(seed)
    net = TwoLayerNet(64, 50, 10)
    opt = optim.Adam(net.parameters(), lr=0.01)
    x, t = numtorch.tensor(x_train[:n_train]), numtorch.tensor(t_train[:n_train])
    xt, tt = numtorch.tensor(x_test), numtorch.tensor(t_test)
    history = {"train_acc": [], "test_acc": []}
    for _ in range(epochs):
        for i in range(0, n_train, 50):                      # mini-batches of 50
            loss = F.cross_entropy(net(x[i:i + 50]), t[i:i + 50])
            opt.zero_grad()
            loss.backward()
            opt.step()
        history["train_acc"].append(accuracy(net, x, t))
        history["test_acc"].append(accuracy(net, xt, tt))
    return history


epochs = 40 if FAST else 80
small = train(60, epochs)                 # 60 images: memorized
full = train(len(x_train), epochs // 4)   # all 1,442 images
print(f"60 images:   train {small['train_acc'][-1]:.3f}  test {small['test_acc'][-1]:.3f}")
print(f"1442 images: train {full['train_acc'][-1]:.3f}  test {full['test_acc'][-1]:.3f}")

# %% [markdown]
# With 60 images the net gets every training image right and far fewer test images: the gap is
# overfitting. With all the training images, test accuracy comes close to training accuracy.
#
# 只用 60 张图像时，网络把训练图像全部答对，测试图像却差得多：这个差距就是过拟合。
# 用全部训练图像时，测试准确率接近训练准确率。

# %%
gap_small = small["train_acc"][-1] - small["test_acc"][-1]
gap_full = full["train_acc"][-1] - full["test_acc"][-1]
assert small["train_acc"][-1] == 1.0 and gap_small > 0.1
assert full["test_acc"][-1] > small["test_acc"][-1] + 0.05 and gap_full < gap_small
assert full["test_acc"][-1] > 0.9

# %%
fig, (ax_s, ax_f) = new_figure(1, 2, size=(11, 4))
for ax, h, title in ((ax_s, small, "60 training images: overfitting"),
                     (ax_f, full, "1,442 training images: generalizes")):
    ax.plot(range(1, len(h["train_acc"]) + 1), h["train_acc"], label="training data")
    ax.plot(range(1, len(h["test_acc"]) + 1), h["test_acc"], label="test data")
    ax.set(title=title, xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend()
save(fig, "06_train_vs_test.png")
