"""Elementwise ops: arithmetic, powers, exponentials, trigonometry, rounding, clamp, where.

Each op's backward states its derivative; broadcasting is undone by ``sum_to``.
"""
from __future__ import annotations

import math

import numpy as np

from numtorch import _dtypes
from numtorch import _kernels
from numtorch._backend import cupyx_module, xp_of
from numtorch.autograd.function import Function
from numtorch.ops._util import (promote, sum_to, reduce_to, shape_of, as_tensor_operand, ensure_tensor,
                                write_out, same_device)
from numtorch.ops._util import in_float32_for_bfloat16, quiet
from numtorch.tensor import Tensor, make_tensor

__all__ = [
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "floor_divide",
    "remainder", "fmod", "pow", "neg", "negative", "abs", "absolute", "square", "sqrt", "rsqrt",
    "exp", "exp2", "log", "log2", "log10", "log1p", "expm1", "sin", "cos", "tan", "tanh", "sigmoid",
    "relu", "clamp", "clip", "clamp_min", "clamp_max", "maximum", "minimum", "fmax", "fmin", "where",
    "sign", "sgn", "reciprocal", "floor", "ceil", "round", "trunc", "frac", "lerp", "erf", "erfc",
    "asin", "acos", "atan", "atan2", "sinh", "cosh", "asinh", "acosh", "atanh", "addcmul", "addcdiv",
    "hypot", "logaddexp", "xlogy", "nan_to_num", "softplus_raw", "sinc", "deg2rad", "rad2deg",
]


