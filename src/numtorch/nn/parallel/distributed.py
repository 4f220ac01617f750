"""``DistributedDataParallel``: one model, N ranks, each on its own slice of every batch.

Data parallelism in three steps, the same as PyTorch's DDP:

1. **Same start.**  At construction rank 0's parameters and buffers are broadcast, so every rank
   holds the same model.
2. **Same gradients.**  Each rank runs forward and backward on its own share of the batch.  The
   gradient of the mean loss over the global batch is the mean of the ranks' gradients, so each
   gradient is averaged over ranks by an all-reduce.  To keep that cheap, gradients are packed into
   *buckets* -- one flat, contiguous buffer of up to ``bucket_cap_mb`` per bucket -- and one
   all-reduce per bucket moves them.
3. **Overlap.**  A bucket's all-reduce starts (nonblocking, ``Iallreduce``) as soon as backward has
   produced every gradient in it, while backward goes on computing the earlier layers'
   gradients.  Parameters are bucketed in reverse order, the order backward meets them; buckets
   are launched strictly in index order so every rank issues the same collectives in the same
   order.  When the last bucket is launched, backward waits for all of them and writes the
   averages back into ``.grad``.  Then every rank's optimizer takes the same step.

The moment "backward has produced this gradient" comes from ``Tensor.register_post_accumulate_grad_hook``
(called by the backward engine once the leaf's ``.grad`` holds this step's sum).

``no_sync()`` skips the averaging (gradients accumulate locally, for gradient accumulation);
the next synchronised backward averages the accumulated sum.
"""
from __future__ import annotations

import contextlib

from numtorch.autograd.grad_mode import GradMode
from numtorch.distributed.launch import LaunchContext
from numtorch.distributed.process_group import ReduceOp
from numtorch.nn.modules.module import Module
from numtorch.tensor import Tensor, make_tensor

__all__ = ["DistributedDataParallel"]

_FIRST_BUCKET_BYTES = 1 << 20  # a small first bucket starts communication early (PyTorch: 1 MiB)


class _Bucket:
    """Parameters whose gradients travel together in one flat buffer."""

    __slots__ = ("index", "params", "buffer", "views", "pending", "work")

    def __init__(self, index: int, params: list, xp) -> None:
        self.index, self.params = index, params
        total = sum(p.numel() for p in params)
        self.buffer = xp.zeros(total, params[0]._data.dtype)
        self.views, offset = [], 0
        for p in params:  # each parameter's gradient is a reshaped slice of the flat buffer
            n = p.numel()
            self.views.append(self.buffer[offset:offset + n].reshape(p._data.shape))
            offset += n
        self.pending = len(params)
        self.work = None


def _make_buckets(params: list, cap_bytes: int, xp) -> list[_Bucket]:
    """Splits ``params`` (already in backward order) into buckets of at most ``cap_bytes`` per dtype."""
    buckets, open_ = [], {}  # dtype -> (params, bytes) of the bucket being filled
    for p in params:
        key = p._data.dtype
        group, size = open_.get(key, ([], 0))
        limit = _FIRST_BUCKET_BYTES if not buckets else cap_bytes
        nbytes = p.numel() * p._data.itemsize
        if group and size + nbytes > min(limit, cap_bytes):
            buckets.append(group)
            group, size = [], 0
        open_[key] = (group + [p], size + nbytes)
    buckets.extend(g for g, _ in open_.values() if g)
    return [_Bucket(i, g, xp) for i, g in enumerate(buckets)]


class _Reducer:
    """Averages gradients over ranks, bucket by bucket, while backward is running."""

    def __init__(self, params: list, pg, cap_bytes: int, as_view: bool) -> None:
        self.pg, self.as_view = pg, as_view
        self.buckets = _make_buckets(list(reversed(params)), cap_bytes, pg.xp)
        self.where = {}  # id(param) -> (bucket, position in bucket)
        for b in self.buckets:
            for k, p in enumerate(b.params):
                self.where[id(p)] = (b, k)
        self.armed = False  # True between a synchronised forward and the end of its backward
        self.fired = 0  # gradients delivered by the engine since prepare()
        self.next_bucket = 0
        self.handles = [p.register_post_accumulate_grad_hook(self._on_grad) for p in params]

    def prepare(self, unused: list) -> None:
        """Arms the reducer for one backward; parameters outside the graph count as ready now."""
        for b in self.buckets:
            b.pending, b.work = len(b.params), None
        self.next_bucket = 0
        self.armed, self.fired = True, 0
        for p in unused:
            self._ready(p)

    def _on_grad(self, p: Tensor) -> None:
        if self.armed:
            self.fired += 1
            self._ready(p)

    def _ready(self, p: Tensor) -> None:
        """``p.grad`` is final for this backward: copy it into its bucket; launch full buckets."""
        b, k = self.where[id(p)]
        view = b.views[k]
        if p.grad is None:
            view[...] = 0
        elif p.grad._data is not view:
            view[...] = p.grad._data
        b.pending -= 1
        if b.pending == 0:
            self._launch_ready()
        elif self.next_bucket > 0:
            self.buckets[self.next_bucket - 1].work.is_completed()  # lets MPI progress the transfer

    def _launch_ready(self) -> None:
        """Starts every complete bucket, in bucket order; finishes once all are started."""
        while self.next_bucket < len(self.buckets) and self.buckets[self.next_bucket].pending == 0:
            b = self.buckets[self.next_bucket]
            b.work = self.pg.allreduce(b.buffer, ReduceOp.AVG, async_op=True)
            self.next_bucket += 1
        if self.next_bucket == len(self.buckets):
            self._finish()

    def _finish(self) -> None:
        """Waits for every bucket and writes the averaged gradients back into ``.grad``."""
        self.armed = False
        for b in self.buckets:
            b.work.wait()
            for p, view in zip(b.params, b.views):
                if self.as_view:
                    if p.grad is None or p.grad._data is not view:
                        p.grad = make_tensor(view)
                elif p.grad is None:
                    p.grad = make_tensor(view.copy())
                else:
                    p.grad._data[...] = view

    @property
    def in_progress(self) -> bool:
        """A backward has delivered some gradients but not all (the reduction cannot finish)."""
        return self.armed and self.fired > 0

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def _tensors_in(obj) -> list:
    """The tensors inside a forward's output (a tensor, or tuples/lists/dicts of them)."""
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _tensors_in(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors_in(o)]
    return []


