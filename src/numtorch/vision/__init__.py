"""``numtorch.vision``: data sets, transforms and box ops (the names of torchvision)."""
