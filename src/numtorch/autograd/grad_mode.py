"""``torch.autograd.grad_mode``: ``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``inference_mode``.

They live in ``numtorch/_grad_mode.py``, below ``Tensor`` (which reads the grad mode); this module
is where PyTorch's path finds them.
"""
from numtorch._grad_mode import (  # noqa: F401
    GradMode, is_grad_enabled, no_grad, enable_grad, inference_mode, set_grad_enabled)
