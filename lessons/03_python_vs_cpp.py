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
# # 3. PyTorch's Python API and its C++ API / PyTorch 的 Python 接口与 C++ 接口
#
# PyTorch has two front ends over one core: Python (`torch`) and C++ (LibTorch, `torch::`).
# The names match almost one to one; what differs is how a value leaves the tensor world.
# In Python `A[0]` is a 0-d tensor and `A[0].item()` a Python float. In C++ `A[0]` is a
# `torch::Tensor`, `A[0].item()` a `c10::Scalar`, and `.toFloat()` (or `A[0].item<float>()`) the
# `float` you can print with `printf` while debugging.
#
# PyTorch 在同一个内核之上有两套前端：Python（`torch`）和 C++（LibTorch，`torch::`）。
# 名字几乎一一对应；不同之处在于数值怎样离开张量。在 Python 里 `A[0]` 是 0 维张量，
# `A[0].item()` 是 Python 浮点数。在 C++ 里 `A[0]` 是 `torch::Tensor`，`A[0].item()` 是
# `c10::Scalar`，再 `.toFloat()`（或 `A[0].item<float>()`）才是调试时能用 `printf` 打印的 `float`。
#
# | Python (numtorch / torch) | C++ (LibTorch) |
# | --- | --- |
# | `import torch` | `#include <torch/torch.h>` |
# | `A = torch.randn(3, 4)` | `auto A = torch::randn({3, 4});` |
# | `print(A[0])` | `std::cout << A[0] << std::endl;` |
# | `A[0, 0].item()` | `A[0][0].item().toFloat()` / `A[0][0].item<float>()` |
# | `A.mm(B)` | `A.mm(B)` |
# | `A.to("cuda:0")` | `A.to(torch::Device("cuda:0"))` |
# | `nn.Linear(784, 100)` | `torch::nn::Linear(784, 100)` |
# | `with torch.no_grad():` | `torch::NoGradGuard no_grad;` |
#
# A runnable LibTorch program that loads a numtorch-trained net lives in `examples/cpp/`, and
# `docs/deploy.md` explains the ways out of Python (safetensors weights, ONNX, LibTorch).
#
# 一个可运行的 LibTorch 程序（加载 numtorch 训练好的网络）在 `examples/cpp/` 里，
# `docs/deploy.md` 讲了离开 Python 的几条路（safetensors 权重、ONNX、LibTorch）。

# %%
import numpy as np

import numtorch
from _lesson import out_dir

numtorch.manual_seed(0)
A = numtorch.randn(3, 4)

# %% [markdown]
# ## Debug printing in Python / 在 Python 里调试打印
#
# `A[0]` prints as a tensor (with its dtype and device when they are not the defaults);
# `A[0, 0].item()` is a plain `float`, what the C++ `A[0][0].item().toFloat()` returns.
#
# `A[0]` 打印出来是张量（不是默认值时还会显示 dtype 和设备）；`A[0, 0].item()` 是普通的 `float`，
# 也就是 C++ 里 `A[0][0].item().toFloat()` 返回的东西。

# %%
print(A[0])
print(A[0, 0].item())
assert isinstance(A[0], numtorch.Tensor) and A[0].shape == (4,)
assert type(A[0, 0].item()) is float
assert A[0][0].item() == A[0, 0].item()            # C++ indexes one dim at a time: A[0][0]
assert A[0, 0].item() == float(A.numpy()[0, 0])    # the same float32 value, widened to a double

# %% [markdown]
# ## Handing a net to C++ / 把网络交给 C++
#
# The C++ side needs the weights under the names LibTorch's modules use. numtorch's `state_dict`
# keys are PyTorch's (`fc1.weight`, ...), and `numtorch.save` writes a standard safetensors file
# that C++ (and `safetensors.torch.load_file` in Python) read directly.
#
# C++ 端需要的是按 LibTorch 模块的名字存放的权重。numtorch 的 `state_dict` 键名与 PyTorch 相同
# （`fc1.weight` 等），`numtorch.save` 写出标准的 safetensors 文件，C++（以及 Python 里的
# `safetensors.torch.load_file`）可以直接读取。

# %%
from numtorch.models import TwoLayerNet

net = TwoLayerNet(784, 100, 10)
path = out_dir() / "03_two_layer_net.safetensors"
numtorch.save(net.state_dict(), path)
print("weights:", path, sorted(net.state_dict()))
back = numtorch.load(path)
assert sorted(back) == ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]
for k, v in net.state_dict().items():
    np.testing.assert_array_equal(back[k].numpy(), v.numpy())

# %% [markdown]
# Where PyTorch is installed, the same file gives the same outputs through `torch` — the step a
# LibTorch program takes in C++.
#
# 装了 PyTorch 时，同一个文件经由 `torch` 得到同样的输出——这正是 LibTorch 程序在 C++ 里做的那一步。

# %%
try:
    import torch
    from safetensors.torch import load_file
except ImportError:
    torch = None
    print("PyTorch or safetensors not installed: skipping the cross-check")
if torch is not None:
    ref = torch.nn.Sequential(torch.nn.Linear(784, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
    sd = load_file(str(path))
    ref.load_state_dict({k.replace("fc1", "0").replace("fc2", "2"): v for k, v in sd.items()})
    x = numtorch.randn(2, 784)
    with torch.no_grad():
        y_ref = ref(torch.from_numpy(x.numpy())).numpy()
    np.testing.assert_allclose(net(x).detach().numpy(), y_ref, rtol=1e-4, atol=1e-5)
    print("numtorch and torch agree on the saved net")
