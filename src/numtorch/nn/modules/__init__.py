"""The layers of ``numtorch.nn``, one module per family (as in ``torch.nn.modules``)."""
from numtorch.nn.modules.module import Module  # noqa: F401
from numtorch.nn.modules.container import *  # noqa: F401,F403
from numtorch.nn.modules.linear import *  # noqa: F401,F403
from numtorch.nn.modules.activation import *  # noqa: F401,F403
from numtorch.nn.modules.loss import *  # noqa: F401,F403
from numtorch.nn.modules.dropout import *  # noqa: F401,F403
from numtorch.nn.modules.flatten import *  # noqa: F401,F403
from numtorch.nn.modules.conv import *  # noqa: F401,F403
from numtorch.nn.modules.pooling import *  # noqa: F401,F403
from numtorch.nn.modules.batchnorm import *  # noqa: F401,F403
from numtorch.nn.modules.padding import *  # noqa: F401,F403
from numtorch.nn.modules.upsampling import *  # noqa: F401,F403
from numtorch.nn.modules.normalization import *  # noqa: F401,F403
from numtorch.nn.modules.sparse import *  # noqa: F401,F403
from numtorch.nn.modules.attention import *  # noqa: F401,F403
from numtorch.nn.modules.transformer import *  # noqa: F401,F403
from numtorch.nn.modules.rnn import *  # noqa: F401,F403
from numtorch.nn.modules.syncbatchnorm import *  # noqa
from numtorch.nn.modules.distance import *  # noqa: F401,F403
