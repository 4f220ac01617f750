"""``numtorch.utils.data``: datasets, samplers and the ``DataLoader`` (the names of ``torch.utils.data``).

>>> import numtorch as torch
>>> from numtorch.utils.data import TensorDataset, DataLoader
>>> X, y = torch.randn(100, 4), torch.randint(0, 3, (100,))
>>> loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True)
>>> xb, yb = next(iter(loader))
>>> xb.shape, yb.shape
(numtorch.Size([32, 4]), numtorch.Size([32]))
"""
from numtorch.utils.data.dataset import (  # noqa: F401
    Dataset, IterableDataset, TensorDataset, ConcatDataset, ChainDataset, Subset, random_split)
from numtorch.utils.data.sampler import (  # noqa: F401
    Sampler, SequentialSampler, RandomSampler, SubsetRandomSampler, WeightedRandomSampler, BatchSampler)
from numtorch.utils.data.dataloader import DataLoader, get_worker_info, WorkerInfo  # noqa: F401
from numtorch.utils.data._collate import default_collate, default_convert  # noqa: F401

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "ConcatDataset", "ChainDataset", "Subset",
           "random_split", "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler", "DataLoader", "get_worker_info", "WorkerInfo",
           "default_collate", "default_convert"]