# ---- arithmetic ------------------------------------------------------------------------
# A bfloat16 array with a Python number: the number stays float32 (PyTorch's rule), see with_scalar.
_BF16 = _dtypes.bfloat16.np
_NUMBERS = (float, int)


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        if ctx.needs_input_grad:  # only a recorded call needs the shapes (to undo broadcasting)
            ctx.shapes = (getattr(a, "shape", None), getattr(b, "shape", None))  # (None: a number)
        if b.__class__ in _NUMBERS and a.dtype is _BF16:
            return _dtypes.with_scalar(np.add, a, b)
        return a + b

    @staticmethod
    def backward(ctx, gy):
        sa, sb = ctx.shapes
        return sum_to(gy, sa), sum_to(gy, sb)

    @staticmethod
    def backward_arrays(ctx, gy):
        sa, sb = ctx.shapes
        na, nb = ctx.needs_input_grad
        return (reduce_to(gy, sa) if na else None), (reduce_to(gy, sb) if nb else None)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        if ctx.needs_input_grad:
            ctx.shapes = (getattr(a, "shape", None), getattr(b, "shape", None))
        if b.__class__ in _NUMBERS and a.dtype is _BF16:
            return _dtypes.with_scalar(np.subtract, a, b)
        return a - b

    @staticmethod
    def backward(ctx, gy):
        sa, sb = ctx.shapes
        return sum_to(gy, sa), (None if sb is None else sum_to(-gy, sb))

    @staticmethod
    def backward_arrays(ctx, gy):
        sa, sb = ctx.shapes
        na, nb = ctx.needs_input_grad
        return (reduce_to(gy, sa) if na else None), (reduce_to(-gy, sb) if nb and sb is not None else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        # save only what backward reads: a is needed for b's gradient and b for a's (so that
        # y[0] = y[0] * 3 does not hold the overwritten y[0], as in PyTorch)
        needs = ctx.needs_input_grad
        if needs:
            ctx.save_for_backward(a if needs[1] else None, b if needs[0] else None)
            ctx.shapes = (getattr(a, "shape", None), getattr(b, "shape", None))
        if b.__class__ in _NUMBERS and a.dtype is _BF16:
            return _dtypes.with_scalar(np.multiply, a, b)
        return a * b

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.saved_tensors
        sa, sb = ctx.shapes
        ga = sum_to(gy * b, sa) if ctx.needs_input_grad[0] else None
        gb = sum_to(gy * a, sb) if ctx.needs_input_grad[1] else None
        return ga, gb

    @staticmethod
    def backward_arrays(ctx, gy):
        a, b = ctx.saved_arrays
        sa, sb = ctx.shapes
        ga = reduce_to(_times(gy, b), sa) if ctx.needs_input_grad[0] else None
        gb = reduce_to(_times(gy, a), sb) if ctx.needs_input_grad[1] else None
        return ga, gb


def _times(g, x):
    """``g * x`` for a gradient array and a saved operand (array or Python number)."""
    if x.__class__ in _NUMBERS and g.dtype is _BF16:
        return _dtypes.with_scalar(np.multiply, g, x)
    return g * x


class Div(Function):
    @staticmethod
    @quiet
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        if b.__class__ in _NUMBERS and a.dtype is _BF16:
            return _dtypes.with_scalar(np.true_divide, a, b)
        return a / b

    @staticmethod
    def backward(ctx, gy):
        # d(a/b)/da = 1/b ;  d(a/b)/db = -a/b^2
        a, b = ctx.saved_tensors
        ga = sum_to(gy / b, shape_of(a)) if ctx.needs_input_grad[0] else None
        gb = sum_to(-gy * a / (b * b), shape_of(b)) if ctx.needs_input_grad[1] else None
        return ga, gb

    @staticmethod
    def backward_arrays(ctx, gy):
        a, b = ctx.saved_arrays
        if gy.dtype is _BF16 and (a.__class__ in _NUMBERS or b.__class__ in _NUMBERS):
            return Div.backward_on_tensors(ctx, gy)  # (a number with bfloat16: PyTorch's float32 rule)
        ga = reduce_to(gy / b, shape_of(a)) if ctx.needs_input_grad[0] else None
        gb = reduce_to(-gy * a / (b * b), shape_of(b)) if ctx.needs_input_grad[1] else None
        return ga, gb


def _integer_kind(x) -> bool:
    """An integer or bool tensor, or a Python/NumPy integer."""
    if isinstance(x, Tensor):
        return x._data.dtype.kind in "iub"
    return isinstance(x, (int, np.integer))


def _check_integer_divisor(op: str, a, b) -> None:
    """Integer division by zero raises, as in PyTorch (NumPy returns 0 with a warning)."""
    if not (_integer_kind(a) and _integer_kind(b)):
        return
    zero = (not b._data.all()) if isinstance(b, Tensor) else b == 0
    if zero:
        raise RuntimeError(f"ZeroDivisionError: {op}: integer division by zero")


def _is_bool(x) -> bool:
    return isinstance(x, Tensor) and x._data.dtype.kind == "b"


def _bool_subtraction(a, b) -> None:
    """PyTorch refuses ``-`` on bool tensors (NumPy's TypeError names NumPy), saying what to use."""
    if _is_bool(a) and (_is_bool(b) or isinstance(b, bool)) or (isinstance(a, bool) and _is_bool(b)):
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. "
                           "Use the `^` or `logical_xor()` operator instead.")
    raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
                       "trying to invert a mask, use the `~` or `logical_not()` operator instead.")


def _alpha(b, alpha):
    return b if alpha == 1 else b * alpha


def add(input, other, *, alpha=1, out=None) -> Tensor:
    """input + alpha * other, broadcasting like PyTorch."""
    if out is not None:
        return write_out(add(input, other, alpha=alpha), out, "add")
    if alpha != 1:
        other = other * alpha
    a, b = promote("add", input, other)
    return Add.apply(a, b)


def sub(input, other, *, alpha=1, out=None) -> Tensor:
    if out is not None:
        return write_out(sub(input, other, alpha=alpha), out, "sub")
    if _is_bool(input) or _is_bool(other):
        _bool_subtraction(input, other)
    a, b = promote("sub", input, _alpha(other, alpha))
    if a.__class__ is not Tensor and not isinstance(a, Tensor):  # number - tensor
        return Add.apply(Neg.apply(b), a)
    return Sub.apply(a, b)


subtract = sub


def mul(input, other, *, out=None) -> Tensor:
    if out is not None:
        return write_out(mul(input, other), out, "mul")
    a, b = promote("mul", input, other)
    if not isinstance(a, Tensor):
        a, b = b, a
    return Mul.apply(a, b)


multiply = mul


