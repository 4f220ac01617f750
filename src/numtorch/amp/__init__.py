"""``numtorch.amp``: automatic mixed precision, as ``torch.amp``.

``autocast(device_type)`` runs matrix products and convolutions in bfloat16 (CPU) or float16
(CUDA) and losses in float32; ``GradScaler`` scales the loss so that float16 gradients do not
underflow, and skips the steps whose gradients overflow.
"""
from numtorch.amp.autocast_mode import autocast, custom_bwd, custom_fwd, is_autocast_available
from numtorch.amp.grad_scaler import GradScaler

__all__ = ["GradScaler", "autocast", "custom_bwd", "custom_fwd", "is_autocast_available"]
