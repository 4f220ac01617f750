"""Fused CUDA kernels for the hot elementwise passes on a GPU.

Each pass below does in one kernel launch what the CPU code does in several NumPy calls (a launch
costs about as much as a small kernel's work, so on a GPU the number of passes is the time).  The
CPU code stays the definition: every caller keeps its NumPy path and takes a kernel only when
``fused(array)`` says one can run, i.e. the array is a CuPy array of float32 or float64.  The GPU
tests check each kernel against the CPU path (``tests/test_gpu.py``).

A kernel is ``cupy.ElementwiseKernel(inputs, outputs, body, name)``: ``body`` is CUDA C for one
element, ``T`` the element type taken from the arrays; an output may also be read, which is how the
optimizer kernels update parameters and moments in place.
"""
from __future__ import annotations

import numpy as np

from numtorch._backend import xp_of

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def fused(a, *others) -> bool:
    """True where a fused kernel can run on array ``a``: a CuPy float32/float64 array, and ``others``
    (arrays, or None for an absent operand) of the same dtype, as a kernel's type ``T`` demands."""
    if a.__class__ is np.ndarray or a.dtype not in _FLOATS or not hasattr(xp_of(a), "ElementwiseKernel"):
        return False
    return all(o is None or o.dtype == a.dtype for o in others)


class Kernel:
    """An elementwise CUDA kernel, compiled by CuPy on first use (then cached by CuPy per dtype)."""

    __slots__ = ("name", "inputs", "outputs", "body", "_compiled")

    def __init__(self, name: str, inputs: str, outputs: str, body: str) -> None:
        self.name, self.inputs, self.outputs, self.body = name, inputs, outputs, body
        self._compiled = None

    def __call__(self, *args):
        cp = xp_of(args[0])
        compiled = self._compiled
        if compiled is None or compiled[0] is not cp:  # (per array module: the tests swap in an emulator)
            compiled = self._compiled = (cp, cp.ElementwiseKernel(self.inputs, self.outputs, self.body,
                                                                  "numtorch_" + self.name))
        return compiled[1](*args)


# ---- activations -------------------------------------------------------------------------
# GELU: y = x Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2 (1 + erf(x / sqrt 2) would cancel for x < 0);
# dy/dx = Phi(x) + x phi(x), phi(x) = e^(-x^2/2) / sqrt(2 pi).  The backward recomputes Phi and phi
# from x (cheaper on a GPU than saving them: it reads one array instead of two).

gelu_forward = Kernel(
    "gelu_forward", "T x", "T y",
    "y = x * (T)0.5 * erfc(x * (T)-0.70710678118654752);")

gelu_backward = Kernel(
    "gelu_backward", "T x, T gy", "T gx",
    """T cdf = (T)0.5 * erfc(x * (T)-0.70710678118654752);
       T pdf = exp((T)-0.5 * x * x) * (T)0.39894228040143268;
       gx = gy * (cdf + x * pdf);""")

# tanh GELU: y = x/2 (1 + t), t = tanh(k (x + 0.044715 x^3)), k = sqrt(2/pi);
# dy/dx = (1 + t)/2 + x/2 (1 - t^2) k (1 + 3 * 0.044715 x^2)
gelu_tanh_backward = Kernel(
    "gelu_tanh_backward", "T x, T gy", "T gx",
    """T t = tanh((T)0.79788456080286536 * (x + (T)0.044715 * x * x * x));
       gx = gy * ((T)0.5 * ((T)1 + t)
                  + (T)0.5 * x * ((T)1 - t * t) * (T)0.79788456080286536 * ((T)1 + (T)0.134145 * x * x));""")


# ReLU, sigmoid and tanh backwards from their outputs y:
#   d relu = [y != 0] (0 at the kink; a NaN passes, as PyTorch),  d sigmoid = y (1 - y),  d tanh = 1 - y^2
relu_backward = Kernel("relu_backward", "T y, T gy", "T gx", "gx = y != (T)0 ? gy : (T)0;")
sigmoid_backward = Kernel("sigmoid_backward", "T y, T gy", "T gx", "gx = gy * y * ((T)1 - y);")
tanh_backward = Kernel("tanh_backward", "T y, T gy", "T gx", "gx = gy * ((T)1 - y * y);")