def div(input, other, *, rounding_mode=None, out=None) -> Tensor:
    """True division (integers give floats); ``rounding_mode`` "trunc" or "floor" rounds."""
    if out is not None:
        return write_out(div(input, other, rounding_mode=rounding_mode), out, "div")
    if rounding_mode == "floor":
        return floor_divide(input, other)
    if rounding_mode == "trunc":
        _check_integer_divisor("div", input, other)
    a, b = promote("div", input, other, true_div=True)
    if not isinstance(a, Tensor):  # number / tensor = number * tensor^-1
        return Mul.apply(Reciprocal.apply(b), a)
    y = Div.apply(a, b)
    if rounding_mode == "trunc":
        y = trunc(y)
        if isinstance(input, Tensor) and input._data.dtype.kind in "iu":
            y = y.to(input.dtype)
    elif rounding_mode is not None:
        raise ValueError("div expected rounding_mode to be one of None, 'trunc', or 'floor' "
                         f"but found '{rounding_mode}'")
    return y


divide = true_divide = div


def floor_divide(input, other) -> Tensor:
    """Rounds the quotient down (no gradient, as in PyTorch)."""
    a, b = promote("floor_divide", input, other)
    _check_integer_divisor("floor_divide", a, b)
    aa = a._data if isinstance(a, Tensor) else a
    bb = b._data if isinstance(b, Tensor) else b
    xp = xp_of(aa if isinstance(a, Tensor) else bb)
    try:
        return _untracked(quiet(xp.floor_divide)(aa, bb))   # x // 0. = inf, as in PyTorch
    except TypeError:
        same_device("floor_divide", a, b)  # a CPU tensor meeting a GPU one: PyTorch's error naming both
        raise


def _untracked(arr):
    return make_tensor(arr)


class Remainder(Function):
    @staticmethod
    @quiet
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return xp_of(a if not isinstance(a, (int, float)) else b).remainder(a, b)

    @staticmethod
    def backward(ctx, gy):
        return _modulo_backward(ctx, gy, floor)   # a mod b = a - floor(a/b) * b


def _modulo_backward(ctx, gy, rounding):
    """Backward of a - rounding(a / b) * b (remainder: floor, fmod: trunc).  rounding is piecewise
    constant, so d/da = 1 and d/db = -rounding(a / b)."""
    a, b = ctx.saved_tensors
    ga = sum_to(gy, shape_of(a)) if ctx.needs_input_grad[0] else None
    gb = sum_to(-gy * rounding(a / b), shape_of(b)) if ctx.needs_input_grad[1] else None
    return ga, gb


def remainder(input, other) -> Tensor:
    """Python's modulo: the result has the sign of the divisor."""
    a, b = promote("remainder", input, other)
    _check_integer_divisor("remainder", a, b)
    return Remainder.apply(a, b)


class Fmod(Function):
    @staticmethod
    @quiet
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return xp_of(a if not isinstance(a, (int, float)) else b).fmod(a, b)

    @staticmethod
    def backward(ctx, gy):
        return _modulo_backward(ctx, gy, trunc)   # fmod(a, b) = a - trunc(a/b) * b


def fmod(input, other) -> Tensor:
    """C's fmod: the result has the sign of the dividend."""
    a, b = promote("fmod", input, other)
    _check_integer_divisor("fmod", a, b)
    return Fmod.apply(a, b)


class Pow(Function):
    @staticmethod
    @quiet
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a ** b

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:
            # d(a^b)/da = b * a^(b-1)
            # (0 where b == 0, as PyTorch: a^0 is constant even at a = 0, where a^-1 is inf)
            ga = sum_to(gy * where(b == 0, 0.0, b * a ** (b - 1)) if isinstance(b, Tensor) else
                        (gy * (b * a ** (b - 1)) if b != 0 else gy * 0), shape_of(a))
        if ctx.needs_input_grad[1]:
            # d(a^b)/db = a^b * log(a); PyTorch's convention: 0 where a == 0 and b >= 0
            if isinstance(a, Tensor):
                safe = where((a == 0) & (b >= 0), 0.0, log(a) * a ** b)
            else:
                safe = (math.log(a) if a > 0 else float("nan") if a < 0 else 0.0) * a ** b
            gb = sum_to(gy * safe, shape_of(b))
        return ga, gb


