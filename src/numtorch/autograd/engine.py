"""The backward engine: walks the recorded graph from the outputs back to the leaves.

1. Count, for every node and leaf reachable from the outputs, how many edges lead into it
   (an explicit stack, never recursion: a 100,000-op chain is fine).
2. Start from the outputs with their gradients; a node runs its ``backward`` once every edge
   into it has delivered its gradient (the counts reach zero), so each node runs once with
   the sum of what its users sent it.
3. A leaf's gradient is summed the same way, passed through its hooks and added to ``.grad``.
4. Unless ``retain_graph``, each node's saved tensors are freed once it has run.
"""
from __future__ import annotations

import contextlib
import weakref

import numpy as np

import numtorch.autograd.function as _function
import numtorch._errstate as _errstate
import numtorch.creation as _creation
import numtorch.tensor as _tensor
from numtorch._backend import elsewhere, xp_of
from numtorch.autograd.grad_mode import GradMode


def _as_tuple(x) -> tuple:
    if x is None:
        return ()
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


_NOTHING = contextlib.nullcontext()
_ndarray = np.ndarray
_Node = _function.Node


def _root_grads(outputs, grad_outputs, create_graph) -> list:
    if len(outputs) == 1 and grad_outputs[0] is None and outputs[0].requires_grad \
            and outputs[0]._data.size == 1:  # the common case: loss.backward()
        arr = outputs[0]._data
        xp = xp_of(arr)
        if xp is np:  # np.array(1) is C; np.ones goes through Python
            one = np.array(1, dtype=arr.dtype)
            return [_tensor.make_tensor(one.reshape(arr.shape) if arr.ndim else one)]
        # ones(), not array(1): on a GPU the latter is a host -> device copy that waits for the stream;
        # made on the output's own GPU (CuPy allocates on the current one)
        with elsewhere(arr) or _NOTHING:
            return [_tensor.make_tensor(xp.ones(arr.shape, dtype=arr.dtype))]
    grads = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not out.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if out.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs "
                                   f"(got an output of shape {tuple(out.shape)}); pass `gradient`")
            arr = out._data
            g = _tensor.make_tensor(xp_of(arr).ones(arr.shape, arr.dtype))
        elif not isinstance(g, _tensor.Tensor):
            g = _creation.tensor(g, dtype=out.dtype, device=out.device)
        if tuple(g.shape) != tuple(out.shape):
            raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of {tuple(g.shape)} and "
                               f"output[{i}] has a shape of {tuple(out.shape)}.")
        grads.append(g)
    return grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None) -> None:
    """Accumulates d(tensors)/d(leaf) into ``leaf.grad`` for every leaf that requires grad."""
    if (grad_tensors is None and not create_graph and inputs is None
            and tensors.__class__ is _tensor.Tensor and tensors.grad_fn is not None
            and tensors._data.__class__ is _ndarray and tensors._data.size == 1):
        return _loss_backward(tensors, bool(retain_graph))  # the common case: loss.backward()
    outputs = (tensors,) if isinstance(tensors, _tensor.Tensor) else _as_tuple(tensors)
    grads = _root_grads(outputs, _as_tuple(grad_tensors) or (None,) * len(outputs), create_graph)
    keep = create_graph if retain_graph is None else retain_graph
    targets = None if inputs is None else {_key(t): i for i, t in enumerate(_as_tuple(inputs))}
    _Pass(keep, create_graph, targets, None).run(outputs, grads)


def _loss_backward(loss, keep_graph) -> None:
    """``backward`` of a one-element NumPy tensor made by an op, with no ``gradient``, ``inputs`` or
    ``create_graph``: the seed d loss/d loss = 1 straight into the first-order pass (no Tensors)."""
    arr = loss._data
    one = np.array(1, dtype=arr.dtype)  # (np.array(1) is C; np.ones goes through Python)
    _Pass(keep_graph, False, None, None).run_one(loss, one.reshape(arr.shape) if arr.ndim else one)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, is_grads_batched=False, materialize_grads=False) -> tuple:
    """Returns d(outputs)/d(inputs) without touching any ``.grad``."""
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    grads = _root_grads(outputs, _as_tuple(grad_outputs) or (None,) * len(outputs), create_graph)
    keep = create_graph if retain_graph is None else retain_graph
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    targets = {_key(t): i for i, t in enumerate(inputs)}
    captured = [None] * len(inputs)
    _Pass(keep, create_graph, targets, captured).run(outputs, grads)
    allow_unused = allow_unused or materialize_grads
    for i, g in enumerate(captured):
        if g is None:
            if not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the "
                                   "graph. Set allow_unused=True if this is the desired behavior.")
            if materialize_grads:
                captured[i] = _creation.zeros_like(inputs[i])
    return tuple(captured)


