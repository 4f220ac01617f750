"""``numtorch.vision.transforms``: the names of ``torchvision.transforms`` (v1), and ``.functional``."""
from numtorch.vision.transforms.basic import *  # noqa: F401,F403
from numtorch.vision.transforms.augment import *  # noqa: F401,F403
from numtorch.vision.transforms.convert import *  # noqa: F401,F403
from numtorch.vision.transforms import functional  # noqa: F401
from numtorch.vision.transforms.functional import InterpolationMode  # noqa: F401
