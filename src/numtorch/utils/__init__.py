"""``numtorch.utils``."""
from numtorch.utils import data  # noqa: F401
from numtorch.utils import checkpoint  # noqa: F401