def _key(t):
    """Where a tensor's gradient arrives: the leaf itself, or (grad_fn, output_nr)."""
    return t if t.grad_fn is None else (t.grad_fn, t._output_nr)


def _count_edges(roots) -> dict:
    """Number of edges into each node and leaf reachable from ``roots`` (iterative DFS)."""
    Node = _Node
    deps = {}
    stack = list(roots)
    root_set = set(roots) if len(roots) > 1 else ()
    while stack:
        node = stack.pop()
        for e in node.next:
            if e is None:
                continue
            child = e[0]
            if child in deps:
                deps[child] += 1
            else:
                deps[child] = 1
                if child.__class__ is Node and child not in root_set:
                    stack.append(child)
    return deps


def _needed(roots, deps, targets) -> set:
    """The nodes whose backward leads to a target (only those run when targets are given)."""
    order, left = [], dict(deps)
    ready = [r for r in roots if left.get(r, 0) == 0]
    while ready:
        node = ready.pop()
        order.append(node)
        for e in node.next:
            if e is not None and e[0].__class__ is _Node:
                left[e[0]] -= 1
                if left[e[0]] == 0:
                    ready.append(e[0])
    needed = set()
    for node in reversed(order):
        for e in node.next:
            if e is not None and (e[0] in needed or _key_of_edge(e) in targets):
                needed.add(node)
                break
    return needed


def _key_of_edge(e):
    return e if e[0].__class__ is _Node else e[0]


