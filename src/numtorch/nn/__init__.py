"""``numtorch.nn``: layers (``Module``s), ``functional``, ``init`` and ``utils``, as in ``torch.nn``."""
from numtorch.nn.parameter import *  # noqa: F401,F403
from numtorch.nn.modules import *  # noqa: F401,F403
from numtorch.nn import functional, init, utils  # noqa: F401  (nn.parallel: see numtorch/__init__.py)
