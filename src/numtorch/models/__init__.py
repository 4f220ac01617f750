"""``numtorch.models``: plain ``Module``s, from the two-layer net to ResNet, DenseNet, GPT and a detector."""
from numtorch.models.mlp import *  # noqa: F401,F403
from numtorch.models.cnn import *  # noqa: F401,F403
from numtorch.models.resnet import *  # noqa: F401,F403
from numtorch.models.densenet import *  # noqa: F401,F403
from numtorch.models.gpt import *  # noqa: F401,F403
from numtorch.models.seq2seq import *  # noqa: F401,F403
