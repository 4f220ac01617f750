"""``default_collate`` and ``default_convert``: how a list of samples becomes one batch.

PyTorch's rules, kept exactly:

==========================  =====================================================
sample element              batch
==========================  =====================================================
Tensor                      ``stack`` (a new first dimension)
NumPy array                 stacked into a tensor of the same dtype
NumPy scalar                a 1-d tensor of its dtype
Python float                a float64 tensor
Python int / bool           an int64 / bool tensor
str, bytes                  the list of them, unchanged
dict (Mapping)              a dict of collated values, key by key
namedtuple                  the same namedtuple of collated fields
tuple / list                a list (tuple samples) or list of collated positions
==========================  =====================================================
"""
from __future__ import annotations

import collections.abc
import copy
import re

import numpy as np

from numtorch._backend import xp_of
from numtorch.tensor import Tensor, make_tensor
from numtorch._dtypes import float64
from numtorch.creation import as_tensor, tensor
from numtorch.ops import stack

__all__ = ["default_collate", "default_convert"]

_STR_OR_OBJECT = re.compile(r"[SaUO]")
_ERR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def _stack_tensors(batch: list[Tensor]) -> Tensor:
    shapes = {tuple(t.shape) for t in batch}
    if len(shapes) > 1:
        raise RuntimeError(f"stack expects each tensor to be equal size, but got shapes {sorted(shapes)} "
                           "in the batch (give the DataLoader a collate_fn that pads them)")
    if any(t.requires_grad for t in batch):
        return stack(batch, 0)          # keeps the graph
    return make_tensor(xp_of(batch[0]._data).stack([t._data for t in batch]))


def default_collate(batch):
    """Stacks a list of samples into a batch (see the module docstring for the rules).

    >>> import numtorch as torch
    >>> default_collate([(torch.zeros(2), 0), (torch.ones(2), 1)])
    [tensor([[0., 0.],
            [1., 1.]]), tensor([0, 1])]
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack_tensors(batch)
    if isinstance(elem, np.ndarray):
        if _STR_OR_OBJECT.search(elem.dtype.str) is not None:
            raise TypeError(_ERR.format(elem.dtype))
        return default_collate([as_tensor(b) for b in batch])
    if isinstance(elem, np.generic) and not isinstance(elem, (np.str_, np.bytes_)):
        return as_tensor(np.array(batch))
    if isinstance(elem, float):
        return tensor(batch, dtype=float64)
    if isinstance(elem, int):                       # bool is an int: a list of bools gives a bool tensor
        return tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        return _same_mapping(elem, collated)
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):   # namedtuple
        return type(elem)(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [default_collate(s) for s in zip(*batch)]   # s: a tuple (strings come back as one)
        if isinstance(elem, tuple) or not isinstance(elem, collections.abc.MutableSequence):
            return columns
        return _same_sequence(elem, columns)
    raise TypeError(_ERR.format(type(elem)))


def default_convert(data):
    """Turns NumPy arrays and scalars inside ``data`` into tensors, leaving the structure as it is
    (the ``collate_fn`` when batching is off, ``batch_size=None``)."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return data if _STR_OR_OBJECT.search(data.dtype.str) else as_tensor(data)
    if isinstance(data, np.generic) and not isinstance(data, (np.str_, np.bytes_)):
        return as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return _same_mapping(data, {k: default_convert(v) for k, v in data.items()})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        converted = [default_convert(d) for d in data]
        return (_same_sequence(data, converted) if isinstance(data, collections.abc.MutableSequence)
                else converted)
    return data


def _same_mapping(template, values: dict):
    """``values`` in a mapping of the template's type when that type can be rebuilt, else a dict."""
    try:
        if isinstance(template, collections.abc.MutableMapping):
            out = copy.copy(template)
            out.update(values)
            return out
        return type(template)(values)
    except TypeError:
        return values


def _same_sequence(template, values: list):
    try:
        out = copy.copy(template)
        for i, v in enumerate(values):
            out[i] = v
        return out
    except TypeError:
        return values
