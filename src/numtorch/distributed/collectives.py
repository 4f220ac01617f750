"""Collectives on numtorch tensors, with ``torch.distributed``'s names and in-place semantics.

Every function works on the tensor's own memory (``tensor._data``): ``all_reduce(t)`` leaves the
sum of every rank's ``t`` in ``t`` on every rank.  Ranks named in arguments (``src``, ``dst``) are
*global* ranks, as in PyTorch, also for sub-groups.  ``async_op=True`` returns a ``Work``
(``wait()``, ``is_completed()``); otherwise the call returns when the result is in place.

Python objects (``all_gather_object``, ``broadcast_object_list`` ...) travel as JSON text -- never
pickle, which would run code chosen by another process.  JSON carries None, bools, numbers,
strings, lists and dicts with string keys (tuples arrive as lists); send arrays as tensors.
"""
from __future__ import annotations

import json

import numpy as np

from numtorch.distributed.process_group import ReduceOp, Work
from numtorch.distributed.world import resolve
from numtorch.tensor import Tensor


def _data(t, name: str):
    """The tensor's ndarray, which the collective reads and overwrites in place."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: expected a numtorch Tensor, got {type(t).__name__}")
    a = t._data
    if not a.flags.c_contiguous:
        raise RuntimeError(f"{name}: Tensors must be contiguous (got shape {tuple(a.shape)} with strides "
                           f"{t.stride()}); call .contiguous() first")
    if t._vc is not None:
        t._vc[0] += 1  # an in-place write, as far as autograd's version checks are concerned
    return a


def _check_device(pg, a, name: str) -> None:
    if pg.backend == "mpi" and a.__class__ is not np.ndarray:
        raise RuntimeError(f"{name}: backend 'mpi' works on CPU tensors, got one on a GPU; "
                           "use init_process_group('nccl') for GPU tensors")


def _local(pg, global_rank: int, name: str) -> int:
    """The group rank of a global rank (``src``/``dst`` arguments are global, as in PyTorch)."""
    if pg.ranks is not None and len(pg.ranks) == pg.size_ and pg.ranks[-1] == pg.size_ - 1:
        if not 0 <= global_rank < pg.size_:
            raise ValueError(f"{name}: rank {global_rank} is not in the group of {pg.size_} ranks")
        return global_rank
    try:
        return pg.ranks.index(global_rank)
    except ValueError:
        raise ValueError(f"{name}: global rank {global_rank} is not part of the group {pg.ranks}") from None


def _done(pg, async_op: bool, work=None):
    if not async_op:
        return None
    return work if work is not None else Work(pg, "done", done=True)


# ---- reductions and broadcast --------------------------------------------------------------
def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group=None, async_op: bool = False):
    """Every rank's ``tensor`` becomes op(tensor of rank 0, ..., tensor of rank n-1)."""
    pg = resolve(group)
    if pg is None:
        return None
    a = _data(tensor, "all_reduce")
    _check_device(pg, a, "all_reduce")
    return pg.allreduce(a, op, async_op)


def broadcast(tensor: Tensor, src: int = 0, group=None, async_op: bool = False, group_src=None):
    """Every rank's ``tensor`` becomes rank ``src``'s."""
    pg = resolve(group)
    if pg is None:
        return None
    a = _data(tensor, "broadcast")
    _check_device(pg, a, "broadcast")
    root = group_src if group_src is not None else _local(pg, src, "broadcast")
    return pg.broadcast(a, root, async_op)


def reduce(tensor: Tensor, dst: int = 0, op: ReduceOp = ReduceOp.SUM, group=None, async_op: bool = False):
    """Rank ``dst``'s ``tensor`` becomes op over all ranks (the others' are left as they were)."""
    pg = resolve(group)
    if pg is None:
        return None
    a = _data(tensor, "reduce")
    _check_device(pg, a, "reduce")
    return pg.reduce(a, _local(pg, dst, "reduce"), op, async_op)