class _Pass:
    """The state of one backward pass, and its steps.

    ``deps[x]`` counts the edges into node or leaf ``x`` still to deliver; ``buffers[node]`` holds
    the gradients sent to each of ``node``'s outputs so far; a node is ``ready`` when its count
    reaches zero.  With ``targets`` (``autograd.grad`` or ``backward(inputs=...)``) only the
    ``needed`` nodes run, and the targets' gradients go to ``capture`` instead of ``.grad``.
    ``claimed`` holds the ids of gradient arrays a leaf may not keep without a copy.

    A first-order pass (no ``create_graph``) carries raw arrays from node to node: a node runs its
    ``backward_arrays`` when it has one, else its ``backward`` on Tensors made for the call. Tensors
    appear only where a user sees a gradient (hooks, ``.grad``, ``autograd.grad``'s results).  A pass
    with ``create_graph`` carries Tensors and runs every ``backward``, recording its ops.
    """

    __slots__ = ("keep_graph", "create_graph", "targets", "capture", "deps", "buffers", "leaf_grads",
                 "ready", "needed", "claimed", "on_arrays")

    def __init__(self, keep_graph, create_graph, targets, capture) -> None:
        self.keep_graph, self.create_graph = keep_graph, create_graph
        self.targets, self.capture = targets, capture
        self.buffers = {}      # node -> [gradient per output]
        self.leaf_grads = {}   # leaf -> summed gradient so far
        self.ready = []
        self.claimed = set()
        self.on_arrays = not create_graph

    def run(self, outputs, grads) -> None:
        """One backward pass from ``outputs`` (seeded with ``grads``, Tensors) to the leaves."""
        if self.on_arrays:
            grads = [g._data for g in grads]
        leaf_roots = self._seed(outputs, grads)
        prev = GradMode.enabled
        GradMode.enabled = self.create_graph   # the backward ops record a graph only for create_graph
        quiet = _errstate.ignore_all()   # no NumPy warnings from the backward ops (PyTorch warns none)
        try:
            for leaf, g in leaf_roots:
                self.deliver_leaf(leaf, g)
            self._loop()
        finally:
            GradMode.enabled = prev
            _errstate.restore(quiet)

    def run_one(self, out, g) -> None:
        """``run`` for one output made by a node, seeded with array ``g``, in a first-order pass."""
        self._seed_one(out, g)
        prev = GradMode.enabled
        GradMode.enabled = False
        quiet = _errstate.ignore_all()
        try:
            self._loop()
        finally:
            GradMode.enabled = prev
            _errstate.restore(quiet)

    def _loop(self) -> None:
        """Runs the ready nodes until none is left: each one's backward, then its gradients sent on.

        This is the engine's inner loop, so its common cases are written out here: a node with a
        ``backward_arrays`` called on NumPy arrays, one gradient into a node's only output, and a
        leaf's only gradient added to its existing ``.grad``. Everything else goes through the
        methods below (hooks, targets, GPU arrays, ``backward`` on Tensors, sums into leaves)."""
        ready, buffers, deps, leaf_grads = self.ready, self.buffers, self.deps, self.leaf_grads
        plain, keep, on_arrays = self.targets is None, self.keep_graph, self.on_arrays
        while ready:
            node = ready.pop()
            grads_in = buffers.pop(node)
            if not plain or node.hooks or node.out_meta or grads_in[0] is None:
                grads_in = self._inputs(node, grads_in)  # hooks, targets, outputs without a gradient
                if grads_in is None:
                    continue
            fast = node.fn.backward_arrays if on_arrays else None
            if fast is not None and grads_in[0].__class__ is _ndarray and not node.post_hooks:
                gx = fast(node, *grads_in)
                if gx.__class__ is not tuple:
                    gx = (gx,)  # (a one-input op may return its gradient alone)
                if len(gx) != len(node.next):
                    gx = self._finish(node, gx, grads_in)
                elif not keep:
                    node.saved = None  # frees the saved tensors; reading them again raises
            else:
                gx = self._call(node, grads_in)
            for e, g in zip(node.next, gx):
                if e is None:
                    continue
                child = e[0]
                if child.__class__ is not _Node:  # a leaf
                    grad = child.grad
                    if (g.__class__ is _ndarray and plain and deps[child] == 1 and grad is not None
                            and child not in leaf_grads and not child._hooks
                            and child._post_accumulate_grad_hooks is None and not grad.requires_grad
                            and grad._data.__class__ is _ndarray and g.shape == child._data.shape
                            and g.dtype == child._data.dtype):
                        deps[child] = 0  # its only gradient, added to .grad (accumulate_grad_array)
                        grad._data += g
                    else:
                        self._send_other(node, e, g)
                    continue
                if g is None:
                    self.release(child)
                    continue
                left = deps[child] - 1
                deps[child] = left
                buf = buffers.get(child)
                if buf is None and child.out_meta is None:
                    buffers[child] = [g]
                else:
                    self._add_to_buffer(child, e[1], g, buf)
                if left == 0:
                    ready.append(child)

    def _add_to_buffer(self, child, nr, g, buf) -> None:
        """Adds ``g`` to what output ``nr`` of ``child`` has received so far."""
        if buf is None:
            self.buffers[child] = buf = [None] * len(child.out_meta)
        buf[nr] = g if buf[nr] is None else buf[nr] + g

    def _seed(self, outputs, grads) -> list:
        """Puts the outputs' gradients in their nodes' buffers; counts the edges; returns the
        outputs that are leaves themselves (with their gradients)."""
        if len(outputs) == 1 and outputs[0].grad_fn is not None and self.targets is None:
            return self._seed_one(outputs[0], grads[0])  # the common case: loss.backward()
        roots, leaf_roots, buffers = [], [], self.buffers
        for out, g in zip(outputs, grads):
            node = out.grad_fn
            if node is None:
                leaf_roots.append((out, g))
                continue
            buf = buffers.get(node)
            if buf is None:
                buffers[node] = buf = [None] * (len(node.out_meta) if node.out_meta else 1)
                roots.append(node)
            nr = out._output_nr
            buf[nr] = g if buf[nr] is None else buf[nr] + g
            self.claimed.add(id(_array(g)))
        for _, g in leaf_roots:
            self.claimed.add(id(_array(g)))
        self.deps = deps = _count_edges(roots)
        self.needed = _needed(roots, deps, self.targets) if self.targets is not None else None
        for r in roots:
            if r not in deps:
                self.ready.append(r)
        return leaf_roots

    def _seed_one(self, out, g) -> list:
        """``_seed`` for one output made by a node."""
        node = out.grad_fn
        buf = [None] * len(node.out_meta) if node.out_meta else [None]
        buf[out._output_nr] = g
        self.buffers[node] = buf
        self.claimed.add(id(_array(g)))
        self.deps = _count_edges((node,))
        self.ready.append(node)
        return []

    def _inputs(self, node, grads_in):
        """The gradients into ``node`` after its hooks, or None when ``node`` need not run."""
        if node.hooks:
            self._run_tensor_hooks(node, grads_in)
        targets = self.targets
        if targets is not None:
            if self.capture is not None:
                for nr, g in enumerate(grads_in):
                    i = targets.get((node, nr))
                    if i is not None:
                        self.capture[i] = self.as_tensor(g)
            if node not in self.needed:
                return None
        if grads_in[0] is None and all(g is None for g in grads_in):
            # reached only by edges that carried no gradient (a backward returned None for a
            # needed input): nothing to compute, but its own inputs must stop waiting for it
            for e in node.next:
                if e is not None:
                    self.release(e[0])
            return None
        if node.out_meta:   # an output nobody used gets a zero gradient
            grads_in = [self.zeros(s, d, dv) if g is None else g
                        for g, (s, d, dv) in zip(grads_in, node.out_meta)]
        return grads_in

    def _call(self, node, grads_in) -> tuple:
        """``node``'s backward outside ``_loop``'s common case: with ``create_graph``, ``backward`` on
        Tensors (recording its ops); else ``backward_arrays`` (or ``backward`` on Tensors wrapping the
        arrays, for an op without one) on the node's own device. Returns one gradient per input."""
        if not self.on_arrays:
            with elsewhere(grads_in[0]._data) or _NOTHING:  # a node on a GPU that is not current runs there
                gx = node.fn.backward(node, *grads_in)
            return self._finish(node, gx, grads_in)
        on_arrays = node.fn.backward_arrays
        with elsewhere(grads_in[0]) or _NOTHING:
            gx = (_function.backward_on_tensors(node.fn, node, grads_in) if on_arrays is None
                  else on_arrays(node, *grads_in))
        return self._finish(node, gx, grads_in)

    def _finish(self, node, gx, grads_in) -> tuple:
        """Checks the number of gradients, runs the node's post hooks, frees its saved tensors."""
        if gx.__class__ is not tuple:
            gx = (gx,)
        if len(gx) < len(node.next):
            raise RuntimeError(f"function {node.name()} returned an incorrect number of gradients "
                               f"(expected {len(node.next)}, got {len(gx)})")
        if node.post_hooks:
            for h in node.post_hooks:
                h(tuple(map(self.as_tensor, gx)), tuple(map(self.as_tensor, grads_in)))
        if not self.keep_graph:
            node.saved = None  # frees the saved tensors; reading them again raises
        return gx

    def _send_other(self, node, e, g) -> None:
        """Delivers gradient ``g`` along edge ``e = (child, output_nr)`` when ``g`` is None (the child
        stops waiting for it) or the child is a leaf (its gradient is summed until no edge is left)."""
        child = e[0]
        if g is None:
            self.release(child)
            return
        deps = self.deps
        left = deps[child] - 1
        deps[child] = left
        g = self._fit_leaf(node, child, g)
        leaf_grads = self.leaf_grads
        if left == 0 and child not in leaf_grads:  # the only gradient: no sum to make
            self.deliver_leaf(child, g)
            return
        s = leaf_grads.get(child)
        leaf_grads[child] = g if s is None else s + g
        if left == 0:
            self.deliver_leaf(child, leaf_grads.pop(child))

    def _fit_leaf(self, node, leaf, g):
        """``g`` checked against the leaf's shape and cast to its floating dtype (as PyTorch)."""
        a, c = _array(g), leaf._data
        if a.shape != c.shape:
            raise RuntimeError(f"Function {node.name()} returned an invalid gradient - got "
                               f"{tuple(a.shape)} but expected shape {tuple(c.shape)}")
        if a.dtype != c.dtype and a.dtype.kind in "fV" and c.dtype.kind in "fV":  # (bfloat16: V)
            return a.astype(c.dtype) if self.on_arrays else g.to(leaf.dtype)
        return g

    def release(self, child) -> None:
        """Counts an edge into ``child`` that delivered no gradient (so ``child`` never waits forever)."""
        left = self.deps[child] - 1
        self.deps[child] = left
        if left:
            return
        if child.__class__ is _Node:
            if child not in self.buffers:
                self.buffers[child] = [None] * (len(child.out_meta) if child.out_meta else 1)
            self.ready.append(child)
        elif child in self.leaf_grads:
            self.deliver_leaf(child, self.leaf_grads.pop(child))

    def deliver_leaf(self, leaf, g) -> None:
        """A leaf's finished gradient: through its hooks, then captured or added to ``.grad``."""
        if leaf._hooks:
            g = self._through_hooks(leaf._hooks, g)
        if self.targets is not None:
            i = self.targets.get(leaf)
            if i is None:
                return
            if self.capture is not None:
                self.capture[i] = self.as_tensor(g)
                return
        if self.on_arrays:
            accumulate_grad_array(leaf, g, self.claimed)
        else:
            accumulate_grad(leaf, g, self.create_graph, self.claimed)
        post = leaf._post_accumulate_grad_hooks
        if post:
            for h in post:
                h(leaf)

    # ---- between arrays and the Tensors a user sees ----
    def as_tensor(self, g):
        """The gradient ``g`` as a user sees it (a Tensor, or None)."""
        return _tensor.make_tensor(g) if self.on_arrays and g is not None else g

    def _through_hooks(self, hooks, g):
        """``g`` passed through ``hooks`` (each sees a Tensor and may return a new one)."""
        t = self.as_tensor(g)
        for h in hooks:
            r = h(t)
            if r is not None:
                t = r
        return t._data if self.on_arrays else t

    def _run_tensor_hooks(self, node, grads_in) -> None:
        for nr, hooks in node.hooks.items():
            if grads_in[nr] is not None:
                grads_in[nr] = self._through_hooks(hooks, grads_in[nr])

    def zeros(self, shape, dtype, device):
        """The gradient of an output nobody used."""
        z = _creation.zeros(shape, dtype=dtype, device=device)
        return z._data if self.on_arrays else z


