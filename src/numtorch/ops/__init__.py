"""numtorch's op library: one module per family, each op a ``Function`` or a composite of them.

``TENSOR_METHODS`` maps the names that are also ``Tensor`` methods (``x.exp()``, ``x.sum(1)``)
to their functions; the first argument is the tensor.

``Tensor``'s methods call the ops, the creation functions and the backward engine, which are all
built on ``Tensor``; ``tensor.py`` cannot import them, so this package hands the three modules to it
first thing (``x + y`` is then ``ops.add(x, y)`` in ``tensor.py``).
"""
import sys

from numtorch import creation as _creation, tensor as _tensor
from numtorch.autograd import engine as _engine

_tensor.ops, _tensor.creation, _tensor.engine = sys.modules[__name__], _creation, _engine

from numtorch.ops._util import wrap_dim, wrap_dims, sum_to  # noqa: F401
from numtorch.ops.elementwise import *  # noqa: F401,F403
from numtorch.ops.compare import *  # noqa: F401,F403
from numtorch.ops.shape import *  # noqa: F401,F403
from numtorch.ops.reduce import *  # noqa: F401,F403
from numtorch.ops.linalg import *  # noqa: F401,F403
from numtorch.ops.index import *  # noqa: F401,F403
from numtorch.ops.misc import *  # noqa: F401,F403
from numtorch.ops.convert import *  # noqa: F401,F403
from numtorch.ops.inplace import *  # noqa: F401,F403
from numtorch.ops.format import tensor_repr  # noqa: F401
from numtorch.ops import elementwise, compare, shape, reduce, linalg, index, misc, convert  # noqa: F401

_NOT_METHODS = {"cat", "concat", "concatenate", "stack", "hstack", "vstack", "broadcast_tensors",
                "broadcast_shapes", "einsum", "is_tensor", "where", "getitem", "setitem", "apply_inplace",
                "fill_inplace", "to_copy", "copy_from", "one_hot", "softplus_raw", "constant_pad",
                "mode_values", "tensordot", "is_nonzero", "searchsorted"}

TENSOR_METHODS = {
    name: globals()[name]
    for mod in (elementwise, compare, shape, reduce, linalg, index, misc)
    for name in mod.__all__ if name not in _NOT_METHODS
}
TENSOR_METHODS.update({
    "where": lambda self, condition, other: where(condition, self, other),  # noqa: F405
    "masked_fill": masked_fill,  # noqa: F405
    "is_nonzero": is_nonzero,  # noqa: F405
    "absolute": abs,  # noqa: F405
    "arctan2": atan2,  # noqa: F405
    "true_divide": div,  # noqa: F405
    "sum_to_size": shape.sum_to_size,
})

from numtorch.ops.activation import softmax as _softmax, log_softmax as _log_softmax  # noqa: E402
TENSOR_METHODS.update({"softmax": _softmax, "log_softmax": _log_softmax})
from numtorch.ops import extra as _extra  # noqa: E402
TENSOR_METHODS.update({n: getattr(_extra, n) for n in ("diff", "quantile", "nanquantile", "mode",
                                                          "tensor_split", "rot90", "logcumsumexp", "cummin")})

# x.inverse(), x.det(), x.logdet(), x.slogdet() are added by numtorch.linalg (above ops) as it loads.
_tensor.add_op_methods(TENSOR_METHODS)