# ---- gathers and scatters --------------------------------------------------------------------
def _check_list(tensors, n: int, like, name: str) -> None:
    if len(tensors) != n:
        raise RuntimeError(f"{name}: the tensor list must have one tensor per rank ({n}), got {len(tensors)}")
    for t in tensors:
        if tuple(t.shape) != like.shape or t._data.dtype != like.dtype:
            raise RuntimeError(f"{name}: every tensor in the list must have shape {like.shape} and dtype "
                               f"{like.dtype}, got {tuple(t.shape)} {t._data.dtype}")


def _copy_out(stacked, tensors):
    def copy():
        for i, t in enumerate(tensors):
            t._data[...] = stacked[i]
    return copy


def all_gather(tensor_list: list, tensor: Tensor, group=None, async_op: bool = False):
    """``tensor_list[i]`` receives rank i's ``tensor`` (one tensor per rank, same shape)."""
    pg = resolve(group)
    if pg is None:
        return None
    a = _data(tensor, "all_gather")
    _check_device(pg, a, "all_gather")
    _check_list(tensor_list, pg.size_, a, "all_gather")
    out = pg.xp.empty((pg.size_,) + a.shape, a.dtype)
    return pg.allgather(out, a, async_op, then=_copy_out(out, tensor_list))


def all_gather_into_tensor(output_tensor: Tensor, input_tensor: Tensor, group=None, async_op: bool = False):
    """``output_tensor`` (``world_size`` times ``input_tensor``'s size) receives every rank's input in
    rank order: stacked (``(world, *shape)``) or concatenated along dim 0."""
    pg = resolve(group)
    if pg is None:
        return None
    out, a = _data(output_tensor, "all_gather_into_tensor"), _data(input_tensor, "all_gather_into_tensor")
    _check_device(pg, a, "all_gather_into_tensor")
    if out.size != a.size * pg.size_ or out.dtype != a.dtype:
        raise ValueError(f"all_gather_into_tensor: output of shape {tuple(out.shape)} ({out.dtype}) must "
                         f"hold {pg.size_} x input of shape {tuple(a.shape)} ({a.dtype})")
    return pg.allgather(out, a, async_op)


def reduce_scatter_tensor(output: Tensor, input: Tensor, op: ReduceOp = ReduceOp.SUM, group=None,
                          async_op: bool = False):
    """Reduces ``input`` (``world_size`` blocks of ``output``'s size) over ranks; rank i's ``output``
    receives block i of the result."""
    pg = resolve(group)
    if pg is None:
        return None
    out, a = _data(output, "reduce_scatter_tensor"), _data(input, "reduce_scatter_tensor")
    _check_device(pg, a, "reduce_scatter_tensor")
    if a.size != out.size * pg.size_ or out.dtype != a.dtype:
        raise ValueError(f"reduce_scatter_tensor: input of shape {tuple(a.shape)} ({a.dtype}) must hold "
                         f"{pg.size_} x output of shape {tuple(out.shape)} ({out.dtype})")
    return pg.reduce_scatter(out, a, op, async_op)


def reduce_scatter(output: Tensor, input_list: list, op: ReduceOp = ReduceOp.SUM, group=None,
                   async_op: bool = False):
    """As ``reduce_scatter_tensor`` with the input given as one tensor per rank."""
    pg = resolve(group)
    if pg is None:
        return None
    out = _data(output, "reduce_scatter")
    _check_list(input_list, pg.size_, out, "reduce_scatter")
    stacked = pg.xp.stack([t._data for t in input_list])
    return pg.reduce_scatter(out, stacked, op, async_op)