def _array(g):
    """The array of gradient ``g`` (a Tensor or already an array); None stays None."""
    return g._data if isinstance(g, _tensor.Tensor) else g


def accumulate_grad(leaf, g, create_graph=False, claimed=None) -> None:
    """``leaf.grad += g``; the first gradient is kept without a copy when nothing else holds it."""
    if leaf.grad is None:
        if create_graph:
            leaf.grad = g
            return
        arr = g._data
        # (CuPy's flags have no "writeable": its arrays always are)
        if (claimed is None or id(arr) in claimed or arr.base is not None
                or not getattr(arr.flags, "writeable", True)):
            with elsewhere(arr) or _NOTHING:  # (CuPy copies onto the current GPU: make it the array's)
                arr = arr.copy()
        if claimed is not None:
            claimed.add(id(arr))
        leaf.grad = _tensor.make_tensor(arr)
    elif create_graph or leaf.grad.requires_grad:
        leaf.grad = leaf.grad + g
    elif g._data.__class__ is _ndarray:
        leaf.grad._data += g._data
    else:
        with elsewhere(g._data) or _NOTHING:
            leaf.grad._data += g._data


def accumulate_grad_array(leaf, arr, claimed) -> None:
    """``leaf.grad += arr`` for a first-order pass; the first gradient is kept without a copy when no
    one else holds it (it is not ``claimed``, not a view, and writeable)."""
    grad = leaf.grad
    if grad is None:
        if (id(arr) in claimed or arr.base is not None
                or not getattr(arr.flags, "writeable", True)):  # (CuPy's flags have no "writeable")
            with elsewhere(arr) or _NOTHING:  # (CuPy copies onto the current GPU: make it the array's)
                arr = arr.copy()
        claimed.add(id(arr))
        leaf.grad = _tensor.make_tensor(arr)
    elif grad.requires_grad:
        leaf.grad = grad + _tensor.make_tensor(arr)
    elif arr.__class__ is _ndarray:
        grad._data += arr
    else:
        with elsewhere(arr) or _NOTHING:
            grad._data += arr


def retain_grad_hook(t):
    """A hook that stores the gradient flowing through non-leaf ``t`` in ``t.grad``."""
    ref = weakref.ref(t)

    def hook(g):
        t = ref()
        if t is not None:
            if t.grad is None:
                t.grad = _tensor.make_tensor(g._data.copy()) if not g.requires_grad else g
            else:
                t.grad = t.grad + g
    hook.retains_grad = True
    return hook
