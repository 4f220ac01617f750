"""``numtorch.nn.parallel``: ``DistributedDataParallel`` (data parallelism over numtorch.distributed)."""
from numtorch.nn.parallel.distributed import DistributedDataParallel  # noqa: F401

__all__ = ["DistributedDataParallel"]