def gather(tensor: Tensor, gather_list: list | None = None, dst: int = 0, group=None, async_op: bool = False):
    """Rank ``dst``'s ``gather_list[i]`` receives rank i's ``tensor``; other ranks pass no list."""
    pg = resolve(group)
    if pg is None:
        return None
    a = _data(tensor, "gather")
    _check_device(pg, a, "gather")
    root = _local(pg, dst, "gather")
    out, then = None, None
    if pg.rank_ == root:
        if gather_list is None:
            raise ValueError("gather: rank dst must pass gather_list")
        _check_list(gather_list, pg.size_, a, "gather")
        out = pg.xp.empty((pg.size_,) + a.shape, a.dtype)
        then = _copy_out(out, gather_list)
    elif gather_list:
        raise ValueError("gather: gather_list must be given on rank dst only")
    return pg.gather(out, a, root, async_op, then=then)


def scatter(tensor: Tensor, scatter_list: list | None = None, src: int = 0, group=None,
            async_op: bool = False):
    """Rank i's ``tensor`` receives rank ``src``'s ``scatter_list[i]``."""
    pg = resolve(group)
    if pg is None:
        return None
    out = _data(tensor, "scatter")
    _check_device(pg, out, "scatter")
    root = _local(pg, src, "scatter")
    stacked = None
    if pg.rank_ == root:
        if scatter_list is None:
            raise ValueError("scatter: rank src must pass scatter_list")
        _check_list(scatter_list, pg.size_, out, "scatter")
        stacked = pg.xp.stack([t._data for t in scatter_list])
    elif scatter_list:
        raise ValueError("scatter: scatter_list must be given on rank src only")
    return pg.scatter(out, stacked, root, async_op)


def all_to_all_single(output: Tensor, input: Tensor, output_split_sizes=None, input_split_sizes=None,
                      group=None, async_op: bool = False):
    """Block i of ``input`` goes to rank i; block j of ``output`` comes from rank j (equal splits)."""
    pg = resolve(group)
    if pg is None:
        return None
    if output_split_sizes is not None or input_split_sizes is not None:
        raise NotImplementedError("all_to_all_single: uneven split sizes are not supported")
    out, a = _data(output, "all_to_all_single"), _data(input, "all_to_all_single")
    if out.size != a.size or a.shape[0] % pg.size_:
        raise ValueError(f"all_to_all_single: input {tuple(a.shape)} and output {tuple(out.shape)} must "
                         f"be the same size with dim 0 divisible by {pg.size_}")
    return pg.alltoall(out, a, async_op)


def barrier(group=None, async_op: bool = False, device_ids=None):
    """Returns once every rank of the group has called it."""
    pg = resolve(group)
    if pg is None:
        return None
    return pg.barrier(async_op)


# ---- point to point --------------------------------------------------------------------------
def send(tensor: Tensor, dst: int, group=None, tag: int = 0) -> None:
    """Sends ``tensor`` to global rank ``dst`` (returns once the buffer may be reused)."""
    pg = resolve(group)
    if pg is not None:
        pg.send(_data(tensor, "send"), _local(pg, dst, "send"), tag)


def recv(tensor: Tensor, src: int | None = None, group=None, tag: int = 0) -> int:
    """Receives into ``tensor`` from global rank ``src`` (None: any rank); returns the sender's rank."""
    pg = resolve(group)
    if pg is None:
        return -1
    local = None if src is None else _local(pg, src, "recv")
    return pg.ranks[pg.recv(_data(tensor, "recv"), local, tag)]


def isend(tensor: Tensor, dst: int, group=None, tag: int = 0) -> Work:
    pg = resolve(group)
    return (None if pg is None
            else pg.send(_data(tensor, "isend"), _local(pg, dst, "isend"), tag, async_op=True))


def irecv(tensor: Tensor, src: int | None = None, group=None, tag: int = 0) -> Work:
    pg = resolve(group)
    if pg is None:
        return None
    local = None if src is None else _local(pg, src, "irecv")
    return pg.recv(_data(tensor, "irecv"), local, tag, async_op=True)


# ---- Python objects, as JSON -------------------------------------------------------------------
def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, (np.ndarray, Tensor)):
        return o.tolist()
    raise TypeError(f"numtorch.distributed sends objects as JSON (never pickle); a {type(o).__name__} is "
                    "not JSON-serialisable: send numbers, strings, lists and dicts, or tensors through "
                    "the tensor collectives")