def pow(input, exponent) -> Tensor:
    """input ** exponent, either may be a number."""
    a, b = promote("pow", input, exponent)
    if isinstance(a, Tensor) and isinstance(b, (int, float)) and a._data.dtype.kind in "iu" and b < 0:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return Pow.apply(a, b)


class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, gy):
        return -gy

    @staticmethod
    def backward_arrays(ctx, gy):
        return -gy


def neg(input) -> Tensor:
    if input._data.dtype.kind == "b":
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If you are trying "
                           "to invert a mask, use the `~` or `logical_not()` operator instead.")
    return Neg.apply(input)


negative = neg


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return xp_of(x).abs(x)  # not abs(x): the module's own abs() shadows the builtin

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return gy * sign(x)  # d|x|/dx = sign(x), 0 at x = 0


def abs(input) -> Tensor:
    return Abs.apply(input)


absolute = abs


# ---- powers and exponentials ---------------------------------------------------------------

class Square(Function):
    @staticmethod
    @quiet
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return gy * (2 * x)


def square(input) -> Tensor:
    if isinstance(input, Tensor) and input._data.dtype.kind == "b":
        return input.to("int64") * input.to("int64")
    return Square.apply(input)


class Sqrt(Function):
    @staticmethod
    @quiet
    def forward(ctx, x):
        y = xp_of(x).sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y, = ctx.saved_tensors
        return gy / (2 * y)  # d sqrt(x)/dx = 1 / (2 sqrt(x))

    @staticmethod
    def backward_arrays(ctx, gy):
        y, = ctx.saved_arrays
        return gy / (2 * y)


class Rsqrt(Function):
    @staticmethod
    @quiet
    def forward(ctx, x):
        y = 1 / xp_of(x).sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y, = ctx.saved_tensors
        return gy * (-0.5 * y * y * y)  # d x^(-1/2)/dx = -1/2 x^(-3/2)


class Exp(Function):
    @staticmethod
    @quiet
    def forward(ctx, x):
        y = xp_of(x).exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y, = ctx.saved_tensors
        return gy * y  # d e^x/dx = e^x

    @staticmethod
    def backward_arrays(ctx, gy):
        y, = ctx.saved_arrays
        return gy * y


