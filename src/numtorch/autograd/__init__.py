"""``numtorch.autograd``: the graph, the backward engine, grad mode and gradient checking."""
from numtorch.autograd.grad_mode import (  # noqa: F401
    no_grad, enable_grad, set_grad_enabled, inference_mode, is_grad_enabled)
from numtorch.autograd.function import Function as _OpFunction, Node  # noqa: F401
from numtorch.autograd.custom import Function, FunctionCtx  # noqa: F401
from numtorch.autograd.engine import backward, grad  # noqa: F401
from numtorch.autograd.gradcheck import numerical_grad, gradcheck, gradgradcheck, GradcheckError  # noqa: F401

__all__ = ["Function", "FunctionCtx", "backward", "grad", "no_grad", "enable_grad", "set_grad_enabled",
           "inference_mode", "is_grad_enabled", "numerical_grad", "gradcheck", "gradgradcheck", "functional"]