def _encode(obj) -> np.ndarray:
    return np.frombuffer(json.dumps(obj, default=_json_default).encode(), dtype=np.uint8)


def _decode(buf) -> object:
    return json.loads(bytes(buf).decode())


def _on(pg, a):
    return a if pg.xp is np else pg.xp.asarray(a)


def _host(pg, a) -> np.ndarray:
    return a if pg.xp is np else a.get()


def all_gather_object(object_list: list, obj, group=None) -> None:
    """``object_list[i]`` becomes rank i's ``obj`` (JSON-serialisable values only)."""
    pg = resolve(group)
    if pg is None:
        return
    if len(object_list) != pg.size_:
        raise RuntimeError(f"all_gather_object: object_list must have {pg.size_} entries, got "
                           f"{len(object_list)}")
    data = _encode(obj)
    lengths = _on(pg, np.empty(pg.size_, np.int64))
    pg.allgather(lengths, _on(pg, np.array([data.size], np.int64)))
    lengths = _host(pg, lengths)
    width = int(lengths.max())
    padded = np.zeros(width, np.uint8)
    padded[:data.size] = data
    out = _on(pg, np.empty((pg.size_, width), np.uint8))
    pg.allgather(out, _on(pg, padded))
    out = _host(pg, out)
    for i in range(pg.size_):
        object_list[i] = _decode(out[i, :lengths[i]])


def gather_object(obj, object_gather_list: list | None = None, dst: int = 0, group=None) -> None:
    """Rank ``dst``'s ``object_gather_list[i]`` becomes rank i's ``obj``."""
    pg = resolve(group)
    if pg is None:
        return
    everything = [None] * pg.size_
    all_gather_object(everything, obj, group)
    if pg.ranks[pg.rank_] == dst:
        if object_gather_list is None or len(object_gather_list) != pg.size_:
            raise ValueError(f"gather_object: rank dst must pass a list of {pg.size_} entries")
        object_gather_list[:] = everything


def broadcast_object_list(object_list: list, src: int = 0, group=None, device=None) -> None:
    """Every rank's ``object_list`` (same length everywhere) becomes rank ``src``'s, entry by entry."""
    pg = resolve(group)
    if pg is None:
        return
    root = _local(pg, src, "broadcast_object_list")
    data = _encode(list(object_list)) if pg.rank_ == root else None
    length = np.array([0 if data is None else data.size], np.int64)
    length_d = _on(pg, length)
    pg.broadcast(length_d, root)
    n = int(_host(pg, length_d)[0])
    buf = _on(pg, data.copy() if data is not None else np.empty(n, np.uint8))
    pg.broadcast(buf, root)
    if pg.rank_ != root:
        values = _decode(_host(pg, buf))
        if len(values) != len(object_list):
            raise RuntimeError(f"broadcast_object_list: rank {src} sent {len(values)} objects, this rank's "
                               f"list has {len(object_list)}")
        object_list[:] = values


def scatter_object_list(scatter_object_output_list: list, scatter_object_input_list: list | None = None,
                        src: int = 0, group=None) -> None:
    """``scatter_object_output_list[0]`` on rank i becomes ``scatter_object_input_list[i]`` of rank
    ``src``."""
    pg = resolve(group)
    if pg is None:
        return
    root = _local(pg, src, "scatter_object_list")
    everything = list(scatter_object_input_list) if pg.rank_ == root else [None] * pg.size_
    broadcast_object_list(everything, src, group)
    scatter_object_output_list[0] = everything[pg.rank_]


__all__ = ["all_reduce", "broadcast", "reduce", "all_gather", "all_gather_into_tensor",
           "reduce_scatter_tensor", "reduce_scatter", "gather", "scatter", "all_to_all_single", "barrier",
           "send", "recv", "isend", "irecv", "all_gather_object", "gather_object", "broadcast_object_list",
           "scatter_object_list"]
