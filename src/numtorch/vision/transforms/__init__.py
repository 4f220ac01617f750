"""``numtorch.vision.transforms``: the names of ``torchvision.transforms``."""
from numtorch.vision.transforms.basic import *  # noqa: F401,F403
from numtorch.vision.transforms.augment import *  # noqa: F401,F403
