"""``numtorch.nn.utils``."""
