"""``numtorch.utils``."""
from numtorch.utils import data  # noqa: F401