# softmax cross-entropy backward (no label smoothing), per element (i, j) of the (M, C) logits:
#   gx = c_i (p_ij - [j = t_i])   (p = softmax, c_i the upstream gradient times the sample's weight)
cross_entropy_backward = Kernel(
    "cross_entropy_backward", "T p, T c, int64 t, int64 col", "T gx",
    "gx = col == t ? c * (p - 1) : c * p;")


# ---- optimizer updates (PyTorch's formulas, one launch per parameter) ----------------------
# SGD:       d = g + wd p;  buf = mu buf + (1 - damp) d;  p -= lr (nesterov ? d + mu buf : buf)
# (the first step initialises buf = d on the host side of the call, as PyTorch does)

sgd = Kernel("sgd", "T g, T lr, T wd", "T p", "p -= lr * (g + wd * p);")

sgd_momentum = Kernel(
    "sgd_momentum", "T g, T lr, T wd, T mu, T damp, int32 nesterov", "T p, T buf",
    """T d = g + wd * p;
       buf = mu * buf + ((T)1 - damp) * d;
       p -= lr * (nesterov ? d + mu * buf : buf);""")

# Adam / AdamW:  d = g + wd p (Adam's L2; wd = 0 for AdamW);  p *= decay (AdamW: 1 - lr wd)
# m += (1 - b1)(d - m);  v = b2 v + (1 - b2) d^2;  p -= lr / c1 * m / (sqrt(v) / sqrt_c2 + eps)
# with the bias corrections c1 = 1 - b1^t and c2 = 1 - b2^t.
adam = Kernel(
    "adam", "T g, T lr, T b1, T b2, T eps, T wd, T decay, T c1, T sqrt_c2", "T p, T m, T v",
    """T d = g + wd * p;
       p *= decay;
       m += ((T)1 - b1) * (d - m);
       v = b2 * v + ((T)1 - b2) * d * d;
       p -= lr / c1 * m / (sqrt(v) / sqrt_c2 + eps);""")


# Adagrad:  d = g + wd p;  s += d^2;  p -= clr d / (sqrt(s) + eps)   (clr: lr with its decay applied)
adagrad = Kernel(
    "adagrad", "T g, T clr, T eps, T wd", "T p, T s",
    """T d = g + wd * p;
       s += d * d;
       p -= clr * d / (sqrt(s) + eps);""")

# RMSprop (not centered):  d = g + wd p;  v = alpha v + (1 - alpha) d^2;  q = d / (sqrt(v) + eps)
#   p -= lr q,  or with momentum:  b = mu b + q;  p -= lr b
rmsprop = Kernel(
    "rmsprop", "T g, T lr, T alpha, T eps, T wd", "T p, T v",
    """T d = g + wd * p;
       v = alpha * v + ((T)1 - alpha) * d * d;
       p -= lr * d / (sqrt(v) + eps);""")

rmsprop_momentum = Kernel(
    "rmsprop_momentum", "T g, T lr, T alpha, T eps, T wd, T mu", "T p, T v, T b",
    """T d = g + wd * p;
       v = alpha * v + ((T)1 - alpha) * d * d;
       b = mu * b + d / (sqrt(v) + eps);
       p -= lr * b;""")


# ---- normalization: the elementwise passes around the per-channel / per-row statistics -------
# Forward, both norms end with an affine map of the normalized values, vectors broadcast:
#   batch norm (channels-last rows): y = xc * (gamma invstd) + beta;  layer norm: y = xhat * w + b
scale_shift = Kernel("scale_shift", "T x, T a, T b", "T y", "y = x * a + b;")

# Batch norm backward on channels-last rows:  gx = g * s1 - xc * s2 - s3
# (s1 = gamma invstd, s2 = s1 invstd dgamma / M, s3 = s1 dbeta / M, per channel)
batch_norm_backward = Kernel(
    "batch_norm_backward", "T g, T xc, T s1, T s2, T s3", "T gx", "gx = g * s1 - xc * s2 - s3;")

# Layer norm backward, per row:  gx = rstd * (gy w - mean(gy w) - xhat * mean(gy w xhat))
# (the two row means computed before, broadcast here)
layer_norm_backward = Kernel(
    "layer_norm_backward", "T gy, T w, T xhat, T mean_g, T mean_gx, T rstd", "T gx",
    "gx = (gy * w - mean_g - xhat * mean_gx) * rstd;")