class Exp2(Function):
    @staticmethod
    @quiet
    def forward(ctx, x):
        y = xp_of(x).exp2(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y, = ctx.saved_tensors
        return gy * y * math.log(2.0)


class Expm1(Function):
    @staticmethod
    @quiet
    def forward(ctx, x):
        y = xp_of(x).expm1(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y, = ctx.saved_tensors
        return gy * (y + 1)


class Log(Function):
    @staticmethod
    @quiet
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return xp_of(x).log(x)

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return gy / x  # d log(x)/dx = 1/x

    @staticmethod
    def backward_arrays(ctx, gy):
        x, = ctx.saved_arrays
        return gy / x


class Log2(Function):
    @staticmethod
    @quiet
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return xp_of(x).log2(x)

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return gy / (x * math.log(2.0))


class Log10(Function):
    @staticmethod
    @quiet
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return xp_of(x).log10(x)

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return gy / (x * math.log(10.0))


class Log1p(Function):
    @staticmethod
    @quiet
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return xp_of(x).log1p(x)

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return gy / (x + 1)


class Reciprocal(Function):
    @staticmethod
    @quiet
    def forward(ctx, x):
        y = 1 / x
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y, = ctx.saved_tensors
        return -gy * y * y  # d(1/x)/dx = -1/x^2


# ---- trigonometric and hyperbolic -------------------------------------------------------

class Sin(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return xp_of(x).sin(x)

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return gy * cos(x)


class Cos(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return xp_of(x).cos(x)

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return -gy * sin(x)


class Tan(Function):
    @staticmethod
    @quiet
    def forward(ctx, x):
        y = xp_of(x).tan(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y, = ctx.saved_tensors
        return gy * (1 + y * y)  # d tan/dx = 1 + tan^2


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        y = xp_of(x).tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y, = ctx.saved_tensors
        return gy * (1 - y * y)  # d tanh/dx = 1 - tanh^2

    @staticmethod
    def backward_arrays(ctx, g):
        y, = ctx.saved_arrays
        if _kernels.fused(y, g):  # one kernel on a GPU
            return _kernels.tanh_backward(y, g)
        gx = y * y
        xp_of(y).subtract(1, gx, out=gx)
        gx *= g
        return gx


def _sigmoid_array(x):
    """1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) for x < 0, from e = e^-|x| <= 1: never overflows,
    and accurate in relative terms in both tails (1/2 + tanh(x/2)/2 would cancel to 0 for x < -17)."""
    xp = xp_of(x)
    e = xp.abs(x)
    xp.negative(e, out=e)
    xp.exp(e, out=e)                     # e^-|x|
    r = e + 1
    xp.reciprocal(r, out=r)              # 1 / (1 + e^-|x|)
    return xp.where(x < 0, e * r, r)


@in_float32_for_bfloat16
class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        y = _sigmoid_array(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y, = ctx.saved_tensors
        return gy * (y * (1 - y))  # d sigmoid/dx = sigmoid (1 - sigmoid)

    @staticmethod
    def backward_arrays(ctx, g):
        y, = ctx.saved_arrays
        if _kernels.fused(y, g):  # one kernel on a GPU
            return _kernels.sigmoid_backward(y, g)
        gx = 1 - y
        gx *= y
        gx *= g
        return gx


class Relu(Function):
    @staticmethod
    def forward(ctx, x):
        xp = xp_of(x)
        # (on NumPy against an array of zeros: maximum's loop over two arrays is vectorized, the one
        # with a scalar is not -- 2.4 against 4.6 us at (100, 100), 224 against 393 at (1000, 1000));
        # zeros_like keeps x's memory order: a C-order zeros against a channels-last conv output
        # took 417 us at (32, 16, 32, 32), the scalar 194, zeros_like 147)
        y = xp.maximum(x, xp.zeros_like(x) if xp is np else 0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        y, = ctx.saved_arrays
        # d relu/dx = 1 where x > 0, else 0 (0 at the kink, as PyTorch); the mask is a constant.
        # PyTorch's mask is "y is not <= 0", so a NaN input passes its gradient: as y >= 0 or NaN, that
        # is y != 0
        return Mul.apply(gy, y != 0)

    @staticmethod
    def backward_arrays(ctx, gy):
        y, = ctx.saved_arrays
        if _kernels.fused(y, gy):  # one kernel on a GPU
            return _kernels.relu_backward(y, gy)
        # (the mask in gy's dtype: a float * float product is faster than NumPy's buffered bool cast,
        # 4.1 against 6.0 us at (100, 100), 146 against 208 us at (32, 16, 32, 32))
        return gy * (y != 0).astype(gy.dtype)


def _unary(cls, name):
    def op(input) -> Tensor:
        if input._data.dtype.kind in "iub":  # integers and bools compute in the default float dtype
            input = input.to(_dtypes.get_default_dtype())
        return cls.apply(input)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise {name} (differentiable)."
    return op


sqrt = _unary(Sqrt, "sqrt")
rsqrt = _unary(Rsqrt, "rsqrt")
exp = _unary(Exp, "exp")
exp2 = _unary(Exp2, "exp2")
expm1 = _unary(Expm1, "expm1")
log = _unary(Log, "log")
log2 = _unary(Log2, "log2")
log10 = _unary(Log10, "log10")
log1p = _unary(Log1p, "log1p")
reciprocal = _unary(Reciprocal, "reciprocal")
sin = _unary(Sin, "sin")
cos = _unary(Cos, "cos")
tan = _unary(Tan, "tan")
tanh = _unary(Tanh, "tanh")
sigmoid = _unary(Sigmoid, "sigmoid")


def relu(input) -> Tensor:
    """max(x, 0), elementwise (integers stay integers, as in PyTorch)."""
    return Relu.apply(input)


def _float_input(x: Tensor) -> Tensor:
    return x if x._data.dtype.kind in "fcV" else x.float()


def asin(input): return _unary_composite(input, "asin")
def acos(input): return _unary_composite(input, "acos")
def atan(input): return _unary_composite(input, "atan")
def sinh(input): return _unary_composite(input, "sinh")
def cosh(input): return _unary_composite(input, "cosh")
def asinh(input): return _unary_composite(input, "asinh")
def acosh(input): return _unary_composite(input, "acosh")
def atanh(input): return _unary_composite(input, "atanh")


class _Inverse(Function):
    """asin, acos, atan, sinh, cosh, asinh, acosh, atanh: NumPy forward, closed-form backward."""

    DERIVATIVE = {
        "arcsin": lambda x: rsqrt(1 - x * x),
        "arccos": lambda x: -rsqrt(1 - x * x),
        "arctan": lambda x: 1 / (1 + x * x),
        "sinh": lambda x: cosh(x),
        "cosh": lambda x: sinh(x),
        "arcsinh": lambda x: rsqrt(x * x + 1),
        "arccosh": lambda x: rsqrt(x * x - 1),
        "arctanh": lambda x: 1 / (1 - x * x),
    }

    @staticmethod
    @quiet
    def forward(ctx, x, name):
        ctx.name = name
        ctx.save_for_backward(x)
        return getattr(xp_of(x), name)(x)

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return gy * _Inverse.DERIVATIVE[ctx.name](x), None


def _unary_composite(input, name):
    np_name = {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "asinh": "arcsinh",
               "acosh": "arccosh", "atanh": "arctanh"}.get(name, name)
    return _Inverse.apply(_float_input(input), np_name)


class Atan2(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return xp_of(a).arctan2(a, b)

    @staticmethod
    def backward(ctx, gy):
        # d atan2(a, b) = (b da - a db) / (a^2 + b^2)
        a, b = ctx.saved_tensors
        r = a * a + b * b
        zero = r == 0  # at the origin PyTorch's gradient is 0, not 0/0
        inv = where(zero, 0.0, 1 / where(zero, 1.0, r))
        return sum_to(gy * b * inv, shape_of(a)), sum_to(-gy * a * inv, shape_of(b))


def atan2(input, other) -> Tensor:
    a, b = promote("atan2", input, other, true_div=True)
    return Atan2.apply(ensure_tensor(a), ensure_tensor(b, a))


arctan2 = atan2


class Erf(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _erf(x)

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return gy * (2 / math.sqrt(math.pi)) * exp(-x * x)  # d erf/dx = 2/sqrt(pi) e^(-x^2)


def _erf(x):
    """erf: SciPy's where it is installed (or CuPy's on a GPU), else 1 - erfc(|x|) with the sign of x
    (``_erfc_fallback``: relative error below 1.2e-7)."""
    xp = xp_of(x)
    if xp is not np:
        return cupyx_module().scipy.special.erf(x)
    try:
        from scipy.special import erf as sp_erf
        return sp_erf(x).astype(x.dtype, copy=False)
    except ImportError:
        pass
    x64 = x.astype(np.float64)
    return (np.sign(x64) * (1.0 - _erfc_fallback(np.abs(x64)))).astype(x.dtype, copy=False)


def _erfc(x):
    """erfc, accurate in relative terms for large x (no 1 - erf cancellation): SciPy's or CuPy's,
    else ``_erfc_fallback`` (erfc(-z) = 2 - erfc(z))."""
    xp = xp_of(x)
    if xp is not np:
        return cupyx_module().scipy.special.erfc(x)
    try:
        from scipy.special import erfc as sp_erfc
        return sp_erfc(x).astype(x.dtype, copy=False)
    except ImportError:
        pass
    x64 = x.astype(np.float64)
    ec = _erfc_fallback(np.abs(x64))
    return np.where(x64 < 0, 2.0 - ec, ec).astype(x.dtype, copy=False)


def _erfc_fallback(z):
    """erfc(z) for float64 z >= 0 without SciPy: Numerical Recipes' Chebyshev fit (relative error
    below 1.2e-7 for every z >= 0), erfc(z) = t e^(-z^2 + P(t)), t = 1 / (1 + z/2)."""
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    return t * np.exp(poly)


erf = _unary(Erf, "erf")


class Erfc(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _erfc(x)

    @staticmethod
    def backward(ctx, gy):
        x, = ctx.saved_tensors
        return gy * (-2 / math.sqrt(math.pi)) * exp(-x * x)  # d erfc/dx = -2/sqrt(pi) e^(-x^2)


erfc = _unary(Erfc, "erfc")


# ---- rounding and sign: zero gradient almost everywhere --------------------------------------

class _StepFunction(Function):
    """floor, ceil, round, trunc, sign: the derivative is 0 wherever it exists."""

    @staticmethod
    def forward(ctx, x, name, decimals=0):
        xp = xp_of(x)
        if name == "round":
            return xp.round(x, decimals)
        return getattr(xp, name)(x)

    @staticmethod
    def backward(ctx, gy):
        return gy * 0, None, None


def _step_function(name):
    def op(input, *, decimals=0) -> Tensor:
        if input._data.dtype.kind in "iub" and name != "sign":
            return input.clone()
        if name == "round":
            return _StepFunction.apply(input, name, decimals)
        return _StepFunction.apply(input, name)
    op.__name__ = name
    return op


floor = _step_function("floor")
ceil = _step_function("ceil")
round = _step_function("round")
trunc = _step_function("trunc")
fix = trunc


def sign(input) -> Tensor:
    if input._data.dtype.kind == "b":
        return input.clone()
    return _StepFunction.apply(input, "sign")


sgn = sign


def frac(input) -> Tensor:
    return input - trunc(input)


# ---- clamp, maximum, minimum, where ----------------------------------------------------------

class Clamp(Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x, lo, hi)
        xp = xp_of(x)
        y = x
        if lo is not None:
            y = xp.maximum(y, lo)
        if hi is not None:
            y = xp.minimum(y, hi)
        return y if y is not x else x.copy()

    @staticmethod
    def backward(ctx, gy):
        # the gradient passes where lo <= x <= hi; a tensor bound gets it where it was chosen
        x, lo, hi = ctx.saved_tensors
        inside = None
        glo = ghi = None
        # (when lo > hi the result is hi everywhere: only hi gets the gradient, as in PyTorch)
        if lo is not None:
            inside = x >= lo
            if ctx.needs_input_grad[1]:
                chosen = (x < lo) if hi is None else (x < lo) & (lo < hi)
                glo = sum_to(gy * chosen, shape_of(lo))
        if hi is not None:
            below = x <= hi
            inside = below if inside is None else inside & below
            if ctx.needs_input_grad[2]:
                chosen = (x > hi) if lo is None else (x > hi) | (hi < lo)
                ghi = sum_to(gy * chosen, shape_of(hi))
        gx = gy * inside if inside is not None else gy
        return sum_to(gx, shape_of(x)), glo, ghi


def clamp(input, min=None, max=None) -> Tensor:
    """Limits every element to [min, max]: ``np.maximum(h, 0)`` is ``h.clamp(min=0)``."""
    if min is None and max is None:
        raise RuntimeError("clamp: At least one of 'min' or 'max' must not be None")
    min = min.item() if isinstance(min, np.generic) else min  # NumPy scalars must not widen float32
    max = max.item() if isinstance(max, np.generic) else max
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        min = min if min is None or isinstance(min, Tensor) else ensure_tensor(min, input)
        max = max if max is None or isinstance(max, Tensor) else ensure_tensor(max, input)
    elif input._data.dtype.kind in "iu" and (isinstance(min, float) or isinstance(max, float)):
        input = input.float()
    return Clamp.apply(input, min, max)


clip = clamp


def clamp_min(input, min) -> Tensor:
    return clamp(input, min, None)


def clamp_max(input, max) -> Tensor:
    return clamp(input, None, max)


class Maximum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return xp_of(a).maximum(a, b)

    @staticmethod
    def backward(ctx, gy):
        # the larger input gets the gradient; a tie splits it in half; a NaN (compares false) passes
        # the gradient to both inputs (as PyTorch)
        a, b = ctx.saved_tensors
        half = (a == b) * 0.5
        lt, gt = (a < b).to(half.dtype), (a > b).to(half.dtype)  # (masks as numbers: bool - x is refused)
        return sum_to(gy * (1 - lt - half), shape_of(a)), sum_to(gy * (1 - gt - half), shape_of(b))


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return xp_of(a).minimum(a, b)

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.saved_tensors
        half = (a == b) * 0.5
        lt, gt = (a < b).to(half.dtype), (a > b).to(half.dtype)
        return sum_to(gy * (1 - gt - half), shape_of(a)), sum_to(gy * (1 - lt - half), shape_of(b))


def maximum(input, other) -> Tensor:
    a, b = promote("maximum", input, other)
    return Maximum.apply(ensure_tensor(a), ensure_tensor(b, a))


def minimum(input, other) -> Tensor:
    a, b = promote("minimum", input, other)
    return Minimum.apply(ensure_tensor(a), ensure_tensor(b, a))


def fmax(input, other) -> Tensor:
    return where(isnan_(other), input, where(isnan_(input), other, maximum(input, other)))


def fmin(input, other) -> Tensor:
    return where(isnan_(other), input, where(isnan_(input), other, minimum(input, other)))


def isnan_(x):
    from numtorch.ops.compare import isnan
    return isnan(ensure_tensor(x))


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        ctx.shapes = (shape_of(a), shape_of(b))
        return xp_of(cond).where(cond, a, b)

    @staticmethod
    def backward(ctx, gy):
        cond, = ctx.saved_tensors
        sa, sb = ctx.shapes
        ga = sum_to(where(cond, gy, 0.0), sa) if ctx.needs_input_grad[1] else None
        gb = sum_to(where(cond, 0.0, gy), sb) if ctx.needs_input_grad[2] else None
        return None, ga, gb


def where(condition, input=None, other=None) -> Tensor:
    """``input`` where ``condition`` holds, else ``other``; ``where(cond)`` gives the indices."""
    if input is None and other is None:
        from numtorch.ops.compare import nonzero
        return nonzero(condition, as_tuple=True)
    condition = as_tensor_operand(condition)
    a, b = promote("where", input, other)
    if condition._data.dtype.kind != "b":
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype "
                           f"{condition.dtype}")
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):  # two numbers: PyTorch's dtype, not NumPy's
        from numtorch import _dtypes
        a = ensure_tensor(a).to(condition.device, _dtypes.from_numpy_dtype(_dtypes.promote_types(a, b)))
    return Where.apply(condition, a, b)


# ---- composites ----------------------------------------------------------------------------

def lerp(input, end, weight) -> Tensor:
    """input + weight * (end - input)."""
    return input + weight * (end - input)


def addcmul(input, tensor1, tensor2, *, value=1) -> Tensor:
    return input + value * tensor1 * tensor2


def addcdiv(input, tensor1, tensor2, *, value=1) -> Tensor:
    return input + value * tensor1 / tensor2


def hypot(input, other) -> Tensor:
    return sqrt(input * input + other * other)


def logaddexp(input, other) -> Tensor:
    m = maximum(input, other).detach()
    m = where(m.isfinite(), m, 0.0)  # both -inf (or +inf): shift by 0 instead of making inf - inf
    return m + log(exp(input - m) + exp(other - m))


def xlogy(input, other) -> Tensor:
    input = ensure_tensor(input)
    return where(input == 0, 0.0, input * log(ensure_tensor(other, input)))


def softplus_raw(x, beta=1.0, threshold=20.0) -> Tensor:
    """log(1 + e^(beta x)) / beta, linear above ``threshold`` (as PyTorch's softplus)."""
    bx = x * beta
    return where(bx > threshold, x, log1p(exp(-abs(bx))) / beta + relu(x))


def sinc(input) -> Tensor:
    px = input * math.pi
    safe = where(input == 0, 1.0, px)
    return where(input == 0, 1.0, sin(safe) / safe)


def deg2rad(input) -> Tensor:
    return input * (math.pi / 180)


def rad2deg(input) -> Tensor:
    return input * (180 / math.pi)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None) -> Tensor:
    from numtorch.ops.compare import isnan, isposinf, isneginf
    fi = input._data.dtype
    import numpy as np
    big = float(np.finfo(fi).max) if fi.kind == "f" else 0
    y = where(isnan(input), nan, input)
    y = where(isposinf(input), big if posinf is None else posinf, y)
    return where(isneginf(input), -big if neginf is None else neginf, y)
