"""``numtorch.vision``: data sets, transforms and box ops (the names of torchvision)."""
from numtorch.vision import datasets, transforms, ops  # noqa: F401
