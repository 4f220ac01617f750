"""The plainest versions of the core ops, for learners: read these first.

Each function is its formula written with numtorch's Tensor ops, so autograd differentiates it and
its gradients can be compared with the fast library op it mirrors (same name, same arguments):

| textbook                       | library (fast)                       |
| ------------------------------ | ------------------------------------ |
| ``linear``                     | ``F.linear``                         |
| ``sigmoid``, ``tanh``, ``relu``, ``silu``, ``gelu`` | ``F.sigmoid``, ...  |
| ``softmax``, ``log_softmax``   | ``F.softmax``, ``F.log_softmax``     |
| ``mse_loss``, ``cross_entropy`` | ``F.mse_loss``, ``F.cross_entropy`` |
| ``unfold``, ``conv2d``          | ``F.unfold``, ``F.conv2d``          |
| ``max_pool2d``, ``avg_pool2d``  | ``F.max_pool2d``, ``F.avg_pool2d``  |
| ``layer_norm``, ``batch_norm``  | ``F.layer_norm``, ``F.batch_norm``  |
| ``scaled_dot_product_attention`` | ``F.scaled_dot_product_attention`` |
| ``multi_head_attention``       | ``nn.MultiheadAttention``            |

They are slow (a graph node per step of the formula, Python loops over kernel offsets and heads)
and some overflow where the library does not; use the library in real code.  The notes' own loss
formulas ``sum_squared_error`` and ``cross_entropy_error`` live here too.

>>> import numtorch as torch
>>> import numtorch.nn.functional as F
>>> from numtorch.nn import textbook
>>> x = torch.randn(2, 3, 5, 5, requires_grad=True)
>>> W = torch.randn(4, 3, 3, 3)
>>> torch.allclose(textbook.conv2d(x, W, padding=1), F.conv2d(x, W, padding=1), atol=1e-5)
True
"""
from numtorch.nn.textbook.activations import gelu, log_softmax, relu, sigmoid, silu, softmax, tanh
from numtorch.nn.textbook.attention import multi_head_attention, scaled_dot_product_attention
from numtorch.nn.textbook.conv import avg_pool2d, conv2d, max_pool2d, unfold
from numtorch.nn.textbook.linear import linear
from numtorch.nn.textbook.losses import cross_entropy, cross_entropy_error, mse_loss, sum_squared_error
from numtorch.nn.textbook.normalization import batch_norm, layer_norm

__all__ = ["linear", "sigmoid", "tanh", "relu", "silu", "gelu", "softmax", "log_softmax", "mse_loss",
           "cross_entropy", "sum_squared_error", "cross_entropy_error", "unfold", "conv2d", "max_pool2d",
           "avg_pool2d", "layer_norm", "batch_norm", "scaled_dot_product_attention", "multi_head_attention"]
