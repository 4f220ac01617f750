"""``numtorch.nn.functional``: the stateless ops of ``torch.nn.functional``, gathered from their families."""
from numtorch.ops.activation import *  # noqa: F401,F403
from numtorch.ops.loss import *  # noqa: F401,F403
from numtorch.ops.dropout import *  # noqa: F401,F403
from numtorch.ops.conv import *  # noqa: F401,F403
from numtorch.ops.padding import *  # noqa: F401,F403
from numtorch.ops.resample import *  # noqa: F401,F403
from numtorch.ops.pool import *  # noqa: F401,F403
from numtorch.ops.batchnorm import *  # noqa: F401,F403
from numtorch.ops.normalization import *  # noqa: F401,F403
from numtorch.ops.attention import *  # noqa: F401,F403
from numtorch.ops.embedding import *  # noqa: F401,F403
from numtorch.ops.misc import one_hot  # noqa: F401