def _leaves_reached(outputs) -> set:
    """ids of the leaf tensors that backward from ``outputs`` would reach (an iterative walk)."""
    from numtorch.autograd.function import Node
    leaves, seen = set(), set()
    stack = [t.grad_fn for t in outputs if t.grad_fn is not None]
    leaves.update(id(t) for t in outputs if t.grad_fn is None and t.requires_grad)
    while stack:
        node = stack.pop()
        for e in node.next:
            if e is None:
                continue
            child = e[0]
            if child.__class__ is Node:
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
            else:
                leaves.add(id(child))
    return leaves


def _broadcast_coalesced(tensors: list, pg, src: int = 0) -> None:
    """Broadcasts tensors from group rank ``src``: one flat message per dtype instead of one per tensor."""
    by_dtype = {}
    for t in tensors:
        by_dtype.setdefault(t._data.dtype, []).append(t)
    xp = pg.xp
    for group in by_dtype.values():
        flat = xp.concatenate([t._data.reshape(-1) for t in group])
        pg.broadcast(flat, src)
        offset = 0
        for t in group:
            n = t._data.size
            t._data[...] = flat[offset:offset + n].reshape(t._data.shape)
            offset += n


class DistributedDataParallel(Module):
    """Data-parallel training: wraps ``module`` so that backward averages gradients over ranks.

    Args:
        module: the model; every rank builds the same architecture (rank 0's weights are used).
        device_ids, output_device, dim: accepted for PyTorch compatibility (one device per process).
        broadcast_buffers: broadcast rank 0's buffers (BatchNorm running statistics) before each forward.
        process_group: the group to average over (default: all ranks).
        bucket_cap_mb: the size of a gradient bucket, in MiB (the first bucket is at most 1 MiB).
        find_unused_parameters: walk each forward's output graph to find parameters that get no
            gradient this step (they count as ready with a zero gradient); needed when some
            parameters sit out some steps, otherwise the reduction would never finish.  A parameter
            no rank used gets a zero ``.grad`` (PyTorch leaves it None).
        gradient_as_bucket_view: make each ``.grad`` a view into its bucket (saves a copy and memory).

    Example (run with ``mpiexec -n 2 python train.py``)::

        dist.init_process_group("mpi")
        model = DistributedDataParallel(Net())
        opt = numtorch.optim.SGD(model.parameters(), lr=0.1)
        loss_fn(model(x_shard), y_shard).backward()   # gradients averaged over both ranks
        opt.step()
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool = True, process_group=None, bucket_cap_mb: float | None = 25,
                 find_unused_parameters: bool = False, check_reduction: bool = False,
                 gradient_as_bucket_view: bool = False, static_graph: bool = False, **kwargs) -> None:
        super().__init__()
        from numtorch.distributed.world import resolve
        self.module = module
        self.process_group = resolve(process_group)
        if self.process_group is None:
            raise RuntimeError("DistributedDataParallel: this rank is not a member of process_group")
        self.device_ids, self.output_device, self.dim = device_ids, output_device, dim
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't have any "
                               "parameter that requires a gradient.")
        self._module_buffers = [b for b in module.buffers()]
        self._broadcast_states(list(module.parameters()) + self._module_buffers)
        cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * (1 << 20))
        self.reducer = _Reducer(params, self.process_group, max(cap, 1), gradient_as_bucket_view)

    def _broadcast_states(self, tensors: list) -> None:
        if self.process_group.size_ > 1 and tensors:
            _broadcast_coalesced(tensors, self.process_group, src=0)

    def forward(self, *inputs, **kwargs):
        r = self.reducer
        if r.in_progress:
            raise RuntimeError(
                "Expected to have finished reduction in the prior iteration before starting a new one. "
                "This error indicates that your module has parameters that were not used in producing "
                "loss (or backward was not called). Pass find_unused_parameters=True to "
                "DistributedDataParallel, or make sure every forward output takes part in the loss.")
        if self.broadcast_buffers and self.require_forward_param_sync and self._module_buffers:
            self._broadcast_states(self._module_buffers)
        out = self.module(*inputs, **kwargs)
        if GradMode.enabled and self.require_backward_grad_sync and self.process_group.size_ > 1:
            unused = []  # (a world of one rank has nothing to average: backward runs untouched)
            if self.find_unused_parameters:
                reached = _leaves_reached(_tensors_in(out))
                unused = [p for p in self._params() if id(p) not in reached]
            r.prepare(unused)
        return out

    def _params(self) -> list:
        return [p for b in self.reducer.buckets for p in b.params]

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes inside accumulate gradients locally, without averaging them.

        Usage (inside a script started by ``mpiexec``)::

            with ddp.no_sync():
                loss_fn(ddp(x1), y1).backward()   # local accumulation only
            loss_fn(ddp(x2), y2).backward()       # averages the accumulated gradients
        """
        prev = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = prev

    def extra_repr(self) -> str:
        return f"world_size={self.process_group.size_}, buckets={len(self.reducer.buckets)}"


LaunchContext.DistributedDataParallel = DistributedDataParallel  # what launch_context().wrap() builds
