"""A custom torch.autograd.Function (the tutorial's Legendre polynomial P3) used to fit sin(x)."""
import math

import numpy as np


def main(torch, seed: int) -> dict:

    class LegendrePolynomial3(torch.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input ** 3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input ** 2 - 1)      # d/dx P3(x) = 1.5 (5x^2 - 1)

    class ClampGrad(torch.autograd.Function):
        """Identity forward; backward clips the gradient to [-bound, bound] (a non-tensor argument)."""
        @staticmethod
        def forward(ctx, x, bound):
            ctx.bound = bound
            return x.clone()

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output.clamp(-ctx.bound, ctx.bound), None

    dtype = torch.float
    x = torch.linspace(-math.pi, math.pi, 200, dtype=dtype)
    y = torch.sin(x)
    a = torch.full((), 0.0, dtype=dtype, requires_grad=True)
    b = torch.full((), -1.0, dtype=dtype, requires_grad=True)
    c = torch.full((), 0.0, dtype=dtype, requires_grad=True)
    d = torch.full((), 0.3, dtype=dtype, requires_grad=True)

    learning_rate = 5e-6
    losses = []
    for t in range(20):
        P3 = LegendrePolynomial3.apply
        y_pred = a + b * P3(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None

    z = torch.tensor([-3.0, 0.5, 4.0], requires_grad=True)
    (ClampGrad.apply(z * 2, 1.0) * torch.tensor([5.0, 0.25, -5.0])).sum().backward()
    return {"losses": np.array(losses), "coeffs": [a.item(), b.item(), c.item(), d.item()],
            "clamped_grad": z.grad.numpy()}
