"""``numtorch.vision.datasets``: the names of ``torchvision.datasets``."""
from numtorch.vision.datasets.mnist import *  # noqa: F401,F403
from numtorch.vision.datasets.digits import *  # noqa: F401,F403
from numtorch.vision.datasets.cifar import *  # noqa: F401,F403
from numtorch.vision.datasets.folder import *  # noqa: F401,F403
from numtorch.vision.datasets.detection import *  # noqa: F401,F403
from numtorch.vision.datasets.fakedata import *  # noqa: F401,F403
from numtorch.vision.datasets.vision import *  # noqa: F401,F403
